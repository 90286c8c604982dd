"""B-spline KAN layers that compute pykan's exact function, fast and exportable.

A pykan `KANLayer` evaluates, for every edge (i -> o),
    phi_io(x_i) = mask_io * (scale_base_io * silu(x_i) + scale_sp_io * sum_j coef_ioj B_j(x_i))
and sums over inputs. We compute the same thing as a B-spline basis expansion followed by one
matrix product (never a (batch, out, in) tensor):
    y = [B(x) flattened] @ W_spline + silu(x) @ W_base.

On a uniform grid every basis function is the same bump shifted, so B is computed in closed
form from u = (x - t0) / h with no interval search; non-uniform grids (after a grid update
from samples) use Cox-de Boor like pykan. Both paths use only elementwise arithmetic and
comparisons (no bucketize/searchsorted), so they lower through torch.export and ExecuTorch.

Parameters keep pykan's names and layouts (grid (in, G+2k+1), coef (in, out, G+k),
scale_base, scale_sp, mask (in, out)), so conversion both ways is a copy. Construction draws
from its own seeded generator: it writes no file and leaves global RNG state untouched.
"""

from __future__ import annotations

import contextlib
import math
import random
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BASE_FUNCTIONS = {"silu": F.silu, "identity": lambda x: x, "zero": torch.zeros_like}
_UNIFORM_RTOL = 1e-5  # a grid counts as uniform when every knot step is h within this


# --------------------------------------------------------------------------- grids and bases


def extend_grid(grid: torch.Tensor, k: int) -> torch.Tensor:
    """Add k knots on each side at the grid's mean spacing (pykan's `extend_grid`).

    Slices, not pykan's list indices ([:, [0]]): the same values, and the function can run
    inside a torch.export loop body (a list index makes an index tensor there, which ExecuTorch
    cannot lower)."""
    h = (grid[:, -1:] - grid[:, :1]) / (grid.shape[1] - 1)
    for _ in range(k):
        grid = torch.cat([grid[:, :1] - h, grid, grid[:, -1:] + h], dim=1)
    return grid


def uniform_grid(in_dim: int, grid_size: int, k: int, grid_range: Sequence[float]) -> torch.Tensor:
    base = torch.linspace(grid_range[0], grid_range[1], steps=grid_size + 1)[None, :].expand(in_dim, -1)
    return extend_grid(base, k)


def grid_is_uniform(grid: torch.Tensor) -> bool:
    steps = grid[:, 1:] - grid[:, :-1]
    h = (grid[:, -1:] - grid[:, :1]) / (grid.shape[1] - 1)
    return bool(torch.all(h > 0)) and bool(torch.all((steps - h).abs() <= _UNIFORM_RTOL * h.abs()))


def _bump_terms(k: int) -> list[tuple[float, float]]:
    """(offset m_i, weight w_i) with B(r) = sum_i w_i (m_i - r)_+^k for the centred cardinal
    B-spline of order k at distance r = |u - centre|."""
    return [
        ((k + 1) / 2 - i, (-1) ** i * math.comb(k + 1, i) / math.factorial(k))
        for i in range((k + 2) // 2)
    ]


def _power(t: torch.Tensor, power: int) -> torch.Tensor:
    """t**power in place for power >= 1 (t is already clamped)."""
    return t.pow_(power) if power > 1 else t


def _sum_of_bumps_(r: torch.Tensor, terms: list[tuple[float, float]], power: int) -> torch.Tensor:
    """sum_i w_i (m_i - r)_+^power for r >= 0 (power 0: the indicator r < m_i).

    Memory passes are what cost here, so: the first term is one allocating `m - r`; the last
    reuses r in place as (r - m) clamped at 0, i.e. -(m - r)_+, with the sign folded into its
    weight ((-a)^p = (-1)^p a^p exactly in floating point). One extra buffer in all.
    """
    if power == 0:  # only the slope of k = 1, a single term: w * [r < m]
        ((m, w),) = terms
        return r.lt_(m).mul_(w)
    *head, (m_last, w_last) = terms
    last_weight = w_last * (-1) ** power
    if not head:
        return _power(r.sub_(m_last).clamp_(max=0), power).mul_(last_weight)
    out = None
    for m, w in head:
        term = _power(torch.rsub(r, m).clamp_(min=0), power)
        out = term.mul_(w) if out is None else out.add_(term, alpha=w)
    return out.add_(_power(r.sub_(m_last).clamp_(max=0), power), alpha=last_weight)


def _uniform_basis_values(u: torch.Tensor, centres: torch.Tensor, k: int) -> torch.Tensor:
    """Basis values (N, G+k, in) from u (N, in), in place: two (N, G+k, in) buffers in all.

    Basis-major layout: the long input axis is innermost, which vectorises far better than an
    innermost axis of only G+k (measured: the broadcast subtraction was 40% of a training
    step). Fresh memory is expensive on our VMs, so temporaries are reused in place.
    """
    r = (u.unsqueeze(1) - centres.unsqueeze(-1)).abs_()
    return _sum_of_bumps_(r, _bump_terms(k), k)


class _UniformBasis(torch.autograd.Function):
    """Closed-form basis with an analytic backward: saves only u (N, in) instead of a dozen
    (N, G+k, in) temporaries, which is what makes training fast in eager mode."""

    @staticmethod
    def forward(u: torch.Tensor, centres: torch.Tensor, k: int) -> torch.Tensor:
        return _uniform_basis_values(u, centres, k)

    @staticmethod
    def setup_context(ctx, inputs, output):
        u, centres, k = inputs
        ctx.save_for_backward(u, centres)
        ctx.k = k

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        u, centres = ctx.saved_tensors
        k = ctx.k
        d = u.unsqueeze(1) - centres.unsqueeze(-1)
        grad_d = torch.sign(d).mul_(grad)  # dB/du = sign(d) * dB/dr
        slope = _sum_of_bumps_(d.abs_(), [(m, -k * w) for m, w in _bump_terms(k)], k - 1)
        return grad_d.mul_(slope).sum(1), None, None


def uniform_basis(x: torch.Tensor, t0: torch.Tensor, inv_h: torch.Tensor, n_basis: int, k: int) -> torch.Tensor:
    """All G+k B-spline basis values of order k >= 1 on a uniform grid, shape (N, G+k, in).

    Basis j is the cardinal B-spline centred at u = j + (k+1)/2, u = (x - t0) / h; with
    r = |u - centre| it is sum_{i < (k+1)/2} (-1)^i C(k+1, i) ((k+1)/2 - i - r)_+^k / k!
    (k = 3: ((2 - r)_+^3 - 4 (1 - r)_+^3) / 6). Using |.| keeps every term small, so float32
    matches pykan's Cox-de Boor to ~1e-7.
    """
    u = (x - t0) * inv_h
    centres = torch.arange(n_basis, dtype=x.dtype, device=x.device) + (k + 1) / 2
    if torch.is_grad_enabled() and u.requires_grad:
        return _UniformBasis.apply(u, centres, k)
    return _uniform_basis_values(u, centres, k)


def cox_de_boor_basis(x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    """B-spline basis by Cox-de Boor on any grid (pykan's `B_batch`), shape (N, in, G+k).

    Divisions by zero-length knot spans contribute 0, as pykan's nan_to_num makes them.
    """
    x = x.unsqueeze(-1)
    value = ((x >= grid[:, :-1]) & (x < grid[:, 1:])).to(x.dtype)
    for order in range(1, k + 1):
        left_span = grid[:, order:-1] - grid[:, : -(order + 1)]
        right_span = grid[:, order + 1 :] - grid[:, 1:-order]
        inv_left = torch.where(left_span != 0, 1 / left_span, torch.zeros_like(left_span))
        inv_right = torch.where(right_span != 0, 1 / right_span, torch.zeros_like(right_span))
        value = (x - grid[:, : -(order + 1)]) * inv_left * value[..., :-1] + (
            grid[:, order + 1 :] - x
        ) * inv_right * value[..., 1:]
    return value


# --------------------------------------------------------------------------- RNG hygiene


@contextlib.contextmanager
def preserved_global_rng() -> Iterator[None]:
    """Restore torch, numpy and random global states afterwards (pykan reseeds all three)."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


# --------------------------------------------------------------------------- layer


class KANLayer(nn.Module):
    """One KAN layer, functionally identical to `kan.KANLayer` given the same parameters."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        grid_size: int = 5,
        k: int = 3,
        *,
        grid_range: Sequence[float] = (-1.0, 1.0),
        base_fun: str = "silu",
        noise_scale: float = 0.5,
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
        scale_sp: float = 1.0,
        grid_eps: float = 0.02,
        seed: int = 0,
    ):
        super().__init__()
        if k < 1:
            raise ValueError(f"spline order k must be >= 1, got {k}")
        if base_fun not in BASE_FUNCTIONS:
            raise ValueError(f"base_fun {base_fun!r} not in {sorted(BASE_FUNCTIONS)}")
        self.in_dim, self.out_dim, self.grid_size, self.k = in_dim, out_dim, grid_size, k
        self.base_fun_name, self.grid_eps = base_fun, grid_eps
        gen = torch.Generator().manual_seed(seed)
        n_basis = grid_size + k
        # pykan fits noise of amplitude noise_scale/G at the knots; uniform noise of the same
        # amplitude on the coefficients gives curves of the same size.
        coef = (torch.rand(in_dim, out_dim, n_basis, generator=gen) - 0.5) * noise_scale / grid_size
        base = scale_base_mu / math.sqrt(in_dim) + scale_base_sigma * (
            torch.rand(in_dim, out_dim, generator=gen) * 2 - 1
        ) / math.sqrt(in_dim)
        self.coef = nn.Parameter(coef)
        self.scale_base = nn.Parameter(base)
        self.scale_sp = nn.Parameter(torch.full((in_dim, out_dim), scale_sp / math.sqrt(in_dim)))
        self.register_buffer("mask", torch.ones(in_dim, out_dim))
        self.register_buffer("grid", uniform_grid(in_dim, grid_size, k, grid_range))
        self.register_buffer("grid_t0", torch.zeros(in_dim))
        self.register_buffer("grid_inv_h", torch.ones(in_dim))
        self.refresh_grid()

    @property
    def n_basis(self) -> int:
        return self.grid_size + self.k

    def refresh_grid(self) -> None:
        """Recompute the uniform-grid shortcut after `grid` changed."""
        self.uniform = grid_is_uniform(self.grid)
        if self.uniform:
            h = (self.grid[:, -1] - self.grid[:, 0]) / (self.grid.shape[1] - 1)
            self.grid_t0.copy_(self.grid[:, 0])
            self.grid_inv_h.copy_(1 / h)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self.refresh_grid()

    def basis(self, x: torch.Tensor) -> torch.Tensor:
        """Basis values (N, in, G+k) (a view on the uniform path's basis-major tensor)."""
        if self.uniform:
            return uniform_basis(x, self.grid_t0, self.grid_inv_h, self.n_basis, self.k).transpose(1, 2)
        return cox_de_boor_basis(x, self.grid, self.k)

    def spline_features(self, x: torch.Tensor) -> torch.Tensor:
        """Flattened basis (N, in*(G+k)): a function of x and the grid only, so models that share
        this layer's grid (a head, its pruned and compressed copies) can share it.

        The uniform path is basis-major ((G+k) outer, inputs inner), Cox-de Boor input-major.
        """
        if self.uniform:
            features = uniform_basis(x, self.grid_t0, self.grid_inv_h, self.n_basis, self.k)
        else:
            features = cox_de_boor_basis(x, self.grid, self.k)
        return features.reshape(x.shape[0], self.in_dim * self.n_basis)

    def spline_weight(self) -> torch.Tensor:
        """The masked, scaled coefficients (in*(G+k), out) in `spline_features`' row order."""
        w = self.coef * (self.scale_sp * self.mask).unsqueeze(-1)  # (in, out, G+k)
        weight = w.permute(2, 0, 1) if self.uniform else w.permute(0, 2, 1)  # (G+k, in, out) | (in, G+k, out)
        return weight.reshape(self.in_dim * self.n_basis, self.out_dim)

    def output(self, features: torch.Tensor, base_values: torch.Tensor) -> torch.Tensor:
        """The layer's output from `spline_features(x)` and base_fun(x) (N, in)."""
        return features @ self.spline_weight() + base_values @ (self.scale_base * self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x = x.reshape(-1, self.in_dim)
        out = self.output(self.spline_features(x), BASE_FUNCTIONS[self.base_fun_name](x))
        return out.reshape(*lead, self.out_dim)

    def edge_curves(self, x: torch.Tensor) -> torch.Tensor:
        """phi_io(x_i) for every edge, shape (N, in, out): for plots and tests, not the hot path."""
        spline = torch.einsum("nij,ioj->nio", self.basis(x), self.coef)
        base = BASE_FUNCTIONS[self.base_fun_name](x).unsqueeze(-1)
        return self.mask * (self.scale_base * base + self.scale_sp * spline)

    def curves_to_coef(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Least-squares coefficients (in, out, G+k) whose splines pass through y (N, in, out)."""
        design = self.basis(x).permute(1, 0, 2)  # (in, N, G+k)
        return torch.linalg.lstsq(design, y.permute(1, 0, 2)).solution.permute(0, 2, 1)

    @torch.no_grad()
    def update_grid_from_samples(self, x: torch.Tensor, mode: str = "sample") -> None:
        """pykan's grid update: knots at sample quantiles mixed with a uniform grid by
        grid_eps, then coefficients refitted so each spline keeps its shape on the samples."""
        x_pos = torch.sort(x, dim=0)[0]
        y_eval = torch.einsum("nij,ioj->nio", self.basis(x_pos), self.coef)
        batch = x.shape[0]

        def new_grid(n_interval: int) -> torch.Tensor:
            ids = [int(batch / n_interval * i) for i in range(n_interval)] + [-1]
            adaptive = x_pos[ids, :].permute(1, 0)
            h = (adaptive[:, [-1]] - adaptive[:, [0]]) / n_interval
            uniform = adaptive[:, [0]] + h * torch.arange(n_interval + 1, dtype=x.dtype)[None, :]
            return self.grid_eps * uniform + (1 - self.grid_eps) * adaptive

        # An input constant on the samples has no range to place knots in (they would coincide):
        # it keeps its grid and coefficients.
        flat = (x_pos[-1] - x_pos[0]) <= 1e-6
        old_grid, old_coef = self.grid.clone(), self.coef.clone()
        grid = new_grid(self.grid_size)
        if mode == "grid":
            x_pos = new_grid(2 * self.grid_size).permute(1, 0)
            y_eval = torch.einsum("nij,ioj->nio", self.basis(x_pos), self.coef)
        self.grid.copy_(torch.where(flat[:, None], old_grid, extend_grid(grid, self.k)))
        self.refresh_grid()
        if flat.any():  # a well-posed fit for them too (points across their grid); their result is discarded
            spread = torch.linspace(0, 1, x_pos.shape[0], dtype=x.dtype)[:, None]
            lo, hi = old_grid[:, self.k], old_grid[:, -self.k - 1]
            x_pos = torch.where(flat[None, :], lo + spread * (hi - lo), x_pos)
            y_flat = torch.einsum("nij,ioj->nio", self.basis(x_pos), old_coef)
            y_eval = torch.where(flat[None, :, None], y_flat, y_eval)
        self.coef.copy_(torch.where(flat[:, None, None], old_coef, self.curves_to_coef(x_pos, y_eval)))

    # ----------------------------------------------------------------------- pykan conversion

    @classmethod
    def from_pykan(cls, layer) -> "KANLayer":
        base_fun = {torch.nn.SiLU: "silu", torch.nn.Identity: "identity"}.get(type(layer.base_fun))
        if base_fun is None:
            raise ValueError(f"unsupported pykan base function {layer.base_fun!r} (silu or identity)")
        ours = cls(layer.in_dim, layer.out_dim, layer.num, layer.k, base_fun=base_fun, grid_eps=layer.grid_eps)
        with torch.no_grad():
            for name in ("grid", "coef", "scale_base", "scale_sp", "mask"):
                getattr(ours, name).copy_(getattr(layer, name).detach())
        ours.refresh_grid()
        return ours

    def to_pykan(self):
        from kan.KANLayer import KANLayer as PykanLayer

        base_fun = {"silu": torch.nn.SiLU(), "identity": torch.nn.Identity()}[self.base_fun_name]
        with preserved_global_rng():
            layer = PykanLayer(self.in_dim, self.out_dim, self.grid_size, self.k, base_fun=base_fun, grid_eps=self.grid_eps)
        with torch.no_grad():
            for name in ("grid", "coef", "scale_base", "scale_sp", "mask"):
                getattr(layer, name).data = getattr(self, name).detach().clone()
        return layer


# --------------------------------------------------------------------------- network


class KAN(nn.Module):
    """A stack of KAN layers with pykan MultKAN's per-node affine maps (identity by default).

    Between layers pykan applies x -> subnode_scale * x + subnode_bias, then
    x -> node_scale * x + node_bias; they are kept as buffers so converted models match.
    """

    def __init__(self, width: Sequence[int], grid_size: int = 5, k: int = 3, *, seed: int = 0, **layer_kwargs):
        super().__init__()
        if len(width) < 2:
            raise ValueError(f"width needs at least input and output sizes, got {list(width)}")
        self.width = [int(w) for w in width]
        self.layers = nn.ModuleList(
            KANLayer(a, b, grid_size, k, seed=seed + i, **layer_kwargs)
            for i, (a, b) in enumerate(zip(self.width[:-1], self.width[1:]))
        )
        for i, b in enumerate(self.width[1:]):
            self.register_buffer(f"subnode_scale_{i}", torch.ones(b))
            self.register_buffer(f"subnode_bias_{i}", torch.zeros(b))
            self.register_buffer(f"node_scale_{i}", torch.ones(b))
            self.register_buffer(f"node_bias_{i}", torch.zeros(b))

    def affine(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(getattr(self, f"{name}_{i}") for name in ("subnode_scale", "subnode_bias", "node_scale", "node_bias"))

    def node(self, i: int, y: torch.Tensor) -> torch.Tensor:
        """Layer i's subnode and node affine maps applied to its output y."""
        sub_s, sub_b, node_s, node_b = self.affine(i)
        return (y * sub_s + sub_b) * node_s + node_b

    def step(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Layer i followed by its subnode and node affine maps."""
        return self.node(i, self.layers[i](x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(len(self.layers)):
            x = self.step(i, x)
        return x

    @torch.no_grad()
    def update_grid_from_samples(self, x: torch.Tensor) -> None:
        """Update every layer's grid from the activations that reach it (pykan's order)."""
        for i, layer in enumerate(self.layers):
            layer.update_grid_from_samples(x)
            x = self.step(i, x)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @classmethod
    def from_pykan(cls, model) -> "KAN":
        width = [w[0] if isinstance(w, (list, tuple)) else w for w in model.width]
        if any(isinstance(w, (list, tuple)) and w[1] for w in model.width):
            raise ValueError("multiplication nodes (MultKAN mult_arity) are not supported")
        if not torch.equal(model.input_id.long(), torch.arange(width[0])):
            raise ValueError("pruned inputs (input_id) are not supported")
        if model.symbolic_enabled and any(bool(f.mask.any()) for f in model.symbolic_fun):
            raise ValueError("symbolic edges are not supported: unfix them before converting")
        first = model.act_fun[0]
        ours = cls(width, first.num, first.k)
        ours.layers = nn.ModuleList(KANLayer.from_pykan(layer) for layer in model.act_fun)
        with torch.no_grad():
            for i in range(len(ours.layers)):
                for name in ("subnode_scale", "subnode_bias", "node_scale", "node_bias"):
                    getattr(ours, f"{name}_{i}").copy_(getattr(model, name)[i].detach())
        return ours

    def to_pykan(self):
        from kan import KAN as PykanKAN

        first = self.layers[0]
        with preserved_global_rng():
            model = PykanKAN(  # a copy: pykan rewrites the width list it is given
                width=list(self.width), grid=first.grid_size, k=first.k, auto_save=False,
                symbolic_enabled=False, save_act=False, seed=0,
            )
        with torch.no_grad():
            for i, layer in enumerate(self.layers):
                for name in ("grid", "coef", "scale_base", "scale_sp", "mask"):
                    getattr(model.act_fun[i], name).data = getattr(layer, name).detach().clone()
                for name in ("subnode_scale", "subnode_bias", "node_scale", "node_bias"):
                    getattr(model, name)[i].data = getattr(self, f"{name}_{i}").detach().clone()
        return model
