"""Collaboration from cached outputs: the hinted large answer, thresholds, routers, evaluation."""

import numpy as np
import pytest

from kcm import collab, metrics


def make_outputs(n=300, k=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)

    def noisy(acc):
        probs = rng.dirichlet(np.ones(k), n)
        right = rng.random(n) < acc
        probs[right, labels[right]] += 2.0
        return probs / probs.sum(1, keepdims=True)

    small = noisy(0.6)
    large = {"none": noisy(0.75)}
    for c in range(k):
        large[f"hint_{c}"] = noisy(0.85)
    return collab.CachedOutputs(labels, small, large)


def test_the_large_model_reads_the_small_models_prediction():
    out = make_outputs()
    hinted = out.large_hinted()
    for i in range(len(out.labels)):
        np.testing.assert_array_equal(hinted[i], out.large_probs[f"hint_{out.small_pred[i]}"][i])


def test_eps_one_asks_the_large_model_always_and_eps_zero_never():
    out = make_outputs()
    conf = collab.router_confidence("max_softmax", out)
    preds, calls = collab.system_predictions(out, conf, 1.0)
    assert calls.all() and (preds == out.large_hinted().argmax(1)).all()
    preds, calls = collab.system_predictions(out, conf, 0.0)
    assert not calls.any() and (preds == out.small_pred).all()


def test_oracle_router_reaches_the_union_of_both_models_with_the_fewest_calls():
    out = make_outputs()
    small_ok, large_ok = out.correct()
    result = collab.evaluate(out, collab.router_confidence("oracle", out), eps=0.5)
    assert result["accuracy"] == pytest.approx((small_ok | large_ok).mean())
    assert result["large_fraction"] == pytest.approx((~small_ok & large_ok).mean())


def test_evaluate_is_consistent_and_ranks_routers():
    out = make_outputs(seed=1)
    results = {kind: collab.evaluate(out, collab.router_confidence(kind, out, seed=3), eps=0.9)
               for kind in ("random", "max_softmax", "oracle")}
    for kind, r in results.items():
        preds, calls = collab.system_predictions(out, collab.router_confidence(kind, out, seed=3), 0.9)
        assert r["accuracy"] == pytest.approx((preds == out.labels).mean())
        assert r["curve"]["accuracy"][0] == pytest.approx(r["small_accuracy"])
        assert r["curve"]["accuracy"][-1] == pytest.approx(r["large_accuracy"])
    assert results["oracle"]["apgr"] > results["max_softmax"]["apgr"] > results["random"]["apgr"]
    small_ok, large_ok = out.correct()
    assert results["oracle"]["auc"] <= metrics.curve_auc(metrics.oracle_curve(small_ok, large_ok)) + 1e-12


def test_routers_are_reproducible_and_validated():
    out = make_outputs()
    np.testing.assert_array_equal(collab.router_confidence("random", out, seed=5),
                                  collab.router_confidence("random", out, seed=5))
    with pytest.raises(ValueError, match="judge"):
        collab.router_confidence("judge", out)
    with pytest.raises(ValueError, match="unknown router"):
        collab.router_confidence("coin", out)


def test_cached_outputs_are_checked():
    out = make_outputs()
    with pytest.raises(ValueError, match="variants"):
        collab.CachedOutputs(out.labels, out.small_probs, {"none": out.large_probs["none"]})
    with pytest.raises(ValueError, match="labels"):
        collab.CachedOutputs(out.labels[:-1], out.small_probs, out.large_probs)
