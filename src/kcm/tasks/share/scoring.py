"""Scoring many KAN heads that share a first-layer grid on fixed inputs (the SHARe-KAN sweeps).

A head, its pruned copies and its SHARe-KAN versions keep the head's grids, so the first
layer's B-spline basis on the validation or test features is the same for all of them: computed
once here, it leaves one matrix product per model (at 1280 inputs x 13 basis functions the
basis was most of every forward). A dense or pruned KAN is scored with exactly the operations of
`KAN.forward`; a compressed one through `reconstruct_kan`, the dense KAN of its dequantised
coefficients, which computes its function (equal within float rounding: tests/test_compress.py)
with one (N, in*D) x (in*D, out) product instead of an (N, in, K) table of every code word.
"""

from __future__ import annotations

import torch

from kcm.compress.compressed import CompressedKAN, reconstruct_kan
from kcm.kan import BASE_FUNCTIONS, KAN


class SharedFirstLayer:
    """Logits on fixed inputs x of any model whose first layer has `kan`'s first-layer grid."""

    def __init__(self, kan: KAN, x: torch.Tensor):
        first = kan.layers[0]
        self.grid, self.base_fun = first.grid.clone(), first.base_fun_name
        with torch.no_grad():
            self.features = first.spline_features(x)
            self.base_values = BASE_FUNCTIONS[first.base_fun_name](x)

    @torch.no_grad()
    def logits(self, model: KAN | CompressedKAN) -> torch.Tensor:
        kan = reconstruct_kan(model) if isinstance(model, CompressedKAN) else model
        first = kan.layers[0]
        if first.base_fun_name != self.base_fun or not torch.equal(first.grid, self.grid):
            raise ValueError("the model's first layer has another grid or base function than the cached basis")
        x = kan.node(0, first.output(self.features, self.base_values))
        for i in range(1, len(kan.layers)):
            x = kan.step(i, x)
        return x

    def accuracy(self, model: KAN | CompressedKAN, y: torch.Tensor) -> float:
        return float((self.logits(model).argmax(1) == y).float().mean())
