"""A hand-written network and a few broken factories, for the external-model tests (``PATH.py:CALLABLE`` and
``MODULE:CALLABLE`` references). Counts of ``build`` at resolution R, batch 1, computed by hand:

- ``conv1`` 3→4, 3×3, pad 1: output 4·R·R; MACs 4·R²·(3·9) = 108·R²; params 3·4·9 + 4 = 112; acts 4·R².
- ``conv2`` 4→8, 3×3, stride 2, pad 1: output 8·(R/2)²; MACs 8·(R/2)²·(4·9) = 72·R²; params 4·8·9 + 8 = 296;
  acts 2·R².
- ReLU, global average pool: no MACs, no params, not in acts (RegNet §4 counts convs and the final FC).
- ``fc`` 8→C: MACs 8·C; params 8·C + C; acts C.

So with C = 10: MACs 180·R² + 80, params 498, acts 6·R² + 10 (R even).
"""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, R, R) -> (B, C)
        x = torch.relu(self.conv1(x))  # (B, 4, R, R)
        x = torch.relu(self.conv2(x))  # (B, 8, R/2, R/2)
        return self.fc(x.mean((2, 3)))  # (B, C)


def expected(resolution: int, num_classes: int = 10, batch: int = 1) -> dict[str, int]:
    """The hand-computed counts above."""
    r2 = resolution * resolution
    return {
        "macs": batch * (180 * r2 + 8 * num_classes),
        "params": 8 * num_classes + num_classes + 408,
        "acts": batch * (6 * r2 + num_classes),
    }


def build(num_classes: int = 10) -> nn.Module:
    return TinyNet(num_classes)


def raises() -> nn.Module:
    raise RuntimeError("weights server unreachable")


def not_a_module() -> dict:
    return {"conv": 3}


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.conv(image) * mask


def two_inputs() -> nn.Module:
    return TwoInputs()


class FixedSize(nn.Module):
    """Accepts 32×32 inputs only (a flatten into a fixed-size linear layer)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.fc = nn.Linear(2 * 32 * 32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


def fixed_size() -> nn.Module:
    return FixedSize()
