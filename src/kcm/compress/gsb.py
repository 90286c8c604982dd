"""Gain-Shape-Bias (GSB) decomposition of a KAN layer's spline coefficients.

Every edge (i -> o) of a `KANLayer` has an effective coefficient vector
    c_io = coef_io * scale_sp_io * mask_io  in R^D, D = G + k,
which is all its spline branch needs (so scale_sp and mask fold into gain and bias and are
not stored). GSB splits it into
    bias  b = mean(c),   gain g = ||c - b||_2,   shape s = (c - b) / g   (unit norm),
with g = 0 -> s = 0. After vector quantisation of the shapes with a codebook C (K', D) and
indices q, the reconstruction is
    c_hat = g * C[q] + b.
Gain modes (`fit_gain`): "norm" keeps g = ||c - b||; "projection" uses the least-squares gain
for the chosen code word, <c - b, C[q]> / ||C[q]||^2 (0 for an all-zero word). That equals the
design doc's <c - b, C[q]> whenever ||C[q]|| = 1, e.g. when every shape is its own code word;
k-means centroids of unit vectors are shorter than 1, and dividing by ||C[q]||^2 is what makes
the gain least-squares for them (the design doc's stated intent).
"""

from __future__ import annotations

import torch

from kcm.kan import KANLayer

GAIN_MODES = ("norm", "projection")


def check_gain_mode(gain_mode: str) -> str:
    if gain_mode not in GAIN_MODES:
        raise ValueError(f"gain mode must be one of {GAIN_MODES}, got {gain_mode!r}")
    return gain_mode


@torch.no_grad()
def effective_coef(layer: KANLayer) -> torch.Tensor:
    """The coefficients the spline branch actually uses, coef * scale_sp * mask, (in, out, D)."""
    return (layer.coef * (layer.scale_sp * layer.mask).unsqueeze(-1)).detach().clone()


@torch.no_grad()
def decompose(coef: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(gain (...), shape (..., D), bias (...)) of coefficient vectors along the last axis.

    Computed in float64 and returned in coef's dtype; an edge whose centred vector is exactly
    zero (a constant or masked edge) gets gain 0 and an all-zero shape.
    """
    c = coef.double()
    bias = c.mean(-1)
    centred = c - bias.unsqueeze(-1)
    gain = torch.linalg.vector_norm(centred, dim=-1)
    safe = torch.where(gain > 0, gain, torch.ones_like(gain))
    shape = torch.where((gain > 0).unsqueeze(-1), centred / safe.unsqueeze(-1), torch.zeros_like(centred))
    return gain.to(coef.dtype), shape.to(coef.dtype), bias.to(coef.dtype)


@torch.no_grad()
def fit_gain(
    coef: torch.Tensor, codebook: torch.Tensor, index: torch.Tensor, gain_mode: str = "norm"
) -> torch.Tensor:
    """The gain to store for coefficients (..., D) coded by `codebook[index]` (see module doc).

    "norm": ||c - mean(c)||; "projection": <c - b, w> / ||w||^2 with w = codebook[index]
    (0 where w = 0). Pass the codebook exactly as inference will use it (dequantised for Int8)
    so the projection gain is least-squares for the word actually used.
    """
    check_gain_mode(gain_mode)
    c = coef.double()
    centred = c - c.mean(-1, keepdim=True)
    if gain_mode == "norm":
        return torch.linalg.vector_norm(centred, dim=-1).to(coef.dtype)
    word = codebook.double()[index]
    energy = word.square().sum(-1)
    dot = (centred * word).sum(-1)
    gain = torch.where(energy > 0, dot / torch.where(energy > 0, energy, torch.ones_like(energy)), torch.zeros_like(dot))
    return gain.to(coef.dtype)


def reconstruct(
    gain: torch.Tensor,
    codebook: torch.Tensor,
    index: torch.Tensor,
    bias: torch.Tensor,
    gain_mode: str = "norm",
) -> torch.Tensor:
    """c_hat = gain * codebook[index] + bias, shape (*index.shape, D).

    The formula is the same in both gain modes: the mode only decides how the stored gain
    was computed (`fit_gain`); it is accepted here for symmetry and validated.
    """
    check_gain_mode(gain_mode)
    return gain.unsqueeze(-1) * codebook[index] + bias.unsqueeze(-1)
