"""Building blocks shared by several families (conv-BN-act, squeeze-excitation, channel shuffle)."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(
    c_in: int,
    c_out: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    act: type[nn.Module] | None = nn.ReLU,
    eps: float = 1e-5,
) -> nn.Sequential:
    """``Conv2d(bias=False) → BatchNorm2d → act`` with 'same' padding for odd kernels."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out, eps=eps),
    ]
    if act is not None:
        layers.append(act(inplace=True) if act in (nn.ReLU, nn.ReLU6, nn.SiLU) else act())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation (Hu et al. 2018): global pool → 1×1 conv → act → 1×1 conv → sigmoid gate."""

    def __init__(self, channels: int, squeeze: int, act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1, bias=True)
        self.act = act()
        self.fc2 = nn.Conv2d(squeeze, channels, 1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        s = self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))  # (B, C, 1, 1)
        return x * s


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle: (B, g·c, H, W) → view (B, g, c, H, W) → transpose → flatten."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ChannelShuffle(nn.Module):
    """Module form of :func:`channel_shuffle` so that it shows up in per-layer tables."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)


class ClassifierHead(nn.Module):
    """Global average pool → flatten → (dropout) → linear."""

    def __init__(self, c_in: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) → (B, num_classes)
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))


def check_range(spec: object, field: str, value: float, lo: float, hi: float) -> None:
    """Raise ValueError naming ``field`` when ``value`` is outside ``[lo, hi]``."""
    if not lo <= value <= hi:
        raise ValueError(f"{type(spec).__name__}.{field}={value!r} is out of range; allowed {lo}..{hi}")


def check_choice(spec: object, field: str, value: object, choices: tuple) -> None:
    """Raise ValueError naming ``field`` when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{type(spec).__name__}.{field}={value!r} is invalid; allowed: {choices}")
