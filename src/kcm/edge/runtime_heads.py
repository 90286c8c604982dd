"""Heads built for an edge runtime: what a deployed program holds and computes, nothing more.

Two modules with one forward structure, so their memory and latency compare the formats, not
two implementations (issue 19):
- `DenseRuntimeKAN`: the fair dense baseline. The effective coefficients coef * scale_sp * mask
  are folded once at build time into one (T*D, out) matrix per input tile, so no product of
  parameters is computed at run time; the node affines fold into one scale and shift.
- `CodebookRuntimeKAN`: what SHARe-KAN keeps. Per layer: code indices in the narrowest integer
  type (uint8 for K <= 256), the codebook (its dequantised float32 values: K x D, 13 KB at
  K = 256, so the projection is a constant-weight matmul), Int8 gains and biases with their
  scales and zero points, dequantised tile by tile.

Both evaluate the layer in tiles of `tile` input features: the B-spline basis of the tile, then
its contribution to every output, accumulated. A tile's temporaries are all the arena has to
hold (ExecuTorch's memory planner reuses them across tiles), so neither head needs its whole
basis, projections or dequantised tensors at once. The standardisation in front is the same
(x - mean) * inv_std in both. The grid is kept as is (a trained head's grids are not uniform);
the basis is `kcm.kan.cox_de_boor_basis` on the tile's knots. Only the G + 1 interior knots
per input are stored; the extension is rebuilt exactly as `kcm.kan.extend_grid` built it. A
base branch whose weights are all zero (the heads' default, spline-only) is left out of both;
otherwise both carry it. The gain mode needs no case: both modes reconstruct g C[q] + b.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from kcm.compress.compressed import CompressedKAN, CompressedKANLayer
from kcm.compress.gsb import effective_coef
from kcm.kan import BASE_FUNCTIONS, KAN, KANLayer, cox_de_boor_basis, extend_grid


def tiles(n: int, tile: int) -> list[tuple[int, int]]:
    return [(start, min(start + tile, n)) for start in range(0, n, tile)]


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
    """Grid and base branch shared by both formats; `spline_tile` is the format."""

    def __init__(self, grid: torch.Tensor, k: int, base_fun: str, base_weight: torch.Tensor, tile: int):
        super().__init__()
        self.k, self.base_fun = k, base_fun
        self.in_dim, self.out_dim = base_weight.shape
        self.spans = tiles(self.in_dim, tile)
        # The interior knots only: the k knots added on each side are rebuilt per tile by
        # extend_grid, the function that made them (bit for bit), saving 2k of G + 2k + 1 floats.
        self.register_buffer("knots", grid[:, k:-k].detach().float().clone())
        self.has_base = bool(base_weight.abs().sum() > 0)
        if self.has_base:
            self.register_buffer("base_weight", base_weight.detach().float().clone())

    def spline_tile(self, t: int, basis: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = None
        for t, (a, b) in enumerate(self.spans):
            grid = extend_grid(self.knots[a:b], self.k)
            part = self.spline_tile(t, cox_de_boor_basis(x[:, a:b], grid, self.k))
            out = part if out is None else out + part
        if self.has_base:
            out = out + BASE_FUNCTIONS[self.base_fun](x) @ self.base_weight
        return out


class DenseRuntimeLayer(_TiledLayer):
    def __init__(self, layer: KANLayer, tile: int):
        with torch.no_grad():
            super().__init__(layer.grid, layer.k, layer.base_fun_name, layer.scale_base * layer.mask, tile)
            coef = effective_coef(layer).float()  # (in, out, D): folded here, once
        for t, (a, b) in enumerate(self.spans):
            self.register_buffer(f"weight_{t}", coef[a:b].permute(0, 2, 1).reshape(-1, self.out_dim).contiguous())

    def spline_tile(self, t: int, basis: torch.Tensor) -> torch.Tensor:
        return basis.reshape(basis.shape[0], -1) @ getattr(self, f"weight_{t}")


class CodebookRuntimeLayer(_TiledLayer):
    def __init__(self, layer: CompressedKANLayer, tile: int):
        with torch.no_grad():
            super().__init__(layer.grid, layer.k, layer.base_fun_name, layer.dequantised("base_weight"), tile)
        self.n_codes = layer.n_codes
        self.register_buffer("codebook_t", layer.dequantised("codebook").t().contiguous())  # (D, K)
        index = layer.index.to(index_dtype(self.n_codes))
        for name in ("gain", "bias"):
            if not hasattr(layer, f"{name}_q"):
                raise ValueError("the codebook runtime carries Int8 gains and biases: compress with int8=True")
            self.register_buffer(f"{name}_scale", layer.get_buffer(f"{name}_scale").float().clone())
            self.register_buffer(f"{name}_zero_point", layer.get_buffer(f"{name}_zero_point").float().clone())
        for t, (a, b) in enumerate(self.spans):
            self.register_buffer(f"index_{t}", index[a:b].contiguous())
            self.register_buffer(f"gain_{t}", layer.gain_q[a:b].contiguous())
            self.register_buffer(f"bias_{t}", layer.bias_q[a:b].contiguous())

    def _dequantised(self, name: str, t: int) -> torch.Tensor:
        q = getattr(self, f"{name}_{t}")
        return (q.to(torch.float32) - getattr(self, f"{name}_zero_point")) * getattr(self, f"{name}_scale")

    def spline_tile(self, t: int, basis: torch.Tensor) -> torch.Tensor:
        n = basis.shape[0]
        index = getattr(self, f"index_{t}").to(torch.int64)  # (T, out)
        projections = basis @ self.codebook_t  # (N, T, K): each word once per input of the tile
        picked = torch.gather(projections, 2, index.unsqueeze(0).expand(n, -1, -1))  # (N, T, out)
        spline = (picked * self._dequantised("gain", t)).sum(1)
        return spline + basis.sum(-1) @ self._dequantised("bias", t)  # b_io * sum_j B_j(x_i)


class _RuntimeKAN(nn.Module):
    def __init__(self, layers: list[_TiledLayer], affines: list[tuple[torch.Tensor, ...]],
                 mean: torch.Tensor, inv_std: torch.Tensor):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.register_buffer("mean", mean.detach().float().clone())
        self.register_buffer("inv_std", inv_std.detach().float().clone())
        for i, affine in enumerate(affines):
            scale, shift = folded_affine(affine)
            self.register_buffer(f"scale_{i}", scale)
            self.register_buffer(f"shift_{i}", shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) * self.inv_std
        for i, layer in enumerate(self.layers):
            x = layer(x) * getattr(self, f"scale_{i}") + getattr(self, f"shift_{i}")
        return x


class DenseRuntimeKAN(_RuntimeKAN):
    """A trained KAN head (with its standardisation) as a deployed dense program."""

    def __init__(self, kan: KAN, mean: torch.Tensor, inv_std: torch.Tensor, tile: int = 32):
        super().__init__([DenseRuntimeLayer(layer, tile) for layer in kan.layers],
                         [kan.affine(i) for i in range(len(kan.layers))], mean, inv_std)


class CodebookRuntimeKAN(_RuntimeKAN):
    """A SHARe-KAN-compressed head (Int8) as a deployed codebook program."""

    def __init__(self, compressed: CompressedKAN, mean: torch.Tensor, inv_std: torch.Tensor, tile: int = 32):
        super().__init__([CodebookRuntimeLayer(layer, tile) for layer in compressed.layers],
                         [compressed.affine(i) for i in range(len(compressed.layers))], mean, inv_std)


def constant_bytes(module: nn.Module) -> int:
    """Bytes of the module's buffers and parameters: the constants its program holds."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def constant_breakdown(module: nn.Module) -> dict[str, int]:
    """Constant bytes by kind (knots, weight, index, gain, bias, codebook_t, ...), every layer
    and tile together: which part of a format holds the memory."""
    out: dict[str, int] = {}
    for name, tensor in module.named_buffers():
        kind = re.sub(r"_\d+$", "", name.rsplit(".", 1)[-1])
        out[kind] = out.get(kind, 0) + tensor.numel() * tensor.element_size()
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))

