"""The one counting pass (``counting.dispatch``): meta and fake tensors give identical counts, the memo of meta
results changes nothing, a real model is left as it was, and models that cannot run on meta still get counted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch import nn

import models
from profiler.counting import count, count_model, dispatch
from profiler.counting.acts import HookRecorder


def _everything(mode: dispatch.CountingMode, rec: HookRecorder) -> tuple:
    ops = {op: n for op, n in mode.ops.items() if op != "device"}  # prim::device queries: fake tensors only
    return (
        mode.total,
        mode.macs,
        dict(mode.macs_by_module),
        mode.recorder.table(),
        mode.recorder.bytes,
        ops,
        dict(rec.acts),
        rec.shapes,
    )


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0", "shufflenet_v1_g3", "densenet121"])
def test_meta_pass_equals_fake_pass(name: str) -> None:
    model = models.get_model(name).eval()
    shape, cpu = (1, 3, 64, 64), torch.device("cpu")
    meta, meta_rec = dispatch.counting_pass(model, shape, cpu, torch.float32, hooks=True)
    fake_rec = HookRecorder(model)
    try:
        fake = dispatch._fake_forward(model, shape, cpu, torch.float32, fake_rec)
    finally:
        fake_rec.remove()
    assert meta._meta and not fake._meta
    assert _everything(meta, meta_rec) == _everything(fake, fake_rec)
    assert meta.macs > 0 and meta.recorder.ops > 0


def test_memo_changes_nothing_and_real_model_is_untouched() -> None:
    model = models.get_model("regnety_200mf")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    dispatch._META_CACHE.clear()
    cold = count(model, (2, 3, 64, 64), method="torch")
    assert dispatch._META_CACHE  # functional ops were memoised
    warm = count(model, (2, 3, 64, 64), method="torch")
    built_on_meta = count_model("regnety_200mf", 64, batch=2, method="torch")
    assert cold == warm == built_on_meta
    after = model.state_dict()
    assert all(not t.is_meta and torch.equal(t, before[k]) for k, t in after.items())
    assert model.training  # mode restored


class _HiddenTensor(nn.Module):
    """A tensor kept as a plain attribute (not a buffer): it stays on the CPU, so the meta forward fails."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.scale = torch.ones(1, 4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.scale


@dataclass(frozen=True)
class _HiddenSpec:
    min_resolution: ClassVar[int] = 1

    def build(self) -> nn.Module:
        return _HiddenTensor()


def test_model_that_cannot_run_on_meta_is_counted_on_fake_tensors() -> None:
    with pytest.raises(dispatch.MetaUnsupported):
        with torch.device("meta"):
            model = _HiddenTensor()
        model.scale = torch.ones(1, 4, 1, 1)  # built on meta, the hidden tensor is a CPU one again
        dispatch.counting_pass(model, (1, 3, 8, 8), torch.device("meta"), torch.float32, hooks=False)
    c = count_model(_HiddenSpec(), resolution=8, method="torch")
    ref = count(_HiddenTensor(), (1, 3, 8, 8), method="fvcore")
    assert (c.macs, c.params, c.acts, c.acts_all, c.ops) == (ref.macs, ref.params, ref.acts, ref.acts_all, ref.ops)
    assert c.macs == 4 * 27 * 64 and c.acts == 4 * 64 and c.acts_all == 2 * 4 * 64
    # bytes: conv reads x, weight, bias and writes y; mul reads y and the hidden tensor (a weight), writes its output
    assert c.bytes == 4 * ((3 * 64 + 108 + 4 + 256) + (256 + 4 + 256))
