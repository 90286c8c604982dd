"""Operating points of a router chosen on validation and applied to test.

A router scores each input with a confidence C_x; a threshold t sends the inputs with C_x <= t
to the large model. The paper reads every system at one ε (0.98), where two routers may call the
large model at very different rates; comparing them at a matched cost needs a threshold chosen
per router. Every point here chooses t from the VALIDATION rows of one seed only (`choose` never
sees a test row) and then applies it, unchanged, to that seed's TEST rows (`apply`):

- `eps`: t = the config's ε (loop.eps), no choice;
- `match_large`: the threshold with the fewest validation calls whose routed validation accuracy
  (R@1 for retrieval) reaches the large model alone's validation accuracy (entry system:large);
  where none does, `reached` is false and t calls every input;
- `budget_<pct>` for each of loop.budgets: the largest threshold whose validation call fraction
  does not exceed the budget.

Ties: inputs with equal confidence cannot be split by a threshold, so the candidate thresholds
are the distinct validation confidences (kcm.metrics.routing_curve): t = the largest routed
validation confidence, -inf for no call, +inf where every validation input is called (so every
test input is too). A budget that falls inside a run of ties stops before the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kcm import metrics
from kcm.stats import summary

DEFAULT_BUDGETS = (0.2, 0.5, 0.8)
TOLERANCE = 1e-12  # accuracies and fractions are sums of 1/n steps; compare them up to rounding
LARGE = "system:large"  # the large model alone: match_large's reference, never routed here
ROUTED_SYSTEMS = ("system:d", "system:kd", "system:mcm", "system:kcm")
# family -> (small model's answer, large model's answer, routed answer) columns
ANSWERS = {"classification": ("small_pred", "large_pred", "pred"), "retrieval": ("small_rank", "large_rank", "rank")}
GROUP = {"classification": "large", "retrieval": "direction"}
SCORE = {"classification": "accuracy", "retrieval": "r1"}


@dataclass(frozen=True)
class Point:
    name: str     # "eps", "match_large", "budget_20"
    kind: str     # "eps" | "match_large" | "budget"
    value: float | None = None  # ε or the budget (a fraction)


@dataclass(frozen=True)
class Choice:
    threshold: float
    val_fraction: float
    reached: bool | None = None  # match_large only


def points(loop: dict) -> list[Point]:
    """The operating points of a modality's loop config (budgets default to DEFAULT_BUDGETS)."""
    budgets = loop.get("budgets", DEFAULT_BUDGETS)
    return [Point("eps", "eps", float(loop["eps"])), Point("match_large", "match_large"),
            *(Point(f"budget_{round(100 * b)}", "budget", float(b)) for b in budgets)]


def is_routed(entry: str) -> bool:
    """Entries whose confidence routes inputs: every router and the collaborating systems."""
    return entry.startswith("router:") or entry in ROUTED_SYSTEMS


def correct(rows: pd.DataFrame, family: str, answers) -> np.ndarray:
    """Per-row correctness of `answers`: the label (classification) or rank 0 (retrieval)."""
    answers = np.asarray(answers)
    return answers == rows["label"].to_numpy() if family == "classification" else answers == 0


def sides(rows: pd.DataFrame, family: str) -> tuple[np.ndarray, np.ndarray]:
    """(small model right, large model right) per row."""
    small, large, _ = ANSWERS[family]
    return correct(rows, family, rows[small]), correct(rows, family, rows[large])


def routed_answers(rows: pd.DataFrame, family: str, to_large: np.ndarray) -> np.ndarray:
    small, large, _ = ANSWERS[family]
    return np.where(to_large, rows[large].to_numpy(), rows[small].to_numpy())


def _threshold(curve: dict, i: int) -> float:
    return np.inf if curve["large_fraction"][i] >= 1.0 else float(curve["threshold"][i])


def choose(point: Point, confidence, small_ok, large_ok, large_alone: float) -> Choice:
    """The threshold of `point` from one seed's validation rows: their confidences, whether the
    small and the large model are right on each, and the large model alone's accuracy."""
    confidence = np.asarray(confidence, dtype=float)
    if point.kind == "eps":
        return Choice(point.value, float(metrics.route_to_large(confidence, point.value).mean()))
    curve = metrics.routing_curve(small_ok, large_ok, confidence)
    fraction = curve["large_fraction"]
    if point.kind == "match_large":
        hit = np.flatnonzero(curve["accuracy"] >= large_alone - TOLERANCE)
        i = int(hit[0]) if hit.size else len(fraction) - 1  # fractions rise: the first hit calls least
        return Choice(np.inf if not hit.size else _threshold(curve, i), float(fraction[i]), bool(hit.size))
    if point.kind == "budget":
        i = int(np.flatnonzero(fraction <= point.value + TOLERANCE)[-1])  # fraction[0] = 0 always fits
        return Choice(_threshold(curve, i), float(fraction[i]))
    raise ValueError(f"unknown operating point kind {point.kind!r}")


def apply(threshold: float, confidence, small_ok, large_ok) -> dict:
    """A threshold on one seed's test rows: which go to the large model, the call fraction and
    the routed accuracy."""
    to_large = metrics.route_to_large(np.asarray(confidence, dtype=float), threshold)
    return {"to_large": to_large, "fraction": float(to_large.mean()),
            "score": metrics.routed_accuracy(small_ok, large_ok, to_large)}


def _large_alone(rows: pd.DataFrame, family: str) -> float:
    """The large model alone's score on one seed's rows of one group (its routed answers)."""
    large = rows[rows["entry"] == LARGE]
    if large.empty:
        raise ValueError(f"match_large needs the entry {LARGE} in the outputs")
    return float(correct(large, family, large[ANSWERS[family][2]]).mean())


def route(family: str, outputs: pd.DataFrame, loop: dict) -> dict:
    """{(group, entry, point name): [per seed, in seed order: {"choice": Choice, **apply(...)}]}
    for every routed entry; the test arrays are in the order of that entry's test rows of the seed."""
    if "split" not in outputs.columns or not (outputs["split"] == "val").any():
        raise ValueError("operating points need validation rows (column split == 'val'); rerun kcm experiment")
    chosen = points(loop)
    seeds = sorted(outputs["seed"].unique().tolist())
    out: dict = {}
    for group, group_rows in outputs.groupby(GROUP[family], sort=True):
        val_rows, test_rows = (group_rows[group_rows["split"] == s] for s in ("val", "test"))
        reference = {s: _large_alone(val_rows[val_rows["seed"] == s], family) for s in seeds}
        for entry in sorted(e for e in group_rows["entry"].unique() if is_routed(e)):
            val_entry, test_entry = (r[r["entry"] == entry] for r in (val_rows, test_rows))
            for seed in seeds:
                val, test = (r[r["seed"] == seed] for r in (val_entry, test_entry))
                val_sides, test_sides = sides(val, family), sides(test, family)
                for point in chosen:
                    choice = choose(point, val["confidence"].to_numpy(), *val_sides, reference[seed])
                    applied = apply(choice.threshold, test["confidence"].to_numpy(), *test_sides)
                    out.setdefault((str(group), entry, point.name), []).append({"choice": choice, **applied})
    return out


def _json_threshold(t: float) -> float | str:
    return t if np.isfinite(t) else ("inf" if t > 0 else "-inf")  # JSON has no infinities


def block(family: str, routed: dict, loop: dict) -> dict:
    """The metrics' "operating_points" block: method, and per group, entry and point the per-seed
    thresholds, validation and test call fractions and test score as seed summaries."""
    score = SCORE[family]
    groups: dict = {}
    for (group, entry, name), per_seed in sorted(routed.items()):
        got = {"thresholds": [_json_threshold(r["choice"].threshold) for r in per_seed],
               "val_fraction": summary([r["choice"].val_fraction for r in per_seed]),
               "test_fraction": summary([r["fraction"] for r in per_seed]),
               f"test_{score}": summary([r["score"] for r in per_seed])}
        if name == "match_large":
            got["reached"] = [r["choice"].reached for r in per_seed]
        groups.setdefault(group, {}).setdefault(entry, {})[name] = got
    method = {"points": [p.name for p in points(loop)], "eps": float(loop["eps"]),
              "budgets": [float(b) for b in loop.get("budgets", DEFAULT_BUDGETS)], "score": score,
              "choice": "per seed and entry on validation rows only, applied unchanged to test rows",
              "match_large": f"fewest validation calls whose routed validation {score} reaches {LARGE}'s; "
                             "unreachable: every input called (reached false)",
              "budget": "largest threshold whose validation call fraction <= the budget",
              "ties": "equal confidences are never split: t = the largest routed validation confidence, "
                      "'inf' where every validation input is called, '-inf' where none is"}
    return {"method": method, "groups": groups}
