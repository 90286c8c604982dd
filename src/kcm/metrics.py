"""Metrics computed from per-sample prediction tables (columns `split`, `label`, `pred`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score


def classification(labels: np.ndarray, preds: np.ndarray, classes: list[str]) -> dict:
    """Overall accuracy, macro-F1, and accuracy (recall) of each class, as fractions in [0, 1]."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    if labels.shape != preds.shape or labels.size == 0:
        raise ValueError(f"need equal, non-empty label/pred arrays, got {labels.shape} and {preds.shape}")
    per_class = {}
    for k, name in enumerate(classes):
        mask = labels == k
        per_class[name] = float((preds[mask] == k).mean()) if mask.any() else None
    present = [v for v in per_class.values() if v is not None]
    return {
        "n": int(labels.size),
        "accuracy": float((labels == preds).mean()),
        "macro_f1": float(
            f1_score(labels, preds, labels=list(range(len(classes))), average="macro", zero_division=0)
        ),
        "class_accuracy": per_class,
        "mean_class_accuracy": float(np.mean(present)),
    }


def by_split(predictions: pd.DataFrame, classes: list[str]) -> dict:
    """`classification` for every split present in the prediction table."""
    return {
        split: classification(group["label"].to_numpy(), group["pred"].to_numpy(), classes)
        for split, group in predictions.groupby("split", sort=True)
    }
