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


# --------------------------------------------------------------------------- routing
# A router scores each input; inputs whose confidence C_x <= eps go to the large model, the
# rest keep the small model's answer (KCM: C_x > eps answers with F_s). Sweeping eps traces
# accuracy against the fraction of large-model calls (RouteLLM's evaluation).


def route_to_large(confidence: np.ndarray, eps: float) -> np.ndarray:
    """Large-model calls at threshold eps: C_x <= eps (eps = 1 calls it for every input,
    eps = 0 for none, since a softmax confidence is in (0, 1])."""
    return np.asarray(confidence) <= eps


def routed_accuracy(small_correct: np.ndarray, large_correct: np.ndarray, to_large: np.ndarray) -> float:
    return float(np.where(to_large, large_correct, small_correct).mean())


def routing_curve(small_correct: np.ndarray, large_correct: np.ndarray, confidence: np.ndarray) -> dict:
    """Accuracy at every achievable large-call fraction when the least confident go first.

    Inputs with equal confidence cannot be split by a threshold, so the curve has one point
    per distinct confidence (plus the all-small start). Returns fractions in [0, 1].
    """
    small = np.asarray(small_correct, dtype=float)
    large = np.asarray(large_correct, dtype=float)
    conf = np.asarray(confidence, dtype=float)
    n = small.size
    order = np.argsort(conf, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum(large[order] - small[order])])  # routing the first k
    # a threshold can stop only after the last of a run of equal confidences
    sorted_conf = conf[order]
    stops = np.concatenate([[0], np.flatnonzero(np.diff(sorted_conf) > 0) + 1, [n]])
    stops = np.unique(stops)
    return {
        "large_fraction": stops / n,
        "accuracy": small.mean() + gain[stops] / n,
        "threshold": np.concatenate([[-np.inf], sorted_conf[stops[1:] - 1]]),
    }


def random_curve(small_accuracy: float, large_accuracy: float, points: int = 101) -> dict:
    """Expected accuracy of routing a random fraction p to the large model: a straight line."""
    p = np.linspace(0, 1, points)
    return {"large_fraction": p, "accuracy": small_accuracy + p * (large_accuracy - small_accuracy)}


def oracle_curve(small_correct: np.ndarray, large_correct: np.ndarray) -> dict:
    """The best any router can do at each call budget: first the inputs only the large model
    gets right, then those both get right or wrong, last those only the small one gets right."""
    small = np.asarray(small_correct, dtype=bool)
    large = np.asarray(large_correct, dtype=bool)
    n = small.size
    gains, losses = int((~small & large).sum()), int((small & ~large).sum())
    k = np.arange(n + 1)
    accuracy = small.mean() + (np.minimum(k, gains) - np.maximum(0, k - (n - losses))) / n
    return {"large_fraction": k / n, "accuracy": accuracy}


def curve_auc(curve: dict) -> float:
    """Area under accuracy vs large-call fraction (fraction on [0, 1])."""
    return float(np.trapezoid(curve["accuracy"], curve["large_fraction"]))


def cpt(curve: dict, small_accuracy: float, large_accuracy: float, x: float) -> float | None:
    """Call-performance threshold: the smallest large-call fraction at which the curve reaches
    small + x (large - small), linearly interpolated; None if never reached or undefined."""
    if large_accuracy <= small_accuracy:
        return None
    target = small_accuracy + x * (large_accuracy - small_accuracy)
    frac, acc = curve["large_fraction"], curve["accuracy"]
    hit = np.flatnonzero(acc >= target - 1e-12)
    if hit.size == 0:
        return None
    i = int(hit[0])
    if i == 0:
        return float(frac[0])
    f0, f1, a0, a1 = frac[i - 1], frac[i], acc[i - 1], acc[i]
    return float(f0 + (target - a0) * (f1 - f0) / (a1 - a0))


def apgr(curve: dict, small_accuracy: float, large_accuracy: float) -> float | None:
    """Average performance gap recovered (RouteLLM): (AUC - small) / (large - small), the
    horizontal small/large lines having areas small and large. The random router scores 0.5;
    the oracle's is the most any router can reach. Undefined (None) when the large model is no
    better than the small one: there is no gap to recover."""
    if large_accuracy <= small_accuracy:
        return None
    return (curve_auc(curve) - small_accuracy) / (large_accuracy - small_accuracy)
