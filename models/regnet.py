"""RegNetX / RegNetY (Radosavovic et al. 2020): AnyNets whose widths follow a quantized linear function.

Widths come from the paper's parameterization (RegNet §3.3, eqs. 2–4) and pycls's
``adjust_block_compatibility``; the twelve sizes of each family are pycls's model-zoo configs. The generator uses
Python's ``math`` (``round`` is round-half-even, as ``np.round`` in pycls), so the build and the closed-form
complexity agree by construction.

>>> from models import get_spec
>>> spec = get_spec("regnetx_400mf")
>>> spec.stages()
((1, 32, 1.0, 16), (2, 64, 1.0, 16), (7, 160, 1.0, 16), (12, 384, 1.0, 16))
>>> spec.complexity()["params"]
5157512
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from models.anynet import AnyNetSpec, anynet_complexity
from models.blocks import check_range
from models.spec import register, spec_type

__all__ = ["RegNetSpec", "adjust_block_compatibility", "generate_regnet"]


def generate_regnet(w0: int, wa: float, wm: float, depth: int, q: int = 8) -> tuple[list[int], list[int]]:
    """Per-stage ``(widths, depths)`` from the RegNet parameters (RegNet §3.3).

    u_j = w0 + wa·j (eq. 2); s_j = round(log(u_j / w0) / log(wm)) (eq. 3); w_j = round(w0·wm^s_j / q)·q (eq. 4);
    stages are the distinct w_j with their counts (w_j is non-decreasing in j).
    """
    log_wm = math.log(wm)
    widths: list[int] = []
    depths: list[int] = []
    for j in range(depth):
        s = round(math.log((w0 + wa * j) / w0) / log_wm)
        w = round(w0 * wm**s / q) * q
        if widths and widths[-1] == w:
            depths[-1] += 1
        else:
            widths.append(w)
            depths.append(1)
    return widths, depths


def adjust_block_compatibility(
    ws: list[int], bms: list[float], gws: list[int]
) -> tuple[list[int], list[float], list[int]]:
    """pycls ``adjust_block_compatibility``: group width ≤ bottleneck width, bottleneck width a multiple of it."""
    vs = [int(max(1, w * b)) for w, b in zip(ws, bms, strict=True)]
    gws = [int(min(g, v)) for g, v in zip(gws, vs, strict=True)]
    ms = [math.lcm(g, int(b)) if b > 1 else g for g, b in zip(gws, bms, strict=True)]
    vs = [max(m, int(round(v / m) * m)) for v, m in zip(vs, ms, strict=True)]
    ws = [int(v / b) for v, b in zip(vs, bms, strict=True)]
    return ws, bms, gws


@spec_type
@dataclass(frozen=True)
class RegNetSpec:
    """RegNetX (``se_ratio=0``) / RegNetY (``se_ratio=0.25``): depth, w0, wa, wm, group width, bottleneck mult."""

    depth: int = 22
    w0: int = 24
    wa: float = 24.48
    wm: float = 2.54
    group_w: int = 16
    bot_mul: float = 1.0  # 1 / paper's bottleneck ratio b
    se_ratio: float = 0.0
    stem_w: int = 32
    q: int = 8  # width quantum
    num_classes: int = 1000

    min_resolution: ClassVar[int] = 32

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_range(self, "depth", self.depth, 1, 128)
        check_range(self, "q", self.q, 1, 64)
        check_range(self, "w0", self.w0, self.q, 4096)
        if self.w0 % self.q:
            raise ValueError(f"{name}.w0={self.w0} must be a multiple of q={self.q}")
        check_range(self, "wa", self.wa, 0.0, 4096.0)
        if not 1.0 < self.wm <= 8.0:
            raise ValueError(f"{name}.wm={self.wm!r} is out of range; allowed (1, 8]")
        check_range(self, "group_w", self.group_w, 1, 4096)
        check_range(self, "bot_mul", self.bot_mul, 1 / 64, 64)
        if self.bot_mul > 1 and self.bot_mul % 1:
            raise ValueError(f"{name}.bot_mul={self.bot_mul!r} must be an integer when > 1 (pycls rule)")
        check_range(self, "se_ratio", self.se_ratio, 0.0, 1.0)
        check_range(self, "stem_w", self.stem_w, 1, 4096)
        check_range(self, "num_classes", self.num_classes, 1, 100_000)

    @property
    def family(self) -> str:
        return "regnety" if self.se_ratio else "regnetx"

    def stages(self) -> tuple[tuple[int, int, float, int], ...]:
        """``(depth, width, bot_mul, group_w)`` per stage after the compatibility adjustment."""
        ws, ds = generate_regnet(self.w0, self.wa, self.wm, self.depth, self.q)
        n = len(ws)
        ws, bms, gws = adjust_block_compatibility(ws, [self.bot_mul] * n, [self.group_w] * n)
        return tuple(zip(ds, ws, bms, gws, strict=True))

    def to_anynet(self) -> AnyNetSpec:
        """The equivalent :class:`AnyNetSpec` (what ``build`` and ``complexity`` use)."""
        ds, ws, bms, gws = zip(*self.stages(), strict=True)
        return AnyNetSpec(
            depths=ds,
            widths=ws,
            bot_muls=bms,
            group_ws=gws,
            se_ratio=self.se_ratio,
            stem_w=self.stem_w,
            num_classes=self.num_classes,
        )

    def build(self) -> nn.Module:
        return self.to_anynet().build()

    def complexity(self, resolution: int = 224) -> dict[str, int]:
        """Closed-form ``{"macs", "params", "acts"}`` for one image at ``resolution``² (see ``anynet_complexity``)."""
        return anynet_complexity(self.to_anynet(), resolution)


# pycls model zoo configs: name → (depth, w0, wa, wm, group_w)
REGNETX = {
    "200mf": (13, 24, 36.44, 2.49, 8),
    "400mf": (22, 24, 24.48, 2.54, 16),
    "600mf": (16, 48, 36.97, 2.24, 24),
    "800mf": (16, 56, 35.73, 2.28, 16),
    "1_6gf": (18, 80, 34.01, 2.25, 24),
    "3_2gf": (25, 88, 26.31, 2.25, 48),
    "4_0gf": (23, 96, 38.65, 2.43, 40),
    "6_4gf": (17, 184, 60.83, 2.07, 56),
    "8_0gf": (23, 80, 49.56, 2.88, 120),
    "12gf": (19, 168, 73.36, 2.37, 112),
    "16gf": (22, 216, 55.59, 2.1, 128),
    "32gf": (23, 320, 69.86, 2.0, 168),
}
REGNETY = {
    "200mf": (13, 24, 36.44, 2.49, 8),
    "400mf": (16, 48, 27.89, 2.09, 8),
    "600mf": (15, 48, 32.54, 2.32, 16),
    "800mf": (14, 56, 38.84, 2.4, 16),
    "1_6gf": (27, 48, 20.71, 2.65, 24),
    "3_2gf": (21, 80, 42.63, 2.66, 24),
    "4_0gf": (22, 96, 31.41, 2.24, 64),
    "6_4gf": (25, 112, 33.22, 2.27, 72),
    "8_0gf": (17, 192, 76.82, 2.19, 56),
    "12gf": (19, 168, 73.36, 2.37, 112),
    "16gf": (18, 200, 106.23, 2.48, 112),
    "32gf": (20, 232, 115.89, 2.53, 232),
}

for _size, (_d, _w0, _wa, _wm, _g) in REGNETX.items():
    register(f"regnetx_{_size}", RegNetSpec(depth=_d, w0=_w0, wa=_wa, wm=_wm, group_w=_g))
for _size, (_d, _w0, _wa, _wm, _g) in REGNETY.items():
    register(f"regnety_{_size}", RegNetSpec(depth=_d, w0=_w0, wa=_wa, wm=_wm, group_w=_g, se_ratio=0.25))
