import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from kcm import metrics

CLASSES = ["a", "b", "c"]


def test_classification_matches_sklearn_and_hand_counts():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    preds = np.array([0, 1, 0, 1, 2, 2, 2, 0, 2, 2])
    m = metrics.classification(labels, preds, CLASSES)
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(accuracy_score(labels, preds))
    assert m["macro_f1"] == pytest.approx(f1_score(labels, preds, average="macro"))
    assert m["class_accuracy"] == {"a": pytest.approx(2 / 3), "b": 0.5, "c": 0.8}
    assert m["mean_class_accuracy"] == pytest.approx((2 / 3 + 0.5 + 0.8) / 3)


def test_absent_class_is_none_not_zero():
    m = metrics.classification(np.array([0, 1]), np.array([0, 0]), CLASSES)
    assert m["class_accuracy"]["c"] is None
    assert m["mean_class_accuracy"] == pytest.approx(0.5)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="equal"):
        metrics.classification(np.array([0, 1]), np.array([0]), CLASSES)


def test_by_split_groups_predictions():
    frame = pd.DataFrame({"split": ["val", "val", "test"], "label": [0, 1, 2], "pred": [0, 0, 2]})
    out = metrics.by_split(frame, CLASSES)
    assert out["val"]["accuracy"] == 0.5 and out["test"]["accuracy"] == 1.0
