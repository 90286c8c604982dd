"""Image–text retrieval data: Twemoji pairs from the shipped packages, and MSCOCO Karpathy from a
tiny zip and split file in the real formats, served on loopback."""

import json

import numpy as np
import pandas as pd
import pytest
from loopback_server import md5

from kcm.bench.standins import jpeg, record, zip_bytes
from kcm.data import coco_karpathy
from kcm.data.coco_karpathy import (
    build_coco_karpathy,
    check_record,
    download_sources,
    read_karpathy,
)
from kcm.data.download import ChecksumError
from kcm.data.image_folder import read_image_split
from kcm.data.twemoji_pairs import (
    build_twemoji_pairs,
    candidates,
    captions_of,
    png_folder,
    split_counts,
    split_indices,
)
from kcm.io import read_json

# --- Twemoji ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twemoji(tmp_path_factory):
    out = tmp_path_factory.mktemp("twemoji")
    return out, build_twemoji_pairs(out, seed=0)


def test_matching_rules_and_counts(twemoji):
    assert candidates("0023-FE0F-20E3") == [
        ("exact", "0023-fe0f-20e3"), ("without_fe0f", "0023-20e3"), ("without_fe0f_and_leading_zeros", "23-20e3")]
    _, card = twemoji
    assert card["matching"]["counts"] == {"exact": 1683, "without_fe0f": 206,
                                          "without_fe0f_and_leading_zeros": 14, "unmatched": 0}
    assert card["matching"]["emoji"] == 1903 and card["matching"]["pngs"] == 4009


def test_twemoji_splits_images_and_captions(twemoji):
    out, card = twemoji
    assert {name: f["rows"] for name, f in card["files"].items()} == {"train": 1142, "val": 190, "test": 571}
    frames = {name: read_image_split(out / f"{name}.parquet", card["image_shape"]) for name in ("train", "val", "test")}
    ids = [i for frame, _ in frames.values() for i in frame["id"]]
    assert len(ids) == len(set(ids)) == 1903
    frame, images = frames["test"]
    assert images.shape == (571, 72, 72, 3) and images.dtype == np.uint8
    assert list(frame["id"]) == sorted(frame["id"])
    row = frame.set_index("id")
    # Transparent pixels became white: almost every icon's corner is white (square icons fill it).
    assert (images[:, 0, 0] == 255).all(axis=1).mean() > 0.9
    train = frames["train"][0].set_index("id")
    everything = pd.concat([row, train, frames["val"][0].set_index("id")])
    assert everything.loc["1f600", "caption"] == "grinning face"
    assert list(everything.loc["1f600", "captions"]) == ["grinning face", "grinning"]
    assert (everything["caption"] == everything["captions"].map(lambda c: c[0])).all()
    assert everything.loc["0023-fe0f-20e3", "label_name"] == "Symbols"
    assert "CC-BY 4.0" in card["source"]["licence"] and "MIT" in card["source"]["licence"]
    assert card["captions"]["test"]["images"] == 571
    md = (out / "card.md").read_text()
    assert "exact 1683" in md and str(png_folder().parent) not in md + (out / "card.json").read_text()


def test_twemoji_rebuild_is_byte_identical_and_seeded(twemoji, tmp_path):
    out, card = twemoji
    again = build_twemoji_pairs(tmp_path / "again", seed=0)
    for name in ("train", "val", "test"):
        assert (tmp_path / "again" / f"{name}.parquet").read_bytes() == (out / f"{name}.parquet").read_bytes()
    assert (tmp_path / "again" / "card.json").read_bytes() == (out / "card.json").read_bytes()
    assert again == card
    other = split_indices(1903, {"train": 0.6, "val": 0.1, "test": 0.3}, seed=1)
    assert not np.array_equal(other["test"], split_indices(1903, {"train": 0.6, "val": 0.1, "test": 0.3}, seed=0)["test"])


def test_split_counts_and_captions_helpers():
    assert split_counts(1903, {"train": 0.6, "val": 0.1, "test": 0.3}) == {"train": 1142, "val": 190, "test": 571}
    with pytest.raises(ValueError, match="sum to 1"):
        split_counts(10, {"train": 0.6, "val": 0.1, "test": 0.1})
    assert captions_of("SUN BEHIND SMALL CLOUD", ["mostly_sunny", "sun_small_cloud"]) == [
        "sun behind small cloud", "mostly sunny", "sun small cloud"]
    assert captions_of("Spain Flag", ["es", "flag-es"]) == ["spain flag", "es", "flag es"]


def test_twemoji_resize(tmp_path):
    card = build_twemoji_pairs(tmp_path, seed=3, size=16, fractions={"train": 0.8, "val": 0.1, "test": 0.1})
    assert card["image_shape"] == [16, 16, 3] and card["files"]["test"]["rows"] == 190


# --- COCO Karpathy ------------------------------------------------------------------------------


RECORDS = [record("val2014", 42, "test"), record("val2014", 73, "test", 6), record("val2014", 74, "val"),
           record("val2014", 133, "restval"), record("train2014", 9, "train"), record("train2014", 25, "train"),
           record("val2014", 136, "test")]


@pytest.fixture(scope="module")
def coco():
    zips = {}
    for name in ("val2014", "train2014"):
        members = {f"{name}/": b""} | {f"{r['filepath']}/{r['filename']}": jpeg(r["cocoid"]) for r in RECORDS if r["filepath"] == name}
        zips[name] = zip_bytes(members)
    karpathy = json.dumps({"images": RECORDS, "dataset": "coco"}).encode()
    return {"karpathy": zip_bytes({"dataset_coco.json": karpathy}), **zips, "json": karpathy}


@pytest.fixture(scope="module")
def coco_downloaded(coco, server, tmp_path_factory):
    parts = ("karpathy", "val2014", "train2014")
    for part in parts:
        server.files[f"/{part}.zip"] = coco[part]
    folder = tmp_path_factory.mktemp("coco_dl")
    paths = download_sources(folder, {p: md5(coco[p]) for p in parts}, urls={p: server.url(f"/{p}.zip") for p in parts},
                             timeout=5, retries=0)
    return paths


def test_coco_download_and_build(coco_downloaded, tmp_path):
    paths = coco_downloaded
    card = build_coco_karpathy(tmp_path, karpathy=paths["karpathy"],
                               archives={"val2014": paths["val2014"], "train2014": paths["train2014"]}, size=16)
    assert {name: f["rows"] for name, f in card["files"].items()} == {"train": 3, "val": 1, "test": 3}
    frame, images = read_image_split(tmp_path / "test.parquet", card["image_shape"])
    assert images.shape == (3, 16, 16, 3)
    assert list(frame["id"]) == ["42", "73", "136"]
    assert frame["captions"].map(len).tolist() == [5, 5, 5]
    assert frame["caption"].iloc[0] == "A photo 42 number 0."
    assert list(frame["captions"].iloc[1])[-1] == "A photo 73 number 4."  # the 6th caption was cut
    train, _ = read_image_split(tmp_path / "train.parquet", card["image_shape"])
    assert list(train["id"]) == ["9", "25", "133"] and list(train["label_name"]) == ["train2014", "train2014", "val2014"]
    assert card["karpathy_counts"] == {"restval": 1, "test": 3, "train": 2, "val": 1}
    assert read_json(tmp_path / "card.json") == card
    assert "1 images had more" in (tmp_path / "card.md").read_text()
    again = build_coco_karpathy(tmp_path / "again", karpathy=paths["karpathy"],
                                archives={"val2014": paths["val2014"], "train2014": paths["train2014"]}, size=16)
    assert again == card
    for name in ("train", "val", "test"):
        assert (tmp_path / "again" / f"{name}.parquet").read_bytes() == (tmp_path / f"{name}.parquet").read_bytes()


def test_coco_plain_json_subset_and_val_only(coco, coco_downloaded, tmp_path):
    plain = tmp_path / "dataset_coco.json"
    plain.write_bytes(coco["json"])
    assert read_karpathy(plain) == read_karpathy(coco_downloaded["karpathy"])
    # Without train, only val2014 is needed.
    card = build_coco_karpathy(tmp_path / "out", karpathy=plain, archives={"val2014": coco_downloaded["val2014"]},
                               size=8, max_per_split={"train": 0, "test": 2}, seed=1)
    assert {name: f["rows"] for name, f in card["files"].items()} == {"train": 0, "val": 1, "test": 2}
    with pytest.raises(ValueError, match="train2014"):
        build_coco_karpathy(tmp_path / "x", karpathy=plain, archives={"val2014": coco_downloaded["val2014"]}, size=8)


def test_coco_checksums_are_required_and_checked(coco, server, tmp_path):
    server.files["/bad.zip"] = coco["val2014"]
    with pytest.raises(ValueError, match="must provide the checksum"):
        download_sources(tmp_path, {"karpathy": "0" * 32}, parts=("karpathy", "val2014"))
    with pytest.raises(ChecksumError, match="0" * 32):
        download_sources(tmp_path, {"val2014": "0" * 32}, parts=("val2014",), urls={"val2014": server.url("/bad.zip")},
                         timeout=5, retries=0)
    assert list(tmp_path.iterdir()) == []
    assert coco_karpathy.PUBLISHED_MD5_UNVERIFIED["val2014"] == "a3d79f5ed8d289b7a7554ce06a5782b3"


def test_coco_refuses_path_traversal_and_bad_records(coco_downloaded, tmp_path):
    bad = record("val2014", 42, "test") | {"filename": "../../etc/passwd"}
    with pytest.raises(ValueError, match="refusing image"):
        check_record(bad)
    with pytest.raises(ValueError, match="refusing image"):
        check_record(record("val2014", 42, "test") | {"filepath": "train2014"})
    with pytest.raises(ValueError, match="cocoid"):
        check_record(record("val2014", 42, "test") | {"cocoid": 43})
    with pytest.raises(ValueError, match="split"):
        check_record(record("val2014", 42, "dev"))
    few = tmp_path / "few.json"
    few.write_text(json.dumps({"images": [record("val2014", 42, "test", 4)]}))
    with pytest.raises(ValueError, match="fewer than captions_per_image"):
        build_coco_karpathy(tmp_path / "o", karpathy=few, archives={"val2014": coco_downloaded["val2014"]}, size=8)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"images": [record("val2014", 99, "test")]}))
    with pytest.raises(FileNotFoundError, match="COCO_val2014_000000000099.jpg"):
        build_coco_karpathy(tmp_path / "o", karpathy=missing, archives={"val2014": coco_downloaded["val2014"]}, size=8)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").glob("*.parquet"))
