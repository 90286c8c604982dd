"""Affine (asymmetric) Int8 quantisation: one float32 scale and one integer zero point per tensor.

    q = clamp(round(t / scale) + zero_point, -128, 127),   t_hat = (q - zero_point) * scale.

The range is [min(t.min(), 0), max(t.max(), 0)] (PyTorch's MinMaxObserver convention): it
always contains 0, so 0 is represented exactly (q = zero_point) and the zero point fits in
int8, i.e. one byte. scale = (hi - lo) / 255; with zero_point = round(-128 - lo / scale) the
grid is shifted by at most scale/2, so every value (clamped ones included) is within scale/2.
An all-zero tensor gets scale 1 and zero point 0 (no division by zero); any other constant c
is represented exactly up to float32 rounding (it sits at an end of the range).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

QMIN, QMAX = -128, 127


@dataclass
class AffineInt8:
    q: torch.Tensor  # int8, the tensor's shape
    scale: torch.Tensor  # float32 scalar
    zero_point: int  # in [-128, 127]

    @property
    def shape(self) -> torch.Size:
        return self.q.shape


@torch.no_grad()
def quantize(t: torch.Tensor) -> AffineInt8:
    x = t.detach().double()
    lo = min(float(x.min()), 0.0) if x.numel() else 0.0
    hi = max(float(x.max()), 0.0) if x.numel() else 0.0
    scale32 = torch.tensor((hi - lo) / (QMAX - QMIN) if hi > lo else 1.0, dtype=torch.float32)
    if scale32 == 0:  # a range below float32's smallest subnormal step: treat as zero width
        scale32 = torch.tensor(1.0, dtype=torch.float32)
    scale = float(scale32)  # quantise against the float32 scale that is stored
    zero_point = int(min(max(round(QMIN - lo / scale), QMIN), QMAX))
    q = torch.clamp(torch.round(x / scale) + zero_point, QMIN, QMAX).to(torch.int8)
    return AffineInt8(q=q, scale=scale32, zero_point=zero_point)


def dequantize(a: AffineInt8) -> torch.Tensor:
    """float32 (q - zero_point) * scale."""
    return (a.q.to(torch.float32) - float(a.zero_point)) * a.scale
