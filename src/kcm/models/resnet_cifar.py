"""The CIFAR ResNet of He et al. (CVPR 2016, section 4.2) as LDAM-DRW and BBN use it.

Three stages of n = (depth - 2) / 6 basic blocks with widths w, 2w, 4w (16/32/64 by default),
stride 2 at the start of stages 2 and 3, option-A shortcuts (the identity, subsampled by 2 and
zero-padded in channels: no parameters), Kaiming-normal initialisation of every convolution and
linear layer (LDAM's `_weights_init`), global average pooling and a linear head. ResNet-32 has
0.46M parameters, the count LDAM and He et al. quote.

The network takes float images in [0, 1], (N, C, H, W), and standardises them itself with the
per-channel `input_mean` / `input_std` buffers, so a trained model carries its own input
statistics to inference (the trainer sets them from the training images).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        # Option A: the parameter-free shortcut of the CIFAR experiments.
        self.pad_channels = planes - in_planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad_channels:
            half = self.pad_channels // 2
            x = F.pad(x, (0, 0, 0, 0, half, self.pad_channels - half))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def make_stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    strides = [stride] + [1] * (blocks - 1)
    layers = []
    for s in strides:
        layers.append(BasicBlock(in_planes, planes, s))
        in_planes = planes
    return nn.Sequential(*layers)


def blocks_per_stage(depth: int) -> int:
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110), got {depth}")
    return (depth - 2) // 6


class ResNetCifar(nn.Module):
    def __init__(self, depth: int = 32, n_classes: int = 10, in_channels: int = 3, width: int = 16):
        super().__init__()
        n = blocks_per_stage(depth)
        if n_classes < 2 or in_channels < 1 or width < 4 or width % 4:
            raise ValueError(f"need n_classes >= 2, in_channels >= 1 and a width divisible by 4 (>= 4), "
                             f"got n_classes={n_classes}, in_channels={in_channels}, width={width}")
        self.depth, self.n_classes, self.in_channels, self.width = depth, n_classes, in_channels, width
        self.register_buffer("input_mean", torch.zeros(in_channels))
        self.register_buffer("input_std", torch.ones(in_channels))
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = make_stage(width, width, n, 1)
        self.layer2 = make_stage(width, 2 * width, n, 2)
        self.layer3 = make_stage(2 * width, 4 * width, n, 2)
        self.linear = nn.Linear(4 * width, n_classes)
        self.reset_parameters()

    @property
    def feature_dim(self) -> int:
        return 4 * self.width

    def reset_parameters(self) -> None:
        """LDAM's initialisation (Kaiming-normal convolutions and linear weights), fresh BatchNorm.

        Draws from torch's global RNG: seed it (inside `torch.random.fork_rng`) for a repeatable model.
        """
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    # nn.Linear's default bias range; LDAM keeps PyTorch's default bias init.
                    bound = 1 / m.weight.shape[1] ** 0.5
                    nn.init.uniform_(m.bias, -bound, bound)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected images (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        x = (x - self.input_mean[:, None, None]) / self.input_std[:, None, None]
        return F.relu(self.bn1(self.conv1(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 4 * width) globally average-pooled features of the last stage."""
        out = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return out.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x))

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
