"""The vision task's second large model: BBN (the paper's Table C rows BBN and BBN+KCM), trained
here on the long-tailed train split (`kcm.models.bbn`).

- Alone ("none"), BBN is BBN: its own softmax. Val and test rows come from BBN trained on the
  whole train split; train rows from BBN trained on the other folds (out-of-fold), because the
  loop distils them into F_s and a network's outputs on its own training images are near-certain.
- Hinted ("hint_<k>"): BBN has no input for a hint, so the small model's prediction is fused
  after it, as for the Lite0 model: a logistic-regression head on [BBN's log-probabilities, one-hot
  hint] (`large_outputs.OneHotHintInputs`), trained on the out-of-fold train rows with the small
  model's out-of-fold hints, so it learns how far to trust a real hint against BBN's belief.

So the table's "BBN" row is BBN's own test accuracy, the number the reference gate compares with
BBN's published CIFAR-100-LT accuracy on the paper profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from kcm import large_outputs
from kcm.models.bbn import fit_bbn, predict_proba
from kcm.tasks.vision.large import out_of_fold_hints, small_task, split_ids


@dataclass(frozen=True)
class BBNParams:
    """The config's vision.bbn section (defaults in the schema)."""

    depth: int
    width: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    folds: int
    C: float


def bbn_probabilities(images: dict[str, np.ndarray], labels: np.ndarray, n_classes: int, p: BBNParams,
                      seed: int) -> dict[str, np.ndarray]:
    """Split -> BBN's probabilities: train rows out-of-fold, val and test from BBN trained on the
    whole train split."""
    def fit(rows: np.ndarray):
        return fit_bbn(images["train"][rows], labels[rows], epochs=p.epochs, batch_size=p.batch_size, lr=p.lr,
                       seed=seed, n_classes=n_classes, depth=p.depth, width=p.width, weight_decay=p.weight_decay)

    train = np.zeros((len(labels), n_classes))
    cv = StratifiedKFold(n_splits=p.folds, shuffle=True, random_state=seed)
    for fit_rows, held_out in cv.split(np.zeros(len(labels)), labels):
        train[held_out] = predict_proba(fit(fit_rows), images["train"][held_out])
    full = fit(np.arange(len(labels)))
    return {"train": train} | {split: predict_proba(full, images[split]) for split in images if split != "train"}


def outputs(data_dir: Path, params: dict, bbn: BBNParams, seed: int) -> dict:
    """Split -> variant -> probabilities: "none" is BBN alone, "hint_k" the fused head."""
    torch.set_num_threads(1)  # fixed: float sums depend on it
    task = small_task(data_dir, params)  # the images are read once, for the hints and for BBN
    labels, n_classes, hints = task.labels("train"), task.n_classes, out_of_fold_hints(task, params, seed)
    alone = bbn_probabilities(task.images, labels, n_classes, bbn, seed)
    del task
    log_probs = {split: np.log(np.clip(p, 1e-12, None)).astype(np.float32) for split, p in alone.items()}
    inputs = {split: large_outputs.OneHotHintInputs(x, n_classes) for split, x in log_probs.items()}
    probs = large_outputs.head_outputs(inputs, labels, hints, bbn.C, bbn.folds, seed)
    for split in probs:
        probs[split]["none"] = alone[split]  # BBN alone is BBN; the head only fuses a hint
    return probs


def build(data_dir: Path, out: Path, params: dict, bbn: dict, seed: int) -> None:
    large_outputs.write_outputs(out, outputs(data_dir, params, BBNParams(**bbn), seed), split_ids(data_dir))
