"""Long-tailed class profiles, their seeded construction, and Many/Medium/Few-shot accuracy.

The profile and the subset follow LDAM-DRW (Cao et al., NeurIPS 2019; `imbalance_cifar.py`),
the construction every CIFAR-LT paper since (BBN, decoupling, ...) reuses; the shot groups and
their accuracy follow OLTR (Liu et al., CVPR 2019, `shot_acc`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

GROUPS = ("many", "medium", "few")
MANY_ABOVE = 100  # > 100 training images: many-shot
FEW_BELOW = 20  # < 20: few-shot; 20..100 inclusive: medium-shot


def lt_counts(n_max: int, n_classes: int, imbalance: float) -> list[int]:
    """Training images per class, LDAM's "exp" profile: n_max for class 0, n_max / imbalance for the last.

    Written exactly as LDAM's `get_img_num_per_cls` (imb_factor = 1 / imbalance, truncation by
    `int`), so CIFAR-100 with imbalance 100 gives its published counts 500, 477, 455, ..., 5.
    """
    if n_classes < 2:
        raise ValueError(f"a long-tailed profile needs at least 2 classes, got {n_classes}")
    if n_max < 1 or imbalance < 1:
        raise ValueError(f"need n_max >= 1 and imbalance >= 1, got n_max={n_max}, imbalance={imbalance}")
    factor = 1 / imbalance
    return [int(n_max * factor ** (i / (n_classes - 1))) for i in range(n_classes)]


def _class_members(labels: np.ndarray, n_classes: int) -> list[np.ndarray]:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got shape {labels.shape} and dtype {labels.dtype}")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got [{labels.min()}, {labels.max()}]")
    return [np.flatnonzero(labels == c) for c in range(n_classes)]


def long_tailed_indices(labels: np.ndarray, counts: Sequence[int], seed: int) -> np.ndarray:
    """Indices of a long-tailed subset with `counts[c]` samples of class c, grouped by class.

    LDAM's `gen_imbalanced_data`: one RandomState seeded once; for each class in order, shuffle
    that class's indices and keep the first counts[c]. A legacy RandomState (whose stream numpy
    keeps stable) makes the subset of CIFAR-100's official train set identical to LDAM's
    `IMBALANCECIFAR100(rand_number=seed)`. Within a class the indices keep the shuffled order.
    """
    members = _class_members(labels, len(counts))
    short = {c: (int(k), len(m)) for c, (k, m) in enumerate(zip(counts, members)) if k > len(m)}
    if short:
        raise ValueError(f"classes with fewer samples than the long-tailed profile asks for (class: (asked, available)): {short}")
    rng = np.random.RandomState(seed)
    kept = []
    for k, idx in zip(counts, members):
        idx = idx.copy()
        rng.shuffle(idx)
        kept.append(idx[: int(k)])
    return np.concatenate(kept).astype(np.int64)


def holdout_per_class(labels: np.ndarray, sizes: Sequence[int], n_classes: int, seed: int) -> list[np.ndarray]:
    """Disjoint balanced hold-outs: `sizes[j]` samples of every class for part j, then the rest.

    Per class in order, one seeded permutation of its indices is cut into consecutive parts.
    Returns len(sizes) + 1 index arrays, each in ascending (source) order; the last is the rest.
    """
    members = _class_members(labels, n_classes)
    need = sum(int(s) for s in sizes)
    short = {c: len(m) for c, m in enumerate(members) if len(m) < need}
    if short:
        raise ValueError(f"hold-out of {list(sizes)} per class needs {need} samples of each class; too few in (class: available): {short}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(sizes) + 1)]
    for idx in members:
        order = idx[rng.permutation(len(idx))]
        cuts = np.cumsum([int(s) for s in sizes])
        for j, piece in enumerate(np.split(order, cuts)):
            parts[j].append(piece)
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def _shot_group(n_train: int) -> str:
    if n_train > MANY_ABOVE:
        return "many"
    if n_train < FEW_BELOW:
        return "few"
    return "medium"


def groups(train_counts: Mapping[int, int] | Sequence[int]) -> dict[int, str]:
    """Class -> "many" (> 100 training images), "medium" (20..100 inclusive) or "few" (< 20)."""
    items = train_counts.items() if isinstance(train_counts, Mapping) else enumerate(train_counts)
    return {int(c): _shot_group(int(n)) for c, n in items}


def group_accuracy(labels: np.ndarray, preds: np.ndarray, group_of_class: Mapping[int, str]) -> dict[str, float | None]:
    """Many/Medium/Few-shot and overall accuracy.

    A group's accuracy is the mean of its classes' accuracies (OLTR's `shot_acc`; on a balanced
    test set it equals the accuracy over the group's samples); None when no class of the group
    has a test sample. Overall is the plain accuracy over all samples.
    """
    labels, preds = np.asarray(labels), np.asarray(preds)
    if labels.shape != preds.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels and preds must be equal-length non-empty 1-D arrays, got {labels.shape} and {preds.shape}")
    unknown = sorted(set(np.unique(labels).tolist()) - set(group_of_class))
    if unknown:
        raise ValueError(f"labels {unknown} have no shot group")
    bad = sorted(set(group_of_class.values()) - set(GROUPS))
    if bad:
        raise ValueError(f"unknown shot groups {bad}; allowed: {list(GROUPS)}")
    per_class = {int(c): float(np.mean(preds[labels == c] == c)) for c in np.unique(labels)}
    result: dict[str, float | None] = {}
    for name in GROUPS:
        accs = [acc for c, acc in per_class.items() if group_of_class[c] == name]
        result[name] = float(np.mean(accs)) if accs else None
    result["overall"] = float(np.mean(preds == labels))
    return result
