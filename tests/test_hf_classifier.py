"""Large model A of the paper profile (fine-tuned encoder) on a tiny random-weight BERT and a
tokenizer built here, offline: out-of-fold training outputs, learning, determinism, file format."""

import numpy as np
import pandas as pd
import pytest
import torch

from kcm import large_outputs as lo
from kcm.models import hf_classifier as hc
from kcm.text_hints import DEFAULT_TEMPLATE

CLASSES = ["fruit", "sport", "politics"]
CLASS_WORDS = [["apple", "banana", "cherry", "grape"], ["goal", "match", "team", "coach"], ["vote", "party", "law", "senate"]]
NOISE = ["the", "a", "today", "news", "big", "small", "new", "old"]
FAST = dict(epochs=10, lr=3e-3, batch_size=16, max_length=24, warmup_ratio=0.0, device="cpu")


def tiny_frame(n, seed, prefix):
    """Two words of the class, two noise words and a unique tag (unknown to the vocabulary)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    texts = [" ".join([*rng.choice(CLASS_WORDS[y], 2), *rng.choice(NOISE, 2), f"{prefix}{i}"]) for i, y in enumerate(labels)]
    return pd.DataFrame({"id": [f"{prefix}/{i}" for i in range(n)], "label": labels,
                         "label_name": [CLASSES[y] for y in labels], "title": texts})


def make_tiny_bert(folder):
    """A BERT-shaped checkpoint without a classification head, like bert-base-uncased."""
    from transformers import BertConfig, BertModel, BertTokenizer

    words = sorted({w for ws in CLASS_WORDS for w in ws} | set(NOISE) | set(CLASSES) | {"topic", "hint", ":", "(", ")"})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizer(vocab=str(folder / "vocab.txt")).save_pretrained(folder)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        config = BertConfig(vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=64)
        BertModel(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def test_fold_plan_partitions_rows_and_folds_zero_is_in_sample():
    labels = np.arange(30) % 3
    plan = hc.fold_plan(labels, 2, seed=0)
    predicted = np.concatenate([rows for _, rows in plan])
    assert sorted(predicted) == list(range(30))
    for fit_rows, rows in plan:
        assert not set(fit_rows) & set(rows) and np.bincount(labels[rows]).tolist() == [5, 5, 5]
    (fit_rows, rows), = hc.fold_plan(labels, 0, seed=0)
    assert (fit_rows == rows).all() and len(rows) == 30
    with pytest.raises(ValueError, match="folds"):
        hc.fold_plan(labels, 1, seed=0)


def test_large_outputs_are_out_of_fold_and_learn(tiny_bert, tmp_path, monkeypatch):
    train, val, test = tiny_frame(60, 0, "tr"), tiny_frame(30, 1, "va"), tiny_frame(30, 2, "te")
    hints = np.random.default_rng(0).integers(0, 3, 60)
    calls = []  # ("fit", texts) and ("predict", plain texts) in call order
    real_fit, real_predict = hc.fine_tune, hc.variant_probs
    monkeypatch.setattr(hc, "fine_tune", lambda texts, *a, **k: calls.append(("fit", list(texts))) or real_fit(texts, *a, **k))
    monkeypatch.setattr(hc, "variant_probs", lambda m, t, texts, *a: calls.append(("predict", list(texts))) or real_predict(m, t, texts, *a))
    out = hc.large_outputs(train, val, test, fields=("title",), classes=CLASSES, template=DEFAULT_TEMPLATE,
                           small_oof_hints_train=hints, model_id=tiny_bert, folds=2, seed=0, offline=True, **FAST)

    variants = ["none", "hint_0", "hint_1", "hint_2"]
    for split, frame in (("train", train), ("val", val), ("test", test)):
        assert list(out[split]) == variants
        for p in out[split].values():
            assert p.shape == (len(frame), 3) and np.allclose(p.sum(1), 1) and (p >= 0).all()
    # Two fold models, each predicting only rows it never trained on, then one model on all rows.
    kinds = [kind for kind, _ in calls]
    assert kinds == ["fit", "predict", "fit", "predict", "fit", "predict", "predict"]
    texts = train["title"].tolist()
    hinted = dict(zip(texts, hc.hinted_texts(texts, hints, CLASSES, DEFAULT_TEMPLATE)))
    for (_, fitted), (_, predicted) in ((calls[0], calls[1]), (calls[2], calls[3])):
        assert not set(fitted) & set(predicted)
        assert set(fitted) == {t for t in texts if t not in predicted} | {hinted[t] for t in texts if t not in predicted}
    assert sorted(calls[1][1] + calls[3][1]) == sorted(texts)
    assert set(calls[4][1]) == set(texts) | set(hinted.values())
    assert calls[5][1] == val["title"].tolist() and calls[6][1] == test["title"].tolist()
    # An easy task: far above chance (1/3) out of fold and on held-out splits.
    for split, frame, floor in (("train", train, 0.6), ("val", val, 0.8), ("test", test, 0.8)):
        assert (out[split]["none"].argmax(1) == frame["label"].to_numpy()).mean() >= floor, split

    ids = {"train": train["id"], "val": val["id"], "test": test["id"]}
    lo.write_outputs(tmp_path / "large.parquet", out, ids)
    long = pd.read_parquet(tmp_path / "large.parquet")
    assert list(long.columns) == ["id", "split", "variant", "prob_0", "prob_1", "prob_2"]
    assert len(long) == 4 * 120 and long.groupby("split").size().to_dict() == {"test": 120, "train": 240, "val": 120}
    row = long[(long["split"] == "val") & (long["variant"] == "hint_2")].iloc[4]
    assert row["id"] == "va/4" and np.allclose(row[["prob_0", "prob_1", "prob_2"]].to_numpy(float), out["val"]["hint_2"][4])
    with pytest.raises(ValueError, match="ids"):
        lo.outputs_frame(out, ids | {"val": ids["val"][:5]})


def test_fine_tuning_is_deterministic_and_leaves_global_rng_alone(tiny_bert):
    frame = tiny_frame(24, 3, "d")
    texts, labels = frame["title"].tolist(), frame["label"].to_numpy()
    tokenizer = hc.load_tokenizer(tiny_bert, offline=True)
    params = hc.FineTuneParams(**(FAST | {"epochs": 2}))
    before = torch.get_rng_state()
    runs = []
    for _ in range(2):
        model = hc.fine_tune(texts, labels, model_id=tiny_bert, n_classes=3, tokenizer=tokenizer, seed=5, offline=True, params=params)
        runs.append(hc.predict_probs(model, tokenizer, texts, params))
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(runs[0], runs[1])
    other = hc.fine_tune(texts, labels, model_id=tiny_bert, n_classes=3, tokenizer=tokenizer, seed=6, offline=True, params=params)
    assert not np.array_equal(hc.predict_probs(other, tokenizer, texts, params), runs[0])  # the seed matters


def test_bad_hints_and_unknown_parameters_fail_before_training(tiny_bert):
    train = tiny_frame(6, 0, "x")
    common = dict(fields=("title",), classes=CLASSES, template=DEFAULT_TEMPLATE, model_id=tiny_bert, folds=2, seed=0, offline=True)
    with pytest.raises(ValueError, match="one small-model hint per training row"):
        hc.large_outputs(train, train, train, small_oof_hints_train=np.zeros(5, int), **common)
    with pytest.raises(ValueError, match="class indices"):
        hc.large_outputs(train, train, train, small_oof_hints_train=np.full(6, 3), **common)
    with pytest.raises(TypeError, match="learning_rate"):
        hc.large_outputs(train, train, train, small_oof_hints_train=np.zeros(6, int), learning_rate=1e-3, **common)
