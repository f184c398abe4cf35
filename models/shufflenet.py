"""ShuffleNet v1 (Zhang et al. 2018) and ShuffleNet v2 (Ma et al. 2018).

v1 follows the paper's Table 1 (stage output channels per group count g, bottleneck = out/4, no grouping on the
first pointwise conv of stage 2, 3×3/2 average-pool shortcut concatenated in stride-2 units). v2 follows
torchvision's layout, so parameter counts equal torchvision's (``shufflenet_v2_x1_0``: 2,278,604).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from models.blocks import ChannelShuffle, ClassifierHead, check_choice, check_range, conv_bn
from models.spec import register, spec_type

# ShuffleNet v1 paper, Table 1: output channels of stages 2–4 at 1.0× for each group count g.
V1_STAGE_CHANNELS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
V1_STEM_CHANNELS = 24


def _round_to(value: float, divisor: int) -> int:
    # Nearest positive multiple of ``divisor``; all 1.0× values of Table 1 are already multiples of 4·g.
    return max(divisor, round(value / divisor) * divisor)


class ShuffleV1Unit(nn.Module):
    """1×1 group conv → shuffle → 3×3 depthwise (stride) → 1×1 group conv; add (stride 1) or concat avg-pool."""

    def __init__(self, c_in: int, c_out: int, stride: int, groups: int, first_groups: int) -> None:
        super().__init__()
        self.stride = stride
        mid = c_out // 4  # paper §3.2: bottleneck channels are 1/4 of the unit's output channels
        # Stride-2 units concatenate the pooled input, so their branch produces only the missing channels.
        c_branch = c_out - c_in if stride == 2 else c_out
        self.branch = nn.Sequential(
            conv_bn(c_in, mid, 1, groups=first_groups),
            ChannelShuffle(groups) if groups > 1 else nn.Identity(),
            conv_bn(mid, mid, 3, stride, groups=mid, act=None),  # paper: no ReLU after the depthwise conv
            conv_bn(mid, c_branch, 1, groups=groups, act=None),
        )
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, c_in, H, W) → (B, c_out, H/s, W/s)
        if self.shortcut is None:
            return self.relu(x + self.branch(x))
        return self.relu(torch.cat((self.shortcut(x), self.branch(x)), 1))


@spec_type
@dataclass(frozen=True)
class ShuffleNetV1Spec:
    """ShuffleNet v1: group count g (Table 1), width multiplier s ("ShuffleNet s×"), units per stage."""

    groups: int = 3
    width_mult: float = 1.0
    stage_repeats: tuple[int, int, int] = (4, 8, 4)  # Table 1: stage 2 ×(1+3), stage 3 ×(1+7), stage 4 ×(1+3)
    num_classes: int = 1000

    family: ClassVar[str] = "shufflenet_v1"
    min_resolution: ClassVar[int] = 32  # total stride 32

    def __post_init__(self) -> None:
        check_choice(self, "groups", self.groups, tuple(V1_STAGE_CHANNELS))
        check_range(self, "width_mult", self.width_mult, 0.1, 4.0)
        if len(self.stage_repeats) != 3:
            raise ValueError(f"ShuffleNetV1Spec.stage_repeats must have 3 entries, got {self.stage_repeats!r}")
        for r in self.stage_repeats:
            check_range(self, "stage_repeats[i]", r, 1, 32)
        check_range(self, "num_classes", self.num_classes, 1, 100_000)

    def channels(self) -> tuple[int, tuple[int, ...]]:
        """(stem channels, stage 2–4 output channels) after the width multiplier."""
        g = self.groups
        # Rounding keeps the group convs and the shuffle divisible: stages to 4·g (bottleneck = out/4 split
        # into g groups), the stem to g (stride-2 branch produces out − in channels in g groups).
        stem = _round_to(V1_STEM_CHANNELS * self.width_mult, g)
        stages = tuple(_round_to(c * self.width_mult, 4 * g) for c in V1_STAGE_CHANNELS[g])
        return stem, stages

    def build(self) -> nn.Module:
        return ShuffleNetV1(self)


class ShuffleNetV1(nn.Module):
    """Stem (3×3/2 conv, 3×3/2 max pool) → 3 stages of shuffle units → global pool + FC."""

    def __init__(self, spec: ShuffleNetV1Spec) -> None:
        super().__init__()
        stem, stage_channels = spec.channels()
        self.stem = nn.Sequential(conv_bn(3, stem, 3, 2), nn.MaxPool2d(3, 2, 1))
        stages, c_in = [], stem
        for i, (repeats, c_out) in enumerate(zip(spec.stage_repeats, stage_channels, strict=True)):
            units = []
            for j in range(repeats):
                # Paper §3.3: the first pointwise conv of stage 2 is not grouped (its input is only 24 ch).
                first_groups = 1 if i == 0 and j == 0 else spec.groups
                units.append(ShuffleV1Unit(c_in, c_out, 2 if j == 0 else 1, spec.groups, first_groups))
                c_in = c_out
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.head = ClassifierHead(c_in, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, num_classes)
        return self.head(self.stages(self.stem(x)))


class ShuffleV2Unit(nn.Module):
    """ShuffleNet v2 unit: channel split (stride 1) or two stride-2 branches, concat, shuffle with g=2."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        half = c_out // 2
        if stride == 2:
            self.branch1 = nn.Sequential(conv_bn(c_in, c_in, 3, stride, groups=c_in, act=None), conv_bn(c_in, half, 1))
        else:
            self.branch1 = None
        self.branch2 = nn.Sequential(
            conv_bn(c_in if stride == 2 else half, half, 1),
            conv_bn(half, half, 3, stride, groups=half, act=None),
            conv_bn(half, half, 1),
        )
        self.shuffle = ChannelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, c_in, H, W) → (B, c_out, H/s, W/s)
        if self.branch1 is None:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), 1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), 1)
        return self.shuffle(out)


@spec_type
@dataclass(frozen=True)
class ShuffleNetV2Spec:
    """ShuffleNet v2: units per stage and output channels of (stem, stage 2, 3, 4, conv5)."""

    stage_repeats: tuple[int, int, int] = (4, 8, 4)
    stage_channels: tuple[int, int, int, int, int] = (24, 116, 232, 464, 1024)
    num_classes: int = 1000

    family: ClassVar[str] = "shufflenet_v2"
    min_resolution: ClassVar[int] = 32

    def __post_init__(self) -> None:
        if len(self.stage_repeats) != 3:
            raise ValueError(f"ShuffleNetV2Spec.stage_repeats must have 3 entries, got {self.stage_repeats!r}")
        if len(self.stage_channels) != 5:
            raise ValueError(f"ShuffleNetV2Spec.stage_channels must have 5 entries, got {self.stage_channels!r}")
        for r in self.stage_repeats:
            check_range(self, "stage_repeats[i]", r, 1, 32)
        for c in self.stage_channels:
            check_range(self, "stage_channels[i]", c, 2, 8192)
        for c in self.stage_channels[1:4]:
            if c % 2:  # the unit splits its channels into two halves
                raise ValueError(f"ShuffleNetV2Spec.stage_channels[1:4] must be even, got {self.stage_channels!r}")
        check_range(self, "num_classes", self.num_classes, 1, 100_000)

    def build(self) -> nn.Module:
        return ShuffleNetV2(self)


class ShuffleNetV2(nn.Module):
    """Stem (3×3/2 conv, 3×3/2 max pool) → 3 stages → 1×1 conv5 → global pool + FC."""

    def __init__(self, spec: ShuffleNetV2Spec) -> None:
        super().__init__()
        stem, *stage_channels, last = spec.stage_channels
        self.stem = nn.Sequential(conv_bn(3, stem, 3, 2), nn.MaxPool2d(3, 2, 1))
        stages, c_in = [], stem
        for repeats, c_out in zip(spec.stage_repeats, stage_channels, strict=True):
            stages.append(
                nn.Sequential(
                    *(ShuffleV2Unit(c_in if j == 0 else c_out, c_out, 2 if j == 0 else 1) for j in range(repeats))
                )
            )
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.conv5 = conv_bn(c_in, last, 1)
        self.head = ClassifierHead(last, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, num_classes)
        return self.head(self.conv5(self.stages(self.stem(x))))


for _g in V1_STAGE_CHANNELS:
    register(f"shufflenet_v1_g{_g}", ShuffleNetV1Spec(groups=_g))
for _w, _tag in ((0.25, "0_25"), (0.5, "0_5"), (1.5, "1_5"), (2.0, "2_0")):
    register(f"shufflenet_v1_g3_x{_tag}", ShuffleNetV1Spec(groups=3, width_mult=_w))

# torchvision's stage channels per width (stem 24; conv5 1024, or 2048 at 2.0×).
_V2_CHANNELS = {
    "0_5": (24, 48, 96, 192, 1024),
    "1_0": (24, 116, 232, 464, 1024),
    "1_5": (24, 176, 352, 704, 1024),
    "2_0": (24, 244, 488, 976, 2048),
}
for _tag, _cs in _V2_CHANNELS.items():
    register(f"shufflenet_v2_x{_tag}", ShuffleNetV2Spec(stage_channels=_cs))
