"""Statistics over seeds and test samples: summaries, paired differences and their tests,
confidence intervals.

Generic: it knows nothing of models or tasks; metrics modules build seed summaries with it and
report modules read them back.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

# Resampled indices are drawn in blocks of at most this many, so memory stays bounded for
# tens of thousands of test samples.
_BLOCK_CELLS = 1 << 22


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



def _kept(values) -> np.ndarray:
    return np.asarray([v for v in values if v is not None], dtype=float)


def _spread_free(arr: np.ndarray) -> bool:
    # Identical values can still give a variance of 1e-33 through rounding of the mean.
    return arr.size < 2 or np.ptp(arr) == 0.0


def mean_ci(values, confidence: float = 0.95) -> dict:
    """Student-t interval of a mean over seeds: {"mean", "low", "high", "n"}; None entries are
    left out. Zero width for one value or zero spread (there is no error estimate then)."""
    arr = _kept(values)
    if arr.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(arr.mean())
    if _spread_free(arr):
        return {"mean": mean, "low": mean, "high": mean, "n": int(arr.size)}
    low, high = stats.t.interval(confidence, arr.size - 1, loc=mean, scale=stats.sem(arr))
    return {"mean": mean, "low": float(low), "high": float(high), "n": int(arr.size)}


def welch_difference_ci(values_a, values_b, confidence: float = 0.95) -> dict:
    """Welch t interval of mean(a) − mean(b) for two independent sets of seed values (e.g. two
    runs of one metric): {"difference", "low", "high", "df"}. A side with one value or zero spread
    adds no variance; when neither has any the interval has zero width at the difference and
    df is None."""
    a, b = _kept(values_a), _kept(values_b)
    if a.size == 0 or b.size == 0:
        raise ValueError("welch_difference_ci needs at least one value on each side")
    difference = float(a.mean() - b.mean())
    terms = [(arr.var(ddof=1) / arr.size, arr.size - 1) for arr in (a, b) if not _spread_free(arr)]
    if not terms:
        return {"difference": difference, "low": difference, "high": difference, "df": None}
    variance = sum(term for term, _ in terms)
    df = variance**2 / sum(term**2 / dof for term, dof in terms)  # Welch–Satterthwaite
    low, high = stats.t.interval(confidence, df, loc=difference, scale=np.sqrt(variance))
    return {"difference": difference, "low": float(low), "high": float(high), "df": float(df)}


def paired_bootstrap_ci(a, b, statistic=np.mean, groups=None, n_resamples: int = 9999,
                        confidence: float = 0.95, seed: int = 0, resample_groups: bool = False) -> dict:
    """Percentile bootstrap CI of statistic(a) − statistic(b), a and b paired per test sample
    (e.g. 0/1 correctness of two systems on the same inputs): each resample draws samples with
    replacement and keeps the pairs together.

    `groups` (e.g. each sample's seed) stratifies the bootstrap: samples are resampled within
    their group, and the difference is pooled as the mean over groups of the per-group
    difference, so every seed weighs the same whatever its test-set size (with equal sizes and
    the mean this is the pooled mean). `resample_groups` makes it two-level: each resample also
    draws the groups with replacement (then samples within each drawn group), so the interval
    covers how much the difference varies between seeds (training runs, data splits) and not
    only over test samples of the seeds we ran. `statistic` must accept `axis`.

    Returns {"estimate", "low", "high", "confidence", "n_resamples", "excludes_zero",
    "degenerate"}. Where a equals b everywhere the comparison is identical by construction:
    a zero-width interval at 0 with degenerate=True, not evidence either way.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    labels = np.zeros(a.shape, dtype=int) if groups is None else np.asarray(groups)
    if a.ndim != 1 or a.shape != b.shape or labels.shape != a.shape or a.size == 0:
        raise ValueError("a, b (and groups) must be non-empty 1-D arrays of one length")
    result = {"confidence": confidence, "n_resamples": n_resamples}
    if np.array_equal(a, b):
        return {**result, "estimate": 0.0, "low": 0.0, "high": 0.0, "excludes_zero": False, "degenerate": True}
    members = [np.flatnonzero(labels == g) for g in np.unique(labels)]
    estimate = np.mean([statistic(a[rows], axis=-1) - statistic(b[rows], axis=-1) for rows in members])
    rng = np.random.default_rng(seed)

    def within() -> np.ndarray:  # (groups, resamples): each group's own paired resamples
        return np.stack([_resampled_differences(a[rows], b[rows], statistic, n_resamples, rng) for rows in members])

    if resample_groups:
        # slot j of resample r holds a drawn group, with a within-group resample of its own, so
        # a group drawn twice in one resample contributes two independent resamples
        picks = rng.integers(0, len(members), size=(n_resamples, len(members)))
        slots = [within()[picks[:, j], np.arange(n_resamples)] for j in range(len(members))]
        draws = np.mean(slots, axis=0)
    else:
        draws = within().mean(axis=0)
    tail = (1 - confidence) / 2
    low, high = (float(q) for q in np.quantile(draws, [tail, 1 - tail]))
    return {**result, "estimate": float(estimate), "low": low, "high": high,
            "excludes_zero": bool(low > 0 or high < 0), "degenerate": False}


def _resampled_differences(a: np.ndarray, b: np.ndarray, statistic, n_resamples: int,
                           rng: np.random.Generator) -> np.ndarray:
    """statistic(a*) − statistic(b*) for n_resamples paired resamples of one group."""
    out = np.empty(n_resamples)
    block = max(1, _BLOCK_CELLS // a.size)
    for start in range(0, n_resamples, block):
        rows = rng.integers(0, a.size, size=(min(block, n_resamples - start), a.size))
        out[start:start + rows.shape[0]] = statistic(a[rows], axis=-1) - statistic(b[rows], axis=-1)
    return out


def mcnemar(correct_a, correct_b) -> dict:
    """McNemar's exact test for two paired 0/1 vectors (e.g. per-sample correctness of two
    systems on one test set): {"n01", "n10", "p"}, n01 counting samples only b gets right and
    n10 those only a gets right. Under "same accuracy" the discordant pairs split 50/50, so p is
    the two-sided binomial p of n10 out of n01 + n10; 1 when there are none."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("correct_a and correct_b must have one length")
    n01, n10 = int(np.sum(~a & b)), int(np.sum(a & ~b))
    p = 1.0 if n01 + n10 == 0 else float(stats.binomtest(n10, n01 + n10, 0.5).pvalue)
    return {"n01": n01, "n10": n10, "p": p}
