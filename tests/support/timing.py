"""Timing settings and fakes shared by the timing tests."""

from __future__ import annotations

import torch

from profiler.timing import TimingConfig

FAST = TimingConfig(iters=4, warmup_s=0.0)  # the ONNX Runtime tests' four timed iterations, no warm-up time


class FakeCompiled:
    """Stands in for torch.compile's result: adds ``graphs_per_call[i]`` dynamo graphs at call i (last repeats)."""

    def __init__(self, model, *, graphs_per_call=(1, 0), scale=1.0, fail=None):
        self.model, self.calls, self.graphs, self.scale, self.fail = model, 0, graphs_per_call, scale, fail

    def __call__(self, x):
        from torch._dynamo.utils import counters

        if self.fail is not None:
            raise self.fail
        counters["stats"]["unique_graphs"] += self.graphs[min(self.calls, len(self.graphs) - 1)]
        self.calls += 1
        return self.model(x) * self.scale


def fake_compile(monkeypatch, **kw):
    """``torch.compile`` returns a :class:`FakeCompiled` (``kw``: its failure mode) for the rest of the test."""
    monkeypatch.setattr(torch, "compile", lambda model, **_: FakeCompiled(model, **kw))
