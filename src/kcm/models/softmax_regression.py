"""The small language model as a torch module, so it can be trained with KCM's distillation loss.

Multinomial logistic regression on fixed input features (TF-IDF rows), fitted full-batch with
L-BFGS: the same objective as scikit-learn's LogisticRegression (mean CE + ||W||^2 / (2 C n),
bias unpenalised) when no teacher is given, plus the distillation terms of `kcm.distill` when
teachers are. Full-batch L-BFGS has no randomness, so a fit is a pure function of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kcm.distill import DistillWeights, kcm_loss


@dataclass
class Teachers:
    """What the small model learns from besides the labels (rows aligned with its inputs)."""

    large_probs: np.ndarray | None = None  # (n, K) the large model's answers
    large_asked: np.ndarray | None = None  # (n,) bool: rows the large model was asked about
    judge_probs: np.ndarray | None = None  # (n, K) the judge's class probabilities
    hard_large: bool = False  # +D: the large model's argmax instead of its distribution

    def rows(self, idx: np.ndarray) -> "Teachers":
        take = lambda a: None if a is None else a[idx]  # noqa: E731
        return Teachers(take(self.large_probs), take(self.large_asked), take(self.judge_probs), self.hard_large)


class _SparseProduct(torch.autograd.Function):
    """x @ weight for a fixed torch sparse CSR x, with its transpose built once per fit: torch's
    own backward converts x at every call (4x the time of the product; same gradient bits)."""

    @staticmethod
    def forward(weight: torch.Tensor, x: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        return x @ weight

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.x_t = inputs[2]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return ctx.x_t @ grad, None, None


def csr_tensor(matrix) -> torch.Tensor:
    """A float64 torch sparse CSR tensor from a scipy sparse matrix (what `fit` and `proba` take)."""
    m = matrix.tocsr().astype(np.float64)
    return torch.sparse_csr_tensor(
        torch.from_numpy(m.indptr.astype(np.int64)), torch.from_numpy(m.indices.astype(np.int64)),
        torch.from_numpy(m.data), m.shape,
    )


def _transposed(x: torch.Tensor) -> torch.Tensor:
    """The CSR transpose of a sparse CSR tensor (column-sorted, as scipy builds it)."""
    from scipy import sparse

    m = sparse.csr_matrix((x.values().numpy(), x.col_indices().numpy(), x.crow_indices().numpy()), shape=x.shape)
    return csr_tensor(m.T)


class SoftmaxRegression:
    def __init__(self, C: float = 10.0, max_iter: int = 500, tol: float = 1e-7):
        if C <= 0:
            raise ValueError(f"C must be > 0, got {C}")
        self.C, self.max_iter, self.tol = C, max_iter, tol
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None

    def fit(
        self,
        x: torch.Tensor,
        y: np.ndarray,
        n_classes: int,
        teachers: Teachers | None = None,
        weights: DistillWeights = DistillWeights(),
    ) -> "SoftmaxRegression":
        teachers = teachers or Teachers()
        labels = torch.as_tensor(y, dtype=torch.long)
        as_tensor = lambda a, dtype=torch.float64: None if a is None else torch.as_tensor(a, dtype=dtype)  # noqa: E731
        large, judge = as_tensor(teachers.large_probs), as_tensor(teachers.judge_probs)
        asked = as_tensor(teachers.large_asked, torch.bool)
        x = x.to(torch.float64)  # float64: L-BFGS converges tightly and the result is stable
        n, d = x.shape
        weight = torch.zeros(d, n_classes, dtype=torch.float64, requires_grad=True)
        bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [weight, bias], lr=1, max_iter=self.max_iter, tolerance_grad=self.tol,
            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe",
        )
        penalty = 1.0 / (2 * self.C * n)

        x_t = _transposed(x) if x.layout == torch.sparse_csr else None

        def closure():
            optimizer.zero_grad()
            logits = (x @ weight if x_t is None else _SparseProduct.apply(weight, x, x_t)) + bias
            loss, _ = kcm_loss(logits, labels, large, judge, weights, large_asked=asked,
                               hard_large=teachers.hard_large)
            loss = loss + penalty * (weight * weight).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        self.weight, self.bias = weight.detach(), bias.detach()
        return self

    @torch.no_grad()
    def proba(self, x: torch.Tensor) -> np.ndarray:
        if self.weight is None:
            raise RuntimeError("fit the model before predicting")
        return torch.softmax(x.to(torch.float64) @ self.weight + self.bias, dim=-1).numpy()
