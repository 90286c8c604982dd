"""The per-seed train/val partition (kcm.data.resplit, config loop.split): per-class counts kept,
the pool and test untouched, seeded; rows of every aligned structure (frames, images, sparse
features, large-model outputs, captions and their embeddings) move together; the three
modalities' tasks built on tiny real-format data re-draw train and val and fit on the new train."""

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from kcm.baselines.text_tfidf import TfidfParams
from kcm.data import resplit
from kcm.data.build import build_bbc
from kcm.data.mnist_lt import build_mnist_lt
from kcm.data.twemoji_pairs import build_twemoji_pairs
from kcm.distill import DistillWeights
from kcm.large_outputs import write_outputs
from kcm.tasks.language.task import LanguageTask
from kcm.tasks.retrieval.experiment import build_task, resplit_pairs
from kcm.tasks.retrieval.features import (
    load_arrays,
    load_pairs,
    save_arrays,
    split_digests,
)
from kcm.tasks.retrieval.task import RetrievalParams
from kcm.tasks.vision.task import SmallImageParams, VisionTask, load_images

LONG_TAIL = np.repeat(np.arange(5), [40, 20, 8, 3, 1])  # MNIST-LT-like: long-tailed train
BALANCED = np.repeat(np.arange(5), 6)  # balanced val


def counts(labels, n=5):
    return np.bincount(np.asarray(labels), minlength=n)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_partition_keeps_per_class_counts_and_the_pool(seed):
    train, val = resplit.partition(LONG_TAIL, BALANCED, seed)
    pooled = np.concatenate([LONG_TAIL, BALANCED])
    assert counts(pooled[train]).tolist() == counts(LONG_TAIL).tolist()  # long-tailed train survives
    assert counts(pooled[val]).tolist() == counts(BALANCED).tolist()  # balanced val survives
    assert not set(train) & set(val) and sorted([*train, *val]) == list(range(len(pooled)))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_partition_is_seeded():
    a, b, again = (resplit.partition(LONG_TAIL, BALANCED, s) for s in (0, 1, 0))
    assert np.array_equal(a[0], again[0]) and np.array_equal(a[1], again[1])
    assert not np.array_equal(a[0], b[0])
    assert not np.array_equal(a[0], np.arange(len(LONG_TAIL)))  # not the fixed split


def test_split_seed_reads_the_mode():
    assert resplit.split_seed({"loop": {"split": "per_seed"}}, 3) == 3
    assert resplit.split_seed({"loop": {"split": "fixed"}}, 3) is None
    with pytest.raises(ValueError, match="per_seed"):
        resplit.split_seed({"loop": {"split": "bootstrap"}}, 3)
    assert resplit.record(None, 5, 2) == {"mode": "fixed", "seed": None, "n_train": 5, "n_val": 2}


def test_apply_moves_every_aligned_structure_together_and_leaves_test():
    ids = {s: np.array([f"{s}{i}" for i in range(n)]) for s, n in (("train", 9), ("val", 4), ("test", 3))}
    code = {s: np.array([int(i[-1]) + 10 * k for i in v]) for k, (s, v) in enumerate(ids.items())}
    per_split = {s: {"frame": pd.DataFrame({"id": ids[s], "code": code[s]}, index=np.arange(len(ids[s])) + 100),
                     "array": code[s][:, None] * np.ones((1, 2)),
                     "sparse": sparse.csr_matrix(code[s][:, None].astype(float)),
                     "list": list(ids[s]),
                     "nested": {"none": code[s] * 2.0}} for s in ids}
    rows = resplit.partition(np.zeros(9), np.zeros(4), 5)
    out = resplit.apply(per_split, rows)
    assert out["test"] is per_split["test"]
    for split, n in (("train", 9), ("val", 4)):
        got = out[split]
        assert len(got["frame"]) == n and list(got["frame"].index) == list(range(n))
        expected = got["frame"]["code"].to_numpy()
        assert np.array_equal(got["array"][:, 0], expected) and np.array_equal(got["sparse"].toarray()[:, 0], expected)
        assert got["list"] == list(got["frame"]["id"]) and np.array_equal(got["nested"]["none"], 2.0 * expected)
        assert sparse.isspmatrix_csr(got["sparse"])
    moved = set(out["train"]["frame"]["id"])
    assert moved != set(ids["train"]) and moved | set(out["val"]["frame"]["id"]) == set(ids["train"]) | set(ids["val"])


# --- the tasks, on tiny real-format data -----------------------------------------------------------------


def write_large(path, frames, n_classes, seed):
    """A fake large-model table: distinct random probabilities per (row, variant)."""
    rng = np.random.default_rng(seed)
    outputs = {s: {v: rng.dirichlet(np.ones(n_classes), len(f)) for v in ("none", *(f"hint_{k}" for k in range(n_classes)))}
               for s, f in frames.items()}
    write_outputs(path, outputs, {s: list(f["id"]) for s, f in frames.items()})
    return path


def by_id(task, name):
    """id -> that row's probabilities of every variant, over all splits of a task."""
    return {i: np.concatenate([v[row] for _, v in sorted(task.large[name][s].items())])
            for s, f in task.frames.items() for row, i in enumerate(f["id"])}


def check_classification(fixed, drawn):
    for split in ("train", "val"):
        assert counts(drawn.labels(split), fixed.n_classes).tolist() == counts(fixed.labels(split), fixed.n_classes).tolist()
        assert np.array_equal(drawn.labels(split), drawn.frames[split]["label"].to_numpy())
    assert set(drawn.frames["train"]["id"]) != set(fixed.frames["train"]["id"])
    pool = set(fixed.frames["train"]["id"]) | set(fixed.frames["val"]["id"])
    assert set(drawn.frames["train"]["id"]) | set(drawn.frames["val"]["id"]) == pool
    assert drawn.frames["test"].equals(fixed.frames["test"]) and np.array_equal(drawn.ids["test"], fixed.ids["test"])
    for name in fixed.large:
        before, after = by_id(fixed, name), by_id(drawn, name)
        assert before.keys() == after.keys() and all(np.array_equal(before[i], after[i]) for i in before)
        assert len(drawn.large[name]["train"]["none"]) == drawn.n_train


@pytest.fixture(scope="module")
def language(tmp_path_factory):
    root = tmp_path_factory.mktemp("bbc")
    build_bbc(root / "data", seed=0, fractions={"train": 0.6, "val": 0.2, "test": 0.2}, max_per_class=25)
    frames = {s: pd.read_parquet(root / "data" / f"{s}.parquet") for s in ("train", "val", "test")}
    large = {"large_a": write_large(root / "large_a.parquet", frames, 5, 1)}

    def make(split_seed):
        return LanguageTask(root / "data", large, TfidfParams(fields=("title",), min_df=1), DistillWeights(),
                            svd_dim=4, split_seed=split_seed)

    return make(None), make(0), make(1), frames


def test_language_task_redraws_train_and_val_and_fits_on_the_new_train(language):
    fixed, drawn, other, frames = language
    assert all(fixed.frames[s].equals(frames[s]) for s in frames)  # fixed: the folder's split as built
    check_classification(fixed, drawn)
    assert set(drawn.frames["train"]["id"]) != set(other.frames["train"]["id"])
    assert drawn.x["train"].shape[0] == drawn.n_train == fixed.n_train
    # the vocabulary is the new train's: refitting on its texts gives the same columns
    texts = {"fixed": fixed.frames["train"]["title"], "drawn": drawn.frames["train"]["title"]}
    sizes = {k: len(TfidfVectorizer(ngram_range=(1, 2), min_df=1).fit(t).vocabulary_) for k, t in texts.items()}
    assert drawn.x["train"].shape[1] == sizes["drawn"] != sizes["fixed"] == fixed.x["train"].shape[1]


@pytest.fixture(scope="module")
def vision(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    build_mnist_lt(root / "data", seed=0, n_max=30, val_per_class=5, test_per_class=5)
    frames, images = load_images(root / "data")
    large = {"lite0": write_large(root / "lite0.parquet", frames, 10, 2)}

    def make(split_seed):
        return VisionTask(root / "data", large, SmallImageParams(), DistillWeights(), 4, split_seed)

    return make(None), make(3), frames, images


def test_vision_task_keeps_the_long_tail_and_moves_images_with_their_rows(vision):
    fixed, drawn, frames, images = vision
    assert all(np.array_equal(fixed.images[s], images[s]) for s in images)
    check_classification(fixed, drawn)
    assert counts(drawn.labels("train"), 10)[0] > counts(drawn.labels("train"), 10)[-1]  # still long-tailed
    assert len(set(counts(drawn.labels("val"), 10))) == 1  # still balanced
    pixels = {i: img for s in ("train", "val") for i, img in zip(frames[s]["id"], images[s])}
    for split in ("train", "val"):
        assert all(np.array_equal(pixels[i], img) for i, img in zip(drawn.frames[split]["id"], drawn.images[split]))
    assert not np.allclose(drawn.judge_features("test"), fixed.judge_features("test"))  # PCA refitted on new train


@pytest.fixture(scope="module")
def retrieval(tmp_path_factory):
    root = tmp_path_factory.mktemp("twemoji")
    build_twemoji_pairs(root / "data", seed=0, max_pairs=60, size=16)
    pairs = load_pairs(root / "data")
    rng = np.random.default_rng(4)
    tensors = {f"{s}/{kind}": rng.normal(size=(len(p["frame"]) if kind == "image" else len(p["captions"]), 6))
               for s, p in pairs.items() for kind in ("image", "text")}
    save_arrays(tensors, {"ids_sha256": split_digests(pairs), "logit_scale": 10.0}, root / "emb.safetensors")
    return root, pairs


def caption_table(pairs, large):
    """(image id, caption) -> (F_l's caption row, F_l's image row) over train and val."""
    out = {}
    for split in ("train", "val"):
        p = pairs[split]
        for c, (text, owner) in enumerate(zip(p["captions"], p["caption_to_image"])):
            image_id = p["frame"]["id"].iloc[owner]
            out[(image_id, text, c - np.flatnonzero(p["caption_to_image"] == owner)[0])] = (
                tuple(large[split]["text"][c]), tuple(large[split]["image"][owner]))
    return out


def test_retrieval_captions_and_embeddings_follow_their_image(retrieval):
    root, pairs = retrieval
    large, _ = load_arrays(root / "emb.safetensors", pairs)
    drawn, moved = resplit_pairs(pairs, large, 2)
    for split in ("train", "val"):
        assert len(drawn[split]["frame"]) == len(pairs[split]["frame"])
        assert len(drawn[split]["images"]) == len(moved[split]["image"]) == len(drawn[split]["frame"])
        assert len(drawn[split]["captions"]) == len(moved[split]["text"]) == len(drawn[split]["caption_to_image"])
        assert np.all(np.diff(drawn[split]["caption_to_image"]) >= 0)  # grouped by image, in order
    assert set(drawn["train"]["frame"]["id"]) != set(pairs["train"]["frame"]["id"])
    assert caption_table(drawn, moved) == caption_table(pairs, large)
    assert drawn["test"]["frame"] is pairs["test"]["frame"] and moved["test"]["text"] is large["test"]["text"]
    image_row = {i: (img, tuple(large[s]["image"][r])) for s in ("train", "val")
                 for r, (i, img) in enumerate(zip(pairs[s]["frame"]["id"], pairs[s]["images"]))}
    for split in ("train", "val"):
        for r, i in enumerate(drawn[split]["frame"]["id"]):
            assert np.array_equal(image_row[i][0], drawn[split]["images"][r])
            assert image_row[i][1] == tuple(moved[split]["image"][r])


def test_retrieval_build_task_per_seed_keeps_the_image_counts(retrieval):
    root, pairs = retrieval
    params = RetrievalParams()
    fixed, _ = build_task(root / "data", root / "emb.safetensors", params, DistillWeights())
    drawn, _ = build_task(root / "data", root / "emb.safetensors", params, DistillWeights(), split_seed=1)
    for split in ("train", "val"):
        assert drawn.splits[split].n_images == fixed.splits[split].n_images == len(pairs[split]["frame"])
    assert drawn.n_train == fixed.n_train
    assert np.array_equal(drawn.splits["test"].large_image, fixed.splits["test"].large_image)
    assert np.array_equal(drawn.splits["test"].caption_to_image, fixed.splits["test"].caption_to_image)
    assert all(np.array_equal(drawn.ids["test"][d], fixed.ids["test"][d]) for d in fixed.ids["test"])
    assert not np.array_equal(drawn.splits["train"].large_image, fixed.splits["train"].large_image)
