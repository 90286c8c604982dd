"""Confidence intervals and McNemar's test of kcm.stats, checked against brute force and hand counts."""

import math

import numpy as np
import pytest
from scipy import stats

from kcm.stats import mcnemar, mean_ci, paired_bootstrap_ci, welch_difference_ci


def _paired_scores(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two strongly correlated score vectors (a shared per-sample difficulty), b = a − shift + noise:
    a paired bootstrap sees only the small noise, an unpaired one the large difficulty spread."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 1.0, n)
    return difficulty, difficulty - shift + rng.normal(0.0, 0.1, n)


def _brute_force(a, b, groups, n_resamples, seed, confidence=0.95):
    """The definition, one resample at a time: resample pairs within each group, take the mean
    over groups of mean(a*) − mean(b*), read the percentiles."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    draws = []
    for _ in range(n_resamples):
        per_group = []
        for rows in members:
            pick = rows[rng.integers(0, rows.size, rows.size)]
            per_group.append(a[pick].mean() - b[pick].mean())
        draws.append(np.mean(per_group))
    tail = (1 - confidence) / 2
    return np.quantile(draws, [tail, 1 - tail]), np.std(draws)


@pytest.mark.parametrize("grouped", [False, True])
def test_bootstrap_ci_matches_brute_force_resampling(grouped):
    a, b = _paired_scores(60, shift=0.05, seed=1)
    # Three "seeds" whose differences sit at different levels: resampling within them removes
    # that between-seed spread, resampling across them would not.
    groups = np.repeat([0, 1, 2], 20) if grouped else np.zeros(60, dtype=int)
    b = b + np.where(groups == 1, 0.3, 0.0) - np.where(groups == 2, 0.3, 0.0)
    (low, high), spread = _brute_force(a, b, groups, 4000, seed=123)
    out = paired_bootstrap_ci(a, b, groups=groups if grouped else None, n_resamples=20000, seed=7)
    # Monte-Carlo error of a 2.5 % quantile at these counts is ≈ 0.06 bootstrap std.
    assert out["low"] == pytest.approx(low, abs=0.25 * spread)
    assert out["high"] == pytest.approx(high, abs=0.25 * spread)
    assert out["estimate"] == pytest.approx(np.mean([a[groups == g].mean() - b[groups == g].mean()
                                                     for g in np.unique(groups)]))
    assert out["degenerate"] is False


def _brute_force_two_level(a, b, groups, n_resamples, seed, confidence=0.95):
    """The two-level definition, one resample at a time: draw the groups with replacement, then
    pairs within each drawn group (independently for a group drawn twice), average."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    draws = []
    for _ in range(n_resamples):
        per_slot = []
        for g in rng.integers(0, len(members), len(members)):
            rows = members[g]
            pick = rows[rng.integers(0, rows.size, rows.size)]
            per_slot.append(a[pick].mean() - b[pick].mean())
        draws.append(np.mean(per_slot))
    tail = (1 - confidence) / 2
    return np.quantile(draws, [tail, 1 - tail]), np.std(draws)


def test_two_level_bootstrap_matches_brute_force_and_covers_the_spread_between_seeds():
    """Seeds whose differences disagree (a training run that came out otherwise): resampling the
    seeds too widens the interval to cover them, as the one-level bootstrap does not."""
    a, b = _paired_scores(90, shift=0.05, seed=1)
    groups = np.repeat([0, 1, 2, 3, 4], 18)
    b = b + np.array([0.0, 0.3, -0.3, 0.1, -0.2])[groups]
    (low, high), spread = _brute_force_two_level(a, b, groups, 4000, seed=11)
    out = paired_bootstrap_ci(a, b, groups=groups, n_resamples=20000, seed=3, resample_groups=True)
    assert out["low"] == pytest.approx(low, abs=0.25 * spread)
    assert out["high"] == pytest.approx(high, abs=0.25 * spread)
    within = paired_bootstrap_ci(a, b, groups=groups, n_resamples=20000, seed=3)
    assert out["estimate"] == pytest.approx(within["estimate"])
    assert out["high"] - out["low"] > 3 * (within["high"] - within["low"])


def test_bootstrap_is_paired_and_stratified():
    """An unpaired bootstrap (a and b resampled independently) or one across groups would give
    a far wider interval: the matches above are not a coincidence of scale."""
    a, b = _paired_scores(60, shift=0.05, seed=1)
    groups = np.repeat([0, 1, 2], 20)
    b = b + np.where(groups == 1, 0.3, 0.0) - np.where(groups == 2, 0.3, 0.0)
    rng = np.random.default_rng(0)
    unpaired = [a[rng.integers(0, 60, 60)].mean() - b[rng.integers(0, 60, 60)].mean() for _ in range(2000)]
    paired = paired_bootstrap_ci(a, b, n_resamples=4000)
    stratified = paired_bootstrap_ci(a, b, groups=groups, n_resamples=4000)
    width = stratified["high"] - stratified["low"]
    assert np.subtract(*np.quantile(unpaired, [0.975, 0.025])) > 5 * width
    assert paired["high"] - paired["low"] > 1.5 * width


def test_bootstrap_is_deterministic_for_a_seed():
    a, b = _paired_scores(50, shift=0.1, seed=3)
    assert paired_bootstrap_ci(a, b, seed=5) == paired_bootstrap_ci(a, b, seed=5)
    assert paired_bootstrap_ci(a, b, seed=5)["low"] != paired_bootstrap_ci(a, b, seed=6)["low"]


def test_identical_systems_are_degenerate_not_nan():
    correct = np.array([1, 0, 1, 1, 0, 1], dtype=float)
    out = paired_bootstrap_ci(correct, correct.copy(), groups=[0, 0, 0, 1, 1, 1])
    assert out["degenerate"] is True
    assert (out["estimate"], out["low"], out["high"]) == (0.0, 0.0, 0.0)
    assert out["excludes_zero"] is False


def test_ci_excludes_zero_for_a_clear_effect_and_includes_it_for_noise():
    rng = np.random.default_rng(11)
    large = rng.random(2000) < 0.85
    better = large | (rng.random(2000) < 0.5)  # fixes half of large's errors
    clear = paired_bootstrap_ci(better.astype(float), large.astype(float), n_resamples=2000)
    assert clear["excludes_zero"] and clear["low"] > 0
    other = rng.random(2000) < 0.85  # same accuracy, independent errors
    noise = paired_bootstrap_ci(other.astype(float), large.astype(float), n_resamples=2000)
    assert not noise["excludes_zero"] and noise["low"] < 0 < noise["high"]


def test_bootstrap_takes_another_statistic():
    a, b = _paired_scores(40, shift=0.5, seed=2)
    out = paired_bootstrap_ci(a, b, statistic=np.median, n_resamples=2000)
    assert out["estimate"] == pytest.approx(np.median(a) - np.median(b))
    assert out["low"] < out["estimate"] < out["high"]


def test_mcnemar_matches_a_hand_computed_binomial_p():
    # 8 samples only a gets right, 2 only b gets right, 5 both, 3 neither.
    a = [1] * 8 + [0] * 2 + [1] * 5 + [0] * 3
    b = [0] * 8 + [1] * 2 + [1] * 5 + [0] * 3
    out = mcnemar(a, b)
    # two-sided: 2 · P(X ≤ 2), X ~ Binomial(10, 1/2) = 2 · (1 + 10 + 45) / 1024
    assert (out["n01"], out["n10"]) == (2, 8)
    assert out["p"] == pytest.approx(112 / 1024)
    assert mcnemar(b, a)["p"] == pytest.approx(112 / 1024)


def test_mcnemar_without_discordant_pairs_is_p_one():
    assert mcnemar([1, 0, 1], [1, 0, 1]) == {"n01": 0, "n10": 0, "p": 1.0}


def test_mean_ci_is_the_t_interval():
    values = [0.81, 0.84, 0.80]
    half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / math.sqrt(3)
    out = mean_ci(values)
    assert out["low"] == pytest.approx(np.mean(values) - half)
    assert out["high"] == pytest.approx(np.mean(values) + half)
    assert out["n"] == 3


@pytest.mark.parametrize("values", [[0.7], [0.99, 0.99, 0.99], [0.5, None]])
def test_mean_ci_has_zero_width_without_spread(values):
    out = mean_ci(values)
    assert out["low"] == out["mean"] == out["high"]


def test_welch_interval_matches_the_textbook_formula():
    a, b = [0.80, 0.82, 0.85], [0.70, 0.74, 0.71, 0.73]
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 4
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    out = welch_difference_ci(a, b)
    assert out["difference"] == pytest.approx(np.mean(a) - np.mean(b))
    assert out["df"] == pytest.approx(df)
    assert (out["low"], out["high"]) == pytest.approx((out["difference"] - half, out["difference"] + half))


def test_welch_interval_has_zero_width_when_neither_side_spreads():
    out = welch_difference_ci([0.5, 0.5], [0.4])
    assert out["low"] == out["high"] == pytest.approx(0.1) and out["df"] is None
