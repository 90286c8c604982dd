"""Metrics of collaborating systems over seeds, for every modality, in one JSON shape.

Input: the per-seed experiment folders (outputs.parquet, history.json). The outputs table has
one row per split (val, test), sample, entry (system or router) and group, with the small and
large models' answers, the router's confidence C_x, whether the sample went to the large model
and the system's answer. Every metric reads the TEST rows only; the validation rows serve only to
choose the operating points (kcm.operating_points). Two metric families read it:

- classification (language, vision): columns large, label, small_pred, large_pred, pred;
  accuracy, per-class accuracy, macro-F1 (kcm.metrics), Many/Medium/Few accuracy when the card
  has class-frequency groups.
- retrieval (image–text): columns direction, small_rank, large_rank, rank; Recall@1/5/10 and
  rsum (kcm.retrieval_metrics), a query "correct" when its rank is 0.

Both add the large-call fraction and, from the routing curve of that correctness, AUC, APGR and
CPT(20/50/80 %). A "comparisons" block adds, for every difference a claim's verdict reads, the
Student t interval of its per-seed differences (what verdicts read), a two-level paired
bootstrap CI (seeds, then test samples) and McNemar's test (kcm.system_comparisons), at ε and at
every operating point. An "operating_points" block holds, per group, routed entry and point, the
thresholds chosen on validation and the test call fraction and score they give
(kcm.operating_points.block). The JSON: {"family", "seeds", "large": {large model: {entry:
metrics}}} plus the run's context; each metric is a seed summary (kcm.stats.summary). A classification entry
holds its metrics directly, a retrieval entry one block per direction ("i2t", "t2i"). Seed-averaged
routing curves go to a CSV for the figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kcm import metrics, operating_points
from kcm.io import read_json
from kcm.retrieval_metrics import rsum
from kcm.stats import summary
from kcm.system_comparisons import comparisons

FAMILIES = ("classification", "retrieval")
GRID = np.linspace(0.0, 1.0, 101)  # large-call fractions at which seed curves are averaged
GROUPS = ("many", "medium", "few")
KS = (1, 5, 10)
RETRIEVAL_LARGE = "clip"  # retrieval runs one large model; its key in "large"


def routing(small_ok: np.ndarray, large_ok: np.ndarray, confidence: np.ndarray, best_curve: bool,
            score: str) -> dict:
    """The small and large models' scores (`small_<score>`, `large_<score>`) and the routing
    curve's AUC, APGR and CPT(20/50/80 %); `best_curve`: the oracle's best curve over all call
    budgets instead of the router's own."""
    small, large = float(small_ok.mean()), float(large_ok.mean())
    if best_curve:
        curve = metrics.oracle_curve(small_ok, large_ok)
    else:
        curve = metrics.routing_curve(small_ok, large_ok, confidence)
    return {
        f"small_{score}": small,
        f"large_{score}": large,
        "auc": metrics.curve_auc(curve),
        "apgr": metrics.apgr(curve, small, large),
        **{f"cpt{int(x * 100)}": metrics.cpt(curve, small, large, x) for x in (0.2, 0.5, 0.8)},
    }


def classification_entry(frame: pd.DataFrame, classes: list[str], best_curve: bool = False,
                         groups: dict[int, str] | None = None) -> dict:
    """One seed, one entry: classification metrics of the system and of its routing curve; with
    `groups` (class -> many/medium/few), the accuracy of each class-frequency group too."""
    labels, preds = frame["label"].to_numpy(), frame["pred"].to_numpy()
    out = metrics.classification(labels, preds, classes)
    if groups is not None:
        for group in GROUPS:
            members = [c for c, g in groups.items() if g == group]
            mask = np.isin(labels, members)
            out[f"{group}_accuracy"] = float((preds[mask] == labels[mask]).mean()) if mask.any() else None
    small_ok = frame["small_pred"].to_numpy() == labels
    large_ok = frame["large_pred"].to_numpy() == labels
    out["large_fraction"] = float(frame["to_large"].mean())
    out.update(routing(small_ok, large_ok, frame["confidence"].to_numpy(), best_curve, "accuracy"))
    return out


def retrieval_entry(frame: pd.DataFrame, best_curve: bool = False) -> dict:
    """One seed, one entry, one direction: Recall@K of the routed ranks and the R@1 routing curve."""
    rank = frame["rank"].to_numpy()
    small_ok, large_ok = frame["small_rank"].to_numpy() == 0, frame["large_rank"].to_numpy() == 0
    return {
        **{f"r{k}": float((rank < k).mean()) for k in KS},
        "rsum": rsum(rank, KS),
        "large_fraction": float(frame["to_large"].mean()),
        **routing(small_ok, large_ok, frame["confidence"].to_numpy(), best_curve, "r1"),
        "n": int(len(frame)),
    }


def over_seeds(group: pd.DataFrame, seeds: list[int], measure) -> dict:
    """metric -> seed summary of `measure(rows of one seed, best_curve)`, values in seed order;
    a metric that is a dict (per-class accuracy) is summarised per key; "n" is kept as is."""
    best = group["entry"].iloc[0] == "router:oracle"  # its own curve is one point; report the best curve
    per_seed = [measure(group[group["seed"] == s], best) for s in seeds]
    out = {}
    for key, first in per_seed[0].items():
        if key == "n":
            out[key] = first
        elif isinstance(first, dict):
            out[key] = {c: summary([m[key][c] for m in per_seed]) for c in first}
        else:
            out[key] = summary([m[key] for m in per_seed])
    return out


def aggregate(family: str, outputs: pd.DataFrame, classes: list[str] | None = None,
              groups: dict[int, str] | None = None) -> dict:
    """{"family", "seeds", "large": large model -> entry -> metrics} of every seed in `outputs`
    (retrieval: entry -> direction -> metrics, under the one large model RETRIEVAL_LARGE)."""
    seeds = sorted(outputs["seed"].unique().tolist())
    result: dict = {}
    if family == "classification":
        def measure(rows, best):
            return classification_entry(rows, classes, best, groups)

        for (large, entry), group in outputs.groupby(["large", "entry"], sort=True):
            result.setdefault(large, {})[entry] = over_seeds(group, seeds, measure)
    elif family == "retrieval":
        entries = result.setdefault(RETRIEVAL_LARGE, {})
        for (entry, direction), group in outputs.groupby(["entry", "direction"], sort=True):
            entries.setdefault(entry, {})[direction] = over_seeds(group, seeds, retrieval_entry)
    else:
        raise ValueError(f"unknown metric family {family!r}; known: {FAMILIES}")
    return {"family": family, "seeds": seeds, "large": result}


def on_grid(curve: dict) -> np.ndarray:
    return np.interp(GRID, curve["large_fraction"], curve["accuracy"])


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


def mean_curves(family: str, outputs: pd.DataFrame) -> pd.DataFrame:
    """Seed-averaged routing curves: classification per large model (column `accuracy`),
    retrieval R@1 per direction (column `r1`)."""
    curves = router_curves(outputs, operating_points.GROUP[family], lambda rows: operating_points.sides(rows, family))
    return curves if family == "classification" else curves.rename(columns={"accuracy": "r1"})


def on_test(outputs: pd.DataFrame) -> pd.DataFrame:
    """The test rows of an outputs table (every metric reads these only)."""
    if "split" not in outputs.columns:
        raise ValueError("outputs.parquet has no split column (val and test rows); rerun kcm experiment")
    return outputs[outputs["split"] == "test"].reset_index(drop=True)


def systems(family: str, runs: list[Path], card: dict | None = None,
            large_meta: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """The metrics JSON and the curves table of the seed folders `runs` (kcm experiment outputs).
    Classification reads class names from the dataset `card` (and Many/Medium/Few groups where
    the card has them); retrieval records the large model's description `large_meta`."""
    outputs = pd.concat([pd.read_parquet(d / "outputs.parquet") for d in runs], ignore_index=True)
    test = on_test(outputs)
    histories = [read_json(d / "history.json") for d in runs]
    first = histories[0]
    loop = first["params"]["loop"]
    routed = operating_points.route(family, outputs, loop)
    if family == "classification":
        classes = card["classes"]
        groups = None
        if "groups" in card:  # long-tailed data: Many/Medium/Few accuracy per system
            groups = {i: card["groups"]["of_class"][name] for i, name in enumerate(classes)}
        result = aggregate(family, test, classes, groups)
        result["classes"] = classes
        few = [i for i, g in (groups or {}).items() if g == "few"] or None
    else:
        result = aggregate(family, test)
        few = None
        result.update({
            "small": first["small"],
            "alpha": {str(h["seed"]): h["alpha"] for h in histories},
            "large_model": large_meta,
        })
    result.update({
        "params": first["params"],
        "judges": first["judges"],
        "rounds": {str(h["seed"]): h["systems"] for h in histories},
        "operating_points": operating_points.block(family, routed, loop),
        "comparisons": comparisons(family, test, loop, routed, few),
    })
    return result, mean_curves(family, test)
