"""Cached large-model inputs for the vision experiment: frozen-backbone features of every
image, computed once. File: safetensors with one float32 tensor per split (rows in the split
file's order); the "kcm" header records the backbone and a sha256 of each split's ids,
checked on load (the same contract as kcm.tasks.language.features)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kcm import cache
from kcm.data.split import SPLITS


def build(images: dict[str, np.ndarray], ids: dict, out: Path, encoder, backbone: str) -> None:
    """Encodes split by split and pops each split's images from `images` once encoded (paper
    scale: the images need not outlive their features)."""
    tensors = {split: encoder.encode(images.pop(split)) for split in SPLITS}
    cache.save(out, tensors, {"backbone": backbone, "ids_sha256": {s: cache.ids_digest(ids[s]) for s in SPLITS}})


def load(path: Path, split: str, ids) -> np.ndarray:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        cache.check_ids(path, cache.header(handle), split, ids)
        return handle.get_tensor(split)


def lite0(data_dir: Path, out: Path, batch_size: int) -> None:
    """EfficientNet-Lite0 features of every image of a dataset folder."""
    import torch

    from kcm.models.lite0 import Lite0Features
    from kcm.tasks.vision.task import load_images

    torch.set_num_threads(1)  # fixed (float sums depend on it); 1 thread beat 2 on these small convolutions
    encoder = Lite0Features(batch_size=batch_size)  # first: a refused device (kcm.device) fails before any reading
    frames, images = load_images(data_dir)
    build(images, {s: f["id"] for s, f in frames.items()}, out, encoder, "timm tf_efficientnet_lite0 (ImageNet)")
