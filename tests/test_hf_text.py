"""The paper profile's dataset builder on tiny datasets in the real on-disk formats, offline:
Parquet files read through `datasets.load_dataset("parquet", ...)` and a `save_to_disk` folder."""

import json

import pandas as pd
import pytest

from kcm.baselines.text_tfidf import input_text
from kcm.data.hf_text import build_hf_text
from kcm.data.split import SPLITS

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
TOPICS = ["weather", "cooking", "travel"]


def topic_rows(n, start):
    rows = [{"text": f"note {i} on {TOPICS[i % 3]}", "topic": TOPICS[i % 3], "stars": i % 5} for i in range(start, start + n)]
    return pd.DataFrame(rows)


@pytest.fixture
def parquet_source(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    train = topic_rows(30, 0)
    test = topic_rows(15, 100)
    test.loc[0, "text"] = train.loc[3, "text"]  # a cross-split duplicate (dropped)
    test.loc[1, "topic"] = None  # an unlabelled row (dropped)
    train.to_parquet(src / "train.parquet")
    test.to_parquet(src / "test.parquet")
    return {"train": str(src / "train.parquet"), "test": str(src / "test.parquet")}


def build(out, data_files, cache, **over):
    kwargs = dict(
        path="parquet", name=None, data_files=data_files, text_fields=["text"], label_field="topic",
        splits_to_use=["train", "test"], seed=0, fractions=FRACTIONS, max_per_class=None, revision=None,
        cache_dir=cache,
    )
    return build_hf_text(out, **(kwargs | over))


def test_parquet_source_gives_the_bbc_folder_format(tmp_path, parquet_source):
    card = build(tmp_path / "a", parquet_source, tmp_path / "cache")
    assert card["classes"] == sorted(TOPICS)
    assert (card["n_source_files"], card["n_unlabelled_dropped"], card["n_duplicates_dropped"]) == (44, 1, 1)
    assert card["n_samples"] == 43 and card["source"]["licence"].startswith("unknown")
    assert set(card["source"]["datasets_fingerprints"]) == {"train", "test"}
    frames = {s: pd.read_parquet(tmp_path / "a" / f"{s}.parquet") for s in SPLITS}
    ids = pd.concat([f["id"] for f in frames.values()])
    assert ids.is_unique and len(ids) == 43 and "test/1" not in set(ids)
    for split, frame in frames.items():
        assert list(frame.columns) == ["id", "label", "label_name", "text"]
        assert frame["label"].dtype == "int64"
        assert (frame["label_name"] == [card["classes"][k] for k in frame["label"]]).all()
        assert all(t.endswith(n) for t, n in zip(frame["text"], frame["label_name"]))  # labels stay with texts
        assert {cls: counts[split] for cls, counts in card["counts"].items()} == frame["label_name"].value_counts().to_dict()
        assert card["files"][split]["rows"] == len(frame)
    assert input_text(frames["train"], ("text",)).str.startswith("note ").all()
    # A rebuild gives the same bytes; the card reads well for people.
    build(tmp_path / "b", parquet_source, tmp_path / "cache")
    for name in [*(f"{s}.parquet" for s in SPLITS), "card.json", "card.md"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    md = (tmp_path / "a" / "card.md").read_text()
    assert "Labelled source rows (splits train, test): 44;" in md and "| total " in md
    assert json.loads((tmp_path / "a" / "card.json").read_text())["source"]["path"] == "parquet"


def test_saved_dataset_dict_keeps_class_label_order_and_drops_unlabelled(tmp_path):
    import datasets

    names = ["world", "sports", "business"]  # deliberately not sorted
    features = datasets.Features(
        {"title": datasets.Value("string"), "body": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    train = {"title": [f"title {i}" for i in range(24)], "body": [f"body {i}" for i in range(24)], "label": [i % 3 for i in range(24)]}
    test = {"title": [f"t {i}" for i in range(6)], "body": ["b"] * 6, "label": [-1] * 6}  # hub-style unlabelled test
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(train, features=features), "test": datasets.Dataset.from_dict(test, features=features)}
    ).save_to_disk(str(tmp_path / "saved"))
    card = build_hf_text(
        tmp_path / "out", path=str(tmp_path / "saved"), name=None, data_files=None, text_fields=["title", "body"],
        label_field="label", splits_to_use=["train", "test"], seed=1, fractions=FRACTIONS, max_per_class=6,
        revision=None, licence="CC-BY-4.0",
    )
    assert card["classes"] == names and card["n_unlabelled_dropped"] == 6 and card["n_samples"] == 18
    assert card["source"]["licence"] == "CC-BY-4.0"
    frame = pd.concat(pd.read_parquet(tmp_path / "out" / f"{s}.parquet") for s in SPLITS)
    assert list(frame.columns) == ["id", "label", "label_name", "title", "body"]
    assert frame["id"].str.startswith("train/").all()
    assert (frame["id"].str.split("/").str[1].astype(int) % 3 == frame["label"]).all()  # ClassLabel ints kept
    assert frame["label_name"].value_counts().to_dict() == {n: 6 for n in names}  # max_per_class


def test_bad_sources_fail_with_the_fix(tmp_path, parquet_source):
    cache = tmp_path / "cache"
    with pytest.raises(KeyError, match="text_fields / label_field"):
        build(tmp_path / "o", parquet_source, cache, text_fields=["headline"])
    with pytest.raises(KeyError, match="splits_to_use"):
        build(tmp_path / "o", parquet_source, cache, splits_to_use=["train", "validation"])
    with pytest.raises(ValueError, match="collide"):
        build(tmp_path / "o", parquet_source, cache, text_fields=["text", "topic"])
    one_class = tmp_path / "one.parquet"
    pd.DataFrame({"text": ["a", "b", "c"], "topic": ["x"] * 3}).to_parquet(one_class)
    with pytest.raises(ValueError, match="at least 2 classes"):
        build(tmp_path / "o", {"train": str(one_class)}, cache, splits_to_use=["train"])
    rare = tmp_path / "rare.parquet"
    pd.concat([topic_rows(30, 0), pd.DataFrame({"text": ["odd one"], "topic": ["sailing"], "stars": [1]})]).to_parquet(rare)
    with pytest.raises(ValueError, match=r"sailing.*splits_to_use"):
        build(tmp_path / "o", {"train": str(rare)}, cache, splits_to_use=["train"])
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_bare_number_labels_are_refused_until_named(tmp_path, parquet_source):
    """Integer labels without ClassLabel names stop at the data build with the key to set (before,
    they reached large_language_b and failed there); named, the names and descriptions reach
    the card that the prompts read."""
    with pytest.raises(ValueError, match=r"bare numbers.*data\.huggingface\.label_names.*\['0', '1', '2', '3', '4'\]"):
        build(tmp_path / "a", parquet_source, tmp_path / "cache", label_field="stars")
    assert not (tmp_path / "a" / "card.json").exists()
    names = ["one star", "two stars", "three stars", "four stars", "five stars"]
    with pytest.raises(ValueError, match="label_names has 2 names"):
        build(tmp_path / "a", parquet_source, tmp_path / "cache", label_field="stars", label_names=names[:2])
    with pytest.raises(ValueError, match=r"label_descriptions names \['six stars'\]"):
        build(tmp_path / "a", parquet_source, tmp_path / "cache", label_field="stars", label_names=names,
              label_descriptions={"six stars": "off the scale"})
    card = build(tmp_path / "a", parquet_source, tmp_path / "cache", label_field="stars", label_names=names,
                 label_descriptions={"five stars": "the best there is"})
    assert card["classes"] == names and card["descriptions"] == {"five stars": "the best there is"}
    train = pd.read_parquet(tmp_path / "a" / "train.parquet")
    assert (train["label_name"] == [names[k] for k in train["label"]]).all()
