"""Metrics of the retrieval systems over seeds, from the per-query outputs `kcm.tasks.retrieval` writes.

Input: one long table with columns seed, entry, direction, id, small_rank, large_rank,
confidence, to_large, rank (one row per test query per entry and direction). Output per entry
and direction: Recall@1/5/10 of the routed ranks, the large-call fraction, and, from the R@1
routing curve (a query "correct" when its rank is 0), AUC, APGR and CPT(20/50/80 %); each as
mean, sample std over seeds and the per-seed values; plus seed-averaged R@1 curves for figures.
"""

from __future__ import annotations

import pandas as pd

from kcm import metrics
from kcm.retrieval_metrics import rsum
from kcm.system_metrics import router_curves, summary

KS = (1, 5, 10)


def entry_metrics(frame: pd.DataFrame, best_curve: bool = False) -> dict:
    """One seed, one entry, one direction."""
    rank = frame["rank"].to_numpy()
    small_ok, large_ok = frame["small_rank"].to_numpy() == 0, frame["large_rank"].to_numpy() == 0
    small_r1, large_r1 = float(small_ok.mean()), float(large_ok.mean())
    if best_curve:
        curve = metrics.oracle_curve(small_ok, large_ok)
    else:
        curve = metrics.routing_curve(small_ok, large_ok, frame["confidence"].to_numpy())
    return {
        **{f"r{k}": float((rank < k).mean()) for k in KS},
        "rsum": rsum(rank, KS),
        "large_fraction": float(frame["to_large"].mean()),
        "small_r1": small_r1,
        "large_r1": large_r1,
        "auc": metrics.curve_auc(curve),
        "apgr": metrics.apgr(curve, small_r1, large_r1),
        **{f"cpt{int(x * 100)}": metrics.cpt(curve, small_r1, large_r1, x) for x in (0.2, 0.5, 0.8)},
        "n": int(len(frame)),
    }


def aggregate(outputs: pd.DataFrame) -> dict:
    """entry -> direction -> metric -> {mean, std, values}, values in seed order."""
    seeds = sorted(outputs["seed"].unique().tolist())
    result: dict = {}
    for (entry, direction), group in outputs.groupby(["entry", "direction"], sort=True):
        best = entry == "router:oracle"  # its own curve is one point; report the best curve
        per_seed = [entry_metrics(group[group["seed"] == s], best) for s in seeds]
        summarised = {key: summary([m[key] for m in per_seed]) for key in per_seed[0] if key != "n"}
        summarised["n"] = per_seed[0]["n"]
        result.setdefault(entry, {})[direction] = summarised
    return {"seeds": seeds, "entries": result}


def mean_curves(outputs: pd.DataFrame) -> pd.DataFrame:
    """Seed-averaged R@1 (column `r1`) at each large-call fraction per direction and router."""
    def correct(rows: pd.DataFrame):
        return rows["small_rank"].to_numpy() == 0, rows["large_rank"].to_numpy() == 0

    return router_curves(outputs, "direction", correct).rename(columns={"accuracy": "r1"})
