"""Generic source (``source="mesh"``): any triangle mesh with instance ids plus posed frames.

For users' own scans. One folder per scene, ``<root>/<scene_id>/``, holding:

* ``mesh.ply`` or ``mesh.obj`` (read with trimesh, ``process=False`` so vertex and face order
  are kept), metres, world +z up.
* instance ids, one of: a PLY vertex or face property named ``instance``, ``instance_id``,
  ``objectId`` or ``object_id``; or ``face_instance.npy`` ((F,) ints) or
  ``vertex_instance.npy`` ((V,) ints). 0 = unannotated; ids are used as given (>= 1).
  Per-vertex ids become per-face ids by the majority rule of ``face_instances_from_vertices``.
* ``labels.json``: ``{"<instance id>": "chair" | {"label": ..., "category": ...,
  "structural": bool}}``.
* ``frames.json``: intrinsics, OpenCV camera-to-world poses, image paths, optional depth.

The exact JSON schema is in ``docs/adding_a_source.md``. Splits come from
``<root>/splits/{train,val,test}.txt`` (one scene id per line) when present.

``read_mesh`` here is also the mesh loader of the ScanNet++ and ARKitScenes readers.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptDataError, DatasetRootError, MissingDataError
from ..structures import DepthImage, Frame, Scene, SkippedFrame, scaled_intrinsics
from .base import ObjectLabel, SceneEntry, build_objects, face_instances_from_vertices
from .sanity import check_intrinsics, pose_problem

SOURCE = "mesh"
MESH_NAMES = ("mesh.ply", "mesh.obj")
INSTANCE_PROPERTIES = ("instance", "instance_id", "objectId", "object_id")
FRAMES_FILE = "frames.json"
LABELS_FILE = "labels.json"
SPLIT_NAMES = ("train", "val", "test")
CAMERA_CONVENTIONS = ("opencv", "opengl")
SCHEMA_HINT = "see docs/adding_a_source.md for the frames.json / labels.json schema"
OBTAIN_HINT = (
    "write each scene as <root>/<scene>/ with a mesh, frames.json and labels.json "
    "(docs/adding_a_source.md gives the schema; write_mesh_scene writes it from arrays)"
)
FILE_HINT = "restore the file from the dataset download (it is missing or damaged)"
# OpenGL (x right, y up, z backward) -> OpenCV (x right, y down, z forward): flip y and z.
_GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])


# ---- mesh ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeshData:
    """A mesh file's content.

    Attributes:
        vertices: (V, 3) float64 file coordinates.
        faces: (F, 3) int32 vertex indices.
        colors: (V, 3) uint8 RGB (grey when the file has none).
        vertex_props, face_props: extra PLY properties by name ((V,) / (F,) arrays).
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    vertex_props: dict[str, np.ndarray]
    face_props: dict[str, np.ndarray]


def read_mesh(scene_id: str, path: Path, hint: str) -> MeshData:
    """Read a PLY/OBJ triangle mesh, keeping vertex and face order.

    Raises:
        MissingDataError: the file does not exist (``hint`` says how to get it).
        CorruptDataError: unreadable, empty, non-finite or out-of-range faces.
    """
    import trimesh

    if not path.is_file():
        raise MissingDataError(scene_id, path, "mesh file missing", hint)
    # maintain_order: the OBJ loader otherwise splits a vertex used with two texture coordinates
    options = {"maintain_order": True} if path.suffix.lower() == ".obj" else {}
    try:
        mesh = trimesh.load(path, process=False, force="mesh", **options)
    except Exception as exc:  # trimesh raises assorted plain errors on bad files
        raise CorruptDataError(scene_id, path, f"unreadable mesh ({type(exc).__name__}: {exc})",
                               hint) from None
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(verts) == 0 or len(faces) == 0 or faces.ndim != 2 or faces.shape[1] != 3:
        raise CorruptDataError(scene_id, path, "mesh has no vertices or no triangles", hint)
    if faces.min() < 0 or faces.max() >= len(verts):
        raise CorruptDataError(scene_id, path, "a face references a vertex out of range", hint)
    if not np.isfinite(verts).all():
        raise CorruptDataError(scene_id, path, "mesh has non-finite vertex coordinates", hint)
    colors = np.full((len(verts), 3), 128, np.uint8)
    vc = getattr(mesh.visual, "vertex_colors", None)
    if getattr(mesh.visual, "kind", None) == "vertex" and vc is not None and len(vc) == len(verts):
        colors = np.asarray(vc)[:, :3].astype(np.uint8)
    vprops: dict[str, np.ndarray] = {}
    fprops: dict[str, np.ndarray] = {}
    raw = mesh.metadata.get("_ply_raw") if isinstance(mesh.metadata, dict) else None
    if raw:
        for elem, out, n in (("vertex", vprops, len(verts)), ("face", fprops, len(faces))):
            data = raw.get(elem, {}).get("data")
            if data is None or data.dtype.names is None:
                continue
            for name in data.dtype.names:
                col = data[name]
                if col.dtype.names is None and col.ndim == 1 and len(col) == n:
                    out[name] = np.asarray(col)
    return MeshData(verts, faces.astype(np.int32), colors, vprops, fprops)


# ---- small readers ------------------------------------------------------------------------
def read_json(scene_id: str, path: Path, hint: str) -> Any:
    """Parse a JSON file; MissingDataError / CorruptDataError naming the file otherwise."""
    if not path.is_file():
        raise MissingDataError(scene_id, path, "file missing", hint)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptDataError(scene_id, path, f"not valid JSON ({exc})", hint) from None


def read_depth_png(scene_id: str, path: Path, scale: float, hint: str = FILE_HINT
                   ) -> np.ndarray:
    """(h, w) float32 metres from a 16-bit PNG holding ``scale`` units per metre (0 = invalid);
    errors carry ``hint`` (how to get the file back)."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise MissingDataError(scene_id, path, "depth image missing", hint)
    try:
        with Image.open(path) as im:
            raw = np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise CorruptDataError(scene_id, path, f"unreadable depth image ({exc})", hint) from None
    if raw.ndim != 2:
        raise CorruptDataError(scene_id, path, f"depth image has shape {raw.shape}, not (h, w)",
                               hint)
    return raw.astype(np.float32) / np.float32(scale)


def image_size(scene_id: str, path: Path, hint: str = FILE_HINT) -> tuple[int, int]:
    """(width, height) of an image file, read from its header; errors carry ``hint``."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise MissingDataError(scene_id, path, "image missing", hint)
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (UnidentifiedImageError, OSError) as exc:
        raise CorruptDataError(scene_id, path, f"unreadable image ({exc})", hint) from None


def no_sensor_depth(width: int, height: int, K: np.ndarray) -> DepthImage:
    """An all-invalid depth image (0 everywhere) at 1/8 of the colour size, for cameras that
    have no depth sensor (their stores' ``has_depth`` is False, so the pose check skips them)."""
    w, h = max(1, width // 8), max(1, height // 8)
    Kd = scaled_intrinsics(K, w / width, h / height)
    return DepthImage(depth=np.zeros((h, w), np.float32), K=Kd)


def read_split_files(folder: Path, names: dict[str, str] | None = None) -> dict[str, str]:
    """scene id -> split from ``<folder>/*.txt`` (one id per line).

    ``names`` maps a file stem to a split; without it a stem containing ``train``, ``val`` or
    ``test`` gives that split. Files matching no split are ignored.
    """
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.txt")):
        split = names.get(path.stem) if names is not None else None
        if split is None:
            split = next((s for s in SPLIT_NAMES if s in path.stem.lower()), None)
        if split is None:
            continue
        for line in path.read_text().splitlines():
            sid = line.strip()
            if sid and not sid.startswith("#"):
                out.setdefault(sid, split)
    return out


# ---- frames.json --------------------------------------------------------------------------
def _matrix(scene_id: str, path: Path, value: Any, shape: tuple[int, int], what: str
            ) -> np.ndarray:
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CorruptDataError(scene_id, path, f"{what} is not a numeric matrix",
                               SCHEMA_HINT) from None
    if m.shape != shape:
        raise CorruptDataError(scene_id, path, f"{what} has shape {m.shape}, expected {shape}",
                               SCHEMA_HINT)
    return m


@dataclass(frozen=True)
class MeshFrameStore:
    """Colour bytes and depth of a generic scene (paths only: picklable).

    Attributes:
        scene_id: scene (for errors).
        folder: the scene folder; paths below are relative to it.
        images: frame id -> colour image path.
        depths: frame id -> (depth path, (3, 3) depth K, units per metre).
        sizes: frame id -> (width, height) of the colour image.
        color_K: frame id -> (3, 3) colour K (for frames without depth).
    """

    scene_id: str
    folder: Path
    images: dict[int, str]
    depths: dict[int, tuple[str, np.ndarray, float]]
    sizes: dict[int, tuple[int, int]]
    color_K: dict[int, np.ndarray]

    def read_color(self, frame_id: int) -> bytes:
        path = self.folder / self.images[int(frame_id)]
        if not path.is_file():
            raise MissingDataError(self.scene_id, path, f"colour image of frame {frame_id} missing",
                                   f"restore it or fix its path in {FRAMES_FILE}")
        return path.read_bytes()

    def has_depth(self, frame_id: int) -> bool:
        return int(frame_id) in self.depths

    def read_depth(self, frame_id: int) -> DepthImage:
        fid = int(frame_id)
        entry = self.depths.get(fid)
        if entry is None:
            w, h = self.sizes[fid]
            return no_sensor_depth(w, h, self.color_K[fid])
        rel, K, scale = entry
        path = self.folder / rel
        hint = f"restore it or fix its path in {FRAMES_FILE}"
        if rel.endswith(".npy"):
            if not path.is_file():
                raise MissingDataError(self.scene_id, path, "depth file missing", hint)
            depth = np.load(path).astype(np.float32) / np.float32(scale)
        else:
            depth = read_depth_png(self.scene_id, path, scale, hint)
        return DepthImage(depth=depth, K=K)


def read_frames_json(scene_id: str, folder: Path) -> tuple[
        list[Frame], list[SkippedFrame], MeshFrameStore]:
    """Frames of ``frames.json`` (schema in docs/adding_a_source.md)."""
    path = folder / FRAMES_FILE
    data = read_json(scene_id, path, SCHEMA_HINT)
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise CorruptDataError(scene_id, path, "no 'frames' list", SCHEMA_HINT)
    convention = data.get("camera", "opencv")
    if convention not in CAMERA_CONVENTIONS:
        raise CorruptDataError(scene_id, path, f"camera {convention!r} is not one of "
                               f"{', '.join(CAMERA_CONVENTIONS)}", SCHEMA_HINT)
    frames: list[Frame] = []
    skipped: list[SkippedFrame] = []
    images: dict[int, str] = {}
    depths: dict[int, tuple[str, np.ndarray, float]] = {}
    sizes: dict[int, tuple[int, int]] = {}
    color_K: dict[int, np.ndarray] = {}
    for k, entry in enumerate(data["frames"]):
        if not isinstance(entry, dict):
            raise CorruptDataError(scene_id, path, f"frames[{k}] is not an object", SCHEMA_HINT)
        merged = {**{key: data[key] for key in ("K", "width", "height", "depth_K",
                                                "depth_scale") if key in data}, **entry}
        try:
            fid = int(merged.get("id", k))
            image = str(merged["image"])
            K = _matrix(scene_id, path, merged["K"], (3, 3), f"frames[{k}].K")
            pose = _matrix(scene_id, path, merged["cam_to_world"], (4, 4),
                           f"frames[{k}].cam_to_world")
            width, height = int(merged["width"]), int(merged["height"])
        except KeyError as exc:
            raise CorruptDataError(scene_id, path, f"frames[{k}] lacks {exc}",
                                   SCHEMA_HINT) from None
        except (TypeError, ValueError):
            raise CorruptDataError(scene_id, path, f"frames[{k}] has a non-numeric id or size",
                                   SCHEMA_HINT) from None
        if fid in images:
            raise CorruptDataError(scene_id, path, f"frame id {fid} appears twice", SCHEMA_HINT)
        if width <= 0 or height <= 0:
            raise CorruptDataError(scene_id, path, f"frames[{k}] has size {width}x{height}",
                                   SCHEMA_HINT)
        check_intrinsics(scene_id, path, K, f"frames[{k}].K", (width, height), SCHEMA_HINT)
        images[fid], sizes[fid], color_K[fid] = image, (width, height), K
        if merged.get("depth"):
            dK = _matrix(scene_id, path, merged.get("depth_K", K), (3, 3), f"frames[{k}].depth_K")
            check_intrinsics(scene_id, path, dK, f"frames[{k}].depth_K", hint=SCHEMA_HINT)
            scale = float(merged.get("depth_scale", 1000.0))
            if not scale > 0:
                raise CorruptDataError(scene_id, path, f"frames[{k}].depth_scale must be > 0",
                                       SCHEMA_HINT)
            depths[fid] = (str(merged["depth"]), dK, scale)
        why = pose_problem(pose)
        if why is not None:
            skipped.append(SkippedFrame(fid, why))
            continue
        if not (folder / image).is_file():
            skipped.append(SkippedFrame(fid, "colour image missing"))
            continue
        if convention == "opengl":
            pose = pose @ _GL_TO_CV
        frames.append(Frame(fid, K, pose, width, height))
    frames.sort(key=lambda f: f.frame_id)
    store = MeshFrameStore(scene_id, folder, images, depths, sizes, color_K)
    return frames, sorted(skipped, key=lambda s: s.frame_id), store


# ---- instances and labels ----------------------------------------------------------------
def _face_instance(scene_id: str, folder: Path, mesh_path: Path, mesh: MeshData
                   ) -> tuple[np.ndarray, str]:
    """(F,) int32 per-face instance ids and where they came from."""
    n_v, n_f = len(mesh.vertices), len(mesh.faces)
    for name in INSTANCE_PROPERTIES:
        if name in mesh.face_props:
            return mesh.face_props[name].astype(np.int32), f"face property {name}"
    for name in INSTANCE_PROPERTIES:
        if name in mesh.vertex_props:
            v = mesh.vertex_props[name].astype(np.int64)
            return face_instances_from_vertices(mesh.faces, v), f"vertex property {name}"
    for fname, n, per_vertex in (("face_instance.npy", n_f, False),
                                 ("vertex_instance.npy", n_v, True)):
        p = folder / fname
        if p.is_file():
            try:
                arr = np.load(p, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise CorruptDataError(scene_id, p, f"unreadable .npy ({exc})",
                                       SCHEMA_HINT) from None
            if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
                raise CorruptDataError(
                    scene_id, p, f"expected ({n},) integers for {mesh_path.name}, found "
                    f"{arr.shape} {arr.dtype}", SCHEMA_HINT)
            if per_vertex:
                return face_instances_from_vertices(mesh.faces, arr.astype(np.int64)), fname
            return arr.astype(np.int32), fname
    raise MissingDataError(
        scene_id, mesh_path, "no instance ids: no PLY vertex/face property "
        f"{'/'.join(INSTANCE_PROPERTIES)} and no face_instance.npy or vertex_instance.npy",
        SCHEMA_HINT)


def read_labels_json(scene_id: str, path: Path) -> tuple[dict[int, ObjectLabel], dict[int, bool]]:
    """instance id -> ObjectLabel, and explicit ``structural`` flags."""
    data = read_json(scene_id, path, SCHEMA_HINT)
    if not isinstance(data, dict):
        raise CorruptDataError(scene_id, path, "labels.json must be an object", SCHEMA_HINT)
    labels: dict[int, ObjectLabel] = {}
    structural: dict[int, bool] = {}
    for key, value in data.items():
        try:
            inst = int(key)
        except ValueError:
            raise CorruptDataError(scene_id, path, f"key {key!r} is not an instance id",
                                   SCHEMA_HINT) from None
        if isinstance(value, str):
            labels[inst] = ObjectLabel(label=value, category=value)
        elif isinstance(value, dict) and isinstance(value.get("label"), str):
            labels[inst] = ObjectLabel(label=value["label"],
                                       category=str(value.get("category", value["label"])))
            if "structural" in value:
                structural[inst] = bool(value["structural"])
        else:
            raise CorruptDataError(scene_id, path, f"instance {key}: expected a label string or "
                                   "an object with 'label'", SCHEMA_HINT)
    return labels, structural


# ---- the reader ---------------------------------------------------------------------------
def find_mesh(folder: Path) -> Path:
    """The scene's ``mesh.ply`` or ``mesh.obj`` (the PLY when both exist)."""
    for name in MESH_NAMES:
        if (folder / name).is_file():
            return folder / name
    return folder / MESH_NAMES[0]


def load_mesh_scene(root: str | Path, scene_id: str) -> Scene:
    """Read one generic scene from ``<root>/<scene_id>/``.

    Returns:
        ``Scene`` with vertices (V, 3) float32 (metres, +z up, as in the file), faces (F, 3)
        int32, ``face_instance`` (F,) int32, objects from ``build_objects`` (labels from
        labels.json), frames with finite OpenCV camera-to-world poses (non-finite ones in
        ``skipped_frames``) and a picklable frame store.

    Raises:
        MissingDataError: the folder, mesh, instance ids, labels.json or frames.json is absent.
        CorruptDataError: a file is unreadable or disagrees with the mesh.
    """
    root = Path(root)
    folder = root / scene_id
    if not folder.is_dir():
        cause = "dataset root does not exist" if not root.is_dir() else "scene folder not found"
        raise MissingDataError(scene_id, folder, cause, SCHEMA_HINT)
    mesh_path = find_mesh(folder)
    mesh = read_mesh(scene_id, mesh_path, SCHEMA_HINT)
    face_instance, inst_from = _face_instance(scene_id, folder, mesh_path, mesh)
    if face_instance.min() < 0:
        raise CorruptDataError(scene_id, mesh_path, "negative instance ids (0 = unannotated)",
                               SCHEMA_HINT)
    labels, structural = read_labels_json(scene_id, folder / LABELS_FILE)
    missing = sorted(set(np.unique(face_instance[face_instance > 0]).tolist()) - set(labels))
    if missing:
        raise CorruptDataError(scene_id, folder / LABELS_FILE,
                               f"instances {missing[:10]} are on the mesh but have no label",
                               SCHEMA_HINT)
    vertices = mesh.vertices.astype(np.float32)
    objects = build_objects(vertices, mesh.faces, face_instance, labels)
    objects = tuple(dataclasses.replace(o, structural=structural[o.instance_id])
                    if o.instance_id in structural else o for o in objects)
    frames, skipped, store = read_frames_json(scene_id, folder)
    if not frames:
        raise CorruptDataError(scene_id, folder / FRAMES_FILE, "no frame has a finite pose",
                               SCHEMA_HINT)
    split = read_split_files(root / "splits").get(scene_id)
    warnings = []
    unused = sorted(set(labels) - set(np.unique(face_instance).tolist()))
    if unused:
        warnings.append(f"{folder / LABELS_FILE}: labels for instances not on the mesh: "
                        f"{unused[:10]}")
    return Scene(
        scene_id=scene_id, source=SOURCE, vertices=vertices, faces=mesh.faces,
        vertex_colors=mesh.colors, face_instance=face_instance, objects=objects,
        frames=tuple(frames), skipped_frames=tuple(skipped), split=split,
        warnings=tuple(warnings), store=store,
        meta={"folder": str(folder), "mesh": mesh_path.name, "instances_from": inst_from},
    )


def list_mesh_scenes(root: str | Path, split: str | None = None
                     ) -> tuple[list[SceneEntry], list[str]]:
    """Every folder of ``root`` that holds a mesh or a ``frames.json``, sorted by id, with
    warnings; ``split`` (``train``, ``val`` alias ``bench``, ``test``, None = all) filters by
    ``<root>/splits/*.txt``."""
    from .scannet import normalize_split

    root = Path(root)
    if not root.is_dir():
        raise DatasetRootError(f"dataset root {root} does not exist")
    split = normalize_split(split)
    splits = read_split_files(root / "splits")
    warnings = [] if splits else [f"{root / 'splits'} has no split lists; splits unknown"]
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        has_mesh = any((d / n).is_file() for n in MESH_NAMES)
        if not has_mesh and not (d / FRAMES_FILE).is_file():
            continue
        if split is not None and splits.get(d.name) != split:
            continue
        missing = tuple(n for n in (FRAMES_FILE, LABELS_FILE) if not (d / n).is_file())
        if not has_mesh:
            missing = ("mesh.ply",) + missing
        out.append(SceneEntry(d.name, splits.get(d.name), d, not missing, missing))
    if not out:
        warnings.append(f"{root} has no scene folder with a mesh.ply/mesh.obj and frames.json")
    return out, warnings


# ---- writer -------------------------------------------------------------------------------
INSTANCE_STORAGE = ("vertex_property", "face_property", "vertex_npy", "face_npy")


@dataclass(frozen=True)
class MeshFrameFile:
    """One frame to write in the generic layout.

    Attributes:
        frame_id: the frame's id; K: (3, 3) colour intrinsics at (width, height).
        cam_to_world: (4, 4) OpenCV camera-to-world; width, height: colour size.
        color: encoded colour image bytes; ext: its file extension (``"jpg"``, ``"png"``).
        depth_mm: optional (h, w) uint16 millimetres (0 = invalid) with depth_K (3, 3).
    """

    frame_id: int
    K: np.ndarray
    cam_to_world: np.ndarray
    width: int
    height: int
    color: bytes
    ext: str = "jpg"
    depth_mm: np.ndarray | None = None
    depth_K: np.ndarray | None = None


def _ply_bytes(vertices: np.ndarray, colors: np.ndarray, faces: np.ndarray,
               vertex_instance: np.ndarray | None, face_instance: np.ndarray | None) -> bytes:
    vprops = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"),
              ("blue", "u1")] + ([("instance", "<i4")] if vertex_instance is not None else [])
    v = np.zeros(len(vertices), dtype=vprops)
    v["x"], v["y"], v["z"] = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    v["red"], v["green"], v["blue"] = colors[:, 0], colors[:, 1], colors[:, 2]
    if vertex_instance is not None:
        v["instance"] = vertex_instance
    fprops = [("n", "u1"), ("i", "<i4", (3,))] + (
        [("objectId", "<i4")] if face_instance is not None else [])
    f = np.zeros(len(faces), dtype=fprops)
    f["n"], f["i"] = 3, faces
    if face_instance is not None:
        f["objectId"] = face_instance
    type_name = {"<f4": "float", "u1": "uchar", "<i4": "int"}
    head = ["ply", "format binary_little_endian 1.0", f"element vertex {len(vertices)}"]
    head += [f"property {type_name[t]} {n}" for n, t in vprops]
    head += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    head += ["property int objectId"] if face_instance is not None else []
    head += ["end_header", ""]
    return "\n".join(head).encode() + v.tobytes() + f.tobytes()


def write_mesh_scene(
    root: str | Path,
    scene_id: str,
    vertices: np.ndarray,
    faces: np.ndarray,
    vertex_colors: np.ndarray,
    instances: np.ndarray,
    labels: dict[int, str | dict[str, Any]],
    frames: list[MeshFrameFile],
    *,
    instance_storage: str = "vertex_property",
    depth_scale: float = 1000.0,
) -> Path:
    """Write a scene in the generic layout (the reference producer of the format).

    Args:
        vertices: (V, 3) float metres, +z up; faces (F, 3) int; vertex_colors (V, 3) uint8.
        instances: (V,) per-vertex or (F,) per-face instance ids, as ``instance_storage`` says:
            PLY ``vertex_property`` (``instance``), ``face_property`` (``objectId``),
            ``vertex_npy`` or ``face_npy`` (beside a plain PLY).
        labels: instance id -> label string or ``{"label", "category", "structural"}``.
        frames: the frames; intrinsics shared by every frame are written once at the top.

    Returns the scene folder. Raises ``UnknownNameError`` for an unknown storage.
    """
    from PIL import Image

    from ..errors import UnknownNameError

    if instance_storage not in INSTANCE_STORAGE:
        raise UnknownNameError("instance storage", instance_storage, INSTANCE_STORAGE)
    folder = Path(root) / scene_id
    folder.mkdir(parents=True, exist_ok=True)
    inst = np.asarray(instances).astype(np.int32)
    per_vertex = instance_storage.startswith("vertex")
    in_ply = instance_storage.endswith("property")
    (folder / "mesh.ply").write_bytes(_ply_bytes(
        np.asarray(vertices, np.float32), np.asarray(vertex_colors, np.uint8),
        np.asarray(faces, np.int32), inst if in_ply and per_vertex else None,
        inst if in_ply and not per_vertex else None))
    if not in_ply:
        np.save(folder / f"{'vertex' if per_vertex else 'face'}_instance.npy", inst)
    (folder / LABELS_FILE).write_text(json.dumps({str(k): v for k, v in labels.items()},
                                                 indent=1))
    shared_K = all(np.array_equal(f.K, frames[0].K) for f in frames)
    doc: dict[str, Any] = {"camera": "opencv", "depth_scale": depth_scale}
    if shared_K:
        doc.update(K=frames[0].K.tolist(), width=frames[0].width, height=frames[0].height)
    entries = []
    for f in frames:
        image = f"images/{f.frame_id:06d}.{f.ext}"
        (folder / "images").mkdir(exist_ok=True)
        (folder / image).write_bytes(f.color)
        e: dict[str, Any] = {"id": f.frame_id, "image": image,
                             "cam_to_world": np.asarray(f.cam_to_world).tolist()}
        if not shared_K:
            e.update(K=f.K.tolist(), width=f.width, height=f.height)
        if f.depth_mm is not None:
            depth = f"depth/{f.frame_id:06d}.png"
            (folder / "depth").mkdir(exist_ok=True)
            Image.fromarray(np.asarray(f.depth_mm, np.uint16)).save(folder / depth)
            e.update(depth=depth, depth_K=np.asarray(f.depth_K).tolist())
        entries.append(e)
    doc["frames"] = entries
    (folder / FRAMES_FILE).write_text(json.dumps(doc, indent=1))
    return folder
