"""RegNetX/Y: widths from the quantized linear rule, parameter counts vs the pycls model zoo, exact counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import get_model, get_spec, list_models
from models.regnet import RegNetSpec, adjust_block_compatibility, generate_regnet

# pycls MODEL_ZOO parameter counts (M), in size order
SIZES = ["200mf", "400mf", "600mf", "800mf", "1_6gf", "3_2gf", "4_0gf", "6_4gf", "8_0gf", "12gf", "16gf", "32gf"]
ZOO_X = [2.7, 5.2, 6.2, 7.3, 9.2, 15.3, 22.1, 26.2, 39.6, 46.1, 54.3, 107.8]
ZOO_Y = [3.2, 4.3, 6.1, 6.3, 11.2, 19.4, 20.6, 30.6, 39.2, 51.8, 83.6, 145.0]
ZOO = {f"regnetx_{s}": p for s, p in zip(SIZES, ZOO_X, strict=True)} | {
    f"regnety_{s}": p for s, p in zip(SIZES, ZOO_Y, strict=True)
}


pytestmark = pytest.mark.usefixtures("one_thread")


def test_all_24_registered() -> None:
    assert sorted(ZOO) == list_models("regnet[xy]_*")
    assert {get_spec(n).family for n in ZOO} == {"regnetx", "regnety"}


def test_regnetx_400mf_params_derived_by_hand() -> None:
    # RegNet §3.3 with numpy, as pycls does: u_j = w0 + wa·j, s_j = round(log(u_j/w0)/log(wm)), w_j = q·round(..)
    d, w0, wa, wm, g, q = 22, 24, 24.48, 2.54, 16, 8
    u = w0 + wa * np.arange(d)
    s = np.round(np.log(u / w0) / np.log(wm))
    w_all = (np.round(w0 * np.power(wm, s) / q) * q).astype(int)
    widths, depths = (x.tolist() for x in np.unique(w_all, return_counts=True))
    assert (widths, depths) == ([24, 64, 152, 392], [1, 2, 7, 12])
    # pycls compatibility with bottleneck multiplier 1: width rounded (half to even) to a multiple of g = 16
    widths = [int(np.round(w / g) * g) for w in widths]
    assert widths == [32, 64, 160, 384]

    def conv(c_in: int, c_out: int, k: int, groups: int = 1) -> int:
        return k * k * c_in * c_out // groups

    def bn(c: int) -> int:
        return 2 * c  # affine weight and bias

    total = conv(3, 32, 3) + bn(32)  # stem
    w_in = 32
    for w, n in zip(widths, depths, strict=True):
        for j in range(n):
            c_in = w_in if j == 0 else w
            block = conv(c_in, w, 1) + bn(w) + conv(w, w, 3, groups=w // g) + bn(w) + conv(w, w, 1) + bn(w)
            if j == 0:
                block += conv(c_in, w, 1) + bn(w)  # projection shortcut (stride 2)
            total += block
        w_in = w
    total += 384 * 1000 + 1000  # FC with bias
    assert total == 5_157_512

    spec = get_spec("regnetx_400mf")
    assert spec.complexity()["params"] == total
    assert sum(p.numel() for p in spec.build().parameters()) == total


def test_regnetx_400mf_counts_match_pycls() -> None:
    cx = get_spec("regnetx_400mf").complexity(224)
    assert cx["macs"] == 397_678_568 - 1000  # pycls counts the FC bias as flops; we do not
    assert cx["acts"] == 3_143_272


@pytest.mark.parametrize("name", sorted(ZOO))
def test_params_match_pycls_zoo(name: str) -> None:
    assert abs(get_spec(name).complexity()["params"] / 1e6 - ZOO[name]) < 0.05


@pytest.mark.parametrize("name", ["regnetx_200mf", "regnety_200mf", "regnetx_800mf", "regnety_1_6gf"])
def test_built_model_matches_closed_form(name: str) -> None:
    model = get_model(name).eval()
    assert sum(p.numel() for p in model.parameters()) == get_spec(name).complexity()["params"]
    with torch.inference_mode():
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 1000)


def test_generate_matches_numpy_reference() -> None:
    # same widths as pycls's numpy generator for every zoo config
    for name in ZOO:
        s = get_spec(name)
        u = s.w0 + s.wa * np.arange(s.depth)
        k = np.round(np.log(u / s.w0) / np.log(s.wm))
        ws, ds = np.unique((np.round(s.w0 * np.power(s.wm, k) / s.q) * s.q).astype(int), return_counts=True)
        assert generate_regnet(s.w0, s.wa, s.wm, s.depth, s.q) == (ws.tolist(), ds.tolist())


def test_adjust_block_compatibility() -> None:
    # group width capped at the bottleneck width; bottleneck width rounded to a multiple of the group width
    assert adjust_block_compatibility([24, 72], [1.0, 1.0], [48, 48]) == ([24, 96], [1.0, 1.0], [24, 48])
    assert adjust_block_compatibility([40], [0.25], [4]) == ([32], [0.25], [4])
    ws, _, gs = adjust_block_compatibility([56, 232], [2.0, 2.0], [8, 8])  # b > 1: multiple of lcm(g, b)
    assert all(w * 2 % g == 0 for w, g in zip(ws, gs, strict=True))


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("w0", 20, "multiple of q"),
        ("wm", 1.0, "wm"),
        ("depth", 0, "depth"),
        ("bot_mul", 2.5, "bot_mul"),
        ("wa", -1.0, "wa"),
    ],
)
def test_invalid_spec_names_the_field(field: str, value: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RegNetSpec(**{field: value})
