"""Large language models over cached features: hint handling, zero-shot probabilities, OOF hints."""

import numpy as np
import pytest

from kcm import large_outputs as lo
from kcm.baselines.text_tfidf import TfidfParams, fit
from kcm.bench.paper_scale import materialised
from kcm.data.bbc import read_corpus
from kcm.data.split import subsample_per_class
from kcm.tasks.language import large as ll


def synthetic_arrays(labels, n_classes=3, dim=8, seed=0):
    """Plain inputs carry a weak class signal; a hint adds a strong push toward its class."""
    rng = np.random.default_rng(seed)
    centres = np.eye(n_classes, dim)
    plain = 0.6 * centres[labels] + rng.normal(0, 0.5, (len(labels), dim))
    arrays = {"none": plain}
    for k in range(n_classes):
        arrays[f"hint_{k}"] = plain + 1.5 * centres[k]
    return arrays


def test_hinted_rows_pick_each_rows_own_hint():
    arrays = {"none": np.zeros((3, 2)), "hint_0": np.full((3, 2), 0.0), "hint_1": np.full((3, 2), 1.0)}
    arrays["hint_0"][:, 1] = np.arange(3)
    rows = lo.hinted_rows(arrays, np.array([1, 0, 1]))
    assert rows.tolist() == [[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]


def test_head_learns_to_use_realistic_hints():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 600)
    arrays = synthetic_arrays(labels)
    noisy_hints = np.where(rng.random(600) < 0.75, labels, rng.integers(0, 3, 600))  # 75%+ right
    head = lo.fit_head(arrays, labels, noisy_hints, C=1.0)
    test_labels = rng.integers(0, 3, 400)
    test = synthetic_arrays(test_labels, seed=2)
    probs = lo.head_probs(head, test)
    plain = (probs["none"].argmax(1) == test_labels).mean()
    right_hint = (lo.hinted_rows(probs, test_labels).argmax(1) == test_labels).mean()
    assert right_hint > plain + 0.1
    assert all(np.allclose(p.sum(1), 1) for p in probs.values())


def test_zero_shot_probabilities_are_softmaxed_cosines():
    x = np.array([[1.0, 0.0], [0.6, 0.8]])
    prompts = np.array([[1.0, 0.0], [0.0, 1.0]])
    probs = ll.zero_shot_probs({"none": x}, prompts, scale=10.0)["none"]
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert probs.argmax(1).tolist() == [0, 1]
    np.testing.assert_allclose(np.log(probs[1, 1] / probs[1, 0]), 10.0 * (0.8 - 0.6), rtol=1e-6)
    bbc = {"classes": ["sports", "tech"], "descriptions": {"sports": "sport, matches, teams and athletes",
                                                         "tech": "technology, computers, the internet and gadgets"}}
    assert ll.prompt_texts(bbc)[1] == "A news headline about technology, computers, the internet and gadgets."
    # a dataset without descriptions prompts with its class names, through the configured template
    assert ll.prompt_texts({"classes": ["World", "Sci/Tech"], "descriptions": {}}, "News about {description}.") == [
        "News about World.", "News about Sci/Tech."]
    assert ll.descriptions_for({"classes": ["a", "b"], "descriptions": {"b": "bee"}}) == {"a": "a", "b": "bee"}
    assert ll.descriptions_for({"classes": ["a", "b"]}) is None  # the LLM then lists the names only


def test_out_of_fold_hints_are_weaker_than_in_sample_predictions():
    corpus = read_corpus()
    train = subsample_per_class(corpus.frame, 80, seed=0).reset_index(drop=True)
    params = TfidfParams()
    oof = ll.out_of_fold_small_predictions(train, params, seed=0)
    in_sample = fit(train, params).predict(train["title"])
    labels = train["label"].to_numpy()
    assert len(oof) == len(train)
    assert 0.3 < (oof == labels).mean() < (in_sample == labels).mean()  # realistic, not memorised


def test_long_table_has_one_row_per_sample_and_variant():
    probs = {"none": np.full((2, 3), 1 / 3), "hint_0": np.eye(3)[[0, 0]]}
    frame = lo.to_frame(["a", "b"], "val", probs)
    assert len(frame) == 4 and list(frame.columns) == ["id", "split", "variant", "prob_0", "prob_1", "prob_2"]
    assert frame.loc[frame["variant"] == "hint_0", "prob_0"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("n_classes", [2, 4])
def test_one_hot_hint_head_equals_the_materialised_hint_copies(n_classes):
    """The vision head scores hint k as plain logits + the hint's weight column: the same
    probabilities as fitting and scoring the K + 1 materialised copies, out-of-fold rows included,
    with a class absent from training (probability 0 in both)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, n_classes - 1 if n_classes > 2 else 2, 120)  # n_classes 4: class 3 never seen
    features = rng.normal(size=(120, 6)) + labels[:, None]
    hints = np.where(rng.random(120) < 0.7, labels, rng.integers(0, n_classes, 120))
    test = rng.normal(size=(30, 6))
    one_hot = lo.head_outputs({"train": lo.OneHotHintInputs(features, n_classes),
                               "test": lo.OneHotHintInputs(test, n_classes)}, labels, hints, 1.0, 3, 0)
    copies = lo.head_outputs({"train": lo.VariantInputs(materialised(features, n_classes)),
                              "test": lo.VariantInputs(materialised(test, n_classes))}, labels, hints, 1.0, 3, 0)
    assert one_hot.keys() == copies.keys() and one_hot["test"].keys() == copies["test"].keys()
    for split in copies:
        for name in copies[split]:
            np.testing.assert_allclose(one_hot[split][name], copies[split][name], rtol=0, atol=1e-9)
    assert len(copies["test"]) == n_classes + 1
    if n_classes == 4:
        assert (one_hot["test"]["hint_3"][:, 3] == 0).all()
    assert not np.allclose(one_hot["test"]["hint_0"], one_hot["test"]["none"])  # the hint moves the answer
