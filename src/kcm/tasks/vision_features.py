"""Cached large-model inputs for the vision experiment: frozen-backbone features of every
image, computed once. File: safetensors with one float32 tensor per split (rows in the split
file's order); the "kcm" header records the backbone and a sha256 of each split's ids,
checked on load (the same contract as kcm.tasks.language_features)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kcm.data.split import SPLITS
from kcm.io import atomic_path
from kcm.tasks.language_features import ids_digest


def build(images: dict[str, np.ndarray], ids: dict, out: Path, encoder, backbone: str) -> None:
    from safetensors.numpy import save_file

    tensors = {split: encoder.encode(images[split]) for split in SPLITS}
    meta = {"backbone": backbone, "ids_sha256": {s: ids_digest(ids[s]) for s in SPLITS}}
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata={"kcm": json.dumps(meta, sort_keys=True)})


def load(path: Path, split: str, ids) -> np.ndarray:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        expected = json.loads(handle.metadata()["kcm"])["ids_sha256"][split]
        if ids_digest(ids) != expected:
            raise ValueError(f"{path}: rows of split {split!r} do not match the data (rebuild the features)")
        return handle.get_tensor(split)
