"""Metrics of collaborating systems over seeds, from the per-sample outputs `kcm.rounds` writes.

Input: one long table with columns seed, large, entry, label, small_pred, large_pred,
confidence, to_large, pred (one row per test sample per entry). Output: mean, sample std over
seeds (ddof=1) and the per-seed values of accuracy,
per-class accuracy, macro-F1, large-call fraction and, for every entry with a confidence,
the routing curve's AUC, APGR and CPT(20/50/80 %); plus seed-averaged curves for figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from kcm import metrics

GRID = np.linspace(0.0, 1.0, 101)  # large-call fractions at which seed curves are averaged


def summary(values: list[float | None]) -> dict:
    """mean, sample std (ddof=1; 0 for one seed) and the values; None entries are left out."""
    kept = [v for v in values if v is not None]
    if not kept:
        return {"mean": None, "std": None, "values": values}
    arr = np.asarray(kept, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0, "values": values}


GROUPS = ("many", "medium", "few")


def entry_metrics(frame: pd.DataFrame, classes: list[str], best_curve: bool = False,
                  groups: dict[int, str] | None = None) -> dict:
    """One seed, one entry: classification metrics of the system and of its routing curve
    (`best_curve`: the oracle's best curve over all call budgets instead); with `groups`
    (class -> many/medium/few), the accuracy of each class-frequency group too."""
    labels, preds = frame["label"].to_numpy(), frame["pred"].to_numpy()
    out = metrics.classification(labels, preds, classes)
    if groups is not None:
        for group in GROUPS:
            members = [c for c, g in groups.items() if g == group]
            mask = np.isin(labels, members)
            out[f"{group}_accuracy"] = float((preds[mask] == labels[mask]).mean()) if mask.any() else None
    small_ok = frame["small_pred"].to_numpy() == labels
    large_ok = frame["large_pred"].to_numpy() == labels
    small_acc, large_acc = float(small_ok.mean()), float(large_ok.mean())
    if best_curve:
        curve = metrics.oracle_curve(small_ok, large_ok)
    else:
        curve = metrics.routing_curve(small_ok, large_ok, frame["confidence"].to_numpy())
    out.update({
        "large_fraction": float(frame["to_large"].mean()),
        "small_accuracy": small_acc,
        "large_accuracy": large_acc,
        "auc": metrics.curve_auc(curve),
        "apgr": metrics.apgr(curve, small_acc, large_acc),
        **{f"cpt{int(x * 100)}": metrics.cpt(curve, small_acc, large_acc, x) for x in (0.2, 0.5, 0.8)},
    })
    return out


def on_grid(curve: dict) -> np.ndarray:
    return np.interp(GRID, curve["large_fraction"], curve["accuracy"])


def aggregate(outputs: pd.DataFrame, classes: list[str], groups: dict[int, str] | None = None) -> dict:
    """large -> entry -> metric -> {mean, std, values}, values in seed order."""
    seeds = sorted(outputs["seed"].unique().tolist())
    result: dict = {}
    for (large, entry), group in outputs.groupby(["large", "entry"], sort=True):
        best = entry == "router:oracle"  # its own curve is one point; report the best curve
        per_seed = [entry_metrics(group[group["seed"] == s], classes, best, groups) for s in seeds]
        summarised = {
            key: summary([m[key] for m in per_seed])
            for key in per_seed[0] if key not in ("class_accuracy", "n")
        }
        summarised["class_accuracy"] = {c: summary([m["class_accuracy"][c] for m in per_seed]) for c in classes}
        summarised["n"] = per_seed[0]["n"]
        result.setdefault(large, {})[entry] = summarised
    return {"seeds": seeds, "large": result}


def paired_difference(summary_a: dict, summary_b: dict) -> dict:
    """a − b per seed (same seeds, same data): mean and std of the differences, and a
    two-sided paired t-test of "no difference" over the seeds where both have a value."""
    diffs = [None if x is None or y is None else x - y for x, y in zip(summary_a["values"], summary_b["values"])]
    return {**summary(diffs), **paired_t_test([d for d in diffs if d is not None])}


def paired_t_test(diffs: list[float]) -> dict:
    """Student's t on paired differences (scipy's one-sample test against 0, which is the paired
    test): {"n", "t", "p"}. t and p are None where the test is undefined: fewer than two pairs,
    or every difference equal (zero spread, so no error estimate)."""
    arr = np.asarray(diffs, dtype=float)
    if arr.size < 2 or np.ptp(arr) == 0.0:
        return {"n": int(arr.size), "t": None, "p": None}
    result = stats.ttest_1samp(arr, 0.0)
    return {"n": int(arr.size), "t": float(result.statistic), "p": float(result.pvalue)}


def critical_t(n: int, alpha: float = 0.05) -> float:
    """|t| a paired two-sided test over n seeds must exceed for p < alpha (4.30 at n = 3)."""
    return float(stats.t.ppf(1 - alpha / 2, n - 1))


def router_curves(outputs: pd.DataFrame, by: str, correct) -> pd.DataFrame:
    """Seed-averaged accuracy at each large-call fraction on GRID for every `router:*` entry,
    grouped by column `by` too, with the oracle's best curve and the random line as references.
    `correct(rows)` -> (small_correct, large_correct) boolean arrays of one seed's rows."""
    rows = []
    for (key, entry), group in outputs.groupby([by, "entry"], sort=True):
        if not entry.startswith("router:"):
            continue
        curves, oracle, random = [], [], []
        for _, seed_rows in group.groupby("seed", sort=True):
            small_ok, large_ok = correct(seed_rows)
            curves.append(on_grid(metrics.routing_curve(small_ok, large_ok, seed_rows["confidence"].to_numpy())))
            oracle.append(on_grid(metrics.oracle_curve(small_ok, large_ok)))
            random.append(on_grid(metrics.random_curve(small_ok.mean(), large_ok.mean())))
        name = entry.removeprefix("router:")
        series = {name: curves}
        if name == "oracle":  # the oracle router's own curve is one point; draw the best curve
            series = {"oracle": oracle}
        elif name == "random":
            series = {"random": curves, "random (expected)": random}
        for label, values in series.items():
            stacked = np.stack(values)
            for i, frac in enumerate(GRID):
                rows.append({by: key, "router": label, "large_fraction": round(float(frac), 2),
                             "accuracy": float(stacked[:, i].mean()), "std": float(stacked[:, i].std(ddof=1)) if len(stacked) > 1 else 0.0})
    return pd.DataFrame(rows)


def mean_curves(outputs: pd.DataFrame) -> pd.DataFrame:
    """Seed-averaged accuracy curves per large model and router (`router_curves`)."""
    def correct(rows: pd.DataFrame):
        labels = rows["label"].to_numpy()
        return rows["small_pred"].to_numpy() == labels, rows["large_pred"].to_numpy() == labels

    return router_curves(outputs, "large", correct)
