"""Design-space samplers: AnyNetX A–E and RegNetX/Y (Radosavovic et al. 2020, §3.1–3.3).

``sample(space, n, seed)`` returns ``n`` valid specs, reproducibly: one ``numpy.random.Generator(PCG64(seed))``
drives every draw, so the same ``(space, n, seed, macs_range, resolution)`` gives the same specs on any machine.
Sampled specs are named ``f"{space}-s{seed}-{i}"`` (:func:`sample_names`, :func:`sample_named`).

Ranges (paper): 4 stages, depth d ≤ 16, width w ≤ 1024 and a multiple of 8, bottleneck ratio b ∈ {1, 2, 4}
(stored as ``bot_mul = 1/b``), group width g ∈ {1, 2, 4, 8, 16, 32}. Every draw is uniform over its set. The
block must be compatible (bottleneck width ``w/b`` a multiple of ``g``): b and g are drawn first and the width
uniformly among the compatible widths, which is per-stage rejection of incompatible widths. Ordering constraints
(D, E) are imposed by rejection, so the result is uniform over the allowed ordered tuples.
RegNet: d ≤ 64, w0 ≤ 256 (multiple of 8), 0 < wa ≤ 256, 1.5 ≤ wm ≤ 3 (wa and wm rounded to 0.01 like the pycls
configs), b and g as above; ``adjust_block_compatibility`` then makes each stage valid.
``macs_range=(lo, hi)`` keeps only specs whose closed-form ``complexity(resolution)["macs"]`` is in
``[lo, hi]`` (the paper samples within a flop regime).

>>> [s.depths for s in sample("anynetx_e", 2, seed=0)] == [s.depths for s in sample("anynetx_e", 2, seed=0)]
True
>>> sample_names("regnetx", 2, seed=7)
['regnetx-s7-0', 'regnetx-s7-1']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.anynet import AnyNetSpec
from models.regnet import RegNetSpec

NUM_STAGES = 4
DEPTHS = tuple(range(1, 17))
WIDTHS = tuple(range(8, 1025, 8))
BOT_RATIOS = (1, 2, 4)
GROUP_WS = (1, 2, 4, 8, 16, 32)
REGNET_DEPTHS = tuple(range(1, 65))
REGNET_W0S = tuple(range(8, 257, 8))
REGNET_WA = (0.0, 256.0)  # open at 0
REGNET_WM = (1.5, 3.0)
_BATCH_TRIES = 64  # candidate rows per vectorized rejection draw
_MAX_TRIES = 100_000  # per returned spec, so a too-narrow macs_range fails loudly instead of looping

# width choices compatible with (b, g): w/b must be a multiple of g
_COMPAT_WIDTHS = {(b, g): tuple(w for w in WIDTHS if (w // b) % g == 0) for b in BOT_RATIOS for g in GROUP_WS}


def _pick(rng: np.random.Generator, choices: tuple) -> Any:
    return choices[int(rng.integers(len(choices)))]


def _draw_stages(rng: np.random.Generator, choices: list[np.ndarray], non_decreasing: bool) -> tuple[int, ...]:
    """One value per stage, uniform over that stage's choices, conditioned on being non-decreasing if asked.

    Rejection sampling, vectorized: 64 candidate rows per draw and the first acceptable one is kept, which has
    the same distribution as trying rows one at a time (sorted rows are accepted ~1 in 20 tries).
    """
    lens = np.array([len(c) for c in choices])
    while True:
        idx = rng.integers(0, lens, size=(_BATCH_TRIES if non_decreasing else 1, len(choices)))
        vals = np.stack([c[idx[:, j]] for j, c in enumerate(choices)], axis=1)  # (tries, stages)
        ok = np.all(np.diff(vals, axis=1) >= 0, axis=1) if non_decreasing else np.ones(len(vals), bool)
        if ok.any():
            return tuple(int(v) for v in vals[int(np.argmax(ok))])


def _anynet(rng: np.random.Generator, shared_b: bool, shared_g: bool, sorted_w: bool, sorted_d: bool) -> AnyNetSpec:
    b0, g0 = _pick(rng, BOT_RATIOS), _pick(rng, GROUP_WS)
    bs = [b0 if shared_b else _pick(rng, BOT_RATIOS) for _ in range(NUM_STAGES)]
    gs = [g0 if shared_g else _pick(rng, GROUP_WS) for _ in range(NUM_STAGES)]
    ws = _draw_stages(rng, [np.array(_COMPAT_WIDTHS[b, g]) for b, g in zip(bs, gs, strict=True)], sorted_w)
    ds = _draw_stages(rng, [np.array(DEPTHS)] * NUM_STAGES, sorted_d)
    return AnyNetSpec(depths=ds, widths=ws, bot_muls=tuple(1 / b for b in bs), group_ws=tuple(gs))


def _regnet(rng: np.random.Generator, se_ratio: float) -> RegNetSpec:
    d, w0 = _pick(rng, REGNET_DEPTHS), _pick(rng, REGNET_W0S)
    wa = 0.0
    while wa <= 0.0:  # the interval is open at 0; rounding can produce 0
        wa = round(float(rng.uniform(*REGNET_WA)), 2)
    wm = round(float(rng.uniform(*REGNET_WM)), 2)
    b, g = _pick(rng, BOT_RATIOS), _pick(rng, GROUP_WS)
    return RegNetSpec(depth=d, w0=w0, wa=wa, wm=wm, group_w=g, bot_mul=1 / b, se_ratio=se_ratio)


@dataclass(frozen=True)
class Space:
    """A design space: a description and a sampler drawing one spec from a generator."""

    name: str
    description: str
    draw: Callable[[np.random.Generator], Any]


SPACES: dict[str, Space] = {
    s.name: s
    for s in (
        Space(
            "anynetx_a",
            "AnyNetX_A: d, w, b, g free per stage (4 stages)",
            lambda r: _anynet(r, False, False, False, False),
        ),
        Space(
            "anynetx_b",
            "AnyNetX_B: A with one bottleneck ratio b shared by all stages",
            lambda r: _anynet(r, True, False, False, False),
        ),
        Space(
            "anynetx_c",
            "AnyNetX_C: B with one group width g shared too",
            lambda r: _anynet(r, True, True, False, False),
        ),
        Space(
            "anynetx_d",
            "AnyNetX_D: C with non-decreasing widths w_{i+1} >= w_i",
            lambda r: _anynet(r, True, True, True, False),
        ),
        Space(
            "anynetx_e",
            "AnyNetX_E: D with non-decreasing depths d_{i+1} >= d_i",
            lambda r: _anynet(r, True, True, True, True),
        ),
        Space("regnetx", "RegNetX: d, w0, wa, wm, b, g (quantized linear widths)", lambda r: _regnet(r, 0.0)),
        Space("regnety", "RegNetY: RegNetX with SE (se_ratio 0.25)", lambda r: _regnet(r, 0.25)),
    )
}


def _space(space: str) -> Space:
    if space not in SPACES:
        raise ValueError(f"unknown design space {space!r}; valid spaces: {', '.join(SPACES)}")
    return SPACES[space]


def sample(
    space: str,
    n: int,
    seed: int = 0,
    macs_range: tuple[float, float] | None = None,
    resolution: int = 224,
) -> list[Any]:
    """``n`` specs drawn from ``space`` with ``seed``; optionally only those with macs in ``macs_range``."""
    sp = _space(space)
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n={n!r} must be a non-negative integer")
    if macs_range is not None:
        lo, hi = macs_range
        if not 0 <= lo <= hi:
            raise ValueError(f"macs_range={macs_range!r} must be (lo, hi) with 0 <= lo <= hi")
    rng = np.random.Generator(np.random.PCG64(seed))
    specs: list[Any] = []
    tries = 0
    while len(specs) < n:
        spec = sp.draw(rng)
        tries += 1
        if macs_range is None or lo <= spec.complexity(resolution)["macs"] <= hi:
            specs.append(spec)
            tries = 0
        elif tries >= _MAX_TRIES:
            raise ValueError(f"no {space} spec with macs in {macs_range} after {_MAX_TRIES} draws; widen the range")
    return specs


def sample_names(space: str, n: int, seed: int = 0) -> list[str]:
    """Names of the specs ``sample(space, n, seed, ...)`` returns: ``f"{space}-s{seed}-{i}"``."""
    _space(space)
    return [f"{space}-s{seed}-{i}" for i in range(n)]


def sample_named(space: str, n: int, seed: int = 0, **kwargs: Any) -> list[tuple[str, Any]]:
    """``(name, spec)`` pairs: :func:`sample` zipped with :func:`sample_names`."""
    return list(zip(sample_names(space, n, seed), sample(space, n, seed, **kwargs), strict=True))
