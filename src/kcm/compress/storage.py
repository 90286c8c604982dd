"""Bit-exact storage accounting for dense and compressed KANs (MB = 10^6 bytes).

Counting rules, the same in `dense_storage` and `compressed_storage` wherever a tensor exists
in both:
* Architecture (widths, G, k, K', base function, dtypes) is not counted in either: both need it.
* A tensor that is identically zero (e.g. a spline-only head's base weights) is absent: the
  format says which tensors exist (architecture) and the runtime uses zeros. Its rows go to
  `StorageReport.absent` (0 bytes), in the dense and the compressed count alike; for an Int8
  tensor its scale and zero point are absent too (the test is on the dequantised values).
* Grid: a uniform grid is stored as t0 and h per input (2 float32 per input), from which every
  knot is t0 + j h; a non-uniform grid as all its knots, (in, G+2k+1) float32.
* Node affines (subnode_scale, subnode_bias, node_scale, node_bias per layer): a vector is
  counted (float32, one per node) only when it is not the identity (scales all 1, biases all 0).
* Dense: coef (in, out, G+k), scale_base and scale_sp (in, out) float32; mask (in, out)
  float32 only when it is not all ones (an all-ones mask does not change the function).
  So `dense_storage(kan).total_bytes == 4 * (number of float32 numbers it lists)` exactly.
* Compressed: scale_sp and mask are folded into gain and bias (not stored); scale_base * mask
  (in, out) float32 (or Int8 like the gains with `int8_base`); per layer the codebook K' x D, gains and biases (in, out) as float32, or
  as int8 plus one float32 scale (4 bytes) and one int8 zero point (1 byte) per tensor; the
  indices packed at ceil(log2 K') bits each, the layer's index bits rounded up to whole bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch

from kcm.compress.compressed import AFFINE_NAMES, CompressedKAN, CompressedKANLayer
from kcm.kan import KAN

MB = 10**6


@dataclass(frozen=True)
class StorageRow:
    component: str  # e.g. "coef", "codebook", "codebook.scale", "index", "grid"
    layer: int
    dtype: str  # "float32", "int8", "uint<b>" (packed indices)
    count: int  # number of stored items
    bits_per_item: int
    bytes: int  # whole bytes this row takes
    head: int | None = None  # multi-head reports: which head (None: shared or single)


@dataclass
class StorageReport:
    rows: list[StorageRow] = field(default_factory=list)
    absent: list[StorageRow] = field(default_factory=list)  # identically zero: not stored (bytes 0)

    @property
    def total_bytes(self) -> int:
        return sum(r.bytes for r in self.rows)

    @property
    def total_bits(self) -> int:
        return 8 * self.total_bytes

    @property
    def mb(self) -> float:
        return self.total_bytes / MB

    def by_component(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.component] = out.get(r.component, 0) + r.bytes
        return out

    def absent_items(self) -> dict[str, int]:
        """Component -> number of (zero) items stored as absent."""
        out: dict[str, int] = {}
        for r in self.absent:
            out[r.component] = out.get(r.component, 0) + r.count
        return out

    def by_layer(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for r in self.rows:
            out[r.layer] = out.get(r.layer, 0) + r.bytes
        return out


def _f32(component: str, layer: int, count: int, head: int | None = None) -> StorageRow:
    return StorageRow(component, layer, "float32", int(count), 32, 4 * int(count), head)


ABSENT = "absent"  # dtype of a row whose tensor is identically zero (0 bytes)


def _absent_if_zero(rows: list[StorageRow], tensor: torch.Tensor) -> list[StorageRow]:
    """`rows` (one tensor and its scale / zero point), all marked absent if the tensor is all zero."""
    if bool(torch.any(tensor != 0)):
        return rows
    return [StorageRow(r.component, r.layer, ABSENT, r.count, 0, 0, r.head) for r in rows]


def _report(rows: list[StorageRow]) -> StorageReport:
    return StorageReport([r for r in rows if r.dtype != ABSENT], [r for r in rows if r.dtype == ABSENT])


def index_bits(n_codes: int) -> int:
    """ceil(log2 K') bits per index (0 for a one-word codebook)."""
    return max(n_codes - 1, 0).bit_length()


def _grid_rows(layer_idx: int, in_dim: int, uniform: bool, grid: torch.Tensor, head=None) -> list[StorageRow]:
    if uniform:
        return [_f32("grid", layer_idx, 2 * in_dim, head)]  # t0 and h per input
    return [_f32("grid", layer_idx, grid.numel(), head)]


def _affine_rows(affines: Iterable[tuple[int, Sequence[torch.Tensor]]], head=None) -> list[StorageRow]:
    rows = []
    for i, values in affines:
        for name, v in zip(AFFINE_NAMES, values):
            identity = torch.ones_like(v) if name.endswith("scale") else torch.zeros_like(v)
            if not torch.equal(v, identity):
                rows.append(_f32(name, i, v.numel(), head))
    return rows


def dense_storage(kan: KAN) -> StorageReport:
    """Every tensor the dense float32 KAN needs for inference, by the rules in the module doc."""
    rows: list[StorageRow] = []
    for i, layer in enumerate(kan.layers):
        for name in ("coef", "scale_base", "scale_sp"):
            tensor = getattr(layer, name).detach()
            rows += _absent_if_zero([_f32(name, i, tensor.numel())], tensor)
        if not bool(torch.all(layer.mask == 1)):  # an absent mask means all ones, so never "zero"
            rows.append(_f32("mask", i, layer.in_dim * layer.out_dim))
        rows += _grid_rows(i, layer.in_dim, layer.uniform, layer.grid)
    rows += _affine_rows((i, kan.affine(i)) for i in range(len(kan.layers)))
    return _report(rows)


def _quantisable_rows(layer: CompressedKANLayer, i: int, name: str, count: int, head=None) -> list[StorageRow]:
    """Rows of one float32 or Int8 tensor (absent if its dequantised values are all zero)."""
    if not hasattr(layer, f"{name}_q"):  # stored as float32
        rows = [_f32(name, i, count, head)]
    else:
        rows = [
            StorageRow(name, i, "int8", count, 8, count, head),
            _f32(f"{name}.scale", i, 1, head),
            StorageRow(f"{name}.zero_point", i, "int8", 1, 8, 1, head),
        ]
    return _absent_if_zero(rows, layer.dequantised(name))


def _codebook_rows(layer: CompressedKANLayer, i: int, head=None) -> list[StorageRow]:
    return _quantisable_rows(layer, i, "codebook", layer.n_codes * layer.n_basis, head)


def _edge_rows(layer: CompressedKANLayer, i: int, head=None) -> list[StorageRow]:
    """Everything of a layer except its codebook."""
    edges = layer.in_dim * layer.out_dim
    bits = index_bits(layer.n_codes)
    rows = [StorageRow("index", i, f"uint{bits}", edges, bits, math.ceil(edges * bits / 8), head)]
    for name in ("gain", "bias"):
        rows += _quantisable_rows(layer, i, name, edges, head)
    rows += _quantisable_rows(layer, i, "base_weight", edges, head)  # scale_base * mask
    rows += _grid_rows(i, layer.in_dim, layer.uniform, layer.grid, head)
    return rows


def compressed_storage(compressed: CompressedKAN) -> StorageReport:
    """Storage of one compressed KAN (its codebooks included), by the rules in the module doc."""
    rows: list[StorageRow] = []
    for i, layer in enumerate(compressed.layers):
        rows += _codebook_rows(layer, i) + _edge_rows(layer, i)
    rows += _affine_rows((i, compressed.affine(i)) for i in range(len(compressed.layers)))
    return _report(rows)


def _same_codebook(a: CompressedKANLayer, b: CompressedKANLayer) -> bool:
    if a.int8 != b.int8 or a.n_codes != b.n_codes or a.n_basis != b.n_basis:
        return False
    names = [f"codebook_{p}" for p in ("q", "scale", "zero_point")] if a.int8 else ["codebook"]
    return all(torch.equal(getattr(a, n), getattr(b, n)) for n in names)


def multi_head_storage(heads: Sequence[CompressedKAN], shared_codebook: bool) -> StorageReport:
    """N compressed heads. shared_codebook=True: one codebook per layer position, counted once
    (rows with head=None); the heads must really hold identical codebooks there (as from
    `shared_codebook_compress`). False: every head's codebooks are counted."""
    rows: list[StorageRow] = []
    if not heads:
        return _report(rows)
    if shared_codebook:
        depth = len(heads[0].layers)
        if any(len(h.layers) != depth for h in heads):
            raise ValueError("heads differ in depth: they cannot share codebooks")
        for i in range(depth):
            if not all(_same_codebook(heads[0].layers[i], h.layers[i]) for h in heads[1:]):
                raise ValueError(f"layer {i}: heads hold different codebooks (use shared_codebook_compress)")
            rows += _codebook_rows(heads[0].layers[i], i)
    for h, head in enumerate(heads):
        for i, layer in enumerate(head.layers):
            if not shared_codebook:
                rows += _codebook_rows(layer, i, h)
            rows += _edge_rows(layer, i, h)
        rows += _affine_rows(((i, head.affine(i)) for i in range(len(head.layers))), h)
    return _report(rows)


def compression_ratio(dense: StorageReport, compressed: StorageReport) -> float:
    return dense.total_bytes / compressed.total_bytes
