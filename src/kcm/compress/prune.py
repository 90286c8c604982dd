"""Zero-shot magnitude pruning of KAN spline coefficients (a baseline for GSB compression).

Choice: per layer, the `sparsity` fraction (round(sparsity * n) of the layer's n coefficient
entries) with the smallest |effective coefficient| |coef * scale_sp * mask| is set to zero,
ranked jointly over all edges and basis functions of that layer ("global within a layer").
Ranking effective rather than raw coefficients measures what each entry contributes to the
function (scale_sp multiplies the whole edge); a per-layer rather than whole-network budget
keeps layers of different scale from being emptied. Ties are broken by position (stable
sort), so the count is exact. Nothing else changes: scale_base, scale_sp, mask, grids, affines.
"""

from __future__ import annotations

import copy

import torch

from kcm.compress.gsb import effective_coef
from kcm.kan import KAN


@torch.no_grad()
def magnitude_prune(kan: KAN, sparsity: float) -> KAN:
    """A pruned copy of `kan` (the input is left untouched)."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    pruned = copy.deepcopy(kan)
    for layer in pruned.layers:
        magnitude = effective_coef(layer).abs().reshape(-1)
        n_prune = round(sparsity * magnitude.numel())
        if n_prune == 0:
            continue
        order = torch.sort(magnitude, stable=True).indices[:n_prune]
        flat = layer.coef.data.reshape(-1)  # a view: writes go to coef
        flat[order] = 0.0
    return pruned
