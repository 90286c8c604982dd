"""The differences the claims' verdicts read, each with its uncertainty over test samples.

For every pair of systems a verdict compares (KCM − MCM, the distilled small models, Large+KCM −
Large), the per-sample correctness of the two at the run's operating point (ε of the loop) is
paired by seed and test sample and pooled over seeds: a stratified paired bootstrap CI of the
difference in accuracy (retrieval: R@1, a query correct when its rank is 0) and McNemar's exact
test on the pooled discordant pairs, both from kcm.stats. The bootstrap's rng seed is fixed, so
the bytes of the metrics JSON are the same on every run of the same outputs.

A comparison whose two systems give the same answer on every sample of every seed is identical
by construction (e.g. both routers send every query to the large model): it is flagged
`degenerate` and is never evidence either way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kcm.stats import mcnemar, paired_bootstrap_ci

CONFIDENCE = 0.95
N_RESAMPLES = 9999
RNG_SEED = 0  # fixed: the JSON's bytes must not depend on the run

# name -> (a, b): a − b. Classification per large model; retrieval per direction.
CLASSIFICATION = {"kcm_vs_mcm": ("system:kcm", "system:mcm"), "small_kcm_vs_mcm": ("small:kcm", "small:mcm"),
                  "kcm_vs_large": ("system:kcm", "system:large")}
FEW = {"kcm_vs_mcm_few": ("system:kcm", "system:mcm"), "small_kcm_vs_mcm_few": ("small:kcm", "small:mcm")}
RETRIEVAL = {"kcm_vs_mcm": ("system:kcm", "system:mcm"), "kcm_vs_large": ("system:kcm", "system:large")}


def paired_rows(rows: pd.DataFrame, entry_a: str, entry_b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two entries' rows in one order (seed, then the order the experiment wrote); refuses
    rows that do not pair up (another count per seed, or other sample ids where there are ids)."""
    a, b = (rows[rows["entry"] == e].sort_values("seed", kind="stable") for e in (entry_a, entry_b))
    keys = [c for c in ("seed", "id") if c in rows.columns]
    if len(a) != len(b) or not all(np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in keys):
        raise ValueError(f"{entry_a} and {entry_b} do not hold the same test samples per seed")
    return a, b


def compare(correct_a, correct_b, answers_a, answers_b, seeds) -> dict:
    """Bootstrap CI of mean(correct_a) − mean(correct_b) stratified by seed, McNemar on the pooled
    pairs, and whether the answers themselves are identical everywhere."""
    ci = paired_bootstrap_ci(correct_a, correct_b, np.mean, groups=seeds, n_resamples=N_RESAMPLES,
                             confidence=CONFIDENCE, seed=RNG_SEED)
    return {**ci, "identical_answers": bool(np.array_equal(np.asarray(answers_a), np.asarray(answers_b))),
            "mcnemar": mcnemar(correct_a, correct_b), "n": int(len(seeds)),
            "seeds": int(len(np.unique(seeds)))}


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


def comparisons(family: str, outputs: pd.DataFrame, eps: float, few: list[int] | None = None) -> dict:
    """{"method": how, "pairs": {large model (classification) or direction (retrieval): {name:
    comparison}}}; `few`: the class indices of the Few group (long-tailed data), which adds the
    Few-class comparisons. Entries the outputs do not hold are left out."""
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
    method = {"ci": f"paired percentile bootstrap, resampled within each seed, {N_RESAMPLES} resamples, rng seed "
                    f"{RNG_SEED}", "confidence": CONFIDENCE, "pooled": "test samples of every seed (each seed weighs the same)",
              "test": "McNemar's exact test on the discordant pairs pooled over seeds", "eps": eps,
              "degenerate": "the two systems' correctness is the same on every sample of every seed"}
    return {"method": method, "pairs": pairs}
