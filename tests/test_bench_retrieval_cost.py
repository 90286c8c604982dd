"""The retrieval cost benchmark's measuring function on a tiny pair folder (the real towers)."""

import numpy as np
import pytest

from kcm.bench import retrieval_cost
from kcm.data.twemoji_pairs import write_pair_dataset

pytest.importorskip("open_clip")

CAPTIONS = {
    "train": [["a red face"], ["a green face", "green"], ["a red heart"], ["a blue heart", "blue"], ["a red car"]],
    "val": [["a blue car"]],
    "test": [["a green car", "car"], ["a blue face"], ["a red flag", "red flag waving"]],
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    splits, start = {}, 0
    for split, caps in CAPTIONS.items():
        ids = [f"p{start + i}" for i in range(len(caps))]
        start += len(caps)
        images = rng.integers(0, 256, size=(len(caps), 40, 40, 3), dtype=np.uint8)
        splits[split] = (ids, np.zeros(len(caps), dtype=np.int64), images, caps)
    write_pair_dataset(out, dataset="tiny_pairs", classes=["thing"], splits=splits, seed=0, split_rule="fixed",
                       image_rule="random pixels", source={"name": "t", "citation": "-", "obtained_from": "-",
                                                           "licence": "-"},
                       source_fingerprint="0" * 64, notes={}, deviations=[])
    return retrieval_cost.measure(out, repeats=2, warmup=1)


def test_structure(result):
    for entry in (result["params"], result["macs"]["image"], result["macs"]["text"],
                  result["ms"]["image"], result["ms"]["text"], *result["ms_after_switch"].values()):
        assert set(entry) == {"small", "large", "ratio"}
        assert entry["small"] > 0 and entry["large"] > 0
        assert entry["ratio"] == pytest.approx(entry["large"] / entry["small"])
    q = result["query"]
    assert q["image_id"] == "p6" and q["image_shape"] == [40, 40, 3]
    assert q["caption"] == "a green car"  # median length of the 5 test captions (ties: first in row order)
    assert q["repeats"] == 2 and q["tokens"] >= 3 and q["ngrams"] > 0
    assert sum(result["large_params"].values()) == result["params"]["large"]
    assert result["threads"] == 1


def test_large_costs_more_than_small(result):
    assert result["params"]["large"] > result["params"]["small"]
    for kind in ("image", "text"):
        assert result["macs"][kind]["large"] > result["macs"][kind]["small"]
    # the Lite0 trunk alone is ~0.4 G multiply-adds at 224²; MiniLM ~10.6 M per token
    assert 3e8 < result["macs"]["image"]["large"] < 5e8
    assert result["notes"]["large text MACs padded to 77 tokens"] > result["macs"]["text"]["large"]


def test_table_and_markdown(result):
    frame = retrieval_cost.table(result)
    assert list(frame.columns) == ["quantity", "small F_s", "large F_l", "large / small"]
    assert len(frame) == 5 and frame["large / small"].str.endswith("×").all()
    text = retrieval_cost.render(result, "tiny")
    assert text.startswith("# Retrieval: cost of one query") and "| parameters" in text
