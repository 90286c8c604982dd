"""Cached tensors on disk: safetensors files whose header holds one "kcm" entry of canonical
JSON, and the sha256 of a split's ids that ties cached rows to the data they came from.

One metadata entry, not several: safetensors writes its metadata map in random order, so
several keys would make rebuilds differ byte-wise. Every cache of the project (features,
embeddings, judges, heads) goes through these functions.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from kcm.io import atomic_path


def ids_digest(ids) -> str:
    """sha256 of the ids in order: a cache built from other rows (or another order) differs."""
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()


def save(path: str | Path, tensors: dict, meta: dict[str, Any], framework: str = "numpy") -> None:
    """Write `tensors` (numpy arrays or torch tensors, by `framework`) with `meta` as the header,
    atomically."""
    if framework == "numpy":
        from safetensors.numpy import save_file
    else:
        from safetensors.torch import save_file
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"kcm": json.dumps(meta, sort_keys=True)})


def header(handle) -> dict[str, Any]:
    """The "kcm" header of an open safetensors file."""
    return json.loads(handle.metadata()["kcm"])


def read_meta(path: str | Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return header(handle)


def check_ids(path: str | Path, meta: dict[str, Any], split: str, ids, what: str = "the features") -> None:
    """Fail, naming the fix, when a split's rows do not match the rows the cache was built from."""
    if ids_digest(ids) != meta["ids_sha256"][split]:
        raise ValueError(f"{path}: rows of split {split!r} do not match the data (rebuild {what})")
