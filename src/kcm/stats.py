"""Statistics over seeds: summaries, paired differences and their t-test.

Generic: it knows nothing of models or tasks; metrics modules build seed summaries with it and
report modules read them back.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def summary(values: list[float | None]) -> dict:
    """mean, sample std (ddof=1; 0 for one seed) and the values; None entries are left out."""
    kept = [v for v in values if v is not None]
    if not kept:
        return {"mean": None, "std": None, "values": values}
    arr = np.asarray(kept, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0, "values": values}


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

