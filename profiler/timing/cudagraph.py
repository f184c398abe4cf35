"""``cudagraph`` backend: the eager model, warmed up, captured once with ``torch.cuda.CUDAGraph`` on a static
input and timed by replaying the graph (one launch per inference instead of one per kernel). CUDA only."""

from __future__ import annotations

from typing import Any

from profiler.timing.built import Built
from profiler.timing.protocol import CompileError, TimingConfig

# Eager iterations on a side stream before capture (PyTorch's CUDA-graph recipe): cuDNN benchmarking, lazy
# initialization and the caching allocator settle there, so that capture records only the steady-state kernels.
CAPTURE_WARMUP_ITERS = 3


def build_cudagraph(model: Any, x: Any, config: TimingConfig) -> Built:
    """Warm up on a side stream, capture ``model(x)`` once, replay once with the output poisoned (NaN) first."""
    import torch

    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(CAPTURE_WARMUP_ITERS):
                model(x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = model(x)
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as exc:  # e.g. a host sync or a CPU tensor inside forward cannot be captured
        raise CompileError(f"CUDA graph capture failed: {type(exc).__name__}: {exc}") from exc
    # The check must see what a replay writes, not what capture left behind: poison the buffer, then replay.
    static_out.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    details = {"cuda_graph": "torch.cuda.CUDAGraph", "capture_warmup_iters": CAPTURE_WARMUP_ITERS, "static_input": True}
    return Built(step=graph.replay, out=static_out.clone(), details=details)
