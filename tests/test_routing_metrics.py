"""Routing curves (RouteLLM style): oracle bound, random line, thresholds, CPT/AUC/APGR."""

import numpy as np
import pytest

from kcm import metrics


def outcomes(n=400, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random(n) < 0.7
    large = rng.random(n) < 0.85
    return small, large, rng


def test_eps_one_calls_the_large_model_for_every_input_and_zero_for_none():
    conf = np.array([1e-6, 0.2, 0.5, 0.98, 1.0])
    assert metrics.route_to_large(conf, 1.0).all()
    assert not metrics.route_to_large(conf, 0.0).any()
    assert metrics.route_to_large(conf, 0.98).tolist() == [True, True, True, True, False]


def test_curve_ends_are_the_two_models_and_ties_are_not_split():
    small, large, _ = outcomes()
    conf = np.round(np.linspace(0, 1, small.size), 1)  # 11 distinct values, many ties
    curve = metrics.routing_curve(small, large, conf)
    assert curve["large_fraction"][0] == 0 and curve["large_fraction"][-1] == 1
    assert curve["accuracy"][0] == pytest.approx(small.mean())
    assert curve["accuracy"][-1] == pytest.approx(large.mean())
    assert len(curve["accuracy"]) == 12
    for frac, acc, eps in zip(curve["large_fraction"], curve["accuracy"], curve["threshold"]):
        to_large = metrics.route_to_large(conf, eps)
        assert to_large.mean() == pytest.approx(frac)
        assert metrics.routed_accuracy(small, large, to_large) == pytest.approx(acc)


@pytest.mark.parametrize("seed", range(5))
def test_oracle_bounds_every_router(seed):
    small, large, rng = outcomes(seed=seed)
    oracle = metrics.oracle_curve(small, large)
    routers = {
        "random scores": rng.random(small.size),
        "informative": np.where(small, 0.8, 0.2) + 0.3 * rng.random(small.size),
        "adversarial": np.where(small, 0.2, 0.8) + 0.3 * rng.random(small.size),
    }
    n = small.size
    for name, conf in routers.items():
        curve = metrics.routing_curve(small, large, conf)
        k = np.rint(curve["large_fraction"] * n).astype(int)
        assert (curve["accuracy"] <= oracle["accuracy"][k] + 1e-12).all(), name
    assert metrics.curve_auc(oracle) >= max(
        metrics.curve_auc(metrics.routing_curve(small, large, c)) for c in routers.values()
    )


def test_random_router_follows_the_straight_line_between_small_and_large():
    small, large, rng = outcomes(n=300, seed=3)
    line = metrics.random_curve(small.mean(), large.mean(), points=301)
    mean_curve = np.mean(
        [metrics.routing_curve(small, large, rng.random(small.size))["accuracy"] for _ in range(3000)], axis=0
    )
    assert np.abs(mean_curve - line["accuracy"]).max() < 0.004
    assert metrics.apgr(line, small.mean(), large.mean()) == pytest.approx(0.5)
    for x in (0.2, 0.5, 0.8):
        assert metrics.cpt(line, small.mean(), large.mean(), x) == pytest.approx(x)


def test_cpt_and_apgr_on_a_hand_made_curve():
    curve = {"large_fraction": np.array([0.0, 0.5, 1.0]), "accuracy": np.array([0.6, 0.9, 1.0])}
    assert metrics.cpt(curve, 0.6, 1.0, 0.5) == pytest.approx(0.5 * 0.2 / 0.3)  # 0.8 reached at 1/3
    assert metrics.curve_auc(curve) == pytest.approx(0.5 * (0.75 + 0.95))
    assert metrics.apgr(curve, 0.6, 1.0) == pytest.approx((0.85 - 0.6) / 0.4)
    assert metrics.cpt(curve, 0.6, 0.5, 0.5) is None  # large no better: undefined
    flat = {"large_fraction": np.array([0.0, 1.0]), "accuracy": np.array([0.6, 0.6])}
    assert metrics.cpt(flat, 0.6, 1.0, 0.5) is None


def test_apgr_is_undefined_without_a_gap_to_recover():
    curve = {"large_fraction": np.array([0.0, 1.0]), "accuracy": np.array([0.8, 0.7])}
    assert metrics.apgr(curve, 0.8, 0.7) is None and metrics.cpt(curve, 0.8, 0.7, 0.5) is None
