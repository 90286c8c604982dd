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
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from kcm.io import write_parquet


def hinted_rows(variants: dict[str, np.ndarray], hints: np.ndarray) -> np.ndarray:
    """Row i of variant `hint_<hints[i]>`: what the large model gave (or read) with that hint."""
    n_hints = sum(name.startswith("hint_") for name in variants)
    stacked = np.stack([variants[f"hint_{k}"] for k in range(n_hints)])  # (K, N, ...)
    return stacked[hints, np.arange(len(hints))]


def fit_head(train_arrays: dict[str, np.ndarray], labels: np.ndarray, hints: np.ndarray, C: float) -> LogisticRegression:
    x = np.concatenate([train_arrays["none"], hinted_rows(train_arrays, hints)])
    y = np.concatenate([labels, labels])
    return LogisticRegression(C=C, max_iter=5000).fit(x, y)


def head_probs(head: LogisticRegression, arrays: dict[str, np.ndarray], n_classes: int | None = None) -> dict[str, np.ndarray]:
    """Probabilities over all `n_classes` (a class missing from a long-tailed training fold
    gets probability 0)."""
    n_classes = len(head.classes_) if n_classes is None else n_classes
    out = {}
    for name, x in arrays.items():
        probs = np.zeros((len(x), n_classes))
        probs[:, head.classes_] = head.predict_proba(x)
        out[name] = probs
    return out


def head_outputs(arrays: dict[str, dict[str, np.ndarray]], train_labels: np.ndarray, train_hints: np.ndarray,
                 C: float, folds: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Large A's probabilities on every split and variant. Train rows are out-of-fold (each
    predicted by a head that never saw it), because the loop distils them into F_s."""
    train = arrays["train"]
    n, n_classes = len(train_labels), sum(name.startswith("hint_") for name in train)
    out = {"train": {name: np.zeros((n, n_classes)) for name in train}}
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held_out in cv.split(np.zeros(n), train_labels):
        head = fit_head({k: v[fit_rows] for k, v in train.items()}, train_labels[fit_rows], train_hints[fit_rows], C)
        for name, p in head_probs(head, {k: v[held_out] for k, v in train.items()}, n_classes).items():
            out["train"][name][held_out] = p
    head = fit_head(train, train_labels, train_hints, C)
    out.update({split: head_probs(head, arrays[split], n_classes) for split in arrays if split != "train"})
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
