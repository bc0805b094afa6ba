"""Triangle meshes in binary little-endian PLY, read with numpy alone.

ScanNet's ``_vh_clean_2.ply`` (docs/release_layouts.md, section 1.4) is one such file: packed
vertex records (float x, y, z, uchar red, green, blue, alpha, sometimes more) and faces as a
uchar count of 3 followed by three int32 indices. Reading it as two numpy record arrays takes
milliseconds, where importing trimesh for it costs most of a second of a one-scene run.
``read_binary_ply`` answers None for any other layout (ASCII, big-endian, polygons, extra
elements or face properties, colours missing or not uchar, a body longer or shorter than the
header announces) and the caller reads the file with trimesh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# PLY scalar type names (both spellings) -> little-endian numpy type
_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "<i2", "int16": "<i2", "ushort": "<u2", "uint16": "<u2",
    "int": "<i4", "int32": "<i4", "uint": "<u4", "uint32": "<u4",
    "float": "<f4", "float32": "<f4", "double": "<f8", "float64": "<f8",
}
_HEADER_MAX = 1 << 16  # bytes: a PLY header is a few hundred


def read_binary_ply(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(vertices (V, 3) float64, faces (F, 3) int64, colours (V, 3) uint8) of a binary
    little-endian PLY with one vertex element (x, y, z and uchar red, green, blue among
    scalar properties) followed by one face element (a single ``list uchar int|uint``
    property) whose faces are all triangles, and exactly the bytes the header announces;
    None for anything else, truncated or padded files included (trimesh then reads the file,
    or says what is wrong with it).
    """
    data = Path(path).read_bytes()
    lines = data[:_HEADER_MAX].split(b"\n")
    if b"end_header" not in lines[:-1] or lines[0] != b"ply":
        return None
    n_lines = lines.index(b"end_header")
    layout = _layout([ln.decode("ascii", "replace") for ln in lines[:n_lines]])
    if layout is None:
        return None
    (n_vertices, vertex_dtype), (n_faces, face_dtype) = layout
    start = sum(len(ln) + 1 for ln in lines[: n_lines + 1])
    faces_at = start + n_vertices * vertex_dtype.itemsize
    if len(data) != faces_at + n_faces * face_dtype.itemsize:
        return None
    vert = np.frombuffer(data, vertex_dtype, n_vertices, offset=start)
    face = np.frombuffer(data, face_dtype, n_faces, offset=faces_at)
    if n_faces and not (face["n"] == 3).all():
        return None  # polygons other than triangles: trimesh splits them
    vertices = np.stack([vert["x"], vert["y"], vert["z"]], axis=1).astype(np.float64)
    colours = np.stack([vert["red"], vert["green"], vert["blue"]], axis=1)
    return vertices, face["v"].astype(np.int64), colours


def _layout(lines: list[str]) -> tuple[tuple[int, np.dtype], tuple[int, np.dtype]] | None:
    """((vertex count, record dtype), (face count, record dtype)) from the header lines, or
    None unless the layout is one ``read_binary_ply`` reads."""
    elements: list[tuple[str, int, list[list[str]]]] = []
    formats = [ln.split()[1:] for ln in lines if ln.startswith("format ")]
    if formats != [["binary_little_endian", "1.0"]]:
        return None
    for line in lines[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info", "format"):
            continue
        if words[0] == "element" and len(words) == 3 and words[2].isdigit():
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property" and elements:
            elements[-1][2].append(words[1:])
        else:
            return None
    if [e[0] for e in elements] != ["vertex", "face"]:
        return None
    (_, n_vertices, vprops), (_, n_faces, fprops) = elements
    fields = []
    for prop in vprops:
        if len(prop) != 2 or prop[0] not in _TYPES:
            return None
        fields.append((prop[1], _TYPES[prop[0]]))
    types = dict(fields)
    if len(types) != len(fields) or not {"x", "y", "z", "red", "green", "blue"} <= set(types):
        return None
    if any(types[c] != "u1" for c in ("red", "green", "blue")):
        return None  # colours of another type: trimesh scales them
    if len(fprops) != 1 or len(fprops[0]) != 4:
        return None
    kind, count_type, index_type, name = fprops[0]
    if (kind, count_type) != ("list", "uchar") or name not in ("vertex_indices", "vertex_index"):
        return None
    if index_type not in ("int", "int32", "uint", "uint32"):
        return None
    face_dtype = np.dtype([("n", "u1"), ("v", _TYPES[index_type], (3,))])
    return (n_vertices, np.dtype(fields)), (n_faces, face_dtype)
