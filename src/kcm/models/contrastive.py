"""What the two contrastive trainers share (the large CLIP's projections, the small retrieval
model): CLIP's temperature clamp, applied after every optimiser step."""

from __future__ import annotations

import numpy as np
import torch

MAX_LOGIT_SCALE = float(np.log(100))  # CLIP's: logit_scale.exp() never exceeds 100


def clamped_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, logit_scale: torch.nn.Parameter) -> None:
    """One optimiser step on `loss`, then `logit_scale` (a log temperature) clamped to [0, log 100]."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        logit_scale.clamp_(0, MAX_LOGIT_SCALE)
