"""``count`` (any ``nn.Module``) and ``count_model`` (a registered name or a spec)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from profiler.core.errors import UsageError
from profiler.core.model_source import one_line
from profiler.counting.acts import HookRecorder
from profiler.counting.dispatch import MetaUnsupported, counting_pass
from profiler.counting.macs import MAC_OP_PATTERN, analyze_macs
from profiler.counting.types import CountingError, Counts, LayerCount

METHODS = ("fvcore", "torch")


def count(model: nn.Module, input_shape: tuple[int, ...], strict: bool = False, method: str = "fvcore") -> Counts:
    """Count MACs, params, acts and acts_all of ``model`` on one zero input of ``input_shape`` (B, C, H, W).

    Pure: no printing, no files; the model is put in eval mode for the count and restored afterwards.
    ``method="fvcore"`` (the reference): fvcore's jit trace gives MACs, with hooks recording acts and shapes on
    the same forward (the only one that computes), then one shapes-only pass (``counting.dispatch``) gives
    acts_all, ops and bytes. ``method="torch"``: that one shapes-only pass gives everything, MACs by
    ``torch.utils.flop_counter``'s formulas, without running kernels (same numbers; tests bind the two).
    ``strict=True`` raises ``CountingError`` when an op that could carry MACs (conv/matmul/linear/einsum-like) was
    left uncounted.

    >>> from models import get_model
    >>> c = count(get_model("resnet50"), (1, 3, 224, 224))
    >>> c.macs, c.params, c.acts
    (4089184256, 25557032, 11315688)
    """
    if method not in METHODS:
        raise ValueError(f"unknown counting method {method!r}; valid: {', '.join(METHODS)}")
    try:
        return _count(model, input_shape, strict, method)
    except MetaUnsupported as exc:
        raise CountingError(f"could not run the model on meta tensors: {exc}") from exc


def _count(model: nn.Module, input_shape: tuple[int, ...], strict: bool, method: str) -> Counts:
    # count(), but a meta-built model that cannot run on meta raises MetaUnsupported (count_model rebuilds it).
    input_shape = tuple(int(s) for s in input_shape)
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    was_training = model.training
    model.eval()
    try:
        if method == "fvcore":
            x = torch.zeros(input_shape, device=device, dtype=dtype)  # fvcore's trace computes: real data
            recorder = HookRecorder(model)
            try:
                with torch.no_grad():
                    macs, macs_by_module, uncounted = analyze_macs(model, (x,))
            except Exception as exc:
                raise CountingError(
                    f"fvcore could not trace the model{_where(model, recorder)}: {type(exc).__name__}: {exc}"
                ) from exc
            finally:
                recorder.remove()  # acts and shapes come from the traced forward; the next pass must not add
            mode, _ = counting_pass(model, input_shape, device, dtype, hooks=False)
        else:
            hooks: list[HookRecorder] = []
            try:
                mode, rec = counting_pass(model, input_shape, device, dtype, hooks=True, made=hooks.append)
            except MetaUnsupported:
                raise
            except Exception as exc:
                where = _where(model, hooks[-1]) if hooks else ""
                raise CountingError(
                    f"could not run the model on fake tensors{where}: {type(exc).__name__}: {exc}"
                ) from exc
            assert rec is not None
            recorder = rec
            macs, macs_by_module, uncounted = mode.macs, dict(mode.macs_by_module), mode.uncounted()
    finally:
        model.train(was_training)

    # Convs/pools called functionally reach aten but no module hook: report instead of silently missing them.
    for kind in ("conv", "pool"):
        missed = mode.calls(kind) - recorder.calls[kind]
        if missed > 0:
            uncounted[f"{kind} outside a module (not in acts)"] = missed
    if strict:
        risky = sorted(op for op in uncounted if MAC_OP_PATTERN.search(op))
        if risky:
            raise CountingError(
                "uncounted ops that may carry MACs: " + ", ".join(f"{op} ×{uncounted[op]}" for op in risky)
            )
    params = sum(p.numel() for p in model.parameters())  # parameters() deduplicates shared tensors
    layers = _layer_table(model, macs_by_module, recorder)
    return Counts(
        input_shape=input_shape,
        macs=macs,
        params=int(params),
        acts=int(sum(recorder.acts.values())),
        acts_all=int(mode.total),
        layers=layers,
        uncounted_ops=dict(uncounted),
        ops=mode.recorder.ops,
        bytes=mode.recorder.bytes,
        op_table=mode.recorder.table(),
    )


def _where(model: nn.Module, recorder: HookRecorder) -> str:
    # The innermost module still running when the exception escaped names the failing layer.
    name = recorder.running()
    return "" if name is None else f" in module {name!r} ({type(model.get_submodule(name)).__name__})"


def _layer_table(model: nn.Module, macs_by_module: dict[str, int], rec: HookRecorder) -> list[LayerCount]:
    # Each module's own share (total minus its called sub-modules), so that the rows sum to the totals. Leaves are
    # always listed; containers only when their own forward adds something (e.g. a functional matmul).
    rows = []
    for name, module in model.named_modules():
        own_macs = 0
        if name in rec.shapes:  # an uncalled container's MACs belong to its children, which its parent ran
            below = _called_below(module, name, rec)
            own_macs = macs_by_module.get(name, 0) - sum(macs_by_module.get(c, 0) for c in below)
        own_params = sum(p.numel() for p in module.parameters(recurse=False))
        own_acts = rec.acts.get(name, 0)
        if next(module.children(), None) is not None and not (own_macs or own_params or own_acts):
            continue
        rows.append(LayerCount(name, type(module).__name__, rec.shapes.get(name), own_macs, own_params, own_acts))
    return rows


def _called_below(module: nn.Module, name: str, rec: HookRecorder) -> list[str]:
    # The nearest sub-modules that ran; an uncalled child (a ModuleList, say) is looked through to its children.
    out = []
    for child_name, child in module.named_children():
        full = f"{name}.{child_name}" if name else child_name
        out.extend([full] if full in rec.shapes else _called_below(child, full, rec))
    return out


def check_resolution(spec: Any, resolution: int) -> None:
    """``models.check_resolution`` (re-exported here for the commands that import it from counting)."""
    import models

    models.check_resolution(spec, resolution)


def count_model(
    name_or_spec: Any, resolution: int | None = None, batch: int = 1, strict: bool = False, method: str = "fvcore"
) -> Counts:
    """Count a registered model (by name or reference, e.g. ``"timm:resnet50"``), a ``models.ModelInfo`` or a
    spec at ``resolution`` (default: the model's own, else 224).

    Raises ValueError for an unknown name (with close matches), a resolution below ``min_resolution`` or a batch
    below 1 — checked before anything is built — and ``CountingError`` naming the model when it cannot be counted.
    """
    import models

    if isinstance(name_or_spec, str | models.ModelInfo):
        info = models.model_info(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
        label, spec, default_res = info.name, info.spec, info.resolution
    else:
        label, spec, default_res = type(name_or_spec).__name__, name_or_spec, 224
    resolution = default_res if resolution is None else int(resolution)
    check_resolution(spec, resolution)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    shape = (batch, 3, resolution, resolution)
    try:
        if method == "torch":
            # Counting needs shapes only: build on meta (no weight init, no memory), if the model allows it.
            try:
                with torch.device("meta"):
                    model = spec.build()
            except Exception:
                model = None
            if model is not None:
                try:
                    return _count(model, shape, strict, method)
                except MetaUnsupported:
                    pass  # data-dependent code: count a real model (on fake tensors) instead
        return count(spec.build(), shape, strict=strict, method=method)
    except CountingError as exc:
        raise CountingError(f"cannot count {label!r} at {resolution}x{resolution}: {exc}") from exc


def check_runs(info: Any, resolution: int, batch: int = 1) -> None:
    """UsageError with the reason when an external model cannot run at ``resolution`` (one counting pass on meta
    tensors, no kernels): said before anything is timed or traced. Registry models declare their minimum."""
    if not hasattr(info.spec, "source"):
        return
    try:
        count_model(info, resolution, batch, method="torch")
    except CountingError as exc:
        reason = str(exc.__cause__ or exc)
        raise UsageError(one_line(f"{info.name} cannot run at {resolution}x{resolution}: {reason}")) from None
    except ValueError as exc:
        raise UsageError(one_line(str(exc))) from None
