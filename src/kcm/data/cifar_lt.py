"""CIFAR-100-LT (paper profile) from the official `cifar-100-python.tar.gz`, read without unpickling.

The archive holds three Python-2 pickles (`train`, `test`, `meta`) of dicts with numpy arrays.
Plain `pickle.load` would run whatever a tampered file names, so `SafeUnpickler` resolves only
the three numpy globals an array needs and refuses everything else. The three members are read
straight from the tar by their exact names and must be regular files: nothing is extracted, so
no member path can reach the file system (what tarfile's "data" filter guards against).

Splits: train = LDAM's long-tailed subset of the official train set (identical to LDAM-DRW's
`IMBALANCECIFAR100(rand_number=seed)`); val = `val_per_class` images per class held out from
the official test set; test = the rest of the official test set.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
from numpy._core.multiarray import _reconstruct

from kcm.data.download import download
from kcm.data.image_folder import write_image_dataset
from kcm.data.long_tail import holdout_per_class, long_tailed_indices, lt_counts
from kcm.io import sha256_file

URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
FOLDER = "cifar-100-python"
SHAPE = (32, 32, 3)

SOURCE = {
    "name": "CIFAR-100-LT",
    "citation": "A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, tech. report, "
    "University of Toronto, 2009; long-tailed profile from K. Cao et al., LDAM-DRW, NeurIPS 2019",
    "obtained_from": f"{URL} (md5 {MD5})",
    "licence": "no licence stated by the authors; the CIFAR page asks users to cite the tech report",
}

DEVIATIONS = (
    "Validation images are held out from the official CIFAR-100 test set, so our test set has "
    "10000 − 100·val_per_class images instead of the benchmark's 10000",
)

# (module, name) -> object: exactly what a pickled numpy array needs, under numpy 1 and 2 names.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the CIFAR allowlist."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that builds only numpy arrays and plain Python containers."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: CIFAR pickles only need "
                f"{sorted('.'.join(k) for k in _ALLOWED)}; the file is not a genuine CIFAR batch "
                "(re-download it and check its md5)"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"refusing persistent id {pid!r}: not used by CIFAR pickles")


def _text(value) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def load_batch(handle) -> dict:
    """A CIFAR pickle as a dict with str keys.

    latin1 (as torchvision) decodes Python-2 strings, numpy's array bytes among them; keys come
    back as str, or as bytes if the file was written with Python-3 bytes: both are accepted.
    """
    obj = SafeUnpickler(handle, encoding="latin1").load()
    if not isinstance(obj, dict):
        raise ValueError(f"a CIFAR pickle holds a dict, got {type(obj).__name__}")
    return {_text(k): v for k, v in obj.items()}


def _member(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo:
    try:
        member = tar.getmember(f"{FOLDER}/{name}")
    except KeyError:
        raise FileNotFoundError(f"{FOLDER}/{name} is missing from the archive; is it cifar-100-python.tar.gz?") from None
    # A link or device under the expected name would make extractfile read something else.
    if not member.isfile():
        raise ValueError(f"{member.name} in the archive is not a regular file (type {member.type!r}); refusing it")
    return member


def read_archive(archive: Path) -> dict:
    """{"classes": fine label names, "train"/"test": (images (N,32,32,3) uint8, labels int64)}."""
    out = {}
    with tarfile.open(archive, "r:gz") as tar:
        with tar.extractfile(_member(tar, "meta")) as handle:
            meta = load_batch(handle)
        out["classes"] = [_text(n) for n in meta["fine_label_names"]]
        for part in ("train", "test"):
            with tar.extractfile(_member(tar, part)) as handle:
                batch = load_batch(handle)
            data = batch["data"]
            labels = np.asarray(batch["fine_labels"], dtype=np.int64)
            if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
                got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
                raise ValueError(f"{FOLDER}/{part}: `data` must be uint8 (N, 3072), got {got}")
            n_classes = len(out["classes"])
            if len(labels) != len(data) or len(labels) == 0 or labels.min() < 0 or labels.max() >= n_classes:
                raise ValueError(
                    f"{FOLDER}/{part}: {len(labels)} fine labels for {len(data)} images, "
                    f"or labels outside the {n_classes} classes of meta"
                )
            # Each row is the R, G and B planes of 32×32 pixels in turn.
            images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            out[part] = (images, labels)
    return out


def download_archive(dest: Path, *, url: str = URL, md5: str = MD5, timeout: float = 60.0, retries: int = 5) -> Path:
    """The CIFAR-100 python archive at `dest`, md5-verified: the official one, or a mirror's
    (`url`; its `md5` must be the archive's own, the official one unless the mirror repacked it)."""
    return download(url, dest, md5, timeout=timeout, retries=retries)


def build_cifar100_lt(out: Path, *, archive: Path, seed: int, imbalance: float = 100, n_max: int = 500, val_per_class: int = 10) -> dict:
    """Write CIFAR-100-LT to `out/` (train/val/test.parquet, card.json, card.md); return the card.

    The class count comes from `meta`, so archives in the same format with fewer classes work.
    """
    data = read_archive(Path(archive))
    classes = data["classes"]
    train_images, train_labels = data["train"]
    test_images, test_labels = data["test"]
    counts = lt_counts(n_max, len(classes), imbalance)
    train_idx = np.sort(long_tailed_indices(train_labels, counts, seed))
    val_idx, test_idx = holdout_per_class(test_labels, [val_per_class], len(classes), seed)
    splits = {
        "train": ([f"train/{i:05d}" for i in train_idx], train_labels[train_idx], train_images[train_idx]),
        "val": ([f"test/{i:05d}" for i in val_idx], test_labels[val_idx], test_images[val_idx]),
        "test": ([f"test/{i:05d}" for i in test_idx], test_labels[test_idx], test_images[test_idx]),
    }
    return write_image_dataset(
        out,
        dataset="cifar100_lt",
        classes=classes,
        splits=splits,
        seed=seed,
        long_tail={"profile": "exp (LDAM-DRW)", "n_max": n_max, "imbalance": float(imbalance), "counts": counts},
        split_rule=f"train: LDAM's long-tailed subset of the official train set (seed {seed}); val: "
        f"{val_per_class} images per class held out (seeded) from the official test set; test: the rest of it",
        source=SOURCE,
        source_fingerprint=sha256_file(archive),
        deviations=DEVIATIONS,
    )
