"""The BBC builder: real package data, duplicates dropped, stratified seeded splits, data card."""

import pandas as pd
import pytest

from kcm.data import bbc
from kcm.data.build import COLUMNS, build_bbc
from kcm.data.split import SPLITS, stratified_split, subsample_per_class
from kcm.io import read_json, sha256_file

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


@pytest.fixture(scope="module")
def corpus():
    return bbc.read_corpus()


def test_corpus_matches_the_published_bbc_counts(corpus):
    assert corpus.classes == ["business", "entertainment", "politics", "sports", "tech"]
    assert corpus.n_files == 2225  # 510 + 386 + 417 + 511 + 401
    assert corpus.n_duplicates_dropped == 100  # 98 byte-identical, 2 up to white space
    assert len(corpus.frame) == 2225 - 100
    assert corpus.frame["id"].is_unique
    texts = corpus.frame["title"] + "\n" + corpus.frame["body"]
    assert texts.is_unique
    assert (corpus.frame["title"].str.len() > 0).all()
    assert (corpus.frame["lead"].str.len() > 0).all()


def test_labels_follow_sorted_folder_names(corpus):
    frame = corpus.frame
    for label, name in enumerate(corpus.classes):
        rows = frame[frame["label"] == label]
        assert (rows["label_name"] == name).all()
        assert rows["id"].str.startswith(f"{name}/").all()


def test_split_article_separates_headline_lead_and_body():
    title, lead, body = bbc.split_article(
        "Ink helps drive democracy\n\nThe state is using ink. It works well.\n\nMore text.\n"
    )
    assert title == "Ink helps drive democracy"
    assert lead == "The state is using ink."
    assert body == "The state is using ink. It works well. More text."


def test_split_is_disjoint_complete_stratified_and_seeded(corpus):
    frame = corpus.frame
    splits = stratified_split(frame, FRACTIONS, seed=0)
    ids = {name: set(part["id"]) for name, part in splits.items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    assert set().union(*ids.values()) == set(frame["id"])
    for label, group in frame.groupby("label"):
        for name in SPLITS:
            got = (splits[name]["label"] == label).sum()
            assert abs(got - FRACTIONS[name] * len(group)) <= 1.5, (label, name, got)
    again = stratified_split(frame, FRACTIONS, seed=0)
    assert all(splits[n]["id"].tolist() == again[n]["id"].tolist() for n in SPLITS)
    other = stratified_split(frame, FRACTIONS, seed=1)
    assert splits["test"]["id"].tolist() != other["test"]["id"].tolist()


def test_split_rejects_fractions_that_do_not_sum_to_one(corpus):
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(corpus.frame, {"train": 0.5, "val": 0.2, "test": 0.2}, seed=0)


def test_subsample_caps_each_class(corpus):
    small = subsample_per_class(corpus.frame, 7, seed=3)
    assert small.groupby("label").size().tolist() == [7] * 5
    assert subsample_per_class(corpus.frame, None, seed=3) is corpus.frame


def test_build_writes_splits_and_a_card_that_agrees_with_them(tmp_path):
    card = build_bbc(tmp_path, seed=0, fractions=FRACTIONS, max_per_class=20)
    assert read_json(tmp_path / "card.json") == card
    assert card["n_samples"] == 100
    for name in SPLITS:
        part = pd.read_parquet(tmp_path / f"{name}.parquet")
        assert list(part.columns) == list(COLUMNS)
        assert len(part) == card["files"][name]["rows"]
        assert sha256_file(tmp_path / f"{name}.parquet") == card["files"][name]["sha256"]
        for label, cls in enumerate(card["classes"]):
            assert (part["label"] == label).sum() == card["counts"][cls][name]
    markdown = (tmp_path / "card.md").read_text()
    assert "duplicates dropped: 100" in markdown and "| total" in markdown
    assert not list(tmp_path.glob(".*partial*"))
