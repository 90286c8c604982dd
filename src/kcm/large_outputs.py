"""A large model's cached outputs: probabilities for every sample, split and prompt variant.

Variants: "none" (plain input) and "hint_<k>" (the small model's prediction k written into the
input, or fused into the head's input). Stored as one long table (id, split, variant,
prob_0..prob_{K-1}) so routing sweeps and distillation rounds never rerun the large model.
A trained head over frozen features ("large A" for text, the vision large model) learns from
plain and hinted copies of each training input; its train-split outputs are out-of-fold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, softmax
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from kcm.io import write_parquet


def hinted_rows(variants: dict[str, np.ndarray], hints: np.ndarray) -> np.ndarray:
    """Row i of variant `hint_<hints[i]>`: what the large model gave (or read) with that hint.
    Filled per hint, never stacking the K variants (100 classes: 100 copies of the split)."""
    hints = np.asarray(hints)
    first = variants[f"hint_{hints[0]}"] if len(hints) else variants["none"]
    out = np.empty((len(hints), *first.shape[1:]), first.dtype)
    for k in np.unique(hints):
        rows = hints == k
        out[rows] = variants[f"hint_{k}"][rows]
    return out


def fit_head(train_arrays: dict[str, np.ndarray], labels: np.ndarray, hints: np.ndarray, C: float) -> LogisticRegression:
    x = np.concatenate([train_arrays["none"], hinted_rows(train_arrays, hints)])
    y = np.concatenate([labels, labels])
    return LogisticRegression(C=C, max_iter=5000).fit(x, y)


def head_probs(head: LogisticRegression, arrays: dict[str, np.ndarray], n_classes: int | None = None) -> dict[str, np.ndarray]:
    """Probabilities over all `n_classes` (a class missing from a long-tailed training fold
    gets probability 0)."""
    n_classes = len(head.classes_) if n_classes is None else n_classes
    return {name: all_classes(head, head.predict_proba(x), n_classes) for name, x in arrays.items()}


def all_classes(head: LogisticRegression, probs: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(probs), n_classes))
    out[:, head.classes_] = probs
    return out


class VariantInputs:
    """Each prompt variant is its own input (the hint written into the text, then embedded)."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays
        self.n_classes = sum(name.startswith("hint_") for name in arrays)

    def take(self, rows: np.ndarray) -> VariantInputs:
        return VariantInputs({k: v[rows] for k, v in self.arrays.items()})

    def fit(self, labels: np.ndarray, hints: np.ndarray, C: float) -> LogisticRegression:
        return fit_head(self.arrays, labels, hints, C)

    def probs(self, head: LogisticRegression) -> dict[str, np.ndarray]:
        return head_probs(head, self.arrays, self.n_classes)


class OneHotHintInputs:
    """Frozen features with the hint appended as a one-hot of the class (zeros: no hint). The
    head is linear, so hint k only adds the weight column of input F + k to the plain logits:
    nothing is materialised per hint (100 classes at paper scale were 101 copies of every split)."""

    def __init__(self, features: np.ndarray, n_classes: int):
        self.features, self.n_classes = features, n_classes

    def take(self, rows: np.ndarray) -> OneHotHintInputs:
        return OneHotHintInputs(self.features[rows], self.n_classes)

    def with_hints(self, hints: np.ndarray | None) -> np.ndarray:
        """(N, F + K): the features and the one-hot of each row's hint (None: no hint)."""
        x = np.concatenate([self.features, np.zeros((len(self.features), self.n_classes), self.features.dtype)], axis=1)
        if hints is not None:
            x[np.arange(len(x)), self.features.shape[1] + np.asarray(hints)] = 1.0
        return x

    def fit(self, labels: np.ndarray, hints: np.ndarray, C: float) -> LogisticRegression:
        x = np.concatenate([self.with_hints(None), self.with_hints(hints)])
        return LogisticRegression(C=C, max_iter=5000).fit(x, np.concatenate([labels, labels]))

    def probs(self, head: LogisticRegression) -> dict[str, np.ndarray]:
        plain = head.decision_function(self.with_hints(None))
        hint_weights = head.coef_[:, self.features.shape[1]:]  # (classes seen or 1, K)
        out = {"none": plain}
        for k in range(self.n_classes):
            out[f"hint_{k}"] = plain + (hint_weights[0, k] if plain.ndim == 1 else hint_weights[:, k])
        return {name: all_classes(head, logistic_link(logits), self.n_classes) for name, logits in out.items()}


def logistic_link(decision: np.ndarray) -> np.ndarray:
    """LogisticRegression.predict_proba from its decision function: softmax over the classes,
    or the sigmoid pair for a binary head."""
    if decision.ndim == 1:
        p = expit(decision)
        return np.stack([1.0 - p, p], axis=1)
    return softmax(decision, axis=1)


def head_outputs(inputs: dict[str, VariantInputs | OneHotHintInputs], train_labels: np.ndarray,
                 train_hints: np.ndarray, C: float, folds: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Large A's probabilities on every split and variant. Train rows are out-of-fold (each
    predicted by a head that never saw it), because the loop distils them into F_s."""
    train = inputs["train"]
    n, n_classes = len(train_labels), train.n_classes
    out: dict[str, dict[str, np.ndarray]] = {"train": {}}
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held_out in cv.split(np.zeros(n), train_labels):
        head = train.take(fit_rows).fit(train_labels[fit_rows], train_hints[fit_rows], C)
        for name, p in train.take(held_out).probs(head).items():
            out["train"].setdefault(name, np.zeros((n, n_classes)))[held_out] = p
    head = train.fit(train_labels, train_hints, C)
    out.update({split: inputs[split].probs(head) for split in inputs if split != "train"})
    return out


def to_frame(ids, split: str, probs: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long table: one row per (sample, variant) with prob_0..prob_{K-1}."""
    frames = []
    for name, p in probs.items():
        frame = pd.DataFrame({"id": np.asarray(ids), "split": split, "variant": name})
        for k in range(p.shape[1]):
            frame[f"prob_{k}"] = p[:, k]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def outputs_frame(outputs: dict[str, dict[str, np.ndarray]], ids: dict[str, list]) -> pd.DataFrame:
    """The long table (id, split, variant, prob_0..prob_{K-1}) over all splits, splits in order."""
    frames = []
    for split, probs in outputs.items():
        rows = {name: p.shape[0] for name, p in probs.items()}
        if set(rows.values()) != {len(ids[split])}:
            raise ValueError(f"split {split!r}: {len(ids[split])} ids but probability rows {rows}")
        frames.append(to_frame(ids[split], split, probs))
    return pd.concat(frames, ignore_index=True)


def write_outputs(path: Path, outputs: dict[str, dict[str, np.ndarray]], ids: dict[str, list]) -> None:
    write_parquet(path, outputs_frame(outputs, ids))


def read_large(path: Path, frames: dict[str, pd.DataFrame], n_classes: int) -> dict[str, dict[str, np.ndarray]]:
    """A cached large-model table (id, split, variant, prob_k) as split -> variant -> (N, K),
    rows in the data folder's order; any missing or extra row is an error."""
    table = pd.read_parquet(path)
    probs = [f"prob_{k}" for k in range(n_classes)]
    out: dict[str, dict[str, np.ndarray]] = {}
    for split, frame in frames.items():
        part = table[table["split"] == split]
        out[split] = {}
        for variant, rows in part.groupby("variant", sort=True):
            rows = rows.set_index("id")
            if len(rows) != len(frame) or not rows.index.isin(frame["id"]).all():
                raise ValueError(f"{path}: split {split!r} variant {variant!r} does not cover the data's "
                                 f"{len(frame)} rows (rebuild the large-model outputs)")
            out[split][variant] = rows.loc[frame["id"], probs].to_numpy(dtype=np.float64)
    return out
