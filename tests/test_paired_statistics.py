"""The paired test every KCM-vs-MCM line of the tables reports."""

import math

import numpy as np
import pytest
from scipy import stats

from kcm.report.common import paired, paired_test_note
from kcm.stats import critical_t, paired_difference, paired_t_test, summary


def test_paired_t_test_is_student_t_on_the_differences():
    a, b = [0.80, 0.82, 0.85, 0.90], [0.79, 0.80, 0.86, 0.87]
    d = np.subtract(a, b)
    t_by_hand = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    p_by_hand = 2 * stats.t.sf(abs(t_by_hand), d.size - 1)
    out = paired_difference(summary(a), summary(b))
    assert out["n"] == 4
    assert out["t"] == pytest.approx(t_by_hand)
    assert out["p"] == pytest.approx(p_by_hand)
    assert out["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert out["mean"] == pytest.approx(d.mean()) and out["std"] == pytest.approx(d.std(ddof=1))


def test_sign_follows_the_order_a_minus_b():
    up = paired_difference(summary([0.5, 0.6, 0.7]), summary([0.4, 0.45, 0.62]))
    down = paired_difference(summary([0.4, 0.45, 0.62]), summary([0.5, 0.6, 0.7]))
    assert up["t"] > 0 > down["t"] and up["p"] == pytest.approx(down["p"])


def test_test_is_undefined_without_spread_or_with_one_seed():
    same = paired_difference(summary([0.7, 0.8, 0.9]), summary([0.7, 0.8, 0.9]))
    assert (same["t"], same["p"], same["n"]) == (None, None, 3)
    assert paired_t_test([0.02])["p"] is None
    assert "the same difference in every seed" in paired(same)
    assert "fewer than two seeds" in paired(paired_difference(summary([0.7]), summary([0.6])))


def test_seeds_missing_a_value_are_left_out_of_the_pairs():
    out = paired_difference(summary([0.5, None, 0.7, 0.6]), summary([0.4, 0.3, 0.5, 0.55]))
    assert out["values"][1] is None
    assert out["n"] == 3
    assert out["p"] == pytest.approx(stats.ttest_rel([0.5, 0.7, 0.6], [0.4, 0.5, 0.55]).pvalue)


def test_a_clear_difference_is_significant_and_noise_is_not():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.6, 0.8, 10)
    clear = paired_difference(summary(list(base + 0.05 + rng.normal(0, 0.005, 10))), summary(list(base)))
    noise = paired_difference(summary(list(base + rng.normal(0, 0.02, 10))), summary(list(base)))
    assert clear["p"] < 1e-6 and noise["p"] > 0.05


def test_formatting_in_points_with_t_and_p():
    out = paired_difference(summary([0.80, 0.82, 0.85]), summary([0.79, 0.80, 0.86]))
    assert paired(out) == "+0.7 ± 1.5 points (paired t-test over 3 seeds: t = 0.76, p = 0.53)"


def test_note_gives_the_critical_t_for_the_number_of_seeds():
    assert critical_t(3) == pytest.approx(4.3027, abs=1e-4)
    assert "|t| > 4.30" in paired_test_note(3)
    assert "one" in paired_test_note(1)
