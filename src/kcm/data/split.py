"""Seeded, stratified train/val/test splits (scikit-learn), identical on every machine."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

SPLITS = ("train", "val", "test")


def subsample_per_class(frame: pd.DataFrame, max_per_class: int | None, seed: int) -> pd.DataFrame:
    """Keep at most `max_per_class` rows of each label (seeded); None keeps everything."""
    if max_per_class is None:
        return frame
    rng = np.random.default_rng(seed)
    keep = []
    for _, group in frame.groupby("label", sort=True):
        order = rng.permutation(len(group))[:max_per_class]
        keep.append(group.iloc[np.sort(order)])
    return pd.concat(keep).sort_index()


def stratified_split(
    frame: pd.DataFrame, fractions: dict[str, float], seed: int
) -> dict[str, pd.DataFrame]:
    """Split into train/val/test by the given fractions, stratified on `label`.

    Rows keep their original relative order inside each split, so outputs do not depend on
    the shuffle beyond membership.
    """
    total = sum(fractions[name] for name in SPLITS)
    if not np.isclose(total, 1.0):
        raise ValueError(f"split fractions must sum to 1, got {total} from {fractions}")
    index = np.arange(len(frame))
    labels = frame["label"].to_numpy()
    train_idx, rest_idx = train_test_split(
        index, train_size=fractions["train"], stratify=labels, random_state=seed
    )
    val_share = fractions["val"] / (fractions["val"] + fractions["test"])
    val_idx, test_idx = train_test_split(
        rest_idx, train_size=val_share, stratify=labels[rest_idx], random_state=seed + 1
    )
    return {
        name: frame.iloc[np.sort(idx)].reset_index(drop=True)
        for name, idx in zip(SPLITS, (train_idx, val_idx, test_idx))
    }
