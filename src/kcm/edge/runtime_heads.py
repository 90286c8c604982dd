"""Heads built for an edge runtime: what a deployed program holds and computes, nothing more.

Two modules with one forward structure, so their memory and latency compare the formats, not
two implementations (issue 19):
- `DenseRuntimeKAN`: the fair dense baseline. The effective coefficients coef * scale_sp * mask
  are folded once at build time into one (D*T, out) matrix per input tile, so no product of
  parameters is computed at run time; the node affines fold into one scale and shift.
- `CodebookRuntimeKAN`: what SHARe-KAN keeps. Per layer: code indices in the narrowest integer
  type (uint8 for K <= 256), the codebook (its dequantised float32 values, K x D), Int8 gains
  and biases with their scales and zero points, dequantised tile by tile. A tile gathers each
  edge's code word, takes its dot product with the input's basis (a batched matmul), scales it
  by the edge's gain and adds bias * sum_j B_j(x).

Both evaluate a layer as a loop over tiles of `tile` input features: torch.export's `scan`,
which ExecuTorch runs as one loop body. The tiles' constants are stacked along the loop axis,
so the program carries one body's operators and one body's temporaries, not one copy per tile
(an unrolled program's per-operator metadata made the load heap larger than the constants).
Each layer's grid is kept in its narrowest exact form: a uniform grid as t0 and 1/h per input
(the closed-form `kcm.kan.uniform_basis`), any other grid as its G + 1 interior knots (the 2k
extension knots are rebuilt by `kcm.kan.extend_grid`, Cox-de Boor basis). The standardisation
in front, (x - mean) * inv_std, is folded into the first layer's grid (B-splines are invariant
under a positive affine map of input and knots together), so neither program stores it. A base
branch whose weights are all zero (the heads' default, spline-only) is left out of both;
otherwise both carry it (and then the standardisation too). The gain mode needs no case: both
modes reconstruct g C[q] + b.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn
from torch._higher_order_ops.scan import scan

from kcm.compress.compressed import CompressedKAN, CompressedKANLayer
from kcm.compress.gsb import effective_coef
from kcm.kan import (
    BASE_FUNCTIONS,
    KAN,
    KANLayer,
    cox_de_boor_basis,
    extend_grid,
    uniform_basis,
)


def index_dtype(n_codes: int) -> torch.dtype:
    """The narrowest integer type torch.export and ExecuTorch carry that holds every code."""
    if n_codes <= 256:
        return torch.uint8
    if n_codes <= 32768:
        return torch.int16
    return torch.int32


def folded_affine(affine: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(y * sub_s + sub_b) * node_s + node_b as y * scale + shift."""
    sub_s, sub_b, node_s, node_b = (t.detach().float() for t in affine)
    return sub_s * node_s, sub_b * node_s + node_b


class _TiledLayer(nn.Module):
    """Grid, tiling loop and base branch shared by both formats; `spline_tile` is the format.

    `mean`/`inv_std` (the standardisation in front of this layer, or None) are folded into the
    grid: u = ((x - m) s - t0) / h = (x - (m + t0 / s)) (s / h), and knots t become m + t / s.
    """

    def __init__(self, layer: KANLayer | CompressedKANLayer, base_weight: torch.Tensor, tile: int,
                 mean: torch.Tensor | None, inv_std: torch.Tensor | None):
        super().__init__()
        self.k, self.n_basis, self.base_fun = layer.k, layer.n_basis, layer.base_fun_name
        self.in_dim, self.out_dim = base_weight.shape
        self.tile = min(tile, self.in_dim)
        self.n_tiles = math.ceil(self.in_dim / self.tile)
        self.pad = self.n_tiles * self.tile - self.in_dim  # zero inputs with zero weights
        m = torch.zeros(self.in_dim, dtype=torch.float64) if mean is None else mean.detach().double()
        s = torch.ones(self.in_dim, dtype=torch.float64) if inv_std is None else inv_std.detach().double()
        self.uniform = bool(layer.uniform)
        if self.uniform:
            t0 = m + layer.grid_t0.detach().double() / s
            inv_h = layer.grid_inv_h.detach().double() * s
            self.register_buffer("t0", self.stacked(t0.float(), 0.0))
            self.register_buffer("inv_h", self.stacked(inv_h.float(), 1.0))
        else:
            knots = m[:, None] + layer.grid[:, self.k:-self.k].detach().double() / s[:, None]
            filler = torch.linspace(-1, 1, knots.shape[1])  # any increasing knots: zero weights follow
            self.register_buffer("knots", self.stacked(knots.float(), filler))
        self.has_base = bool(base_weight.abs().sum() > 0)
        if self.has_base:  # the base branch needs the standardised input itself
            self.register_buffer("base_weight", base_weight.detach().float().clone())
            self.register_buffer("base_mean", m.float())
            self.register_buffer("base_inv_std", s.float())

    def stacked(self, per_input: torch.Tensor, fill) -> torch.Tensor:
        """(in, ...) -> (n_tiles, tile, ...), the last tile padded with `fill`."""
        filler = torch.as_tensor(fill, dtype=per_input.dtype).expand(self.pad, *per_input.shape[1:])
        return torch.cat([per_input, filler]).reshape(self.n_tiles, self.tile, *per_input.shape[1:]).contiguous()

    def grid_tiles(self) -> tuple[torch.Tensor, ...]:
        return (self.t0, self.inv_h) if self.uniform else (self.knots,)

    def basis(self, x: torch.Tensor, *grid: torch.Tensor) -> torch.Tensor:
        """(N, D, T): the tile's basis, basis-major (uniform_basis's layout)."""
        if self.uniform:
            t0, inv_h = grid
            return uniform_basis(x, t0, inv_h, self.n_basis, self.k)
        (knots,) = grid
        return cox_de_boor_basis(x, extend_grid(knots, self.k), self.k).transpose(1, 2)

    def weight_tiles(self) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def spline_tile(self, basis: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        z = F.pad(x, (0, self.pad)) if self.pad else x
        tiles = z.reshape(n, self.n_tiles, self.tile).transpose(0, 1)  # (n_tiles, N, T)
        n_grid = len(self.grid_tiles())

        def body(acc: torch.Tensor, xs: tuple[torch.Tensor, ...]):
            x_t, grid, weights = xs[0], xs[1:1 + n_grid], xs[1 + n_grid:]
            return acc + self.spline_tile(self.basis(x_t, *grid), *weights), acc.new_zeros(())

        out, _ = scan(body, x.new_zeros(n, self.out_dim), (tiles, *self.grid_tiles(), *self.weight_tiles()))
        if self.has_base:
            out = out + BASE_FUNCTIONS[self.base_fun]((x - self.base_mean) * self.base_inv_std) @ self.base_weight
        return out


class DenseRuntimeLayer(_TiledLayer):
    def __init__(self, layer: KANLayer, tile: int, mean=None, inv_std=None):
        with torch.no_grad():
            super().__init__(layer, layer.scale_base * layer.mask, tile, mean, inv_std)
            coef = self.stacked(effective_coef(layer).float(), 0.0)  # (n_tiles, T, out, D): folded here, once
        self.register_buffer("weight", coef.permute(0, 3, 1, 2).reshape(self.n_tiles, -1, self.out_dim).contiguous())

    def weight_tiles(self) -> tuple[torch.Tensor, ...]:
        return (self.weight,)

    def spline_tile(self, basis: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return basis.reshape(basis.shape[0], -1) @ weight  # (N, D*T) @ (D*T, out)


class CodebookRuntimeLayer(_TiledLayer):
    def __init__(self, layer: CompressedKANLayer, tile: int, mean=None, inv_std=None):
        with torch.no_grad():
            super().__init__(layer, layer.dequantised("base_weight"), tile, mean, inv_std)
        self.n_codes = layer.n_codes
        self.register_buffer("codebook", layer.dequantised("codebook").float().contiguous())  # (K, D)
        self.register_buffer("index", self.stacked(layer.index.to(index_dtype(self.n_codes)), 0))
        for name in ("gain", "bias"):
            if not hasattr(layer, f"{name}_q"):
                raise ValueError("the codebook runtime carries Int8 gains and biases: compress with int8=True")
            zero_point = layer.get_buffer(f"{name}_zero_point")
            self.register_buffer(f"{name}_scale", layer.get_buffer(f"{name}_scale").float().clone())
            self.register_buffer(f"{name}_zero_point", zero_point.float().clone())
            # padded edges hold the zero point: they dequantise to exactly 0
            self.register_buffer(name, self.stacked(layer.get_buffer(f"{name}_q"), int(zero_point)))

    def weight_tiles(self) -> tuple[torch.Tensor, ...]:
        return (self.index, self.gain, self.bias)

    def _dequantised(self, name: str, q: torch.Tensor) -> torch.Tensor:
        return (q.to(torch.float32) - getattr(self, f"{name}_zero_point")) * getattr(self, f"{name}_scale")

    def spline_tile(self, basis: torch.Tensor, index: torch.Tensor, gain: torch.Tensor,
                    bias: torch.Tensor) -> torch.Tensor:
        t, out = index.shape
        words = torch.index_select(self.codebook, 0, index.reshape(-1).to(torch.int64))  # each edge's word
        dots = torch.bmm(words.reshape(t, out, -1), basis.permute(2, 1, 0))  # (T, out, D) @ (T, D, N)
        spline = (dots * self._dequantised("gain", gain).unsqueeze(-1)).sum(0).t()  # (N, out)
        return spline + basis.sum(1) @ self._dequantised("bias", bias)  # b_io * sum_j B_j(x_i)


class _RuntimeKAN(nn.Module):
    def __init__(self, layers: list[_TiledLayer], affines: list[tuple[torch.Tensor, ...]]):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        for i, affine in enumerate(affines):
            scale, shift = folded_affine(affine)
            self.register_buffer(f"scale_{i}", scale)
            self.register_buffer(f"shift_{i}", shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) * getattr(self, f"scale_{i}") + getattr(self, f"shift_{i}")
        return x


def _standardisation(i: int, mean: torch.Tensor, inv_std: torch.Tensor) -> tuple:
    return (mean, inv_std) if i == 0 else (None, None)  # folded into the first layer's grid


class DenseRuntimeKAN(_RuntimeKAN):
    """A trained KAN (with the standardisation in front) as a deployed dense program."""

    def __init__(self, kan: KAN, mean: torch.Tensor, inv_std: torch.Tensor, tile: int = 32):
        super().__init__([DenseRuntimeLayer(layer, tile, *_standardisation(i, mean, inv_std))
                          for i, layer in enumerate(kan.layers)],
                         [kan.affine(i) for i in range(len(kan.layers))])


class CodebookRuntimeKAN(_RuntimeKAN):
    """A SHARe-KAN-compressed KAN (Int8) as a deployed codebook program."""

    def __init__(self, compressed: CompressedKAN, mean: torch.Tensor, inv_std: torch.Tensor, tile: int = 32):
        super().__init__([CodebookRuntimeLayer(layer, tile, *_standardisation(i, mean, inv_std))
                          for i, layer in enumerate(compressed.layers)],
                         [compressed.affine(i) for i in range(len(compressed.layers))])


def constant_bytes(module: nn.Module) -> int:
    """Bytes of the module's buffers and parameters: the constants its program holds."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def constant_breakdown(module: nn.Module) -> dict[str, int]:
    """Constant bytes by kind (t0, inv_h or knots, weight, index, gain, bias, codebook, ...),
    every layer together: which part of a format holds the memory."""
    out: dict[str, int] = {}
    for name, tensor in module.named_buffers():
        kind = re.sub(r"_\d+$", "", name.rsplit(".", 1)[-1])
        out[kind] = out.get(kind, 0) + tensor.numel() * tensor.element_size()
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
