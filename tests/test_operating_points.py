"""Operating points: thresholds chosen on validation rows only, applied unchanged to test rows."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_fakes import CLASSES, classification_outputs, retrieval_outputs, write_runs

from kcm import operating_points, system_metrics
from kcm.operating_points import Point, apply, choose, points, route

LOOP = {"eps": 0.98, "budgets": [0.2, 0.5, 0.8]}
MATCH = Point("match_large", "match_large")


def outputs(family: str) -> pd.DataFrame:
    make = classification_outputs if family == "classification" else retrieval_outputs
    return pd.concat([make(s) for s in (0, 1)], ignore_index=True)


def choices(routed: dict) -> dict:
    return {key: [r["choice"] for r in per_seed] for key, per_seed in routed.items()}


@pytest.mark.parametrize("family", ["classification", "retrieval"])
def test_changing_test_rows_leaves_every_chosen_threshold_unchanged(family):
    frame = outputs(family)
    before = route(family, frame, LOOP)
    test = frame["split"] == "test"
    rng = np.random.default_rng(7)
    changed = frame.copy()
    changed.loc[test, "confidence"] = rng.permutation(changed.loc[test, "confidence"].to_numpy())
    answers = ["label", "large_pred"] if family == "classification" else ["small_rank", "large_rank"]
    for column in answers:
        changed.loc[test, column] = rng.permutation(changed.loc[test, column].to_numpy())
    after = route(family, changed, LOOP)
    assert choices(after) == choices(before)
    moved = [key for key in before if [r["fraction"] for r in before[key]] != [r["fraction"] for r in after[key]]]
    assert moved  # the perturbation reached the test side, so equal choices are not vacuous


def test_choose_is_only_ever_given_validation_rows(monkeypatch):
    """A spy on choose: every confidence array it receives is one entry's validation rows of
    one seed, and no test confidence (distinct random floats) ever reaches it."""
    frame = outputs("classification")
    seen = []
    real = operating_points.choose

    def spy(point, confidence, small_ok, large_ok, large_alone):
        seen.append(np.asarray(confidence).copy())
        return real(point, confidence, small_ok, large_ok, large_alone)

    monkeypatch.setattr(operating_points, "choose", spy)
    route("classification", frame, LOOP)
    test_values = set(frame.loc[(frame["split"] == "test") & (frame["entry"] != "system:large"), "confidence"])
    val = frame[frame["split"] == "val"]
    assert seen and all(not test_values & set(c.tolist()) for c in seen)
    keys = val.groupby(["large", "entry", "seed"])["confidence"].apply(lambda c: tuple(c))
    assert all(tuple(c.tolist()) in set(keys) for c in seen)


def test_match_large_takes_the_fewest_calls_that_reach_the_large_model():
    confidence = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    small_ok = np.array([False, False, True, True, True])
    large_ok = np.array([True, True, True, True, False])
    got = choose(MATCH, confidence, small_ok, large_ok, large_alone=0.8)
    assert (got.threshold, got.val_fraction, got.reached) == (0.1, 0.2, True)  # 1 call: 0.6 -> 0.8
    got = choose(MATCH, confidence, small_ok, large_ok, large_alone=1.0)
    assert (got.threshold, got.val_fraction, got.reached) == (0.2, 0.4, True)  # 2 calls: 1.0
    got = choose(MATCH, confidence, small_ok, large_ok, large_alone=0.6)
    assert (got.threshold, got.val_fraction, got.reached) == (-np.inf, 0.0, True)  # the small model already does
    ties = choose(MATCH, np.array([0.1, 0.1, 0.3, 0.4, 0.5]), small_ok, large_ok, large_alone=0.8)
    assert (ties.threshold, ties.val_fraction) == (0.1, 0.4)  # a tie is never split


def test_an_unreachable_large_model_calls_every_input_and_says_so():
    confidence, small_ok = np.array([0.1, 0.2, 0.3]), np.array([False, False, True])
    got = choose(MATCH, confidence, small_ok, np.array([False, True, False]), large_alone=0.9)  # best: 2/3
    assert (got.threshold, got.val_fraction, got.reached) == (np.inf, 1.0, False)
    applied = apply(got.threshold, np.array([0.05, 0.7, 2.0]), np.ones(3, bool), np.zeros(3, bool))
    assert applied["fraction"] == 1.0 and applied["score"] == 0.0  # every test input too, whatever its C_x


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.5, 0.7, 0.9]), min_size=1, max_size=30),
       st.sampled_from([0.0, 0.1, 0.2, 0.35, 0.5, 0.8, 1.0]))
def test_a_budget_takes_the_largest_threshold_within_it(confidence, budget):
    confidence = np.array(confidence)
    got = choose(Point("b", "budget", budget), confidence, np.ones(confidence.size, bool),
                 np.zeros(confidence.size, bool), 1.0)
    assert got.val_fraction <= budget + 1e-12 and got.val_fraction == np.mean(confidence <= got.threshold)
    fitting = [t for t in np.unique(confidence) if np.mean(confidence <= t) <= budget + 1e-12]
    assert got.threshold == (np.inf if fitting and np.mean(confidence <= max(fitting)) == 1.0
                             else max(fitting, default=-np.inf))


def test_eps_uses_the_config_and_budgets_default_when_absent():
    assert [p.name for p in points({"eps": 0.9})] == ["eps", "match_large", "budget_20", "budget_50", "budget_80"]
    assert [p.name for p in points({"eps": 0.9, "budgets": [0.35]})] == ["eps", "match_large", "budget_35"]
    got = choose(Point("eps", "eps", 0.5), np.array([0.2, 0.5, 0.7, 0.9]), np.ones(4, bool), np.ones(4, bool), 1.0)
    assert (got.threshold, got.val_fraction) == (0.5, 0.5)


def test_outputs_without_validation_rows_are_refused():
    frame = outputs("retrieval")
    with pytest.raises(ValueError, match="validation rows"):
        route("retrieval", frame[frame["split"] == "test"], LOOP)


def test_the_metrics_block_summarises_every_routed_entry_and_point(tmp_path):
    card = {"classes": CLASSES}
    result, _ = system_metrics.systems("classification", write_runs(tmp_path, "classification", budgets=(0.3,)), card)
    block = result["operating_points"]
    assert block["method"]["points"] == ["eps", "match_large", "budget_30"]
    entries = block["groups"]["a"]
    assert "system:large" not in entries and "small:kcm" not in entries and "system:small" not in entries
    assert {"router:kan", "router:mlp", "system:kcm", "system:mcm", "system:d", "router:oracle"} <= set(entries)
    kan = entries["router:kan"]
    assert set(kan) == {"eps", "match_large", "budget_30"}
    assert len(kan["match_large"]["reached"]) == 3 and "reached" not in kan["eps"]
    assert {"thresholds", "val_fraction", "test_fraction", "test_accuracy"} <= set(kan["budget_30"])
    assert all(v <= 0.3 for v in kan["budget_30"]["val_fraction"]["values"])
    # the fakes call the large model where C_x <= ε, so the eps point is the metrics' own large-call fraction
    for entry in ("router:kan", "system:mcm"):
        assert entries[entry]["eps"]["test_fraction"] == result["large"]["a"][entry]["large_fraction"]
        assert entries[entry]["eps"]["test_accuracy"] == result["large"]["a"][entry]["accuracy"]
    at = result["comparisons"]["at_points"]["a"]
    eps, pair = at["eps"]["kcm_vs_mcm"], result["comparisons"]["pairs"]["a"]["kcm_vs_mcm"]
    assert {k: eps[k] for k in pair} == pair  # at ε, the operating point is the paper's comparison
    match = at["match_large"]["kan_vs_mlp"]
    assert match["a_test_fraction"] == entries["router:kan"]["match_large"]["test_fraction"]
    assert match["b_test_fraction"] == entries["router:mlp"]["match_large"]["test_fraction"]
    assert match["calls"]["estimate"] == pytest.approx(
        match["a_test_fraction"]["mean"] - match["b_test_fraction"]["mean"])
    large = at["match_large"]["kcm_vs_large"]
    assert large["b_test_fraction"]["values"] == [1.0, 1.0, 1.0]  # the large model alone is read as written
