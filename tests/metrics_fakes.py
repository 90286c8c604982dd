"""Synthetic per-seed experiment outputs in the layout the experiments write (outputs.parquet
and history.json per seed folder, validation and test rows), for the metrics and report tests."""

import numpy as np
import pandas as pd

from kcm.io import write_json

CLASSES = ["a", "b", "c"]
SPLITS = ("val", "test")
EPS = 0.98
LADDER = ["system:large", "system:small", "system:d", "system:kd", "system:mcm", "system:kcm", "small:mcm", "small:kcm",
          "router:random", "router:max_softmax", "router:mlp", "router:kan", "router:oracle"]
RETRIEVAL = ["system:large", "system:small", "system:mcm", "system:kcm", "small:mcm", "small:kcm",
             "router:random", "router:max_softmax", "router:mlp", "router:kan", "router:oracle"]


def confidences(rng, entry: str, n: int) -> np.ndarray:
    """C_x of an entry: the large model alone 0 (always called); else about 40 % at or under ε."""
    if entry == "system:large":
        return np.zeros(n)
    return rng.random(n) ** 0.022  # P(u ** 0.022 <= 0.98) = 0.98 ** (1 / 0.022) ≈ 0.40


def calls(entry: str, confidence: np.ndarray) -> np.ndarray:
    return confidence <= EPS if entry != "system:small" else np.zeros(confidence.size, bool)


def classification_outputs(seed: int, larges=("a", "b"), n: int = 60) -> pd.DataFrame:
    """Every entry of the ladder for each large model and split: the small model right 60 %, the
    large 85 %."""
    rng = np.random.default_rng(seed)
    frames = []
    for split in SPLITS:
        label = rng.integers(0, len(CLASSES), n)
        for large in larges:
            small_pred = np.where(rng.random(n) < 0.6, label, (label + 1) % len(CLASSES))
            large_pred = np.where(rng.random(n) < 0.85, label, (label + 2) % len(CLASSES))
            for entry in LADDER:
                confidence = confidences(rng, entry, n)
                to_large = calls(entry, confidence)
                frames.append(pd.DataFrame({
                    "seed": seed, "split": split, "large": large, "entry": entry, "label": label, "id": np.arange(n),
                    "small_pred": small_pred, "large_pred": large_pred, "confidence": confidence,
                    "to_large": to_large, "pred": np.where(to_large, large_pred, small_pred)}))
    return pd.concat(frames, ignore_index=True)


def retrieval_outputs(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(100 + seed)
    frames = []
    for split in SPLITS:
        for direction in ("i2t", "t2i"):
            small_rank = rng.integers(0, 12, n)
            large_rank = np.where(rng.random(n) < 0.5, 0, rng.integers(0, 6, n))
            for entry in RETRIEVAL:
                confidence = confidences(rng, entry, n)
                to_large = calls(entry, confidence)
                frames.append(pd.DataFrame({
                    "seed": seed, "split": split, "entry": entry, "direction": direction, "id": np.arange(n),
                    "small_rank": small_rank, "large_rank": large_rank, "confidence": confidence,
                    "to_large": to_large, "rank": np.where(to_large, large_rank, small_rank)}))
    return pd.concat(frames, ignore_index=True)


def on_test(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["split"] == "test"].reset_index(drop=True)


def write_runs(root, family: str, seeds=(0, 1, 2), budgets=None, **kwargs) -> list:
    """Seed folders with outputs.parquet and history.json; returns their paths. `budgets`: the
    loop's call budgets (None: the key is absent, as in older configs)."""
    runs = []
    loop = {"eps": EPS} if budgets is None else {"eps": EPS, "budgets": list(budgets)}
    for seed in seeds:
        folder = root / f"seed{seed}"
        folder.mkdir(parents=True)
        outputs = classification_outputs(seed, **kwargs) if family == "classification" else retrieval_outputs(seed)
        outputs.to_parquet(folder / "outputs.parquet", index=False)
        history = {"seed": seed, "params": {"loop": loop}, "judges": {"kan": {"n_params": 10}},
                   "systems": {"kcm": {"rounds": 1}}}
        if family == "retrieval":
            history.update({"small": {"params": 5}, "alpha": {"round0": {"i2t": 0.5, "t2i": 0.25}}})
        write_json(folder / "history.json", history)
        runs.append(folder)
    return runs
