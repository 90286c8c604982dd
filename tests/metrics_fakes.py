"""Synthetic per-seed experiment outputs in the layout the experiments write (outputs.parquet
and history.json per seed folder), for the metrics and report tests."""

import numpy as np
import pandas as pd

from kcm.io import write_json

CLASSES = ["a", "b", "c"]
LADDER = ["system:large", "system:small", "system:d", "system:kd", "system:mcm", "system:kcm", "small:mcm", "small:kcm",
          "router:random", "router:max_softmax", "router:mlp", "router:kan", "router:oracle"]
RETRIEVAL = ["system:large", "system:small", "system:mcm", "system:kcm", "small:mcm", "small:kcm",
             "router:random", "router:max_softmax", "router:mlp", "router:kan", "router:oracle"]


def classification_outputs(seed: int, larges=("a", "b"), n: int = 60) -> pd.DataFrame:
    """Every entry of the ladder for each large model: the small model right 60 %, the large 85 %."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, len(CLASSES), n)
    frames = []
    for large in larges:
        small_pred = np.where(rng.random(n) < 0.6, label, (label + 1) % len(CLASSES))
        large_pred = np.where(rng.random(n) < 0.85, label, (label + 2) % len(CLASSES))
        for entry in LADDER:
            to_large = rng.random(n) < 0.4
            frames.append(pd.DataFrame({
                "seed": seed, "large": large, "entry": entry, "label": label, "small_pred": small_pred,
                "large_pred": large_pred, "confidence": rng.random(n), "to_large": to_large,
                "pred": np.where(to_large, large_pred, small_pred)}))
    return pd.concat(frames, ignore_index=True)


def retrieval_outputs(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(100 + seed)
    frames = []
    for direction in ("i2t", "t2i"):
        small_rank = rng.integers(0, 12, n)
        large_rank = np.where(rng.random(n) < 0.5, 0, rng.integers(0, 6, n))
        for entry in RETRIEVAL:
            to_large = rng.random(n) < 0.3
            frames.append(pd.DataFrame({
                "seed": seed, "entry": entry, "direction": direction, "id": np.arange(n), "small_rank": small_rank,
                "large_rank": large_rank, "confidence": rng.random(n), "to_large": to_large,
                "rank": np.where(to_large, large_rank, small_rank)}))
    return pd.concat(frames, ignore_index=True)


def write_runs(root, family: str, seeds=(0, 1, 2), **kwargs) -> list:
    """Seed folders with outputs.parquet and history.json; returns their paths."""
    runs = []
    for seed in seeds:
        folder = root / f"seed{seed}"
        folder.mkdir(parents=True)
        outputs = classification_outputs(seed, **kwargs) if family == "classification" else retrieval_outputs(seed)
        outputs.to_parquet(folder / "outputs.parquet", index=False)
        history = {"seed": seed, "params": {"loop": {"eps": 0.98}}, "judges": {"kan": {"n_params": 10}},
                   "systems": {"kcm": {"rounds": 1}}}
        if family == "retrieval":
            history.update({"small": {"params": 5}, "alpha": {"round0": {"i2t": 0.5, "t2i": 0.25}}})
        write_json(folder / "history.json", history)
        runs.append(folder)
    return runs
