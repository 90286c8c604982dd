"""The retrieval experiment's data and cached tower features: a pair folder (Twemoji or MSCOCO
Karpathy) read into images and flat captions, and the frozen Lite0 / MiniLM features of every
image and caption (the expensive part, once).

Files (safetensors, one "kcm" metadata entry holding canonical JSON with a sha256 of each
split's ids, checked on load: `kcm.cache`):
    towers:      "<split>/image" (n_images, 1280) Lite0, "<split>/text" (n_captions, 384) MiniLM
    embeddings:  "<split>/image" (n_images, d), "<split>/text" (n_captions, d), unit norm;
                 metadata also holds the model's `logit_scale` (exp'd) and a description
Captions are flattened in row order: row i's captions, in its `captions` list order, then row i+1's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kcm import cache
from kcm.data.image_folder import read_image_split
from kcm.data.split import SPLITS
from kcm.io import read_json


def load_pairs(data_dir: Path) -> dict[str, dict]:
    """Per split: frame (no image column), images (N, H, W, C), captions (flat) and caption_to_image."""
    data_dir = Path(data_dir)
    card = read_json(data_dir / "card.json")
    out = {}
    for split in SPLITS:
        frame, images = read_image_split(data_dir / f"{split}.parquet", tuple(card["image_shape"]))
        lists = [list(c) for c in frame["captions"]]
        out[split] = {
            "frame": frame, "images": images,
            "captions": [c for texts in lists for c in texts],
            "caption_to_image": np.repeat(np.arange(len(lists)), [len(c) for c in lists]).astype(np.int64),
        }
    return out


def save_arrays(tensors: dict[str, np.ndarray], meta: dict, out: Path) -> None:
    cache.save(out, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, meta)


def load_arrays(path: Path, pairs: dict[str, dict]) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """({split: {"image", "text"}}, metadata) after checking each split's rows against the data."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        meta = cache.header(handle)
        arrays = {}
        for split, p in pairs.items():
            cache.check_ids(path, meta, split, p["frame"]["id"], what="it")
            arrays[split] = {"image": handle.get_tensor(f"{split}/image"), "text": handle.get_tensor(f"{split}/text")}
            if len(arrays[split]["text"]) != len(p["captions"]):
                raise ValueError(f"{path}: {len(arrays[split]['text'])} caption rows for split {split!r}, "
                                 f"the data has {len(p['captions'])} captions (rebuild it)")
    return arrays, meta


def split_digests(pairs: dict) -> dict[str, str]:
    return {s: cache.ids_digest(p["frame"]["id"]) for s, p in pairs.items()}


def tower_features(data_dir: Path, out: Path, batch_size: int = 16) -> None:
    """Frozen Lite0 and MiniLM features of every image and caption (the expensive part, once)."""
    from kcm.models.custom_clip import build_custom_clip, encode_towers

    torch.set_num_threads(2)  # pinned: float sums depend on it (MiniLM, as in the language features)
    pairs = load_pairs(data_dir)
    model, preprocess, tokenizer = build_custom_clip()
    tensors = {}
    for split, p in pairs.items():
        img, txt = encode_towers(model, p["images"], p["captions"], preprocess=preprocess,
                                 tokenizer=tokenizer, batch_size=batch_size)
        tensors[f"{split}/image"], tensors[f"{split}/text"] = img.numpy(), txt.numpy()
    save_arrays(tensors, {"towers": "timm tf_efficientnet_lite0 (ImageNet) | all-MiniLM-L6-v2 (mean pooled)",
                    "ids_sha256": split_digests(pairs)}, out)
