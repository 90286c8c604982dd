"""The differences the claims' verdicts read, each with its uncertainty over seeds and test samples.

For every pair of systems a verdict compares (KCM − MCM, the distilled small models, Large+KCM −
Large), the per-sample correctness of the two at the run's operating point (ε of the loop) is
paired by seed and test sample and pooled over seeds (`pairs`). The same is read at every
operating point of kcm.operating_points (`at_points`: KCM − MCM, KAN − MLP routers, KCM − Large
alone), each side routed at its own threshold chosen on validation, with both sides' test call
fractions and the difference of the call indicators, so a reader sees how well the calls match.
Both use a two-level paired bootstrap CI of the difference in accuracy (retrieval: R@1, a query
correct when its rank is 0): each resample draws the seeds with replacement, then test samples
within each drawn seed. Resampling test samples alone treats the trained models as fixed; a
rerun whose last float bits differ retrains them differently (the vision KCM − MCM Few-class
difference moved from +2.2 to +3.8 points that way), so the interval must also cover the
spread between seeds (training runs, train/val splits). McNemar's exact test on the pooled
discordant pairs beside it. Both from kcm.stats; the bootstrap's rng seed is fixed, so the bytes
of the metrics JSON are the same on every run of the same outputs.

A comparison whose two systems give the same answer on every sample of every seed is identical
by construction (e.g. both routers send every query to the large model): it is flagged
`degenerate` and is never evidence either way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kcm.operating_points import (
    ANSWERS,
    GROUP,
    correct,
    is_routed,
    points,
    routed_answers,
)
from kcm.stats import mcnemar, mean_ci, paired_bootstrap_ci, paired_t_test, summary

CONFIDENCE = 0.95
N_RESAMPLES = 9999
RNG_SEED = 0  # fixed: the JSON's bytes must not depend on the run

# name -> (a, b): a − b. Classification per large model; retrieval per direction.
CLASSIFICATION = {"kcm_vs_mcm": ("system:kcm", "system:mcm"), "small_kcm_vs_mcm": ("small:kcm", "small:mcm"),
                  "kcm_vs_large": ("system:kcm", "system:large")}
FEW = {"kcm_vs_mcm_few": ("system:kcm", "system:mcm"), "small_kcm_vs_mcm_few": ("small:kcm", "small:mcm")}
RETRIEVAL = {"kcm_vs_mcm": ("system:kcm", "system:mcm"), "kcm_vs_large": ("system:kcm", "system:large")}
# At every operating point; system:large is read as written (it calls every input).
AT_POINTS = {"kcm_vs_mcm": ("system:kcm", "system:mcm"), "kan_vs_mlp": ("router:kan", "router:mlp"),
             "kcm_vs_large": ("system:kcm", "system:large")}


def paired_rows(rows: pd.DataFrame, entry_a: str, entry_b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two entries' rows in one order (seed, then the order the experiment wrote); refuses
    rows that do not pair up (another count per seed, or other sample ids where there are ids)."""
    a, b = (rows[rows["entry"] == e].sort_values("seed", kind="stable") for e in (entry_a, entry_b))
    keys = [c for c in ("seed", "id") if c in rows.columns]
    if len(a) != len(b) or not all(np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in keys):
        raise ValueError(f"{entry_a} and {entry_b} do not hold the same test samples per seed")
    return a, b


def compare(correct_a, correct_b, answers_a, answers_b, seeds) -> dict:
    """Two-level bootstrap CI of mean(correct_a) − mean(correct_b) (seeds, then test samples
    within each drawn seed), McNemar on the pooled pairs, and whether the answers themselves are
    identical everywhere."""
    ci = paired_bootstrap_ci(correct_a, correct_b, np.mean, groups=seeds, n_resamples=N_RESAMPLES,
                             confidence=CONFIDENCE, seed=RNG_SEED, resample_groups=True)
    return {**ci, "identical_answers": bool(np.array_equal(np.asarray(answers_a), np.asarray(answers_b))),
            "mcnemar": mcnemar(correct_a, correct_b), "n": int(len(seeds)),
            "seeds": int(len(np.unique(seeds))), "between_seeds": between_seeds(correct_a, correct_b, seeds)}


def between_seeds(correct_a, correct_b, seeds) -> dict:
    """The per-seed differences (each over the seed's whole test set) with their Student t
    interval and paired t-test: what the claims' verdicts read. With few seeds the t interval
    is the honest one (it carries the uncertainty of a spread estimated from three values,
    which a bootstrap over three seeds understates), and it covers everything a rerun may
    change: training, the train/val split and the test samples' noise within each seed."""
    a, b, seeds = (np.asarray(x) for x in (correct_a, correct_b, seeds))
    values = [float(a[seeds == s].mean() - b[seeds == s].mean()) for s in np.unique(seeds)]
    interval = mean_ci(values, CONFIDENCE)
    return {"values": values, "estimate": interval["mean"], "low": interval["low"], "high": interval["high"],
            "p": paired_t_test(values)["p"]}


def _classification(rows: pd.DataFrame, a: str, b: str, members: list[int] | None) -> dict:
    first, second = paired_rows(rows, a, b)
    if members is not None:
        keep = np.isin(first["label"].to_numpy(), members)
        first, second = first[keep], second[keep]
    labels = first["label"].to_numpy()
    return {"a": a, "b": b, "metric": "accuracy" if members is None else "few_accuracy",
            **compare(first["pred"].to_numpy() == labels, second["pred"].to_numpy() == labels,
                      first["pred"], second["pred"], first["seed"].to_numpy())}


def _retrieval(rows: pd.DataFrame, a: str, b: str) -> dict:
    first, second = paired_rows(rows, a, b)
    return {"a": a, "b": b, "metric": "r1",
            **compare(first["rank"].to_numpy() == 0, second["rank"].to_numpy() == 0, first["rank"], second["rank"],
                      first["seed"].to_numpy())}


def _side(frame: pd.DataFrame, family: str, routed: dict, key: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(calls, answers) of one side on its test rows: routed at its own threshold of the point,
    or as written for an entry that is not routed (the large model alone)."""
    if not is_routed(key[1]):
        return frame["to_large"].to_numpy(dtype=bool), frame[ANSWERS[family][2]].to_numpy()
    to_large = np.concatenate([r["to_large"] for r in routed[key]])  # seed order, as paired_rows
    return to_large, routed_answers(frame, family, to_large)


def _fractions(calls: np.ndarray, seeds: np.ndarray) -> dict:
    return summary([float(calls[seeds == s].mean()) for s in np.unique(seeds)])


def at_point(family: str, rows: pd.DataFrame, routed: dict, group: str, point: str, a: str, b: str,
             members: list[int] | None = None) -> dict:
    """a − b at one operating point: accuracy (R@1) comparison, each side's test call fraction per
    seed and the comparison of the call indicators (a's calls − b's)."""
    first, second = paired_rows(rows, a, b)
    (calls_a, answers_a), (calls_b, answers_b) = (_side(f, family, routed, (group, e, point))
                                                  for f, e in ((first, a), (second, b)))
    keep = np.ones(len(first), bool) if members is None else np.isin(first["label"].to_numpy(), members)
    seeds = first["seed"].to_numpy()[keep]
    ok_a, ok_b = correct(first, family, answers_a)[keep], correct(second, family, answers_b)[keep]
    metric = "r1" if family == "retrieval" else ("accuracy" if members is None else "few_accuracy")
    return {"a": a, "b": b, "metric": metric,
            **compare(ok_a, ok_b, answers_a[keep], answers_b[keep], seeds),
            "a_test_fraction": _fractions(calls_a[keep], seeds), "b_test_fraction": _fractions(calls_b[keep], seeds),
            "calls": compare(calls_a[keep], calls_b[keep], calls_a[keep], calls_b[keep], seeds)}


def at_points(family: str, test: pd.DataFrame, loop: dict, routed: dict, few: list[int] | None = None) -> dict:
    """group -> point -> name -> at_point(...) for the pairs of AT_POINTS the outputs hold
    (classification with `few`: KCM − MCM on the Few classes too, `kcm_vs_mcm_few`)."""
    out: dict = {}
    for group, rows in test.groupby(GROUP[family], sort=True):
        held = set(rows["entry"])
        todo = [(n, a, b, None) for n, (a, b) in AT_POINTS.items() if {a, b} <= held]
        if few and family == "classification" and {"system:kcm", "system:mcm"} <= held:
            todo.append(("kcm_vs_mcm_few", "system:kcm", "system:mcm", few))
        out[str(group)] = {p.name: {n: at_point(family, rows, routed, str(group), p.name, a, b, m) for n, a, b, m in todo}
                           for p in points(loop)}
    return out


def comparisons(family: str, outputs: pd.DataFrame, loop: dict, routed: dict, few: list[int] | None = None) -> dict:
    """{"method": how, "pairs": {large model (classification) or direction (retrieval): {name:
    comparison}}, "at_points": at_points(...)} of the TEST rows `outputs`; `routed`: the
    operating points (kcm.operating_points.route); `few`: the class indices of the Few group
    (long-tailed data), which adds the Few-class comparisons. Entries the outputs do not hold are
    left out."""
    eps = loop["eps"]
    pairs: dict = {}
    key = "large" if family == "classification" else "direction"
    for group, rows in outputs.groupby(key, sort=True):
        held = set(rows["entry"])
        if family == "classification":
            todo = [(n, a, b, None) for n, (a, b) in CLASSIFICATION.items()]
            todo += [(n, a, b, few) for n, (a, b) in FEW.items()] if few else []
            found = {n: _classification(rows, a, b, m) for n, a, b, m in todo if {a, b} <= held}
        else:
            found = {n: _retrieval(rows, a, b) for n, (a, b) in RETRIEVAL.items() if {a, b} <= held}
        pairs[str(group)] = found
    method = {"ci": f"two-level paired percentile bootstrap (seeds drawn with replacement, then test samples within "
                    f"each drawn seed), {N_RESAMPLES} resamples, rng seed {RNG_SEED}", "confidence": CONFIDENCE,
              "pooled": "test samples of every drawn seed (each seed weighs the same)",
              "test": "McNemar's exact test on the discordant pairs pooled over seeds", "eps": eps,
              "between_seeds": "the per-seed differences (each over the seed's whole test set), their Student t "
                               f"{100 * CONFIDENCE:g} % interval and paired t-test: what the claims' verdicts read",
              "degenerate": "the two systems' correctness is the same on every sample of every seed",
              "at_points": "each side routed at its own threshold chosen on validation (operating_points); "
                           "calls: the same bootstrap and test on the per-sample call indicators"}
    return {"method": method, "pairs": pairs, "at_points": at_points(family, outputs, loop, routed, few)}
