"""The one counting pass: a single ``TorchDispatchMode`` that applies the rule table of every aten op it sees.

One forward of the model on *meta* tensors (shapes only: no kernels, no data; for a model on a CPU or meta device)
or, as a fallback and for other devices, on *fake* tensors. For each aten op call the mode applies the rules
declared in :data:`RULES` and ``counting.ops``:

- ``macs``: ``torch.utils.flop_counter``'s formula for the op (2 FLOPs per MAC; conv and matmul-like ops only),
  attributed to every module on the forward-hook stack (a module's MACs include its children's, as fvcore's and
  ``FlopCounterMode``'s ``by_module`` do);
- ``acts_all``: elements of the first tensor output of every op that is not a view, alias or allocation;
- ``ops`` / ``bytes``: one op per call that computes (``ops.is_launch``); the floating-point elements it reads and
  writes, split into weights (tensors the forward did not compute) and activations (``ops.OpRecorder``);
- the calls of conv and fixed-pool ops (``acts.MODULE_OPS``), to report those run outside a module.

``acts`` (RegNet's definition is per *module*: conv, linear, non-global pools) come from the forward hooks of
``acts.HookRecorder`` on the same forward.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from profiler.counting.acts import HookRecorder
from profiler.counting.macs import MAC_OP_PATTERN
from profiler.counting.ops import NOT_COMPUTED, OpRecorder


class Rule:
    """What one aten op overload contributes; computed once per overload and kept in :data:`RULES`."""

    __slots__ = ("acts_all", "cacheable", "is_view", "launch", "macs", "name")

    def __init__(self, func: Any) -> None:
        self.name: str = func.overloadpacket.__name__
        self.is_view: bool = bool(func.is_view)
        self.acts_all: bool = not self.is_view and self.name not in NOT_COMPUTED
        self.launch: bool = self.acts_all and func.namespace == "aten"  # ops.is_launch
        self.macs: Callable[..., int] | None = flop_registry.get(func.overloadpacket)
        # A functional op (no mutation, no aliased output) returns fresh tensors whose metadata depend only on
        # the inputs' metadata and the other arguments: on meta tensors its result can be memoised.
        schema = func._schema
        self.cacheable: bool = not (self.is_view or schema.is_mutable) and all(
            r.alias_info is None for r in schema.returns
        )


RULES: dict[Any, Rule] = {}

# Meta kernels are mostly Python (``torch._refs``/``_decomp``): running them dominates a meta forward. Their results
# and the op's MACs, memoised across models by op and input metadata: key → (many outputs?, output metadata, MACs).
_Meta = tuple[tuple[int, ...], tuple[int, ...], torch.dtype]
_META_CACHE: dict[tuple, tuple[bool, tuple[_Meta, ...], int]] = {}


class _Uncacheable(Exception):
    pass


def _meta_key(value: Any) -> Any:
    """A hashable key of an argument: tensors by metadata, containers recursively, scalars by type and value."""
    if type(value) is tuple:  # the args tuple: the common case first
        return tuple(map(_meta_key, value))
    if isinstance(value, torch.Tensor):
        if not value.is_meta:
            raise _Uncacheable
        return (value.shape, value.stride(), value.dtype, value.storage_offset())
    if isinstance(value, (list, tuple)):
        return tuple(_meta_key(v) for v in value)
    hash(value)  # TypeError if unhashable
    return (type(value), value)


def _bn_eval(args: Any) -> Any:
    # Eval-mode native_batch_norm as CPU computes it: an output like the input and empty saved statistics. The
    # meta kernel (a Python decomposition, ~ms a call) returns the running statistics instead, as CUDA does.
    if len(args) < 6 or args[5]:  # training (or passed by keyword): the meta kernel decides
        return None
    x = args[0]
    return torch.empty_like(x), x.new_empty((0,)), x.new_empty((0,))


# Shape rules that replace an op's meta kernel, to get CPU's result shapes (the counts are CPU's: the fake-tensor
# pass on CPU agrees) or to skip a slow kernel: op name → f(args) → result, or None to run the meta kernel.
META_RULES: dict[str, Callable[[Any], Any]] = {"native_batch_norm": _bn_eval}


def _leaves(value: Any, out: list[Any]) -> list[Any]:
    # tree_flatten for aten arguments and results (lists, tuples, dicts): pytree's generality costs more here.
    if isinstance(value, (list, tuple)):
        for v in value:
            _leaves(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _leaves(v, out)
    else:
        out.append(value)
    return out


def _first_tensor(leaves: list[Any]) -> torch.Tensor | None:
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            return leaf
    return None


def _conv_groups(name: str, args: Any) -> int:
    """``groups`` of ``aten.convolution`` / ``aten._convolution`` (positional argument 8); 1 for any other op."""
    if name in ("convolution", "_convolution") and len(args) > 8:
        return int(args[8])
    return 1


class CountingMode(TorchDispatchMode):
    """Applies :data:`RULES` to every op of one forward; see the module docstring for what is counted."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Counting never runs under torch.compile: no dynamo-disable wrapper around every op (nor importing dynamo).
        return False

    def __init__(self, recorder: HookRecorder | None = None, meta: bool = False) -> None:
        super().__init__()
        self._meta = meta  # memoise functional ops (their inputs are meta tensors)
        self.total = 0  # acts_all
        self.ops: Counter[str] = Counter()  # op name → calls (all ops), for the functional-conv cross-check
        self.macs = 0
        self.macs_by_module: Counter[str] = Counter()
        self.recorder = OpRecorder()
        self._hooks = recorder

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        rule = RULES.get(func)
        if rule is None:
            rule = RULES[func] = Rule(func)
        out, macs = self._call(rule, func, args, kwargs)
        self.ops[rule.name] += 1
        outs = _leaves(out, [])
        if rule.is_view:
            self.recorder.view(_leaves(args, []), outs)
            return out
        self.recorder.produced(outs)
        if not rule.acts_all:
            return out
        first = _first_tensor(outs)
        if first is not None:
            self.total += first.numel()
        if not rule.launch:
            return out
        if macs:
            self.macs += macs
            for name in set(self._hooks.stack if self._hooks is not None else ()):
                self.macs_by_module[name] += macs
        self.recorder.record(rule.name, macs, _leaves((args, kwargs), []), outs, groups=_conv_groups(rule.name, args))
        return out

    def _call(self, rule: Rule, func: Any, args: Any, kwargs: dict[str, Any]) -> tuple[Any, int]:
        """The op's result and MACs; from :data:`_META_CACHE` for a functional op on meta tensors."""
        key = None
        if self._meta and rule.cacheable:
            with contextlib.suppress(_Uncacheable, TypeError):  # TypeError: an unhashable argument
                key = (func, _meta_key(args), _meta_key(tuple(sorted(kwargs.items()))))
        hit = _META_CACHE.get(key) if key is not None else None
        if hit is not None:
            many, metas, macs = hit
            outs = tuple(torch.empty_strided(size, stride, dtype=dt, device="meta") for size, stride, dt in metas)
            return (outs if many else outs[0]), macs
        out = None
        if self._meta and rule.name in META_RULES:
            out = META_RULES[rule.name](args)
        if out is None:
            out = func(*args, **kwargs)
        macs = int(rule.macs(*args, **kwargs, out_val=out)) // 2 if rule.launch and rule.macs is not None else 0
        single = type(out) is torch.Tensor
        if key is not None and (single or type(out) is tuple):  # a list result is not memoised (rebuilt a tuple)
            outs = (out,) if single else out
            if all(type(t) is torch.Tensor and t.is_meta for t in outs):
                metas = tuple((t.shape, t.stride(), t.dtype) for t in outs)
                _META_CACHE[key] = (not single, metas, macs)
        return out, macs

    def calls(self, kind: str) -> int:
        """How many ``kind`` ("conv" or "pool") ops ran, to compare with the module calls the hooks saw."""
        from profiler.counting.acts import MODULE_OPS

        return sum(n for op, n in self.ops.items() if op in MODULE_OPS[kind])

    def uncounted(self) -> dict[str, int]:
        """Ops that may carry MACs but have no formula, and how often they ran (as ``aten::name``)."""
        known = {p.__name__ for p in flop_registry}
        return {f"aten::{op}": n for op, n in self.ops.items() if MAC_OP_PATTERN.search(op) and op not in known}


class MetaUnsupported(RuntimeError):
    """The forward could not run on meta tensors (data-dependent code, a tensor not registered as a buffer…)."""


def _on_meta(model: nn.Module) -> bool:
    tensors = [*model.parameters(), *model.buffers()]
    return bool(tensors) and all(t.is_meta for t in tensors)


def counting_pass(
    model: nn.Module,
    input_shape: tuple[int, ...],
    device: torch.device,
    dtype: torch.dtype,
    hooks: bool,
    made: Callable[[HookRecorder], None] | None = None,
) -> tuple[CountingMode, HookRecorder | None]:
    """One forward of ``model`` (in eval mode, under ``no_grad``) on a zero input under :class:`CountingMode`.

    Meta tensors when the model lives on the CPU or on meta (a CPU model's tensors are swapped for meta copies
    with ``functional_call``; the model is not changed), fake tensors for other devices or when the meta forward
    of a CPU model fails. With ``hooks``, a fresh :class:`HookRecorder` (passed to ``made`` as it is made)
    records acts and shapes on that forward and is returned. Raises ``MetaUnsupported`` when a model built on
    meta cannot run on meta, else the forward's own exception.
    """
    attempts = ["meta", "fake"] if device.type in ("cpu", "meta") else ["fake"]
    on_meta = device.type == "meta" or _on_meta(model)
    for attempt in attempts:
        recorder = HookRecorder(model) if hooks else None
        if recorder is not None and made is not None:
            made(recorder)
        try:
            if attempt == "meta":
                return _meta_forward(model, input_shape, dtype, recorder, on_meta), recorder
            return _fake_forward(model, input_shape, device, dtype, recorder), recorder
        except Exception as exc:
            if attempt == "fake":
                raise
            if on_meta:
                raise MetaUnsupported(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if recorder is not None:
                recorder.remove()
    raise AssertionError("unreachable")


def _meta_forward(
    model: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype, rec: HookRecorder | None, on_meta: bool
) -> CountingMode:
    mode = CountingMode(rec, meta=True)
    x = torch.zeros(input_shape, device="meta", dtype=dtype)  # made outside `mode`: not counted
    mode.recorder.produced([x])
    with torch.no_grad():
        if on_meta:
            with mode:
                model(x)
        else:
            swap = {n: torch.empty_like(t, device="meta") for n, t in _named_tensors(model)}
            with mode:
                torch.func.functional_call(model, swap, (x,))
    return mode


def _named_tensors(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]


def _fake_forward(
    model: nn.Module, input_shape: tuple[int, ...], device: torch.device, dtype: torch.dtype, rec: HookRecorder | None
) -> CountingMode:
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = CountingMode(rec)
    with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.zeros(input_shape, device=device, dtype=dtype)  # made outside `mode`: not counted
        mode.recorder.produced([x])
        with mode:
            model(x)
    return mode
