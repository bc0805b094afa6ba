"""Cost of the checks that keep a wrong dataset from being accepted, on a generated dataset.

Prints, for the dataset directory given (default: builds one from 2 built-in scenes):

* opening the dataset cold (every shard hashed, sha256 streamed) and warm (checksums from
  ``.mosaic-verified.json``), the sha256 rate, and the warm/cold ratio;
* the colour-decode check per frame (``mosaic.sources.image_check.decode_problem``) on the
  dataset's images, and on a ScanNet-size (1296x968) JPEG;
* the input fingerprint per scene folder of the source root (``--root``), when given;
* ``validate`` with and without decoding images.

    .venv/bin/python benchmarks/integrity_checks.py [--out OUT] [--root ROOT]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner


def _median_s(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _build(tmp: Path) -> tuple[Path, Path]:
    from mosaic.cli import main
    from mosaic.synthetic.world import SynthSpec, write_synthetic_dataset

    root = tmp / "release"
    write_synthetic_dataset(root, n_scenes=2, seed=0, spec=SynthSpec(n_frames=60))
    out = tmp / "ds"
    res = CliRunner().invoke(main, ["generate", "--root", str(root), "--out", str(out),
                                    "--no-progress", "--set", "viewsets.frame_step=3",
                                    "--chunk-size", "1"])
    assert res.exit_code == 0, res.output
    return out, root


def main() -> None:
    from mosaic.io.reader import open_dataset
    from mosaic.io.validate import validate_dataset
    from mosaic.io.verify import VERIFIED_CACHE
    from mosaic.sources import list_scenes
    from mosaic.sources.fingerprint import input_fingerprint
    from mosaic.sources.image_check import decode_problem

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="a generated dataset directory")
    ap.add_argument("--root", type=Path, default=None, help="its ScanNet-layout source root")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out, root = (args.out, args.root) if args.out else _build(Path(tmp))
        shards = sorted(out.glob("*.h5"))
        mb = sum(p.stat().st_size for p in shards) / 1e6

        def cold() -> None:
            (out / VERIFIED_CACHE).unlink(missing_ok=True)
            open_dataset(out).close()

        t_cold = _median_s(cold)
        open_dataset(out).close()  # fill the cache
        t_warm = _median_s(lambda: open_dataset(out).close())
        print(f"open_dataset: {len(shards)} shards, {mb:.1f} MB; cold {t_cold * 1e3:.1f} ms "
              f"({mb / t_cold:.0f} MB/s incl. opening), warm {t_warm * 1e3:.1f} ms, "
              f"warm/cold {t_warm / t_cold:.2f}")

        images = sorted((out / "images").rglob("*.jpg"))[:200]
        blobs = [p.read_bytes() for p in images]
        if blobs:
            t = _median_s(lambda: [decode_problem(b) for b in blobs])
            print(f"decode check: {t / len(blobs) * 1e3:.2f} ms/frame over {len(blobs)} "
                  "dataset images")
        from PIL import Image

        rng = np.random.default_rng(0)
        big = np.clip(np.cumsum(rng.random((968, 1296, 3)) * 255, axis=1) // 300, 0, 255)
        buf = io.BytesIO()
        Image.fromarray(big.astype(np.uint8)).save(buf, "JPEG", quality=90)
        data = buf.getvalue()
        t = _median_s(lambda: [decode_problem(data) for _ in range(20)])
        print(f"decode check: {t / 20 * 1e3:.2f} ms/frame at 1296x968 ({len(data) // 1024} KB)")

        if root is not None:
            entries, _ = list_scenes(root, source="scannet")
            folders = [e.folder for e in entries if e.folder.is_dir()]
            t = _median_s(lambda: [input_fingerprint(f) for f in folders])
            print(f"input fingerprint: {t / max(1, len(folders)) * 1e3:.2f} ms/scene over "
                  f"{len(folders)} scene folders")

        t_img = _median_s(lambda: validate_dataset(out), repeat=1)
        t_no = _median_s(lambda: validate_dataset(out, check_images=False), repeat=1)
        print(f"validate: {t_img:.2f} s decoding images, {t_no:.2f} s without "
              f"(ratio {t_img / t_no:.2f})")


if __name__ == "__main__":
    main()
