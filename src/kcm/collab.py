"""Large/small collaboration from cached outputs, for any modality.

A task supplies, per evaluated sample, the labels, the small model's probabilities and the
large model's probabilities for every prompt variant ("none", and "hint_<k>" when the small
model's prediction k is written into its prompt). A router supplies a confidence C_x per
sample. The system answers with F_s where C_x > eps and otherwise asks F_l, whose prompt
carries F_s's prediction (KCM's prompt modification). Everything here is array arithmetic on
cached outputs, so sweeping eps or comparing routers never reruns a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kcm import metrics

ROUTERS = ("random", "max_softmax", "judge", "oracle")


def hinted_rows(variants: dict[str, np.ndarray], hints: np.ndarray) -> np.ndarray:
    """Row i of variant `hint_<hints[i]>`: what the large model gave (or read) with that hint."""
    n_hints = sum(name.startswith("hint_") for name in variants)
    stacked = np.stack([variants[f"hint_{k}"] for k in range(n_hints)])  # (K, N, ...)
    return stacked[hints, np.arange(len(hints))]


@dataclass(frozen=True)
class CachedOutputs:
    labels: np.ndarray  # (N,)
    small_probs: np.ndarray  # (N, K)
    large_probs: dict[str, np.ndarray]  # variant -> (N, K)

    def __post_init__(self):
        n, k = self.small_probs.shape
        if self.labels.shape != (n,):
            raise ValueError(f"labels {self.labels.shape} do not match small_probs {self.small_probs.shape}")
        expected = {"none", *(f"hint_{c}" for c in range(k))}
        if set(self.large_probs) != expected:
            raise ValueError(f"large_probs variants {sorted(self.large_probs)} != {sorted(expected)}")
        for name, p in self.large_probs.items():
            if p.shape != (n, k):
                raise ValueError(f"large_probs[{name!r}] has shape {p.shape}, expected {(n, k)}")

    @property
    def small_pred(self) -> np.ndarray:
        return self.small_probs.argmax(1)

    def large_hinted(self) -> np.ndarray:
        """F_l's probabilities with F_s's prediction in its prompt, (N, K)."""
        return hinted_rows(self.large_probs, self.small_pred)

    def correct(self, hinted: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(small correct, large correct) per sample; the large model with or without the hint."""
        large = self.large_hinted() if hinted else self.large_probs["none"]
        return self.small_pred == self.labels, large.argmax(1) == self.labels


def router_confidence(kind: str, outputs: CachedOutputs, judge_confidence: np.ndarray | None = None,
                      seed: int = 0) -> np.ndarray:
    """C_x per sample for a router; larger = keep the small model's answer."""
    if kind == "random":
        return np.random.default_rng(seed).random(len(outputs.labels))
    if kind == "max_softmax":
        return outputs.small_probs.max(1)
    if kind == "judge":
        if judge_confidence is None:
            raise ValueError("the judge router needs the judge's confidences")
        return np.asarray(judge_confidence, dtype=float)
    if kind == "oracle":
        # Ask F_l exactly when it fixes F_s: at any 0 < eps < 1 the best possible point. Its
        # best curve over all call budgets is metrics.oracle_curve.
        small_ok, large_ok = outputs.correct()
        return np.where(~small_ok & large_ok, 0.0, 1.0)
    raise ValueError(f"unknown router {kind!r}; choose from {ROUTERS}")


def system_predictions(outputs: CachedOutputs, confidence: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, large-call mask) of the collaborating system at threshold eps."""
    to_large = metrics.route_to_large(confidence, eps)
    preds = np.where(to_large, outputs.large_hinted().argmax(1), outputs.small_pred)
    return preds, to_large


def evaluate(outputs: CachedOutputs, confidence: np.ndarray, eps: float) -> dict:
    """Accuracy and calls at eps, and the whole curve over eps with CPT(20/50/80 %), AUC, APGR.

    The references are the small model alone and the hinted large model alone (every input
    routed), so APGR measures how much of that gap a router recovers per call.
    """
    small_ok, large_ok = outputs.correct()
    small_acc, large_acc = float(small_ok.mean()), float(large_ok.mean())
    preds, to_large = system_predictions(outputs, confidence, eps)
    curve = metrics.routing_curve(small_ok, large_ok, confidence)
    return {
        "eps": eps,
        "accuracy": float((preds == outputs.labels).mean()),
        "large_fraction": float(to_large.mean()),
        "small_accuracy": small_acc,
        "large_accuracy": large_acc,
        "auc": metrics.curve_auc(curve),
        "apgr": metrics.apgr(curve, small_acc, large_acc),
        **{f"cpt{int(x * 100)}": metrics.cpt(curve, small_acc, large_acc, x) for x in (0.2, 0.5, 0.8)},
        "curve": {key: value.tolist() for key, value in curve.items() if key != "threshold"},
    }
