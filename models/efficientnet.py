"""EfficientNet-B0…B5 (Tan & Le 2019), laid out as pycls ``EffNet`` (equal to torchvision's parameter counts).

Stem 3×3/2 conv + BN + SiLU → stages of MBConv blocks (1×1 expand if the ratio ≠ 1, k×k depthwise, SE with
SiLU and squeeze ``int(w_in·se_ratio)``, 1×1 linear projection; identity residual when stride 1 and
``w_in == w_out``) → head 1×1 conv + BN + SiLU, global pool, FC. Drop-connect is a training-time op and is
omitted (this suite measures inference). Per-variant lists are pycls's configs, which equal the compound-scaling
results (width/depth multipliers applied to B0 and rounded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from models.blocks import ClassifierHead, SqueezeExcite, check_choice, check_range, conv_bn
from models.spec import register, spec_type


class MBConv(nn.Module):
    """Mobile inverted bottleneck with SE (MobileNetV2 / EfficientNet)."""

    def __init__(self, w_in: int, w_out: int, exp_ratio: int, kernel: int, stride: int, se_ratio: float) -> None:
        super().__init__()
        w_exp = int(w_in * exp_ratio)
        self.expand = conv_bn(w_in, w_exp, 1, act=nn.SiLU) if w_exp != w_in else nn.Identity()
        self.dwise = conv_bn(w_exp, w_exp, kernel, stride, groups=w_exp, act=nn.SiLU)
        self.se = SqueezeExcite(w_exp, int(w_in * se_ratio), act=nn.SiLU)
        self.project = conv_bn(w_exp, w_out, 1, act=None)
        self.has_skip = stride == 1 and w_in == w_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, w_in, H, W) → (B, w_out, H/s, W/s)
        f_x = self.project(self.se(self.dwise(self.expand(x))))
        return x + f_x if self.has_skip else f_x


def _tuple_field(spec: object, field: str, value: tuple, n: int) -> None:
    if len(value) != n:
        raise ValueError(f"{type(spec).__name__}.{field} must have one entry per stage ({n}), got {value!r}")


@spec_type
@dataclass(frozen=True)
class EfficientNetSpec:
    """EfficientNet: per-stage depths, widths, kernels, strides and expansion ratios; stem and head widths."""

    depths: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1)
    widths: tuple[int, ...] = (16, 24, 40, 80, 112, 192, 320)
    kernels: tuple[int, ...] = (3, 3, 5, 3, 5, 5, 3)
    strides: tuple[int, ...] = (1, 2, 2, 2, 1, 2, 1)
    exp_ratios: tuple[int, ...] = (1, 6, 6, 6, 6, 6, 6)
    stem_w: int = 32
    head_w: int = 1280
    se_ratio: float = 0.25
    num_classes: int = 1000

    min_resolution: ClassVar[int] = 32
    family: ClassVar[str] = "efficientnet"

    def __post_init__(self) -> None:
        n = len(self.depths)
        check_range(self, "len(depths)", n, 1, 16)
        for field in ("widths", "kernels", "strides", "exp_ratios"):
            _tuple_field(self, field, getattr(self, field), n)
        for i in range(n):
            check_range(self, f"depths[{i}]", self.depths[i], 1, 64)
            check_range(self, f"widths[{i}]", self.widths[i], 1, 8192)
            check_choice(self, f"kernels[{i}]", self.kernels[i], (1, 3, 5, 7, 9))
            check_choice(self, f"strides[{i}]", self.strides[i], (1, 2))
            check_range(self, f"exp_ratios[{i}]", self.exp_ratios[i], 1, 16)
        check_range(self, "stem_w", self.stem_w, 1, 8192)
        check_range(self, "head_w", self.head_w, 1, 16384)
        check_range(self, "se_ratio", self.se_ratio, 0.01, 1.0)
        for i, w_in in enumerate((self.stem_w, *self.widths[:-1])):
            if int(w_in * self.se_ratio) < 1:
                raise ValueError(f"EfficientNetSpec.se_ratio={self.se_ratio} gives an empty SE in stage {i}")
        check_range(self, "num_classes", self.num_classes, 1, 100_000)

    def build(self) -> nn.Module:
        return EfficientNet(self)


class EfficientNet(nn.Module):
    """Stem → MBConv stages → 1×1 head conv → global pool + FC."""

    def __init__(self, spec: EfficientNetSpec) -> None:
        super().__init__()
        self.stem = conv_bn(3, spec.stem_w, 3, 2, act=nn.SiLU)
        stages, w_in = [], spec.stem_w
        for d, w, k, s, e in zip(spec.depths, spec.widths, spec.kernels, spec.strides, spec.exp_ratios, strict=True):
            stages.append(
                nn.Sequential(
                    *(MBConv(w_in if j == 0 else w, w, e, k, s if j == 0 else 1, spec.se_ratio) for j in range(d))
                )
            )
            w_in = w
        self.stages = nn.Sequential(*stages)
        self.head_conv = conv_bn(w_in, spec.head_w, 1, act=nn.SiLU)
        self.head = ClassifierHead(spec.head_w, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, num_classes)
        return self.head(self.head_conv(self.stages(self.stem(x))))


# pycls EN configs: name → (depths, widths, stem_w, head_w, native resolution)
_VARIANTS = {
    "b0": ((1, 2, 2, 3, 3, 4, 1), (16, 24, 40, 80, 112, 192, 320), 32, 1280, 224),
    "b1": ((2, 3, 3, 4, 4, 5, 2), (16, 24, 40, 80, 112, 192, 320), 32, 1280, 240),
    "b2": ((2, 3, 3, 4, 4, 5, 2), (16, 24, 48, 88, 120, 208, 352), 32, 1408, 260),
    "b3": ((2, 3, 3, 5, 5, 6, 2), (24, 32, 48, 96, 136, 232, 384), 40, 1536, 300),
    "b4": ((2, 4, 4, 6, 6, 8, 2), (24, 32, 56, 112, 160, 272, 448), 48, 1792, 380),
    "b5": ((3, 5, 5, 7, 7, 9, 3), (24, 40, 64, 128, 176, 304, 512), 48, 2048, 456),
}

for _name, (_ds, _ws, _stem, _head, _res) in _VARIANTS.items():
    register(f"efficientnet_{_name}", EfficientNetSpec(depths=_ds, widths=_ws, stem_w=_stem, head_w=_head), _res)
