"""ScanNet++ iPhone frames: COLMAP poses, colour from ``rgb/`` or ``rgb.mkv``, LiDAR depth.

Poses and intrinsics come from ``iphone/colmap/{cameras,images}.txt`` (COLMAP world-to-camera
qvec/tvec, OpenCV camera, mesh frame; inverted by ``mosaic.sources.scannetpp_poses``). Colour
from ``iphone/rgb/frame_%06d.jpg`` when extracted, else decoded on demand from
``iphone/rgb.mkv`` (PyAV). Depth from ``iphone/depth/frame_%06d.png`` (uint16 mm) or
``iphone/depth.bin`` (256x192; one raw-deflate float32 stream, or per-frame length-prefixed lz4
uint16 mm / raw-deflate float32 chunks); with neither there is no sensor depth (the pose check
reports the frames as not checked). The COLMAP OPENCV distortion of the iPhone is small and is
ignored (pinhole), as the toolkit's own renders do; it is recorded in ``meta``. Layouts:
docs/release_layouts.md sections 2.3 (poses) and 2.4 (colour and depth encodings).
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDataError
from ..structures import DepthImage, Frame, SkippedFrame, scaled_intrinsics
from .mesh import no_sensor_depth, read_depth_png
from .sanity import pose_problem
from .scannetpp_layout import OBTAIN_HINT, corrupt_error
from .scannetpp_poses import (
    ColmapCamera,
    ColmapImage,
    frame_number,
    read_colmap_cameras,
    read_colmap_images,
)

DEPTH_BIN_SIZE = (256, 192)  # (width, height) of the iPhone LiDAR depth


# ---- iPhone depth.bin ---------------------------------------------------------------------
def _chunk_offsets(fh: Any, size: int, max_chunk: int) -> list[tuple[int, int]] | None:
    """(start, length) of the length-prefixed chunks when they tile the file exactly, else
    None (the file is then one raw-deflate stream, whose bytes never tile by chance)."""
    offsets = []
    pos = 0
    while pos < size:
        fh.seek(pos)
        n = int.from_bytes(fh.read(4), "little")
        if n <= 0 or n > max_chunk or pos + 4 + n > size:
            return None
        offsets.append((pos + 4, n))
        pos += 4 + n
    return offsets or None


@dataclass
class DepthBin:
    """Random access to the frames of ``iphone/depth.bin`` (metres, (192, 256) float32).

    Only the path is pickled; the chunk index (or, for the single-stream layout, the
    decompressor checkpoints) is built on first use per process.
    """

    scene_id: str
    path: Path
    width: int = DEPTH_BIN_SIZE[0]
    height: int = DEPTH_BIN_SIZE[1]
    checkpoint_every: int = 32
    _offsets: list[tuple[int, int]] | None = field(default=None, repr=False)
    _layout: str | None = field(default=None, repr=False)
    _checkpoints: dict[int, tuple[Any, int, bytes]] | None = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_offsets": None, "_layout": None, "_checkpoints": None}

    def _index(self) -> None:
        size = self.path.stat().st_size
        n_px = self.width * self.height
        with open(self.path, "rb") as fh:
            # a compressed frame is never much larger than its raw float32 pixels
            self._offsets = _chunk_offsets(fh, size, n_px * 4 + 1024)
        self._layout = "stream" if self._offsets is None else "chunks"

    def read(self, index: int) -> np.ndarray:
        """(height, width) float32 metres of the index-th depth frame (0 = invalid)."""
        if self._layout is None:
            self._index()
        n_px = self.width * self.height
        if self._layout == "stream":
            return self._read_stream(index, n_px)
        assert self._offsets is not None
        if not 0 <= index < len(self._offsets):
            raise MissingDataError(self.scene_id, self.path,
                                   f"depth frame {index} not in depth.bin "
                                   f"({len(self._offsets)} frames)", OBTAIN_HINT)
        start, n = self._offsets[index]
        with open(self.path, "rb") as fh:
            fh.seek(start)
            blob = fh.read(n)
        try:
            import lz4.block

            raw = lz4.block.decompress(blob, uncompressed_size=n_px * 2)
            if len(raw) == n_px * 2:
                return (np.frombuffer(raw, "<u2").astype(np.float32) / 1000.0).reshape(
                    self.height, self.width)
        except ImportError:
            pass  # without lz4 only the deflate variant can be read
        except Exception:  # noqa: BLE001 - lz4 raises LZ4BlockError on non-lz4 data
            pass
        try:
            raw = zlib.decompress(blob, wbits=-zlib.MAX_WBITS)
        except zlib.error:
            raise corrupt_error(self.scene_id, self.path,
                                f"depth frame {index} is neither lz4 nor raw-deflate data",
                                "install lz4 (pip install lz4) if this scene uses lz4 "
                                "depth") from None
        if len(raw) != n_px * 4:
            raise corrupt_error(self.scene_id, self.path, f"depth frame {index} has {len(raw)} "
                                f"bytes, expected {n_px * 4} (float32 {self.width}x{self.height})")
        return np.frombuffer(raw, "<f4").reshape(self.height, self.width).copy()

    def _read_stream(self, index: int, n_px: int) -> np.ndarray:
        """Frame ``index`` of the single raw-deflate stream. Deflate has no random access, so
        the decompressor state is checkpointed every ``checkpoint_every`` frames (a copy holds
        only zlib's 32 KiB window): a read decodes at most that many frames, and memory stays
        at one frame whatever the index."""
        frame_bytes = n_px * 4
        if self._checkpoints is None:
            self._checkpoints = {0: (zlib.decompressobj(wbits=-zlib.MAX_WBITS), 0, b"")}
        start = max(k for k in self._checkpoints if k <= index)
        d0, offset, tail = self._checkpoints[start]
        d = d0.copy()
        buf = b""
        try:
            with open(self.path, "rb") as fh:
                for k in range(start, index + 1):
                    out = bytearray()
                    while len(out) < frame_bytes:
                        if not tail:
                            fh.seek(offset)
                            tail = fh.read(1 << 20)
                            offset += len(tail)
                        got = d.decompress(tail, frame_bytes - len(out))
                        tail = d.unconsumed_tail
                        if not got and not tail:
                            raise MissingDataError(
                                self.scene_id, self.path,
                                f"depth frame {index} not in depth.bin ({k} frames)",
                                OBTAIN_HINT)
                        out += got
                    buf = bytes(out)
                    if (k + 1) % self.checkpoint_every == 0 and k + 1 not in self._checkpoints:
                        self._checkpoints[k + 1] = (d.copy(), offset, tail)
        except zlib.error as exc:
            raise corrupt_error(self.scene_id, self.path,
                                "depth.bin is neither one raw-deflate stream nor length-prefixed "
                                f"frames that fill the file (truncated?) ({exc})") from None
        return np.frombuffer(buf, "<f4").reshape(self.height, self.width).copy()


# ---- colour video and the frame store ------------------------------------------------------
@dataclass
class VideoFrames:
    """Random access to the frames of ``iphone/rgb.mkv`` as JPEG bytes (PyAV).

    Frame k is the k-th frame in presentation order, the numbering of the toolkit's
    ``ffmpeg ... -start_number 0 frame_%06d.jpg`` extraction for a constant-frame-rate video
    (the iPhone stream is recorded at a fixed rate; a variable-rate video could be numbered
    differently by ffmpeg, which may drop or repeat frames to keep the rate). The
    presentation timestamps of all frames are read once by demuxing (no decoding); a frame is
    then decoded by seeking to the key frame before it and decoding forward. Only the path is
    pickled.
    """

    scene_id: str
    path: Path
    quality: int = 95
    _pts: list[int] | None = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pts": None}

    def _open(self) -> Any:
        try:
            import av
        except ImportError:
            raise MissingDataError(
                self.scene_id, self.path,
                "colour frames are only in rgb.mkv and PyAV is not installed",
                "pip install av (or extract the frames with the ScanNet++ toolkit's "
                "iphone/prepare_iphone_data.py into iphone/rgb/)") from None
        try:
            return av.open(str(self.path))
        except av.error.FFmpegError as exc:
            raise corrupt_error(self.scene_id, self.path, f"unreadable video ({exc})") from None

    def read(self, index: int) -> bytes:
        """The index-th frame (0-based) as a JPEG file."""
        import av
        from PIL import Image

        with self._open() as container:
            stream = container.streams.video[0]
            try:
                if self._pts is None:
                    self._pts = sorted(p.pts for p in container.demux(stream)
                                       if p.pts is not None)
                if not 0 <= index < len(self._pts):
                    raise MissingDataError(self.scene_id, self.path,
                                           f"video has no frame {index} ({len(self._pts)} "
                                           "frames)", OBTAIN_HINT)
                target = self._pts[index]
                container.seek(target, stream=stream, backward=True)
                for frame in container.decode(stream):
                    if frame.pts is None or frame.pts < target:
                        continue
                    if frame.pts > target:
                        break
                    buf = io.BytesIO()
                    Image.fromarray(frame.to_ndarray(format="rgb24")).save(
                        buf, format="JPEG", quality=self.quality)
                    return buf.getvalue()
            except av.error.FFmpegError as exc:
                raise corrupt_error(self.scene_id, self.path,
                                    f"undecodable video ({exc})") from None
        raise corrupt_error(self.scene_id, self.path,
                            f"frame {index} (pts {target}) not decodable after seeking")


@dataclass(frozen=True)
class IphoneFrameStore:
    """iPhone colour (JPEG bytes) and LiDAR depth of one scene (picklable).

    Attributes:
        scene_id: scene (for errors).
        folder: ``<scene>/iphone``.
        color_K: (3, 3) colour intrinsics at ``size``; size: (width, height) of the colour.
        depth_bin: reader of ``depth.bin`` when there is no ``depth/`` folder, else None.
        video: reader of ``rgb.mkv`` for frames not extracted to ``rgb/``, else None.
    """

    scene_id: str
    folder: Path
    color_K: np.ndarray
    size: tuple[int, int]
    depth_bin: DepthBin | None
    video: VideoFrames | None

    def read_color(self, frame_id: int) -> bytes:
        jpg = self.folder / "rgb" / f"frame_{int(frame_id):06d}.jpg"
        if jpg.is_file():
            return jpg.read_bytes()
        if self.video is not None:
            return self.video.read(int(frame_id))
        raise MissingDataError(self.scene_id, jpg, "no extracted frame and no rgb.mkv",
                               OBTAIN_HINT)

    def has_depth(self, frame_id: int) -> bool:
        """False when the scene has neither ``depth/`` nor ``depth.bin``."""
        return self.depth_bin is not None or (self.folder / "depth").is_dir()

    def read_depth(self, frame_id: int) -> DepthImage:
        png = self.folder / "depth" / f"frame_{int(frame_id):06d}.png"
        if self.depth_bin is None and not png.parent.is_dir():
            # neither depth/ nor depth.bin (the reader warned): not comparable, not an error
            return no_sensor_depth(self.size[0], self.size[1], self.color_K)
        if png.is_file() or self.depth_bin is None:
            depth = read_depth_png(self.scene_id, png, 1000.0, OBTAIN_HINT)
        else:
            depth = self.depth_bin.read(int(frame_id))
        h, w = depth.shape
        K = scaled_intrinsics(self.color_K, w / self.size[0], h / self.size[1])
        return DepthImage(depth=depth, K=K)


# ---- frames -------------------------------------------------------------------------------
def _iphone_cameras(scene_id: str, iphone: Path, warnings: list[str], meta: dict[str, Any]
                    ) -> tuple[dict[int, ColmapCamera], list[ColmapImage]]:
    """The COLMAP cameras and images of the iPhone; records the first camera's model (and
    its distortion, which is ignored) in ``meta``."""
    cams = read_colmap_cameras(scene_id, iphone / "colmap" / "cameras.txt")
    images = read_colmap_images(scene_id, iphone / "colmap" / "images.txt")
    if len(cams) != 1:
        warnings.append(f"{iphone / 'colmap' / 'cameras.txt'}: {len(cams)} cameras; each "
                        "image uses its own")
    first = next(iter(cams.values()))
    meta["iphone_camera_model"] = first.model
    dist = first.distortion()
    if any(abs(d) > 0 for d in dist):
        meta["iphone_distortion_ignored"] = list(dist)
    return cams, images


def _posed_frames(scene_id: str, iphone: Path, cams: dict[int, ColmapCamera],
                  images: list[ColmapImage]) -> tuple[list[Frame], list[SkippedFrame]]:
    """Frames with a finite rigid camera-to-world pose (mesh frame) and a colour image;
    the others skipped with the reason."""
    frames, skipped = [], []
    seen: set[int] = set()
    has_video = (iphone / "rgb.mkv").is_file()
    for im in images:
        fid = frame_number(im.name)
        cam = cams.get(im.camera_id)
        if fid is None or cam is None:
            raise corrupt_error(scene_id, iphone / "colmap" / "images.txt",
                                f"image {im.name!r}: no frame number or unknown camera "
                                f"{im.camera_id}")
        if fid in seen:
            raise corrupt_error(scene_id, iphone / "colmap" / "images.txt",
                                f"frame {fid} listed twice")
        seen.add(fid)
        why = pose_problem(im.cam_to_world)
        if why is not None:
            skipped.append(SkippedFrame(fid, why))
            continue
        if not has_video and not (iphone / "rgb" / f"frame_{fid:06d}.jpg").is_file():
            skipped.append(SkippedFrame(fid, "colour frame not extracted and no rgb.mkv"))
            continue
        frames.append(Frame(fid, cam.K(), im.cam_to_world, cam.width, cam.height))
    return frames, skipped


def iphone_frames(scene_id: str, folder: Path, warnings: list[str], meta: dict[str, Any]
                  ) -> tuple[list[Frame], list[SkippedFrame], IphoneFrameStore]:
    """The iPhone frames of scene folder ``folder`` (OpenCV camera-to-world in the mesh frame,
    pinhole intrinsics of their COLMAP camera), the skipped ones, and the frame store; the
    colour and depth files used are recorded in ``meta``."""
    iphone = folder / "iphone"
    cams, images = _iphone_cameras(scene_id, iphone, warnings, meta)
    first = next(iter(cams.values()))
    frames, skipped = _posed_frames(scene_id, iphone, cams, images)
    has_rgb = (iphone / "rgb").is_dir() or (iphone / "rgb.mkv").is_file()
    if not has_rgb:
        raise MissingDataError(scene_id, iphone / "rgb.mkv",
                               "no iPhone colour: neither rgb/ nor rgb.mkv", OBTAIN_HINT)
    depth_bin = None
    if (iphone / "depth").is_dir():
        meta["iphone_depth"] = "depth/"
    elif (iphone / "depth.bin").is_file():
        depth_bin = DepthBin(scene_id, iphone / "depth.bin")
        meta["iphone_depth"] = "depth.bin"
    else:
        warnings.append(f"{iphone}: no depth/ and no depth.bin; no sensor depth")
        meta["iphone_depth"] = "none"
    meta["iphone_color"] = "rgb/" if (iphone / "rgb").is_dir() else "rgb.mkv"
    video = VideoFrames(scene_id, iphone / "rgb.mkv") if (iphone / "rgb.mkv").is_file() else None
    store = IphoneFrameStore(scene_id, iphone, first.K(), (first.width, first.height), depth_bin,
                             video)
    return frames, skipped, store
