"""AnyNetX / AnyNetY (Radosavovic et al. 2020, "Designing Network Design Spaces", §3.1) with a closed-form
complexity count, following pycls (``pycls/models/anynet.py``).

Network: stem (3×3/2 conv, BN, ReLU) → stages of residual bottleneck "X blocks" (first block of every stage has
stride 2) → head (global average pool, FC). Stage ``i`` has depth ``d_i``, width ``w_i``, bottleneck multiplier
``bm_i`` (``1 / b_i`` with the paper's bottleneck ratio ``b_i``, inner width ``w_b = round(w_i·bm_i)``) and group
width ``g_i`` (``w_b // g_i`` groups). AnyNetY adds SE after the 3×3 conv (squeeze ``round(w_in·se_ratio)``).

>>> spec = AnyNetSpec(depths=(1, 1, 2, 3), widths=(32, 64, 128, 256), bot_muls=(1, 1, 1, 1), group_ws=(8,) * 4)
>>> cx = spec.complexity(224)
>>> cx["macs"], cx["params"], cx["acts"]
(100507648, 816264, 1870056)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from models.blocks import SqueezeExcite, check_range, conv_bn
from models.spec import spec_type

_STAGE_STRIDE = 2  # every stage halves the resolution (paper §3.1: "the first block of each stage has stride 2")


class XBlock(nn.Module):
    """Residual bottleneck block: 1×1 → 3×3 grouped (stride) [→ SE] → 1×1, projection shortcut when needed."""

    def __init__(self, w_in: int, w_out: int, stride: int, bot_mul: float, group_w: int, se_ratio: float) -> None:
        super().__init__()
        w_b = round(w_out * bot_mul)
        self.a = conv_bn(w_in, w_b, 1)
        self.b = conv_bn(w_b, w_b, 3, stride, groups=w_b // group_w)
        self.se = SqueezeExcite(w_b, round(w_in * se_ratio)) if se_ratio else nn.Identity()
        self.c = conv_bn(w_b, w_out, 1, act=None)
        self.proj = conv_bn(w_in, w_out, 1, stride, act=None) if (w_in != w_out or stride != 1) else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, w_in, H, W) → (B, w_out, H/s, W/s)
        shortcut = x if self.proj is None else self.proj(x)
        return self.relu(self.c(self.se(self.b(self.a(x)))) + shortcut)


class AnyNet(nn.Module):
    """Stem → stages of :class:`XBlock` → global pool + FC (pycls ``AnyNet`` with ``simple_stem_in``)."""

    def __init__(self, spec: AnyNetSpec) -> None:
        super().__init__()
        self.stem = conv_bn(3, spec.stem_w, 3, 2)
        stages, w_in = [], spec.stem_w
        for d, w, bm, gw in zip(spec.depths, spec.widths, spec.bot_muls, spec.group_ws, strict=True):
            blocks = [
                XBlock(w_in if j == 0 else w, w, _STAGE_STRIDE if j == 0 else 1, bm, gw, spec.se_ratio)
                for j in range(d)
            ]
            stages.append(nn.Sequential(*blocks))
            w_in = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(w_in, spec.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, num_classes)
        return self.head(self.stages(self.stem(x)))


def check_block_compat(spec: object, i: int, w: int, bm: float, gw: int) -> None:
    """Raise ValueError unless the bottleneck width ``round(w·bm)`` is a positive multiple of group width ``gw``."""
    w_b = round(w * bm)
    if w_b < 1 or w_b % gw != 0:
        raise ValueError(
            f"{type(spec).__name__} stage {i}: bottleneck width round(widths[{i}]={w} * bot_muls[{i}]={bm})"
            f" = {w_b} must be a positive multiple of group_ws[{i}]={gw}"
        )


@spec_type
@dataclass(frozen=True)
class AnyNetSpec:
    """AnyNetX (``se_ratio=0``) / AnyNetY: per-stage depths, widths, bottleneck multipliers and group widths."""

    depths: tuple[int, ...] = (1, 1, 2, 3)
    widths: tuple[int, ...] = (32, 64, 128, 256)
    bot_muls: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)  # 1 / paper's bottleneck ratio b (b=4 → 0.25)
    group_ws: tuple[int, ...] = (8, 8, 8, 8)  # channels per group of the 3×3 conv
    se_ratio: float = 0.0  # AnyNetY / RegNetY use 0.25
    stem_w: int = 32
    num_classes: int = 1000

    min_resolution: ClassVar[int] = 32
    family: ClassVar[str] = "anynet"

    def __post_init__(self) -> None:
        n = len(self.depths)
        check_range(self, "len(depths)", n, 1, 32)
        for field in ("widths", "bot_muls", "group_ws"):
            if len(getattr(self, field)) != n:
                raise ValueError(
                    f"{type(self).__name__}.{field} must have one entry per stage ({n}), got {getattr(self, field)!r}"
                )
        for i, (d, w, bm, gw) in enumerate(zip(self.depths, self.widths, self.bot_muls, self.group_ws, strict=True)):
            check_range(self, f"depths[{i}]", d, 1, 128)
            check_range(self, f"widths[{i}]", w, 1, 65536)
            check_range(self, f"bot_muls[{i}]", bm, 1 / 64, 64)
            check_range(self, f"group_ws[{i}]", gw, 1, 65536)
            check_block_compat(self, i, w, bm, gw)
        check_range(self, "se_ratio", self.se_ratio, 0.0, 1.0)
        if self.se_ratio:
            for i, w_in in enumerate((self.stem_w, *self.widths[:-1])):
                if round(w_in * self.se_ratio) < 1:
                    raise ValueError(f"{type(self).__name__}.se_ratio={self.se_ratio} gives an empty SE in stage {i}")
        check_range(self, "stem_w", self.stem_w, 1, 4096)
        check_range(self, "num_classes", self.num_classes, 1, 100_000)

    def build(self) -> nn.Module:
        return AnyNet(self)

    def complexity(self, resolution: int = 224) -> dict[str, int]:
        """Closed-form ``{"macs", "params", "acts"}`` for one image (see :func:`anynet_complexity`)."""
        return anynet_complexity(self, resolution)


def anynet_complexity(spec: AnyNetSpec, resolution: int = 224) -> dict[str, int]:
    """Closed-form counts of an AnyNet at ``resolution``² (batch 1), pycls ``AnyNet.complexity`` style.

    ``macs``: conv/linear multiply-adds without biases (= fvcore's conv+linear count); ``params``: every
    parameter incl. BN affine and biases; ``acts``: output elements of every conv (SE and projection included)
    and of the FC (RegNet §4). Pure integer arithmetic; identical blocks in a stage are counted once × (d-1).
    """
    se = spec.se_ratio
    h = (resolution - 1) // 2 + 1  # stem 3×3/2, padding 1
    w0 = spec.stem_w
    macs, params, acts = 27 * w0 * h * h, 27 * w0 + 2 * w0, w0 * h * h
    w_in = w0
    for d, w, bm, gw in zip(spec.depths, spec.widths, spec.bot_muls, spec.group_ws, strict=True):
        w_b = round(w * bm)
        h2 = (h - 1) // _STAGE_STRIDE + 1  # 3×3/2 pad 1 and 1×1/2 pad 0 give the same size
        hw, hw2 = h * h, h2 * h2
        # first block: 1×1 at h, 3×3 grouped strided, 1×1 at h2, projection shortcut at h2
        m = w_in * w_b * hw + 9 * w_b * gw * hw2 + w_b * w * hw2 + w_in * w * hw2
        p = w_in * w_b + 9 * w_b * gw + w_b * w + w_in * w + 2 * (2 * w_b + 2 * w)
        a = w_b * hw + w_b * hw2 + 2 * w * hw2
        # later blocks (d-1 of them): w_in = w, stride 1, no projection
        m_r = w * w_b * hw2 + 9 * w_b * gw * hw2 + w_b * w * hw2
        p_r = 2 * w * w_b + 9 * w_b * gw + 2 * (2 * w_b + w)
        a_r = 2 * w_b * hw2 + w * hw2
        if se:  # two 1×1 convs with bias on the pooled (1×1) map; squeeze width from the block's input width
            s1, s2 = round(w_in * se), round(w * se)
            m += 2 * w_b * s1
            p += 2 * w_b * s1 + s1 + w_b
            a += s1 + w_b
            m_r += 2 * w_b * s2
            p_r += 2 * w_b * s2 + s2 + w_b
            a_r += s2 + w_b
        macs += m + (d - 1) * m_r
        params += p + (d - 1) * p_r
        acts += a + (d - 1) * a_r
        w_in, h = w, h2
    nc = spec.num_classes
    macs += w_in * nc
    params += w_in * nc + nc
    acts += nc
    return {"macs": macs, "params": params, "acts": acts}
