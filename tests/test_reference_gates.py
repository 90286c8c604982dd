import pytest

from kcm.reference_gates import DEFAULT_TOLERANCE, PUBLISHED_R1, applies, retrieval_gate

PAPER = {"dataset": "coco_karpathy", "seeds": [0], "large": {"kind": "openclip", "model": "ViT-B-32",
                                                             "pretrained": "openai", "device": "cpu"}}


def test_published_values_and_default_band():
    assert PUBLISHED_R1 == {"i2t": 50.1, "t2i": 30.4}
    assert DEFAULT_TOLERANCE == 2.0


def test_gate_reports_ours_published_difference_and_verdict():
    gate = retrieval_gate(51.0, 27.9)
    assert gate["i2t"] == {"ours": 51.0, "published": 50.1, "difference": pytest.approx(0.9), "verdict": "within band"}
    assert gate["t2i"]["difference"] == pytest.approx(-2.5)
    assert gate["t2i"]["verdict"] == "outside band"
    assert gate["tolerance"] == 2.0 and "ViT-B-32" in gate["source"]


def test_band_edges_are_inclusive_and_symmetric():
    gate = retrieval_gate(52.1, 28.4)  # exactly +2.0 and -2.0 points
    assert gate["i2t"]["difference"] == 2.0 and gate["t2i"]["difference"] == -2.0
    assert gate["i2t"]["verdict"] == gate["t2i"]["verdict"] == "within band"
    gate = retrieval_gate(52.2, 28.3)
    assert gate["i2t"]["verdict"] == gate["t2i"]["verdict"] == "outside band"


def test_tolerance_is_a_keyword():
    assert retrieval_gate(51.0, 30.4, tolerance=0.5)["i2t"]["verdict"] == "outside band"
    assert retrieval_gate(55.0, 30.4, tolerance=5.0)["i2t"]["verdict"] == "within band"
    with pytest.raises(TypeError):
        retrieval_gate(50.1, 30.4, 3.0)  # keyword-only: a third number is not silently a tolerance
    with pytest.raises(ValueError, match="tolerance"):
        retrieval_gate(50.1, 30.4, tolerance=-1.0)


def test_rejects_values_that_are_not_percentages():
    with pytest.raises(ValueError, match="percentage"):
        retrieval_gate(150.0, 30.4)
    with pytest.raises(ValueError, match="t2i"):
        retrieval_gate(50.1, float("nan"))


def test_applies_only_to_the_paper_profile():
    assert applies(PAPER)
    for change in ({"dataset": "twemoji"},
                   {"large": {**PAPER["large"], "kind": "custom_clip"}},
                   {"large": {**PAPER["large"], "model": "ViT-B-16"}},
                   {"large": {**PAPER["large"], "pretrained": "laion2b_s34b_b79k"}},
                   {"large": {"kind": "openclip"}},
                   {"large": None}):
        assert not applies({**PAPER, **change}), change
    assert not applies({"dataset": "coco_karpathy"})
    assert not applies({})


def test_vision_band_edges_are_inclusive():
    from kcm.reference_gates import OUTSIDE, VISION_BAND, WITHIN, vision_gate

    low, high = VISION_BAND
    assert vision_gate(low)["verdict"] == vision_gate(high)["verdict"] == vision_gate(38.3)["verdict"] == WITHIN
    assert vision_gate(low - 0.1)["verdict"] == vision_gate(high + 0.1)["verdict"] == OUTSIDE
    with pytest.raises(ValueError, match="percentage"):
        vision_gate(0.383 * 1000)


def test_vision_gate_applies_only_to_the_ce_resnet32_baseline():
    from kcm.reference_gates import vision_applies

    assert vision_applies("cifar100_lt", 32, 100)
    assert not vision_applies("cifar100_lt", 32, 50)
    assert not vision_applies("cifar100_lt", 8, 100)
    assert not vision_applies("mnist_lt", 32, 100)


def _vision_inputs(dataset, depth, imbalance, overall, bbn_depth=32, bbn_overall=0.425):
    metrics = {"large": {"lite0": {"system:small": {"accuracy": {"mean": overall}}},
                         "bbn": {"system:large": {"accuracy": {"mean": bbn_overall}}}}}
    return (metrics, {"dataset": dataset, "long_tail": {"imbalance": imbalance}},
            {"small": {"depth": depth}, "bbn": {"depth": bbn_depth}})


def test_vision_table_reports_the_gates_and_a_miss_is_not_hidden():
    from kcm.report.table_vision_lt import gate

    ce, bbn = gate(*_vision_inputs("cifar100_lt", 32, 100, 0.381))
    assert ce.endswith("our CE ResNet-32 Overall 38.1 % is within band.")
    assert bbn.endswith("our BBN ResNet-32 Overall 42.5 % is within band.") and "41.6–43.6 %" in bbn
    ce, bbn = gate(*_vision_inputs("cifar100_lt", 32, 100, 0.30, bbn_overall=0.40))
    assert ce.endswith("30.0 % is outside band.") and bbn.endswith("40.0 % is outside band.")
    ce, bbn = gate(*_vision_inputs("mnist_lt", 8, 30, 0.63, bbn_depth=8))
    assert "not applicable to this run (mnist_lt, ResNet-8, imbalance 30)" in ce
    assert "BBN ResNet-32" in bbn and "not applicable to this run (mnist_lt, ResNet-8, imbalance 30)" in bbn
    _, bbn = gate(*_vision_inputs("cifar100_lt", 32, 100, 0.381, bbn_depth=20))  # not BBN's recipe: no band
    assert "not applicable to this run (cifar100_lt, ResNet-20, imbalance 100)" in bbn
