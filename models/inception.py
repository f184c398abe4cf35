"""GoogLeNet (Szegedy et al. 2015, "Going Deeper with Convolutions") and Inception v3 (Szegedy et al. 2016).

Both follow torchvision without the auxiliary classifiers and without ``transform_input``, so parameter counts
equal torchvision's with ``aux_logits=False`` (``googlenet``: 6,624,904; ``inception_v3``: 23,834,568).
Every conv is torchvision's ``BasicConv2d``: conv (no bias) → BN (eps 0.001) → ReLU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from models.blocks import ClassifierHead, check_range
from models.spec import register, spec_type

_Size = int | tuple[int, int]


class BasicConv2d(nn.Sequential):
    """conv (no bias) → BN(eps=0.001) → ReLU; kernels may be asymmetric (1×7, 7×1 in Inception v3)."""

    def __init__(self, c_in: int, c_out: int, kernel: _Size, stride: int = 1, padding: _Size = 0) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
            nn.BatchNorm2d(c_out, eps=0.001),
            nn.ReLU(inplace=True),
        )


class Branches(nn.Module):
    """Runs parallel branches on the same input and concatenates their outputs along channels."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) → (B, ΣC_i, H', W')
        return torch.cat([b(x) for b in self.branches], 1)


def inception_v1(c_in: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int) -> Branches:
    """GoogLeNet Inception module (Table 1 columns: #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj)."""
    return Branches(
        BasicConv2d(c_in, c1, 1),
        nn.Sequential(BasicConv2d(c_in, c3r, 1), BasicConv2d(c3r, c3, 3, padding=1)),
        # torchvision's "5×5" branch uses a 3×3 kernel (a known bug kept for checkpoint compatibility,
        # pytorch/vision#906); replicated so that parameter counts and FLOPs equal torchvision's googlenet.
        nn.Sequential(BasicConv2d(c_in, c5r, 1), BasicConv2d(c5r, c5, 3, padding=1)),
        nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(c_in, pool_proj, 1)),
    )


# GoogLeNet Table 1 (stage 3, 4, 5 modules); input channels follow from the previous module's outputs.
GOOGLENET_MODULES: tuple[tuple[tuple[int, int, int, int, int, int], ...], ...] = (
    ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),
    ((192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
     (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128)),
    ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),
)  # fmt: skip


@spec_type
@dataclass(frozen=True)
class GoogLeNetSpec:
    """GoogLeNet (Inception v1) as in torchvision, without auxiliary heads; dropout before the FC."""

    dropout: float = 0.2
    num_classes: int = 1000

    family: ClassVar[str] = "inception"
    min_resolution: ClassVar[int] = 32  # five stride-2 layers

    def __post_init__(self) -> None:
        check_range(self, "dropout", self.dropout, 0.0, 0.99)
        check_range(self, "num_classes", self.num_classes, 1, 100_000)

    def build(self) -> nn.Module:
        return GoogLeNet(self)


class GoogLeNet(nn.Module):
    """Stem (7×7/2, pool, 1×1, 3×3, pool) → Inception 3a–3b, pool, 4a–4e, pool, 5a–5b → pool + FC."""

    def __init__(self, spec: GoogLeNetSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            BasicConv2d(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2, ceil_mode=True),
            BasicConv2d(64, 64, 1), BasicConv2d(64, 192, 3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True),
        ]  # fmt: skip
        c_in = 192
        for i, stage in enumerate(GOOGLENET_MODULES):
            if i == 1:
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            elif i == 2:
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            for c1, c3r, c3, c5r, c5, pp in stage:
                layers.append(inception_v1(c_in, c1, c3r, c3, c5r, c5, pp))
                c_in = c1 + c3 + c5 + pp
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(c_in, spec.num_classes, dropout=spec.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, num_classes)
        return self.head(self.features(x))


def _chain(*convs: tuple) -> nn.Sequential:
    # Each tuple is BasicConv2d's positional arguments (c_in, c_out, kernel[, stride[, padding]]).
    return nn.Sequential(*(BasicConv2d(*c) for c in convs))


def _avg_pool_proj(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.AvgPool2d(3, 1, 1), BasicConv2d(c_in, c_out, 1))


def inception_a(c_in: int, pool_features: int) -> Branches:
    """35×35 module (Fig. 5): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg pool→1×1."""
    return Branches(
        BasicConv2d(c_in, 64, 1),
        _chain((c_in, 48, 1), (48, 64, 5, 1, 2)),
        _chain((c_in, 64, 1), (64, 96, 3, 1, 1), (96, 96, 3, 1, 1)),
        _avg_pool_proj(c_in, pool_features),
    )


def inception_b(c_in: int) -> Branches:
    """35→17 grid reduction: 3×3/2 | 1×1→3×3→3×3/2 | max pool/2."""
    return Branches(
        BasicConv2d(c_in, 384, 3, 2),
        _chain((c_in, 64, 1), (64, 96, 3, 1, 1), (96, 96, 3, 2)),
        nn.MaxPool2d(3, 2),
    )


def inception_c(c_in: int, c7: int) -> Branches:
    """17×17 module (Fig. 6) with factorized 7×7 (1×7 and 7×1) convs of width ``c7``."""
    return Branches(
        BasicConv2d(c_in, 192, 1),
        _chain((c_in, c7, 1), (c7, c7, (1, 7), 1, (0, 3)), (c7, 192, (7, 1), 1, (3, 0))),
        _chain(
            (c_in, c7, 1),
            (c7, c7, (7, 1), 1, (3, 0)),
            (c7, c7, (1, 7), 1, (0, 3)),
            (c7, c7, (7, 1), 1, (3, 0)),
            (c7, 192, (1, 7), 1, (0, 3)),
        ),
        _avg_pool_proj(c_in, 192),
    )


def inception_d(c_in: int) -> Branches:
    """17→8 grid reduction: 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max pool/2."""
    return Branches(
        _chain((c_in, 192, 1), (192, 320, 3, 2)),
        _chain((c_in, 192, 1), (192, 192, (1, 7), 1, (0, 3)), (192, 192, (7, 1), 1, (3, 0)), (192, 192, 3, 2)),
        nn.MaxPool2d(3, 2),
    )


class _SplitPair(nn.Module):
    """``stem`` then two parallel 1×3 / 3×1 convs, concatenated (Fig. 7's expanded filter bank)."""

    def __init__(self, stem: nn.Module, c: int) -> None:
        super().__init__()
        self.stem = stem
        self.pair = Branches(BasicConv2d(c, c, (1, 3), 1, (0, 1)), BasicConv2d(c, c, (3, 1), 1, (1, 0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pair(self.stem(x))


def inception_e(c_in: int) -> Branches:
    """8×8 module (Fig. 7): 1×1 | 1×1→(1×3, 3×1) | 1×1→3×3→(1×3, 3×1) | avg pool→1×1."""
    return Branches(
        BasicConv2d(c_in, 320, 1),
        _SplitPair(BasicConv2d(c_in, 384, 1), 384),
        _SplitPair(_chain((c_in, 448, 1), (448, 384, 3, 1, 1)), 384),
        _avg_pool_proj(c_in, 192),
    )


@spec_type
@dataclass(frozen=True)
class InceptionV3Spec:
    """Inception v3 as in torchvision, without the auxiliary head; dropout before the FC."""

    dropout: float = 0.5
    num_classes: int = 1000

    family: ClassVar[str] = "inception"
    min_resolution: ClassVar[int] = 75  # torchvision's minimum: the valid-padded stem and reductions need it

    def __post_init__(self) -> None:
        check_range(self, "dropout", self.dropout, 0.0, 0.99)
        check_range(self, "num_classes", self.num_classes, 1, 100_000)

    def build(self) -> nn.Module:
        return InceptionV3(self)


class InceptionV3(nn.Module):
    """Stem (five convs, two max pools) → 3× A, B, 4× C, D, 2× E → pool + dropout + FC."""

    def __init__(self, spec: InceptionV3Spec) -> None:
        super().__init__()
        self.features = nn.Sequential(
            BasicConv2d(3, 32, 3, 2), BasicConv2d(32, 32, 3), BasicConv2d(32, 64, 3, padding=1),
            nn.MaxPool2d(3, 2), BasicConv2d(64, 80, 1), BasicConv2d(80, 192, 3), nn.MaxPool2d(3, 2),
            inception_a(192, 32), inception_a(256, 64), inception_a(288, 64),
            inception_b(288),
            inception_c(768, 128), inception_c(768, 160), inception_c(768, 160), inception_c(768, 192),
            inception_d(768),
            inception_e(1280), inception_e(2048),
        )  # fmt: skip
        self.head = ClassifierHead(2048, spec.num_classes, dropout=spec.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, num_classes)
        return self.head(self.features(x))


register("googlenet", GoogLeNetSpec())
register("inception_v3", InceptionV3Spec(), resolution=299)
