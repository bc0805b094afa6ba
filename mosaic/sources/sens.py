"""ScanNet ``.sens`` files (version 4): random-access reader and writer.

Layout (docs/release_layouts.md section 1.2; little-endian, no padding): a header of
``12 + N + 292``
bytes (version, sensor name, four 4x4 float32 calibration matrices, compression enums, image sizes,
depth shift, frame count F), then F frame records of a 96-byte head (camera_to_world 4x4 float32
row-major, two uint64 timestamps, uint64 colour and depth byte counts) followed by the colour
payload (a JPEG file) and the depth payload (a zlib stream of depth_w x depth_h uint16 LE), then a
uint64 IMU count M and M records of 128 bytes.

The reader indexes frame offsets by walking the record heads (no payload is decoded), so opening
a multi-GB file costs one small read per frame. Frames are decoded on demand.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import CorruptDataError, MissingDataError
from .sanity import intrinsics_problem, size_problem

SENS_VERSION = 4
COLOR_COMPRESSION = {-1: "unknown", 0: "raw", 1: "png", 2: "jpeg"}
DEPTH_COMPRESSION = {-1: "unknown", 0: "raw_ushort", 1: "zlib_ushort", 2: "occi_ushort"}
_FRAME_HEAD = struct.Struct("<16f4Q")  # camera_to_world, ts colour, ts depth, C, D
_HEADER_FIXED = struct.Struct("<64f2i4If Q")  # calibration ... frame count (after the name)
IMU_RECORD_BYTES = 128
_HINT = "re-download the scene's .sens with download-scannet.py (the file is damaged or partial)"


@dataclass(frozen=True)
class SensHeader:
    """Calibration and format fields of a ``.sens`` header.

    Attributes:
        version: format version (always 4 here).
        sensor_name: e.g. ``"StructureSensor"``.
        color_K: (3, 3) float64 colour intrinsics at ``color_width`` x ``color_height``.
        color_extrinsic: (4, 4) float64 colour extrinsic (usually identity).
        depth_K: (3, 3) float64 depth intrinsics at ``depth_width`` x ``depth_height``.
        depth_extrinsic: (4, 4) float64 depth extrinsic (usually identity).
        color_compression: ``"jpeg"`` (the only kind this reader accepts).
        depth_compression: ``"zlib_ushort"`` (the only kind this reader accepts).
        color_width, color_height, depth_width, depth_height: image sizes in pixels.
        depth_shift: raw depth units per metre (1000 for ScanNet: raw values are mm).
        n_frames: number of frame records.
        size: header size in bytes (12 + len(sensor name) + 292).
    """

    version: int
    sensor_name: str
    color_K: np.ndarray
    color_extrinsic: np.ndarray
    depth_K: np.ndarray
    depth_extrinsic: np.ndarray
    color_compression: str
    depth_compression: str
    color_width: int
    color_height: int
    depth_width: int
    depth_height: int
    depth_shift: float
    n_frames: int
    size: int


class SensReader:
    """Random access to the frames of one ``.sens`` file.

    The file handle is opened lazily and re-opened in a new process (after fork or unpickling),
    so a reader can be sent to worker processes. Only offsets and poses are kept in memory.

    Attributes:
        path: the ``.sens`` file.
        scene_id: scene the file belongs to (used in error messages).
        header: the parsed ``SensHeader``.
        n_frames: number of frames.
        n_imu: IMU record count after the frames (0 when the file stops after the frames).
    """

    def __init__(self, path: str | Path, scene_id: str):
        self.path = Path(path)
        self.scene_id = scene_id
        if not self.path.is_file():
            raise MissingDataError(
                scene_id, self.path, "the .sens file does not exist",
                "download it with download-scannet.py --type .sens",
            )
        self._fh: BinaryIO | None = None
        self._pid = -1
        self.file_size = self.path.stat().st_size
        with open(self.path, "rb") as fh:
            self.header = self._read_header(fh)
            self._offsets, self._sizes, self._poses = self._index_frames(fh)
            self.n_imu = self._read_imu_count(fh)
        self.n_frames = self.header.n_frames

    # ---- parsing -------------------------------------------------------------------------
    def _corrupt(self, cause: str) -> CorruptDataError:
        return CorruptDataError(self.scene_id, self.path, cause, _HINT)

    def _read_header(self, fh: BinaryIO) -> SensHeader:
        head = fh.read(12)
        if len(head) < 12:
            raise self._corrupt(f"header truncated: file has {len(head)} bytes, needs at least 12")
        version, name_len = struct.unpack("<IQ", head)
        if version != SENS_VERSION:
            raise self._corrupt(
                f"unsupported .sens version {version} at byte offset 0 (only version 4 is read)"
            )
        if name_len > 4096:
            raise self._corrupt(f"implausible sensor name length {name_len} at byte offset 4")
        name = fh.read(name_len)
        fixed = fh.read(_HEADER_FIXED.size)
        if len(name) < name_len or len(fixed) < _HEADER_FIXED.size:
            raise self._corrupt(
                f"header truncated: file has {self.file_size} bytes, header needs "
                f"{12 + name_len + _HEADER_FIXED.size}"
            )
        vals = _HEADER_FIXED.unpack(fixed)
        mats = np.asarray(vals[:64], dtype=np.float64).reshape(4, 4, 4)
        c_comp, d_comp = vals[64], vals[65]
        cw, ch, dw, dh = vals[66:70]
        shift, n_frames = float(vals[70]), int(vals[71])
        off = 12 + name_len + 256
        if c_comp != 2:
            raise self._corrupt(
                f"colour compression {COLOR_COMPRESSION.get(c_comp, c_comp)!r} at byte offset "
                f"{off} is not supported (only jpeg, as in the ScanNet release)"
            )
        if d_comp != 1:
            raise self._corrupt(
                f"depth compression {DEPTH_COMPRESSION.get(d_comp, d_comp)!r} at byte offset "
                f"{off + 4} is not supported (only zlib_ushort, as in the ScanNet release)"
            )
        if not (shift > 0 and np.isfinite(shift)):
            raise self._corrupt(f"depth shift {shift} at byte offset {off + 24} is not positive")
        for what, at, (w, h) in (("colour", off + 8, (cw, ch)), ("depth", off + 16, (dw, dh))):
            why = size_problem(w, h)
            if why is not None:
                raise self._corrupt(f"{what} {why} (header byte offset {at})")
        mats_at = 12 + name_len
        for what, k, size in (("colour", 0, (cw, ch)), ("depth", 2, (dw, dh))):
            why = intrinsics_problem(mats[k][:3, :3], size)
            if why is not None:
                raise self._corrupt(
                    f"{what} intrinsics (header byte offset {mats_at + 64 * k}) {why}")
        return SensHeader(
            version=version,
            sensor_name=name.decode("utf-8", errors="replace"),
            color_K=mats[0][:3, :3].copy(),
            color_extrinsic=mats[1].copy(),
            depth_K=mats[2][:3, :3].copy(),
            depth_extrinsic=mats[3].copy(),
            color_compression=COLOR_COMPRESSION[c_comp],
            depth_compression=DEPTH_COMPRESSION[d_comp],
            color_width=int(cw),
            color_height=int(ch),
            depth_width=int(dw),
            depth_height=int(dh),
            depth_shift=shift,
            n_frames=n_frames,
            size=12 + name_len + _HEADER_FIXED.size,
        )

    def _index_frames(self, fh: BinaryIO) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.header.n_frames
        # A frame needs at least its 96-byte head: reject absurd counts before allocating.
        if n * _FRAME_HEAD.size > self.file_size - self.header.size:
            raise self._corrupt(
                f"header announces {n} frames but only {self.file_size - self.header.size} "
                f"bytes follow the header (truncated file)"
            )
        offsets = np.empty(n, dtype=np.int64)
        sizes = np.empty((n, 2), dtype=np.int64)
        poses = np.empty((n, 4, 4), dtype=np.float32)
        pos = self.header.size
        for i in range(n):
            fh.seek(pos)
            head = fh.read(_FRAME_HEAD.size)
            if len(head) < _FRAME_HEAD.size:
                raise self._corrupt(
                    f"frame {i} record head truncated at byte offset {pos} (file has "
                    f"{self.file_size} bytes)"
                )
            vals = _FRAME_HEAD.unpack(head)
            c_size, d_size = vals[18], vals[19]
            end = pos + _FRAME_HEAD.size + c_size + d_size
            if end > self.file_size:
                raise self._corrupt(
                    f"frame {i} payload at byte offset {pos + _FRAME_HEAD.size} runs past the "
                    f"end of the file ({c_size} colour + {d_size} depth bytes, file has "
                    f"{self.file_size} bytes)"
                )
            offsets[i] = pos
            sizes[i] = (c_size, d_size)
            poses[i] = np.asarray(vals[:16], dtype=np.float32).reshape(4, 4)
            pos = end
        self._end_of_frames = pos
        return offsets, sizes, poses

    def _read_imu_count(self, fh: BinaryIO) -> int:
        fh.seek(self._end_of_frames)
        tail = fh.read(8)
        if len(tail) < 8:  # version-4 files written by the Python exporter's peers may stop here
            return 0
        (m,) = struct.unpack("<Q", tail)
        need = self._end_of_frames + 8 + m * IMU_RECORD_BYTES
        if need > self.file_size:
            raise self._corrupt(
                f"IMU block at byte offset {self._end_of_frames} announces {m} records "
                f"({m * IMU_RECORD_BYTES} bytes) but the file ends at {self.file_size}"
            )
        return int(m)

    # ---- lazy handle ---------------------------------------------------------------------
    def _handle(self) -> BinaryIO:
        if self._fh is None or self._pid != os.getpid():
            # A handle inherited through fork shares its offset with the parent: re-open.
            try:
                self._fh = open(self.path, "rb")  # noqa: SIM115 (kept open for random access)
            except FileNotFoundError:
                raise MissingDataError(
                    self.scene_id, self.path, "the .sens file no longer exists",
                    "it was moved or deleted after the scene was opened; reload the scene",
                ) from None
            self._pid = os.getpid()
        return self._fh

    def close(self) -> None:
        """Close the file handle (it re-opens on the next read)."""
        if self._fh is not None and self._pid == os.getpid():
            self._fh.close()
        self._fh = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fh"] = None
        state["_pid"] = -1
        return state

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def _check_index(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self.n_frames:
            raise IndexError(f"scene {self.scene_id}: frame {i} not in 0..{self.n_frames - 1}")
        return i

    def _read_payload(self, i: int, which: int) -> bytes:
        i = self._check_index(i)
        start = int(self._offsets[i]) + _FRAME_HEAD.size
        if which == 1:
            start += int(self._sizes[i, 0])
        n = int(self._sizes[i, which])
        fh = self._handle()
        fh.seek(start)
        data = fh.read(n)
        if len(data) < n:  # the file shrank since it was indexed
            raise self._corrupt(f"frame {i} payload at byte offset {start} is truncated")
        return data

    # ---- public access -------------------------------------------------------------------
    def pose(self, i: int) -> np.ndarray:
        """(4, 4) float64 camera_to_world of frame i as stored (raw world; may be all -inf)."""
        return self._poses[self._check_index(i)].astype(np.float64)

    def poses(self) -> np.ndarray:
        """(F, 4, 4) float64 camera_to_world of every frame as stored (raw world)."""
        return self._poses.astype(np.float64)

    def color_bytes(self, i: int) -> bytes:
        """The colour payload of frame i exactly as stored (a complete JPEG file)."""
        return self._read_payload(i, 0)

    def depth_raw(self, i: int) -> np.ndarray:
        """(depth_height, depth_width) uint16 raw depth of frame i (mm for ScanNet; 0 = invalid)."""
        data = self._read_payload(i, 1)
        h, w = self.header.depth_height, self.header.depth_width
        try:
            raw = zlib.decompress(data)
        except zlib.error as exc:
            start = int(self._offsets[i]) + _FRAME_HEAD.size + int(self._sizes[i, 0])
            raise self._corrupt(
                f"frame {i} depth payload at byte offset {start} is not a zlib stream ({exc})"
            ) from None
        if len(raw) != 2 * w * h:
            raise self._corrupt(
                f"frame {i} depth inflates to {len(raw)} bytes, expected {2 * w * h} "
                f"({w}x{h} uint16)"
            )
        return np.frombuffer(raw, dtype="<u2").reshape(h, w)

    def depth(self, i: int) -> np.ndarray:
        """(depth_height, depth_width) float32 depth of frame i in metres (0 = invalid)."""
        return (self.depth_raw(i).astype(np.float32) / np.float32(self.header.depth_shift))

    def frame_offset(self, i: int) -> int:
        """Byte offset of frame i's record head."""
        return int(self._offsets[self._check_index(i)])


def _mat4(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if m.shape == (3, 3):
        out = np.eye(4)
        out[:3, :3] = m
        return out
    if m.shape != (4, 4):
        raise ValueError(f"expected a (3, 3) or (4, 4) matrix, got {m.shape}")
    return m


def write_sens(
    path: str | Path,
    *,
    color_K: np.ndarray,
    depth_K: np.ndarray,
    color_size: tuple[int, int],
    depth_size: tuple[int, int],
    frames: Iterable[tuple[np.ndarray, bytes, np.ndarray]],
    sensor_name: str = "StructureSensor",
    color_extrinsic: np.ndarray | None = None,
    depth_extrinsic: np.ndarray | None = None,
    depth_shift: float = 1000.0,
) -> Path:
    """Write a version-4 ``.sens`` file (JPEG colour, zlib uint16 depth, IMU count 0).

    Args:
        color_K, depth_K: (3, 3) or (4, 4) intrinsics at ``color_size`` / ``depth_size``.
        color_size, depth_size: (width, height) in pixels.
        frames: (camera_to_world (4, 4) OpenCV camera -> raw world, may be all -inf;
            colour JPEG bytes; depth (depth_h, depth_w) uint16 raw units, 0 = invalid).
            May be a generator: the frame count is patched in after the last frame.
        color_extrinsic, depth_extrinsic: (4, 4); identity when None.
        depth_shift: raw depth units per metre.

    Returns:
        The written path.
    """
    path = Path(path)
    name = sensor_name.encode("utf-8")
    mats = [
        _mat4(color_K),
        _mat4(np.eye(4) if color_extrinsic is None else color_extrinsic),
        _mat4(depth_K),
        _mat4(np.eye(4) if depth_extrinsic is None else depth_extrinsic),
    ]
    dw, dh = int(depth_size[0]), int(depth_size[1])
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IQ", SENS_VERSION, len(name)))
        fh.write(name)
        fh.write(np.concatenate([m.ravel() for m in mats]).astype("<f4").tobytes())
        fh.write(struct.pack("<ii", 2, 1))
        fh.write(struct.pack("<4I", int(color_size[0]), int(color_size[1]), dw, dh))
        fh.write(struct.pack("<f", float(depth_shift)))
        count_at = fh.tell()
        fh.write(struct.pack("<Q", 0))
        n = 0
        for cam_to_world, color, depth in frames:
            depth = np.asarray(depth)
            if depth.shape != (dh, dw):
                raise ValueError(f"frame {n}: depth shape {depth.shape} != ({dh}, {dw})")
            zdepth = zlib.compress(np.ascontiguousarray(depth, dtype="<u2").tobytes())
            pose = np.asarray(cam_to_world, dtype="<f4").reshape(4, 4)
            fh.write(pose.tobytes())
            fh.write(struct.pack("<4Q", 0, 0, len(color), len(zdepth)))
            fh.write(color)
            fh.write(zdepth)
            n += 1
        fh.write(struct.pack("<Q", 0))  # IMU count
        fh.seek(count_at)
        fh.write(struct.pack("<Q", n))
    return path
