"""Judgment models: a KAN judge (KCM) and an MLP judge (MCM) behind one interface.

A judge maps a feature vector (for KCM: the small model's features and probabilities) to
class logits; its confidence C_x is the maximum softmax probability, optionally after
temperature scaling fitted on validation data. By default the MLP gets the KAN's parameter
count (KANbeFair's fair comparison). Training: mini-batch AdamW, early stopping on validation
loss with the best weights restored, all randomness from the judge's own seed.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kcm import cache
from kcm.kan import KAN, _bump_terms


@dataclass(frozen=True)
class JudgeConfig:
    kind: str = "kan"  # "kan" (KCM) or "mlp" (MCM)
    hidden: tuple[int, ...] = (8,)  # KAN hidden widths; the MLP keeps the same depth
    grid_size: int = 5
    k: int = 3
    grid_update: bool = True  # fit each input's grid to the (standardised) training range
    mlp_hidden: tuple[int, ...] | None = None  # None: sized to the KAN's parameter count
    lr: float = 1e-2
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 200
    patience: int = 20
    calibrate: bool = True  # temperature scaling on validation NLL
    seed: int = 0


class Standardize(nn.Module):
    """Per-feature z-score with training statistics kept as buffers (part of the export). A feature
    constant on the training rows (std <= 1e-6: e.g. F_s's probability of a class it never
    predicts) is centred, not scaled, as scikit-learn's StandardScaler does: dividing by a
    clamped std multiplied any later variation by a million and overflowed the KAN."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("inv_std", torch.ones(dim))

    def fit(self, x: torch.Tensor) -> None:
        std = x.std(0)
        self.mean.copy_(x.mean(0))
        self.inv_std.copy_(torch.where(std > 1e-6, 1 / std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.inv_std


def mlp(width: list[int], seed: int) -> nn.Sequential:
    with torch.random.fork_rng(devices=[]):  # seeded init without touching global state
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(width[:-1], width[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(width) - 2:
                layers.append(nn.SiLU())
        return nn.Sequential(*layers)


def kan_params(width: list[int], grid_size: int, k: int) -> int:
    """coef (G+k per edge) + scale_base + scale_sp per edge, as pykan counts them."""
    return sum(a * b * (grid_size + k + 2) for a, b in zip(width[:-1], width[1:]))


def mlp_params(width: list[int]) -> int:
    return sum(a * b + b for a, b in zip(width[:-1], width[1:]))


def matched_mlp_hidden(n_in: int, n_out: int, depth: int, target: int) -> tuple[int, ...]:
    """Equal hidden widths h for `depth` hidden layers whose MLP has about `target` params."""
    if depth == 0:
        return ()
    count = lambda h: mlp_params([n_in, *[h] * depth, n_out])  # noqa: E731 (increasing in h)
    h = 1
    while count(h + 1) <= target:
        h += 1
    best = min((h, h + 1), key=lambda w: abs(count(w) - target))
    return (best,) * depth


def kan_flops(width: list[int], grid_size: int, k: int) -> int:
    """Per-sample floating-point operations of our KAN forward (multiply-add = 2).

    Basis: per input and basis function one subtraction and one |.|, then per bump term a
    subtraction, a clamp, k-1 multiplications and a weighted add; then the spline matmul,
    the base matmul and SiLU (counted as 4 operations) per input.
    """
    per_basis = 2 + len(_bump_terms(k)) * (k + 2)
    total = 0
    for a, b in zip(width[:-1], width[1:]):
        nb = grid_size + k
        total += a * nb * per_basis + 2 * a * nb * b + 2 * a * b + 4 * a + 2 * b
    return total


def mlp_flops(width: list[int]) -> int:
    hidden = sum(width[1:-1])
    return sum(2 * a * b + b for a, b in zip(width[:-1], width[1:])) + 4 * hidden


@dataclass
class TrainHistory:
    epochs: int = 0
    best_epoch: int = 0
    best_val_loss: float = math.inf
    temperature: float = 1.0
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


class Judge(nn.Module):
    """Standardise -> KAN or MLP -> logits; `confidence` = max softmax(logits / T)."""

    def __init__(self, n_in: int, n_classes: int, config: JudgeConfig = JudgeConfig()):
        super().__init__()
        if config.kind not in ("kan", "mlp"):
            raise ValueError(f"judge kind must be 'kan' or 'mlp', got {config.kind!r}")
        self.config, self.n_in, self.n_classes = config, n_in, n_classes
        self.standardize = Standardize(n_in)
        kan_width = [n_in, *config.hidden, n_classes]
        if config.kind == "kan":
            self.width = kan_width
            self.net = KAN(kan_width, config.grid_size, config.k, seed=config.seed, grid_eps=1.0)
        else:
            hidden = config.mlp_hidden
            if hidden is None:
                target = kan_params(kan_width, config.grid_size, config.k)
                hidden = matched_mlp_hidden(n_in, n_classes, len(config.hidden), target)
            self.width = [n_in, *hidden, n_classes]
            self.net = mlp(self.width, config.seed)
        self.register_buffer("temperature", torch.ones(()))

    # ------------------------------------------------------------------ inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated logits (divided by the fitted temperature)."""
        return self.net(self.standardize(x)) / self.temperature

    @torch.no_grad()
    def proba(self, x: torch.Tensor) -> torch.Tensor:
        self.eval()
        return torch.softmax(self(x), dim=-1)

    @torch.no_grad()
    def confidence(self, x: torch.Tensor) -> torch.Tensor:
        """C_x: the judge's maximum softmax probability per input."""
        return self.proba(x).max(dim=-1).values

    def n_params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def flops(self) -> int:
        if self.config.kind == "kan":
            return kan_flops(self.width, self.config.grid_size, self.config.k)
        return mlp_flops(self.width)

    # ------------------------------------------------------------------ training

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.net(self.standardize(x)), y)

    def fit(
        self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor
    ) -> TrainHistory:
        cfg = self.config
        for name, t in (("x_train", x_train), ("x_val", x_val)):
            if not torch.isfinite(t).all():
                raise ValueError(f"{name} contains NaN or inf")
        self.standardize.fit(x_train)
        if cfg.kind == "kan" and cfg.grid_update:
            self.net.update_grid_from_samples(self.standardize(x_train))
        self.temperature.fill_(1.0)
        gen = torch.Generator().manual_seed(cfg.seed)
        optimizer = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        history = TrainHistory()
        best_state, since_best = copy.deepcopy(self.net.state_dict()), 0
        n = x_train.shape[0]
        for epoch in range(1, cfg.max_epochs + 1):
            self.train()
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = self._loss(x_train[idx], y_train[idx])
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
            self.eval()
            with torch.no_grad():
                val = float(self._loss(x_val, y_val))
            if not math.isfinite(val):
                raise FloatingPointError(f"validation loss became {val} at epoch {epoch}; lower lr")
            history.train_loss.append(total / n)
            history.val_loss.append(val)
            history.epochs = epoch
            if val < history.best_val_loss - 1e-6:
                history.best_val_loss, history.best_epoch, since_best = val, epoch, 0
                best_state = copy.deepcopy(self.net.state_dict())
            else:
                since_best += 1
                if since_best >= cfg.patience:
                    break
        self.net.load_state_dict(best_state)
        if cfg.calibrate:
            history.temperature = self.calibrate(x_val, y_val)
        return history

    @torch.no_grad()
    def _raw_logits(self, x: torch.Tensor) -> torch.Tensor:
        self.eval()
        return self.net(self.standardize(x))

    def calibrate(self, x_val: torch.Tensor, y_val: torch.Tensor) -> float:
        """Temperature scaling (Guo et al. 2017): the T > 0 minimising validation NLL."""
        logits = self._raw_logits(x_val)
        log_t = torch.zeros((), requires_grad=True)
        optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = F.cross_entropy(logits / log_t.exp(), y_val)
            loss.backward()
            return loss

        optimizer.step(closure)
        temperature = float(log_t.detach().exp().clamp(0.05, 20.0))
        self.temperature.fill_(temperature)
        return temperature

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> None:
        """safetensors weights with the config in the header: loads without unpickling."""
        meta = {"config": asdict(self.config), "n_in": self.n_in, "n_classes": self.n_classes}
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        cache.save(path, tensors, meta, framework="pt")

    @classmethod
    def load(cls, path: str | Path) -> "Judge":
        from safetensors.torch import load_file

        meta = cache.read_meta(path)
        raw = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()}
        judge = cls(meta["n_in"], meta["n_classes"], JudgeConfig(**raw))
        judge.load_state_dict(load_file(str(path)))
        return judge
