"""The train/val partition of one experiment seed (config `<modality>.loop.split`).

`fixed`: every seed uses the data folder's train/val/test split as built. `per_seed`: the
experiment of seed k pools that split's train and val rows and draws a new train/val partition
with seed k, keeping per class the fixed split's train and val counts (so a long-tailed train
and a balanced val keep their shapes); test stays fixed (its sampling variation is the
bootstrap's over test samples). The spread over seeds then includes which rows train and
which validate.

Pooled rows are numbered train first, then val; the new train and val keep that order, so a
re-partition that happens to keep every row in place returns the original arrays' order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

SPLIT_MODES = ("per_seed", "fixed")


def split_seed(params: dict, seed: int) -> int | None:
    """The seed of this experiment's train/val partition: the experiment seed under `per_seed`,
    None (the data folder's split) under `fixed`. `params`: the modality's config section."""
    mode = params["loop"]["split"]
    if mode not in SPLIT_MODES:
        raise ValueError(f"loop.split must be one of {SPLIT_MODES}, got {mode!r}")
    return seed if mode == "per_seed" else None


def partition(train_labels, val_labels, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the pooled train+val (train's rows first) for a new train and val, sorted: per
    label, as many rows as the fixed train and val had, drawn with numpy's Generator(seed).
    Unlabelled data (retrieval's images) passes one label for every row."""
    train_labels, val_labels = np.asarray(train_labels), np.asarray(val_labels)
    pooled = np.concatenate([train_labels, val_labels])
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(pooled):  # sorted: the draw order does not depend on row order
        rows = rng.permutation(np.flatnonzero(pooled == label))
        n_train = int((train_labels == label).sum())
        train.append(rows[:n_train])
        val.append(rows[n_train:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def pool(train: Any, val: Any) -> Any:
    """Train's rows then val's, for aligned structures: numpy arrays, pandas frames, scipy
    sparse matrices, lists, and dicts of those (nested)."""
    if isinstance(train, dict):
        if set(train) != set(val):
            raise ValueError(f"train and val hold different keys: {sorted(train)} vs {sorted(val)}")
        return {k: pool(train[k], val[k]) for k in train}
    if isinstance(train, pd.DataFrame):
        return pd.concat([train, val], ignore_index=True)
    if sparse.issparse(train):
        return sparse.vstack([train, val], format=train.format)
    if isinstance(train, list):
        return train + val
    return np.concatenate([train, val])


def take(value: Any, rows: np.ndarray) -> Any:
    """These rows of a structure `pool` accepts."""
    if isinstance(value, dict):
        return {k: take(v, rows) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return value.iloc[rows].reset_index(drop=True)
    if isinstance(value, list):
        return [value[i] for i in rows]
    return value[rows]


def apply(per_split: dict, rows: tuple[np.ndarray, np.ndarray]) -> dict:
    """`per_split` (split -> aligned structure) with train and val re-drawn from their pool by
    `rows` (from `partition`); test and any other split untouched."""
    pooled = pool(per_split["train"], per_split["val"])
    return {**per_split, "train": take(pooled, rows[0]), "val": take(pooled, rows[1])}


def record(seed: int | None, n_train: int, n_val: int) -> dict:
    """What history.json says about the split a seed used."""
    return {"mode": "fixed" if seed is None else "per_seed", "seed": seed, "n_train": int(n_train), "n_val": int(n_val)}
