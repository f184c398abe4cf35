"""``compile`` backend: ``torch.compile`` with inductor (``[timing] compile_mode``), static shapes.

The first call compiles (its time is the ``compile_s`` phase, never latency). Dynamo's caches are reset before
each compile, so that a worker measuring many settings never reaches the recompile limit (past which dynamo would
silently run eager); a recompilation during warm-up or timing fails the measurement instead of hiding in it.
"""

from __future__ import annotations

from typing import Any

from profiler.timing.built import Built
from profiler.timing.protocol import CompileError, TimingConfig


def _counters() -> dict[str, int]:
    from torch._dynamo.utils import counters

    return {
        "graphs": int(counters["stats"]["unique_graphs"]),
        "graph_breaks": int(sum(counters["graph_break"].values())),
        "fxgraph_cache_hit": int(counters["inductor"]["fxgraph_cache_hit"]),
        "fxgraph_cache_miss": int(counters["inductor"]["fxgraph_cache_miss"]),
    }


def build_compiled(model: Any, x: Any, config: TimingConfig) -> Built:
    """``torch.compile(model)`` called once on ``x``; CompileError (naming the cause) when that fails."""
    import torch
    import torch._dynamo

    torch._dynamo.reset()
    mode = config.compile_mode
    base = _counters()  # dynamo's counters are process-wide and survive reset(): count from here

    def since_start() -> dict[str, int]:
        return {k: v - base[k] for k, v in _counters().items()}

    compiled = torch.compile(model, backend="inductor", mode=mode, dynamic=False)
    try:
        out = compiled(x)
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as exc:  # dynamo/inductor/C++ compiler errors: a failed row that names the error
        raise CompileError(f"torch.compile (inductor, mode={mode}) failed: {type(exc).__name__}: {exc}") from exc
    first = since_start()
    if first["graphs"] < 1:
        raise CompileError(f"torch.compile (inductor, mode={mode}) captured no graph: dynamo ran the model eagerly")
    # reduce-overhead replays CUDA graphs whose outputs the next call overwrites: mark each call as a new step.
    graphed = mode == "reduce-overhead" and x.is_cuda

    def step() -> None:
        if graphed:
            torch.compiler.cudagraph_mark_step_begin()
        compiled(x)

    def after_timing() -> dict[str, Any]:
        now = since_start()
        if now["graphs"] != first["graphs"]:
            raise CompileError(
                f"torch.compile recompiled during warm-up or timing ({first['graphs']} → {now['graphs']} graphs); "
                "the samples would include compile time"
            )
        return {}

    details = {
        "compile_backend": "inductor",
        "compile_mode": mode,
        "compile_dynamic": False,
        "compile_cudagraphs": graphed,
        **{f"compile_{k}": v for k, v in first.items()},
    }
    return Built(step=step, out=out.detach().clone(), details=details, after_timing=after_timing)
