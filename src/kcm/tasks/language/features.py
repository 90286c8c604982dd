"""Cached large-model inputs for the language experiment: sentence embeddings of every text,
once without a hint and once per possible hint (KCM's prompt modification writes the small
model's predicted class into the text the large model reads). Computing every variant once
means routing sweeps and distillation rounds never rerun the encoder.

File: safetensors with float32 tensors "<split>/none" and "<split>/hint_<k>" of shape
(n_split, dim), rows in the split file's order; the header ("kcm" metadata, canonical JSON)
records the fields, the template, the classes and a sha256 of each split's ids, checked on load.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from kcm import cache
from kcm.baselines.text_tfidf import input_text
from kcm.data.split import SPLITS
from kcm.text_hints import variants


def build(data_dir: Path, out: Path, fields: tuple[str, ...], template: str, encoder) -> dict:
    card = json.loads((Path(data_dir) / "card.json").read_text())
    classes = card["classes"]
    tensors, digests = {}, {}
    for split in SPLITS:
        frame = pd.read_parquet(Path(data_dir) / f"{split}.parquet")
        digests[split] = cache.ids_digest(frame["id"])
        for name, texts in variants(input_text(frame, fields).tolist(), classes, template).items():
            tensors[f"{split}/{name}"] = encoder.encode(texts, progress=True)
    meta = {"fields": list(fields), "template": template, "classes": classes, "ids_sha256": digests}
    cache.save(out, tensors, meta)
    return meta


def load(path: Path, split: str, ids) -> dict[str, np.ndarray]:
    """All variants of one split, after checking the rows match `ids` in order."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        cache.check_ids(path, cache.header(handle), split, ids)
        prefix = f"{split}/"
        return {key[len(prefix):]: handle.get_tensor(key) for key in handle.keys() if key.startswith(prefix)}
