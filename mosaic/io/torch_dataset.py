"""Map-style torch ``Dataset`` over a generated dataset (optional ``torch`` extra).

Only paths and counts live in the object; each DataLoader worker opens its own read-only
HDF5 handles on first access (``ShardReader`` re-opens after fork and is pickled without
handles), so it is safe with ``num_workers > 0``. torch is imported only by this module,
which nothing else in mosaic imports.

    from mosaic.io.torch_dataset import MosaicTorchDataset, collate_items
    ds = MosaicTorchDataset("out/synthetic", decode_images=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2,
                                         collate_fn=collate_items)
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError
from ..prompts import build_prompt
from .reader import MosaicDataset

try:
    import torch
    from torch.utils.data import Dataset
except ImportError:  # torch is an optional extra; the rest of mosaic never imports this module
    raise BackendUnavailableError(
        "torch is not installed; install the optional extra: pip install 'mosaic[torch]' "
        "(pinned to torch==2.13.0, CPU build)"
    ) from None


class MosaicTorchDataset(Dataset):
    """Items as dicts of plain values and tensors.

    Each item: ``id``, ``question_type``, ``family``, ``prompt`` (the text SpatialMosaic's
    evaluation shows a model, ``mosaic.prompts.build_prompt``), ``question``, ``options``,
    ``answer``, ``ground_truth``,
    ``frame_ids``, ``image_paths`` (absolute), ``K`` (k, 3, 3) float64 tensor,
    ``cam_to_world`` (k, 4, 4) float64 tensor (OpenCV camera to z-up world, metres), and with
    ``decode_images`` ``images``: list of (H, W, 3) uint8 tensors; ``transform`` (if given)
    is applied to the dict last. The dataset is verified when opened (see ``MosaicDataset``;
    ``allow_incomplete`` reads only the valid shards).
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        decode_images: bool = False,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        allow_incomplete: bool = False,
    ):
        self.data = MosaicDataset(root, split=split, allow_incomplete=allow_incomplete)
        self.decode_images = decode_images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> Any:
        d = self.data[int(index)]
        q = d.qa
        out: dict[str, Any] = {
            "id": q.id,
            "question_type": q.question_type,
            "family": q.family,
            "prompt": build_prompt(q),
            "question": q.question,
            "options": list(q.options),
            "answer": q.answer,
            "ground_truth": q.ground_truth,
            "frame_ids": list(q.frame_ids),
            "image_paths": [str(p) for p in d.image_paths],
            "K": torch.from_numpy(np.stack([v.K for v in d.views])),
            "cam_to_world": torch.from_numpy(np.stack([v.cam_to_world for v in d.views])),
        }
        if self.decode_images:
            from PIL import Image

            images = []
            for k in range(len(d.views)):
                with Image.open(io.BytesIO(self.data.image_bytes(d, k))) as im:
                    images.append(torch.from_numpy(np.asarray(im.convert("RGB")).copy()))
            out["images"] = images
        return self.transform(out) if self.transform is not None else out


def collate_items(batch: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Collate to lists per key (items have different frame counts, so no stacking)."""
    return {key: [b[key] for b in batch] for key in batch[0]} if batch else {}
