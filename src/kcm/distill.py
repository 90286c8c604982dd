"""KCM's distillation loss for the small model F_s (DESIGN.md):

    L = CE(F_s(x), y)
      + lambda_ls * KL(p_l || p_s) [C_l > eps]      large -> small, where the large model is sure
      + lambda_js * KL(p_j || p_s) [C_x > eps]      judge -> small, where the judge is sure

p_s = softmax(F_s(x) / T); teacher distributions are softened with the same temperature T;
C_l = max p_l and C_x = max p_j are the teachers' confidences at T = 1. KL terms are
averaged over the whole batch (masked entries count as zero) and scaled by T^2 (Hinton et al.)
so their gradients keep their size as T changes.

The large model is only asked about the inputs routed to it, so `large_asked` masks L_ls to
those rows. `hard_large=True` replaces its KL with cross-entropy on the large model's argmax
(the +D baseline: hard pseudo-labels instead of soft ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DistillWeights:
    lambda_ls: float = 1.0
    lambda_js: float = 0.5
    temperature: float = 2.0
    eps: float = 0.98
    teacher: str = "prompted"  # F_l's answers that teach: with F_s's hint in the prompt, or "plain"


def soften(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Re-temper a probability vector: softmax(log p / T)."""
    return torch.softmax(torch.log(probs.clamp_min(1e-12)) / temperature, dim=-1)


def masked_kl(teacher: torch.Tensor, student_log_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean over the batch of mask * KL(teacher || student)."""
    kl = (teacher * (torch.log(teacher.clamp_min(1e-12)) - student_log_probs)).sum(-1)
    return (kl * mask.to(kl.dtype)).mean()


def kcm_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    large_probs: torch.Tensor | None,
    judge_probs: torch.Tensor | None,
    weights: DistillWeights = DistillWeights(),
    large_asked: torch.Tensor | None = None,
    hard_large: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The total loss and its parts (CE, L_ls, L_js) as floats for logging.

    Either teacher may be None (e.g. +KD uses the large model only, plain training neither).
    `large_asked` (bool per row) limits L_ls to rows the large model was asked about.
    """
    t = weights.temperature
    ce = F.cross_entropy(student_logits, labels)
    log_ps = torch.log_softmax(student_logits / t, dim=-1)
    parts = {"ce": float(ce.detach()), "l_ls": 0.0, "l_js": 0.0}
    total = ce
    for name, probs, lam in (("l_ls", large_probs, weights.lambda_ls), ("l_js", judge_probs, weights.lambda_js)):
        if probs is None or lam == 0:
            continue
        if probs.shape != student_logits.shape:
            raise ValueError(f"{name}: teacher probabilities {tuple(probs.shape)} do not match "
                             f"student logits {tuple(student_logits.shape)}")
        sure = probs.max(dim=-1).values > weights.eps
        if name == "l_ls" and large_asked is not None:
            sure = sure & large_asked.to(torch.bool)
        if name == "l_ls" and hard_large:
            ce_rows = F.cross_entropy(student_logits, probs.argmax(-1), reduction="none")
            term = (ce_rows * sure.to(ce_rows.dtype)).mean()
        else:
            term = masked_kl(soften(probs, t), log_ps, sure) * t * t
        parts[name] = float(term.detach())
        total = total + lam * term
    return total, parts
