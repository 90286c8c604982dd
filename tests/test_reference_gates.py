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
