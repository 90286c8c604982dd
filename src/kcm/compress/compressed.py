"""A KAN compressed by GSB + a layer-shared codebook (+ Int8), run without dense coefficients.

Per layer the module holds the codebook C (K', D), the code index q_io (in, out), the gain g_io
and bias b_io (FP32, or Int8 with one float32 scale and int8 zero point per tensor), the
base-branch weight scale_base * mask, the grid (and its uniform shortcut), and the node
affines. `forward` never forms the (in, out, D) coefficients: with the basis B (N, in, D) it
evaluates every code word once per input, P = B @ C^T (N, in, K') (the lookup-table idea),
then reads each edge's word from P:
    spline_o = sum_i g_io * P[n, i, q_io] + b_io * sum_j B[n, i, j],
which is exactly sum_i sum_j (g_io C[q_io]_j + b_io) B[n, i, j], the dense spline with
c_hat = g C[q] + b. Int8 tensors are dequantised inside forward, so an exported program
carries int8 buffers. Everything is static-shape tensor arithmetic (index_select with an index
buffer), so it goes through torch.export and ExecuTorch's portable kernels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import nn

from kcm.compress.codebook import assign, fit_codebook
from kcm.compress.gsb import (
    check_gain_mode,
    decompose,
    effective_coef,
    fit_gain,
    reconstruct,
)
from kcm.compress.int8 import quantize
from kcm.kan import BASE_FUNCTIONS, KAN, KANLayer, cox_de_boor_basis, uniform_basis

AFFINE_NAMES = ("subnode_scale", "subnode_bias", "node_scale", "node_bias")


@dataclass(frozen=True)
class CompressionConfig:
    k: int = 256  # codebook size per layer (capped at the number of distinct shapes)
    int8: bool = True  # Int8 codebook, gains and biases (False: float32)
    int8_base: bool = False  # also the base-branch weights (scale_base * mask); needs int8
    gain: str = "norm"  # "norm" or "projection" (see kcm.compress.gsb)
    seed: int = 0  # k-means random_state


def kan_of(module: nn.Module) -> KAN:
    """The KAN inside a `kcm.judges.Judge` (its `.net`), or the module itself if it is a KAN."""
    if isinstance(module, KAN):
        return module
    net = getattr(module, "net", None)
    if isinstance(net, KAN):
        return net
    raise TypeError(f"no KAN in {type(module).__name__} (an MLP judge cannot be compressed)")


def layer_shapes(layer: KANLayer) -> torch.Tensor:
    """Shape vectors (in*out, D) of the layer's edges with nonzero gain: the k-means data.

    A zero-gain edge reconstructs as its bias whatever word it points to, so its (all-zero)
    shape is left out of the fit rather than spending a code word on it.
    """
    gain, shape, _ = decompose(effective_coef(layer))
    return shape.reshape(-1, shape.shape[-1])[gain.reshape(-1) > 0]


def _nearest_words(layer: KANLayer, shape: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    return assign(shape.reshape(-1, layer.n_basis), codebook).reshape(layer.in_dim, layer.out_dim)


def code_index(layer: KANLayer, codebook: torch.Tensor) -> torch.Tensor:
    """q_io (in, out): each edge's nearest word of the float codebook. It does not depend on the
    precision, so a sweep over precisions computes it once (`codes` of `compress_kan`)."""
    _, shape, _ = decompose(effective_coef(layer))
    return _nearest_words(layer, shape, codebook)


@torch.no_grad()
def code_indices(kan: KAN, codebooks: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [code_index(layer, codebook) for layer, codebook in zip(kan.layers, codebooks)]


class CompressedKANLayer(nn.Module):
    """One layer coded against a given float codebook (see the module docstring)."""

    def __init__(self, layer: KANLayer, codebook: torch.Tensor, config: CompressionConfig,
                 index: torch.Tensor | None = None):
        super().__init__()
        check_gain_mode(config.gain)
        self.in_dim, self.out_dim = layer.in_dim, layer.out_dim
        self.grid_size, self.k, self.n_basis = layer.grid_size, layer.k, layer.n_basis
        self.base_fun_name, self.grid_eps = layer.base_fun_name, layer.grid_eps
        self.int8, self.gain_mode = config.int8, config.gain
        if config.int8_base and not config.int8:
            raise ValueError("int8_base needs int8 (the base weights are quantised with the rest)")
        self.int8_base = config.int8_base
        if codebook.shape[-1] != self.n_basis:
            raise ValueError(f"code words have {codebook.shape[-1]} entries, layer needs {self.n_basis}")
        self.n_codes = codebook.shape[0]
        coef = effective_coef(layer)
        _, shape, bias = decompose(coef)
        index = _nearest_words(layer, shape, codebook) if index is None else index
        self._store("codebook", codebook.float())
        gain = fit_gain(coef, self.dequantised("codebook"), index, config.gain)  # vs the word used
        self._store("gain", gain.float())
        self._store("bias", bias.float())
        self.register_buffer("index", index)
        with torch.no_grad():
            self._store("base_weight", (layer.scale_base * layer.mask).detach().float(), self.int8_base)
        self.register_buffer("grid", layer.grid.detach().clone())
        self.register_buffer("grid_t0", layer.grid_t0.detach().clone())
        self.register_buffer("grid_inv_h", layer.grid_inv_h.detach().clone())
        self.uniform = bool(layer.uniform)

    def _store(self, name: str, value: torch.Tensor, int8: bool | None = None) -> None:
        if self.int8 if int8 is None else int8:
            a = quantize(value)
            self.register_buffer(f"{name}_q", a.q)
            self.register_buffer(f"{name}_scale", a.scale.clone())
            self.register_buffer(f"{name}_zero_point", torch.tensor(a.zero_point, dtype=torch.int8))
        else:
            self.register_buffer(name, value.detach().clone())

    def dequantised(self, name: str) -> torch.Tensor:
        """The float32 tensor inference uses (dequantised in Int8 mode)."""
        if hasattr(self, f"{name}_q"):
            q, scale, zp = (getattr(self, f"{name}_{part}") for part in ("q", "scale", "zero_point"))
            return (q.to(torch.float32) - zp.to(torch.float32)) * scale  # as int8.dequantize
        return getattr(self, name)

    def reconstructed_coef(self) -> torch.Tensor:
        """c_hat (in, out, D) = g C[q] + b: for reconstruction and analysis, not for forward."""
        return reconstruct(
            self.dequantised("gain"), self.dequantised("codebook"), self.index,
            self.dequantised("bias"), self.gain_mode,
        )

    def basis(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in, D), the same code as KANLayer.basis."""
        if self.uniform:
            return uniform_basis(x, self.grid_t0, self.grid_inv_h, self.n_basis, self.k).transpose(1, 2)
        return cox_de_boor_basis(x, self.grid, self.k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x = x.reshape(-1, self.in_dim)
        n = x.shape[0]
        codebook = self.dequantised("codebook")  # (K', D)
        gain, bias = self.dequantised("gain"), self.dequantised("bias")  # (in, out)
        b = self.basis(x)  # (N, in, D)
        projections = torch.matmul(b, codebook.t())  # (N, in, K'): each word once per input
        offsets = torch.arange(self.in_dim, dtype=torch.int64, device=x.device).unsqueeze(1) * self.n_codes
        flat_index = (self.index + offsets).reshape(-1)  # (in*out,) into the (in*K') axis
        picked = torch.index_select(projections.reshape(n, self.in_dim * self.n_codes), 1, flat_index)
        spline = (picked.reshape(n, self.in_dim, self.out_dim) * gain).sum(1)
        spline = spline + b.sum(-1) @ bias  # b_io * sum_j B_j(x_i): not 1 outside the grid
        base = BASE_FUNCTIONS[self.base_fun_name](x) @ self.dequantised("base_weight")
        return (spline + base).reshape(*lead, self.out_dim)

    def extra_repr(self) -> str:
        return (f"in={self.in_dim}, out={self.out_dim}, D={self.n_basis}, codes={self.n_codes}, "
                f"int8={self.int8}, int8_base={self.int8_base}, gain={self.gain_mode!r}, uniform={self.uniform}")


class CompressedKAN(nn.Module):
    """Compressed layers plus the KAN's node affines; computes c_hat's KAN without dense coef."""

    def __init__(self, kan: KAN, codebooks: Sequence[torch.Tensor], config: CompressionConfig,
                 codes: Sequence[torch.Tensor] | None = None):
        super().__init__()
        if len(codebooks) != len(kan.layers):
            raise ValueError(f"{len(codebooks)} codebooks for {len(kan.layers)} layers")
        self.config, self.width = config, list(kan.width)
        codes = [None] * len(codebooks) if codes is None else codes
        self.layers = nn.ModuleList(CompressedKANLayer(l, c, config, q) for l, c, q in zip(kan.layers, codebooks, codes))
        for i in range(len(kan.layers)):
            for name, value in zip(AFFINE_NAMES, kan.affine(i)):
                self.register_buffer(f"{name}_{i}", value.detach().clone())

    def affine(self, i: int) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self, f"{name}_{i}") for name in AFFINE_NAMES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            sub_s, sub_b, node_s, node_b = self.affine(i)
            x = (layer(x) * sub_s + sub_b) * node_s + node_b  # as KAN.step
        return x

    def config_dict(self) -> dict:
        return asdict(self.config)


def fit_codebooks(kan: KAN, config: CompressionConfig) -> list[torch.Tensor]:
    """One k-means codebook per layer (float32; precision-independent, so sweeps can reuse it)."""
    return [fit_codebook(layer_shapes(layer), config.k, config.seed) for layer in kan.layers]


@torch.no_grad()
def compress_kan(kan: KAN, config: CompressionConfig = CompressionConfig(),
                 codebooks: Sequence[torch.Tensor] | None = None,
                 codes: Sequence[torch.Tensor] | None = None) -> CompressedKAN:
    """GSB + one k-means codebook per layer (seeded; or the given `fit_codebooks` result), then
    Int8 if configured. `codes`: `code_indices(kan, codebooks)` if already computed."""
    check_gain_mode(config.gain)
    if codebooks is None:
        codebooks = fit_codebooks(kan, config)
    return CompressedKAN(kan, codebooks, config, codes).eval()


@torch.no_grad()
def fit_shared_codebooks(kans: Sequence[KAN], config: CompressionConfig) -> list[torch.Tensor]:
    """ONE codebook per layer position, fitted on the shapes of all heads' edges there
    (precision-independent, so a sweep over precisions fits it once). Heads need the same depth
    and the same D = G + k at each position (widths may differ)."""
    depth = len(kans[0].layers)
    if any(len(kan.layers) != depth for kan in kans):
        raise ValueError("heads must have the same number of layers to share codebooks")
    codebooks = []
    for pos in range(depth):
        dims = {kan.layers[pos].n_basis for kan in kans}
        if len(dims) != 1:
            raise ValueError(f"layer {pos}: heads differ in G + k ({sorted(dims)})")
        shapes = torch.cat([layer_shapes(kan.layers[pos]) for kan in kans])
        codebooks.append(fit_codebook(shapes, config.k, config.seed))
    return codebooks


@torch.no_grad()
def shared_codebook_compress(kans: Sequence[KAN], config: CompressionConfig = CompressionConfig(),
                             codebooks: Sequence[torch.Tensor] | None = None,
                             codes: Sequence[Sequence[torch.Tensor]] | None = None) -> list[CompressedKAN]:
    """Compress several heads with one codebook per layer position (`fit_shared_codebooks`, or
    the given result of it); each head keeps its own indices, gains and biases (`codes`: each
    head's `code_indices` if already computed)."""
    check_gain_mode(config.gain)
    if not kans:
        return []
    if codebooks is None:
        codebooks = fit_shared_codebooks(kans, config)
    codes = [None] * len(kans) if codes is None else codes
    return [CompressedKAN(kan, codebooks, config, q).eval() for kan, q in zip(kans, codes)]


@torch.no_grad()
def reconstruct_kan(compressed: CompressedKAN) -> KAN:
    """A dense KAN computing the compressed model's function: coef = c_hat (dequantised),
    scale_sp = 1, mask = 1, scale_base = the stored scale_base * mask; same grids and affines.
    (A masked edge has c = 0, hence g = b = 0 and c_hat = 0, and base weight 0.)"""
    first = compressed.layers[0]
    kan = KAN(compressed.width, first.grid_size, first.k, base_fun=first.base_fun_name)
    layers = []
    for i, cl in enumerate(compressed.layers):
        layer = KANLayer(cl.in_dim, cl.out_dim, cl.grid_size, cl.k, base_fun=cl.base_fun_name, grid_eps=cl.grid_eps, seed=i)
        layer.coef.copy_(cl.reconstructed_coef())
        layer.scale_sp.fill_(1.0)
        layer.mask.fill_(1.0)
        layer.scale_base.copy_(cl.dequantised("base_weight"))
        layer.grid.copy_(cl.grid)
        layer.refresh_grid()
        layers.append(layer)
    kan.layers = nn.ModuleList(layers)
    for i in range(len(layers)):
        for name, value in zip(AFFINE_NAMES, compressed.affine(i)):
            getattr(kan, f"{name}_{i}").copy_(value)
    return kan.eval()


@torch.no_grad()
def relative_coef_error(kan: KAN, compressed: CompressedKAN) -> float:
    """||c_hat - c||_F / ||c||_F over all layers' effective coefficients."""
    num = den = 0.0
    for layer, cl in zip(kan.layers, compressed.layers):
        c = effective_coef(layer).double()
        num += float((cl.reconstructed_coef().double() - c).square().sum())
        den += float(c.square().sum())
    return (num / den) ** 0.5 if den > 0 else 0.0
