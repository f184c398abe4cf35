"""Tiny networks for timing tests: fast to export, compile and run on CPU."""

from __future__ import annotations

import torch
from torch import nn


class Tiny(nn.Module):
    """conv-bn-relu-pool-fc: every op class a CNN export needs, exported in about a second."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))  # (B, 8, H, W)
        return self.fc(y.mean((2, 3)))  # (B, 10)


# Registered once per process: import this module only as ``tests.support.nets`` (a second name would register
# the op twice).
@torch.library.custom_op("archprof_test::twist", mutates_args=())
def twist(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1).clone()


@twist.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class Unexportable(nn.Module):
    """Calls a custom op (``archprof_test::twist``) that no ONNX exporter can translate."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return twist(x)


def tiny_net() -> torch.nn.Module:
    """Three layers: inductor compiles it in seconds (a registered network takes tens on this CPU)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 10),
    )
