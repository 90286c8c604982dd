"""Class-incremental forgetting of a KAN against an equal-parameter MLP.

KCM credits its KAN judge's long-tail gains to KANs "mitigating catastrophic forgetting";
KANbeFair (arXiv 2407.16674) measured the opposite in class-incremental learning. This module
measures it instead of assuming it: one single-head classifier over all classes (no task id at
test time) is trained on each task's classes in turn with plain cross-entropy (no replay, no
regulariser), and after every task it is tested on every task's test classes, giving the
accuracy matrix R (R[i][j] = accuracy on task j after training through task i).

Nothing may come from the future: input standardisation (and any PCA) is fitted on the first
task's training data only, and so is the KAN's grid (once, before training; see
`run_class_incremental`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kcm.judges import Standardize, kan_params, matched_mlp_hidden, mlp
from kcm.kan import KAN

# --------------------------------------------------------------------------- tasks


def class_incremental_tasks(
    labels: np.ndarray, classes_per_task: int, order: list[int] | None = None
) -> list[np.ndarray]:
    """Split the classes present in `labels` into consecutive tasks of `classes_per_task`.

    `order` (a permutation of the classes) sets which classes come first; by default class
    index order.
    """
    classes = np.unique(np.asarray(labels))
    if classes_per_task < 1:
        raise ValueError(f"classes_per_task must be >= 1, got {classes_per_task}")
    if order is None:
        sequence = classes
    else:
        sequence = np.asarray(order)
        if sequence.shape != classes.shape or not np.array_equal(np.sort(sequence), classes):
            raise ValueError(f"order {list(order)} is not a permutation of the classes {classes.tolist()}")
    if len(sequence) % classes_per_task:
        raise ValueError(f"{len(sequence)} classes do not split into tasks of {classes_per_task}")
    return [sequence[i : i + classes_per_task].copy() for i in range(0, len(sequence), classes_per_task)]


def first_task_pca(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, first_classes: Sequence[int], n_components: int
) -> tuple[np.ndarray, np.ndarray]:
    """Project train and test inputs on the principal axes of the first task's training data.

    Fitting on the first task only keeps later tasks unseen. SVD with a sign convention (each
    axis' largest-magnitude loading positive), so LAPACK builds cannot flip an axis.
    """
    first = np.isin(y_train, np.asarray(first_classes))
    x_first = np.asarray(x_train[first], dtype=np.float64)
    if not 1 <= n_components <= min(x_first.shape):
        raise ValueError(f"n_components must be in [1, {min(x_first.shape)}], got {n_components}")
    mean = x_first.mean(0)
    _, _, vt = np.linalg.svd(x_first - mean, full_matrices=False)
    axes = vt[:n_components]
    axes *= np.sign(axes[np.arange(n_components), np.abs(axes).argmax(1)])[:, None]

    def project(x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - mean) @ axes.T).astype(np.float32)

    return project(x_train), project(x_test)


# --------------------------------------------------------------------------- metrics


def _matrix(R) -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] < 2:
        raise ValueError(f"R must be a square T x T matrix with T >= 2, got shape {R.shape}")
    return R


def average_accuracy(R) -> float:
    """Mean accuracy over all tasks after the last one (the last row of R)."""
    return float(_matrix(R)[-1].mean())


def learning_accuracy(R) -> float:
    """Mean accuracy on each task right after learning it (the diagonal; Riemer et al. 2019).
    Low values mean the model failed to learn, which would make low forgetting meaningless."""
    return float(np.diag(_matrix(R)).mean())


def average_forgetting(R) -> float:
    """Chaudhry et al. 2018: mean over tasks j < T-1 of max_{l < T-1} R[l][j] - R[T-1][j]
    (best accuracy ever had on j before the last task, minus the final accuracy on j; not
    clamped, so a task that only improved counts as negative forgetting)."""
    R = _matrix(R)
    return float((R[:-1, :-1].max(0) - R[-1, :-1]).mean())


def backward_transfer(R) -> float:
    """Lopez-Paz & Ranzato 2017: mean over tasks j < T-1 of R[T-1][j] - R[j][j] (negative =
    forgetting). KANbeFair averages over all T tasks, the last one contributing 0."""
    R = _matrix(R)
    return float((R[-1, :-1] - np.diag(R)[:-1]).mean())


# --------------------------------------------------------------------------- models


class _Classifier(nn.Module):
    """Standardise (first-task statistics) -> KAN or MLP -> logits over all classes."""

    def __init__(self, n_in: int, net: nn.Module):
        super().__init__()
        self.standardize = Standardize(n_in)
        self.net = net

    def fit_scaler(self, x: torch.Tensor) -> None:
        # A feature constant on the first task carries nothing yet: centre it, do not blow it up
        # by 1/1e-6 (scikit-learn's StandardScaler convention).
        std = x.std(0)
        self.standardize.mean.copy_(x.mean(0))
        self.standardize.inv_std.copy_(torch.where(std > 1e-6, 1 / std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.standardize(x))


def _build(kind: str, n_in: int, n_out: int, hidden, grid_size: int, k: int, seed: int, mlp_hidden):
    kan_width = [n_in, *hidden, n_out]
    if kind == "kan":
        # The judges' KAN: grid_eps=1.0 makes a grid update a uniform grid over the data range.
        return kan_width, KAN(kan_width, grid_size, k, seed=seed, grid_eps=1.0)
    if kind == "mlp":
        if mlp_hidden is None:
            target = kan_params(kan_width, grid_size, k)
            mlp_hidden = matched_mlp_hidden(n_in, n_out, len(hidden), target)
        width = [n_in, *mlp_hidden, n_out]
        return width, mlp(width, seed)
    raise ValueError(f"kind must be 'kan' or 'mlp', got {kind!r}")


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, masks: list[torch.Tensor]) -> tuple[list[float], list[float]]:
    """Accuracy and mean cross-entropy on each mask's samples."""
    model.eval()
    logits = model(x)
    correct = logits.argmax(1) == y
    loss = F.cross_entropy(logits, y, reduction="none")
    return [float(correct[m].float().mean()) for m in masks], [float(loss[m].mean()) for m in masks]


# --------------------------------------------------------------------------- protocol


def run_class_incremental(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    kind: str,
    tasks: Sequence[Sequence[int]],
    hidden: Sequence[int],
    grid_size: int = 5,
    k: int = 3,
    epochs_per_task: int,
    lr: float,
    batch_size: int,
    seed: int,
    mlp_hidden: Sequence[int] | None = None,
    weight_decay: float = 1e-4,
    grid_update: bool = True,
) -> dict:
    """Train one single-head classifier on `tasks` in sequence and return its accuracy matrix.

    `hidden` are the KAN's hidden widths; the MLP keeps the depth and, unless `mlp_hidden` is
    given, gets the KAN's parameter count (`matched_mlp_hidden`). One AdamW optimiser runs
    through all tasks (its moments carry over, as in KANbeFair); mini-batches come from a
    generator seeded with `seed`, so equal seeds give equal results at a fixed thread count.
    With `grid_update` the KAN's grids are fitted once, to the standardised first-task data,
    like the judges do on their training data, and then kept: refitting on later tasks would
    need their data before training on them, and it rewrites every spline (itself a kind of
    forgetting).

    Returns kind, width, n_params, tasks, accuracy_matrix (T x T, fractions), loss_matrix (the
    same for test cross-entropy: a continuous view of forgetting), final_accuracy (all test
    samples of all tasks after the last task), average_accuracy, learning_accuracy,
    average_forgetting and backward_transfer.
    """
    tasks = [np.asarray(t).astype(np.int64) for t in tasks]
    if len(tasks) < 2:
        raise ValueError("class-incremental learning needs at least 2 tasks")
    flat = np.concatenate(tasks)
    if len(np.unique(flat)) != len(flat) or flat.min() < 0:
        raise ValueError(f"tasks must hold distinct non-negative class indices, got {[t.tolist() for t in tasks]}")
    xt, xs = (torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (x_train, x_test))
    yt, ys = (torch.as_tensor(np.asarray(a), dtype=torch.int64) for a in (y_train, y_test))
    if xt.ndim != 2 or xs.ndim != 2 or xt.shape[1] != xs.shape[1] or len(xt) != len(yt) or len(xs) != len(ys):
        raise ValueError(f"need x (N, d) with matching y: {tuple(xt.shape)}/{tuple(yt.shape)}, {tuple(xs.shape)}/{tuple(ys.shape)}")
    for name, t in (("x_train", xt), ("x_test", xs)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or inf")
    train_idx = [torch.nonzero(torch.isin(yt, torch.from_numpy(t))).flatten() for t in tasks]
    test_masks = [torch.isin(ys, torch.from_numpy(t)) for t in tasks]
    for i, (idx, mask) in enumerate(zip(train_idx, test_masks)):
        if len(idx) == 0 or not mask.any():
            raise ValueError(f"task {i} (classes {tasks[i].tolist()}) has no training or no test samples")
    seen = torch.stack(test_masks).any(0)

    n_out = int(flat.max()) + 1  # one head over every class index of every task
    width, net = _build(kind, xt.shape[1], n_out, list(hidden), grid_size, k, seed, mlp_hidden)
    model = _Classifier(xt.shape[1], net)
    model.fit_scaler(xt[train_idx[0]])
    if kind == "kan" and grid_update:
        with torch.no_grad():
            net.update_grid_from_samples(model.standardize(xt[train_idx[0]]))

    optimizer = torch.optim.AdamW(model.net.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    R, losses = [], []
    for i, idx in enumerate(train_idx):
        for epoch in range(epochs_per_task):
            model.train()
            order = idx[torch.randperm(len(idx), generator=gen)]
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xt[batch]), yt[batch])
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {float(loss)} in task {i}, epoch {epoch + 1}; lower lr")
                loss.backward()
                optimizer.step()
        accuracy, task_loss = _evaluate(model, xs, ys, test_masks)
        R.append(accuracy)
        losses.append(task_loss)
    (final,), _ = _evaluate(model, xs, ys, [seen])
    return {
        "kind": kind,
        "width": width,
        "n_params": sum(p.numel() for p in model.net.parameters()),
        "tasks": [t.tolist() for t in tasks],
        "accuracy_matrix": R,
        "loss_matrix": losses,
        "final_accuracy": final,
        "average_accuracy": average_accuracy(R),
        "learning_accuracy": learning_accuracy(R),
        "average_forgetting": average_forgetting(R),
        "backward_transfer": backward_transfer(R),
    }
