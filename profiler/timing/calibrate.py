"""Batch-norm statistics from data, so that a randomly initialised network computes something input-dependent.

Why: at PyTorch's default initialisation, in eval mode (running mean 0, variance 1), every conv shrinks its
activations and nothing renormalises them. In deep depthwise networks the signal is gone before the classifier:
efficientnet_b0's smallest layer output is ~1e-13 and its logits are the same for any input (mobilenet v1/v2,
inception_v3, googlenet and shufflenet v2 are close to it). An output check of an exported or compiled graph
against eager is then vacuous: a graph with wrong convolutions still matches the classifier's bias. And fp16 runs
compute on values that have underflowed to zero.

``calibrate_bn`` sets every batch-norm layer's running statistics from one forward pass of a seeded input (only the
batch-norm layers in train mode, cumulative averaging), as after BN re-estimation: eval-mode activations are then
normalised layer by layer, like a trained network's. The operators, shapes and parameter counts do not change, so
neither do the counts; the latency of dense kernels does not depend on the values. Idempotent per resolution: a
model calibrated once (the mark travels with ``copy.deepcopy``) is not recalibrated.
"""

from __future__ import annotations

import time
from typing import Any

CAL_BATCH, CAL_SEED = 2, 12345  # a different seed from the reference input's: the check is not on its own data
BN_MARK = "_archprof_bn_calibrated_at"  # the resolution a model was calibrated at


def calibrate_bn(model: Any, resolution: int) -> dict[str, Any]:
    """Set the running statistics of ``model``'s batch-norm layers from a seeded input, in place; return details.

    The model stays on its device and dtype and in eval mode. Details: ``layers`` (batch-norm layers set),
    ``batch``, ``resolution``, ``seed``, ``calibrate_s`` (0 and ``already`` true when it was done before).
    """
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm

    from profiler.timing.eager import make_input

    details: dict[str, Any] = {"batch": CAL_BATCH, "resolution": resolution, "seed": CAL_SEED}
    if getattr(model, BN_MARK, None) == resolution:
        return details | {"layers": getattr(model, "_archprof_bn_layers", 0), "already": True, "calibrate_s": 0.0}
    t0 = time.perf_counter()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if bns:
        param = next(model.parameters(), None)
        device = param.device.type if param is not None else "cpu"
        dtype = {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(param.dtype if param is not None else None, "fp32")
        x = make_input(CAL_BATCH, resolution, device, dtype, "contiguous", seed=CAL_SEED)
        momenta = [m.momentum for m in bns]
        model.eval()
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
            m.train()  # only the batch norms: dropout and drop-path stay off
        try:
            with torch.no_grad():
                model(x)
        finally:
            for m, momentum in zip(bns, momenta, strict=True):
                m.momentum = momentum
            model.eval()
    setattr(model, BN_MARK, resolution)
    model._archprof_bn_layers = len(bns)
    return details | {"layers": len(bns), "already": False, "calibrate_s": round(time.perf_counter() - t0, 4)}
