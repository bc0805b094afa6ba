"""The .sens writer and reader against an independent parser of the published layout."""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mosaic.errors import CorruptDataError, MissingDataError
from mosaic.sources.sens import SensReader, write_sens

CW, CH, DW, DH = 64, 48, 32, 24
COLOR_K = np.array([[60.5, 0, 31.75], [0, 59.25, 24.1], [0, 0, 1]])
DEPTH_K = np.array([[30.0, 0, 15.5], [0, 29.5, 11.5], [0, 0, 1]])


def _jpeg(rgb: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (CW, CH), rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _frames(n: int = 5) -> list[tuple[np.ndarray, bytes, np.ndarray]]:
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        pose = np.eye(4)
        pose[:3, 3] = rng.normal(size=3)
        if i == 2:
            pose = np.full((4, 4), -np.inf)
        depth = rng.integers(0, 6000, size=(DH, DW)).astype(np.uint16)
        if i == 3:
            depth[:] = 0
        out.append((pose, _jpeg((10 * i, 50, 200 - 10 * i)), depth))
    return out


def _independent_parse(path: Path) -> dict:
    """Field-by-field parse of docs/release_layouts.md section 1.2 (deliberately not using
    mosaic.sources.sens)."""
    data = path.read_bytes()
    off = 0

    def take(fmt: str):
        nonlocal off
        size = struct.calcsize(fmt)
        vals = struct.unpack_from(fmt, data, off)
        off += size
        return vals

    (version,) = take("<I")
    (name_len,) = take("<Q")
    name = data[off : off + name_len].decode()
    off += name_len
    mats = [np.array(take("<16f")).reshape(4, 4) for _ in range(4)]
    c_comp, d_comp = take("<i"), take("<i")
    cw, ch, dw, dh = take("<4I")
    (shift,) = take("<f")
    (n_frames,) = take("<Q")
    header_size = off
    frames, offsets = [], []
    for _ in range(n_frames):
        offsets.append(off)
        pose = np.array(take("<16f")).reshape(4, 4)
        ts_c, ts_d = take("<Q"), take("<Q")
        (c_size,) = take("<Q")
        (d_size,) = take("<Q")
        color = data[off : off + c_size]
        off += c_size
        depth = np.frombuffer(zlib.decompress(data[off : off + d_size]), "<u2").reshape(dh, dw)
        off += d_size
        frames.append((pose, color, depth, ts_c[0], ts_d[0]))
    (n_imu,) = take("<Q")
    return dict(
        version=version, name=name, mats=mats, comp=(c_comp[0], d_comp[0]),
        sizes=(cw, ch, dw, dh), shift=shift, header_size=header_size, frames=frames,
        n_imu=n_imu, trailing=len(data) - off, offsets=offsets,
    )


@pytest.fixture()
def sens_file(tmp_path: Path) -> tuple[Path, list]:
    frames = _frames()
    path = write_sens(
        tmp_path / "scene0001_00.sens", color_K=COLOR_K, depth_K=DEPTH_K,
        color_size=(CW, CH), depth_size=(DW, DH), frames=iter(frames),
    )
    return path, frames


def test_writer_matches_published_layout(sens_file):
    path, frames = sens_file
    got = _independent_parse(path)
    assert got["version"] == 4 and got["name"] == "StructureSensor"
    assert got["header_size"] == 12 + len("StructureSensor") + 292
    assert got["comp"] == (2, 1)
    assert got["sizes"] == (CW, CH, DW, DH) and got["shift"] == 1000.0
    np.testing.assert_allclose(got["mats"][0][:3, :3], COLOR_K, rtol=1e-6)
    np.testing.assert_allclose(got["mats"][2][:3, :3], DEPTH_K, rtol=1e-6)
    assert got["mats"][0][3, 3] == 1.0 and np.array_equal(got["mats"][1], np.eye(4))
    assert len(got["frames"]) == len(frames)
    for (pose, color, depth, ts_c, ts_d), (p0, c0, d0) in zip(got["frames"], frames, strict=True):
        np.testing.assert_allclose(pose, p0.astype(np.float32))
        assert color == c0 and color[:2] == b"\xff\xd8"
        assert np.array_equal(depth, d0)
        assert ts_c == 0 and ts_d == 0
    assert np.isneginf(got["frames"][2][0]).all()
    assert got["n_imu"] == 0 and got["trailing"] == 0


def test_reader_random_access(sens_file):
    path, frames = sens_file
    r = SensReader(path, "scene0001_00")
    h = r.header
    assert r.n_frames == 5 and h.n_frames == 5 and r.n_imu == 0
    assert (h.color_width, h.color_height, h.depth_width, h.depth_height) == (CW, CH, DW, DH)
    assert h.color_compression == "jpeg" and h.depth_compression == "zlib_ushort"
    assert h.sensor_name == "StructureSensor" and h.depth_shift == 1000.0
    np.testing.assert_allclose(h.color_K, COLOR_K, rtol=1e-6)
    np.testing.assert_allclose(h.depth_K, DEPTH_K, rtol=1e-6)
    assert h.color_K.shape == (3, 3) and h.depth_extrinsic.shape == (4, 4)
    for i in (4, 0, 3, 1):  # out of order: random access
        pose, color, depth = frames[i]
        np.testing.assert_allclose(r.pose(i), pose.astype(np.float32))
        assert r.color_bytes(i) == color
        d = r.depth(i)
        assert d.dtype == np.float32 and d.shape == (DH, DW)
        np.testing.assert_allclose(d, depth / 1000.0, rtol=1e-6)
    assert np.isneginf(r.pose(2)).all()
    assert r.poses().shape == (5, 4, 4)
    assert not r.depth(3).any()
    with pytest.raises(IndexError):
        r.pose(5)


def _read_in_child(args):
    reader, i = args
    return reader.color_bytes(i), reader.depth(i).sum()


_INHERITED: SensReader | None = None


def _read_inherited(i):
    # the reader (and its open handle) came through fork, not through pickle
    return _INHERITED.color_bytes(i), _INHERITED.depth(i).sum()


def test_reader_pickles_and_survives_fork(sens_file):
    global _INHERITED
    path, frames = sens_file
    r = SensReader(path, "scene0001_00")
    r.color_bytes(0)  # open the handle in the parent first
    clone = pickle.loads(pickle.dumps(r))
    assert clone.color_bytes(1) == frames[1][1]
    with mp.get_context("fork").Pool(2) as pool:  # arguments are pickled: the pickle path
        out = pool.map(_read_in_child, [(r, i) for i in range(5)])
    _INHERITED = r
    fd = r._handle().fileno()
    offset = os.lseek(fd, 0, os.SEEK_CUR)  # forked children share it if they reuse the fd
    try:
        with mp.get_context("fork").Pool(2) as pool:  # a global is inherited: the fork path
            out_forked = pool.map(_read_inherited, [4, 0, 3, 1, 2])
    finally:
        _INHERITED = None
    assert os.lseek(fd, 0, os.SEEK_CUR) == offset  # children opened their own handles
    for i, (color, dsum) in enumerate(out):
        assert color == frames[i][1]
        assert dsum == pytest.approx(float((frames[i][2] / 1000.0).astype(np.float32).sum()))
    assert [c for c, _ in out_forked] == [frames[i][1] for i in (4, 0, 3, 1, 2)]
    assert r.color_bytes(4) == frames[4][1]  # parent handle unaffected


def test_imu_block_counted_and_optional(sens_file, tmp_path):
    path, _ = sens_file
    data = path.read_bytes()
    with_imu = tmp_path / "imu.sens"
    with_imu.write_bytes(data[:-8] + struct.pack("<Q", 2) + bytes(2 * 128))
    assert SensReader(with_imu, "s").n_imu == 2
    no_count = tmp_path / "nocount.sens"
    no_count.write_bytes(data[:-8])
    assert SensReader(no_count, "s").n_imu == 0


def _patched(path: Path, tmp: Path, offset: int, fmt: str, value: int) -> Path:
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    out = tmp / f"patched_{offset}.sens"
    out.write_bytes(bytes(data))
    return out


def test_rejects_other_versions_and_compressions(sens_file, tmp_path):
    path, _ = sens_file
    comp_at = 12 + len("StructureSensor") + 256
    cases = [
        (0, "<I", 3, "version 3"),
        (comp_at, "<i", 1, "png"),
        (comp_at + 4, "<i", 0, "raw_ushort"),
    ]
    for offset, fmt, value, words in cases:
        bad = _patched(path, tmp_path, offset, fmt, value)
        with pytest.raises(CorruptDataError) as err:
            SensReader(bad, "scene0001_00")
        assert words in str(err.value) and "scene0001_00" in str(err.value)
        assert err.value.path == str(bad)


def test_truncated_file_names_scene_file_frame_offset(sens_file, tmp_path):
    path, _ = sens_file
    data = path.read_bytes()
    got = _independent_parse(path)
    # Cut inside frame 3's payload: the error names frame 3 and its payload offset.
    off = got["offsets"][3]
    cut = tmp_path / "cut.sens"
    cut.write_bytes(data[: off + 96 + 10])
    with pytest.raises(CorruptDataError) as err:
        SensReader(cut, "scene0009_01")
    msg = str(err.value)
    assert "scene0009_01" in msg and str(cut) in msg
    assert "frame 3" in msg and f"byte offset {off + 96}" in msg
    short = tmp_path / "short.sens"
    short.write_bytes(data[:100])
    with pytest.raises(CorruptDataError, match="header truncated"):
        SensReader(short, "scene0009_01")


def test_missing_file(tmp_path):
    with pytest.raises(MissingDataError, match="scene0002_00"):
        SensReader(tmp_path / "nope.sens", "scene0002_00")
