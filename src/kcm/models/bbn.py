"""BBN (Zhou et al., CVPR 2020): the paper profile's long-tailed vision baseline on CIFAR ResNet-32.

Bilateral-branch network, as the official code (`bbn_res32_cifar`, `combiner.bbn_mix`) builds it:
the stem, stages 1-2 and all but the last block of stage 3 are shared; the last block of stage 3
is duplicated into a conventional branch and a re-balancing branch. Each step draws two batches:
one uniformly (the conventional branch's) and one from the reversed sampler (class c with
probability ∝ 1/n_c, then a uniform sample of that class; the re-balancing branch's). With the
cumulative-learning weight α = 1 − (epoch / T)² (epoch counted from 0, so α = 1 at the start),

    z = 2 · (α · W_c f_c + (1 − α) · W_r f_r),    L = α · CE(z, y_c) + (1 − α) · CE(z, y_r)

and at inference both branches see the same image with α = 0.5, z = W_c f_c + W_r f_r. The
factor 2 is the official code's (`2 * cat(l * f_c, (1 - l) * f_r)` into one linear layer), so
training at α = 0.5 and inference compute the same function. Optimiser after BBN's CIFAR
recipe as we read it (the config was not re-checked offline): SGD momentum 0.9, weight decay
2e-4, linear warm-up (5 epochs of 200), learning rate × 0.01 at 60 % and again at 80 % of the
epochs (120 and 160 of 200).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kcm.models.image_trainer import (
    augment_batch,
    channel_stats,
    default_crop_pad,
    images_to_tensor,
    predict_proba,
    resolve_device,
    seeded_rng,
)
from kcm.models.resnet_cifar import BasicBlock, ResNetCifar, make_stage

__all__ = ["BBNResNetCifar", "bbn_alpha", "bbn_lr", "fit_bbn", "predict_proba", "reversed_class_probs",
           "sample_reversed"]


class BBNResNetCifar(nn.Module):
    def __init__(self, depth: int = 32, n_classes: int = 10, in_channels: int = 3, width: int = 16):
        super().__init__()
        plain = ResNetCifar(depth, n_classes, in_channels, width)  # validates the arguments
        n = len(plain.layer3)
        self.depth, self.n_classes, self.in_channels, self.width = depth, n_classes, in_channels, width
        self.register_buffer("input_mean", torch.zeros(in_channels))
        self.register_buffer("input_std", torch.ones(in_channels))
        self.conv1, self.bn1, self.layer1, self.layer2 = plain.conv1, plain.bn1, plain.layer1, plain.layer2
        # Stage 3 without its last block is shared; ResNet-8 (n = 1) shares none of it.
        self.layer3 = make_stage(2 * width, 4 * width, n - 1, 2) if n > 1 else nn.Identity()
        last_in, last_stride = (4 * width, 1) if n > 1 else (2 * width, 2)
        self.cb_block = BasicBlock(last_in, 4 * width, last_stride)
        self.rb_block = BasicBlock(last_in, 4 * width, last_stride)
        self.classifier = nn.Linear(8 * width, n_classes)  # [W_c | W_r] on [f_c ; f_r]
        self.reset_parameters()

    reset_parameters = ResNetCifar.reset_parameters  # the same LDAM initialisation
    stem = ResNetCifar.stem

    def shared(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer3(self.layer2(self.layer1(self.stem(x))))

    def branch_features(self, x: torch.Tensor, branch: str) -> torch.Tensor:
        """(N, 4 * width) pooled features of the conventional ("c") or re-balancing ("r") branch."""
        block = {"c": self.cb_block, "r": self.rb_block}[branch]
        return block(self.shared(x)).mean(dim=(2, 3))

    def mixed_logits(self, f_c: torch.Tensor, f_r: torch.Tensor, alpha: float) -> torch.Tensor:
        return self.classifier(2 * torch.cat((alpha * f_c, (1 - alpha) * f_r), dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inference logits: both branches on the same images, α = 0.5."""
        h = self.shared(x)
        f_c, f_r = self.cb_block(h).mean(dim=(2, 3)), self.rb_block(h).mean(dim=(2, 3))
        return self.mixed_logits(f_c, f_r, 0.5)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def bbn_alpha(epoch: int, total_epochs: int) -> float:
    """Cumulative learning's parabolic decay: 1 at epoch 0, 1 − ((T − 1) / T)² at the last epoch."""
    if not 0 <= epoch <= total_epochs:
        raise ValueError(f"epoch must lie in [0, {total_epochs}], got {epoch}")
    return 1.0 - (epoch / total_epochs) ** 2


def bbn_lr(base: float, epoch: int, total_epochs: int) -> float:
    """BBN's CIFAR schedule scaled to `total_epochs`, per epoch: linear warm-up over the first
    2.5 % (5 of 200 epochs; none below 40 epochs), then × 0.01 from 60 % and × 0.01 again from 80 %."""
    warm = round(0.025 * total_epochs)
    if epoch < warm:
        return base * (epoch + 1) / warm
    factor = 1.0
    for milestone in (0.6 * total_epochs, 0.8 * total_epochs):
        if epoch >= milestone:
            factor *= 0.01
    return base * factor


def reversed_class_probs(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class sampling probabilities of the reversed sampler: ∝ 1 / n_c (0 for absent classes)."""
    counts = np.bincount(np.asarray(labels), minlength=n_classes).astype(np.float64)
    if counts.shape != (n_classes,):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    weights = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    return weights / weights.sum()


def sample_reversed(labels: torch.Tensor, n_classes: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """`size` row indices: a class drawn with probability ∝ 1 / n_c, then one of its rows uniformly."""
    labels = labels.cpu()
    probs = torch.as_tensor(reversed_class_probs(labels.numpy(), n_classes))
    classes = torch.multinomial(probs, size, replacement=True, generator=generator)
    by_class = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels, minlength=n_classes)
    starts = torch.cumsum(counts, 0) - counts
    within = (torch.rand(size, generator=generator, dtype=torch.float64) * counts[classes]).long()
    return by_class[starts[classes] + within.clamp_max(counts[classes] - 1)]


def fit_bbn(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    n_classes: int | None = None,
    depth: int = 32,
    width: int = 16,
    weight_decay: float = 2e-4,
    augment: bool = True,
    device: str | torch.device | None = None,
) -> BBNResNetCifar:
    """A BBN ResNet trained on uint8 images (N, H, W, C); returned in eval mode.

    Deterministic for a given device and thread count: initialisation from `seed` inside
    `torch.random.fork_rng`, batches, reversed samples and augmentation from one seeded CPU
    generator. Augmentation as the official code: random crop (4 px padding on CIFAR) and, for
    colour images only, a horizontal flip.
    """
    x_all = images_to_tensor(images)
    y_all = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    n, channels, height, _ = x_all.shape
    if y_all.shape != (n,) or n < 2 or epochs < 1 or batch_size < 2 or lr <= 0:
        raise ValueError(f"need labels ({n},), at least 2 images, epochs >= 1, batch_size >= 2, lr > 0; got labels "
                         f"{tuple(y_all.shape)}, epochs={epochs}, batch_size={batch_size}, lr={lr}")
    n_classes = n_classes or int(y_all.max()) + 1
    if int(y_all.min()) < 0 or int(y_all.max()) >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes})")
    device = resolve_device(device)
    with seeded_rng(seed):
        model = BBNResNetCifar(depth, n_classes, channels, width)  # on the CPU: the same for every device
    mean, std = channel_stats(x_all)
    model.input_mean.copy_(mean.float())
    model.input_std.copy_(std.float())
    model.to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    pad = default_crop_pad(height)
    x_dev, y_dev = x_all.to(device), y_all.to(device)

    def batch(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x_dev[idx.to(device)].to(torch.float32).div_(255)
        if augment:
            x = augment_batch(x, generator, pad, flip=channels == 3)
        return x.contiguous(memory_format=torch.channels_last), y_dev[idx.to(device)]

    steps = -(-n // batch_size)
    for epoch in range(epochs):
        alpha = bbn_alpha(epoch, epochs)
        for group in opt.param_groups:
            group["lr"] = bbn_lr(lr, epoch, epochs)
        order = torch.randperm(n, generator=generator)
        for step in range(steps):
            idx_c = order[step * batch_size : (step + 1) * batch_size]
            if len(idx_c) < 2:  # BatchNorm needs two images; a last batch of one is skipped
                continue
            idx_r = sample_reversed(y_all, n_classes, len(idx_c), generator)
            (x_c, y_c), (x_r, y_r) = batch(idx_c), batch(idx_r)
            logits = model.mixed_logits(model.branch_features(x_c, "c"), model.branch_features(x_r, "r"), alpha)
            loss = alpha * F.cross_entropy(logits, y_c) + (1 - alpha) * F.cross_entropy(logits, y_r)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite BBN loss at epoch {epoch} (lower the learning rate)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()
