"""One registry of named model specs: ``get_model``, ``get_spec``, ``list_models`` (timm-style wildcards).

A *spec* is a frozen dataclass that describes one network completely. Every spec type provides (the ``Spec``
protocol; structural, so spec types need not inherit from it):
- ``family`` (class attribute or property): the architecture family, used to group models in the analysis;
- ``min_resolution`` (class attribute): the smallest square input the network accepts (``check_resolution``);
- ``num_classes`` (field, default 1000);
- ``build() -> nn.Module``.
Specs are validated in ``__post_init__`` (ValueError naming the field and the allowed range) and round-trip
through plain JSON with ``spec_to_dict`` / ``spec_from_dict`` so that a sweep task can carry one to a worker.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from torch import nn

_REGISTRY: dict[str, ModelInfo] = {}
_SPEC_TYPES: dict[str, type] = {}


@runtime_checkable
class Spec(Protocol):
    """What every model spec provides (see the module doc); ``isinstance(x, Spec)`` checks the names only."""

    min_resolution: ClassVar[int]
    num_classes: int

    @property
    def family(self) -> str: ...

    def build(self) -> nn.Module: ...


def min_resolution(spec: Spec | type) -> int:
    """The smallest square input ``spec`` (or its type) accepts; 1 for a type that declares none."""
    return int(getattr(spec, "min_resolution", 1))


def check_resolution(spec: Spec, resolution: int) -> None:
    """ValueError naming the minimum when ``resolution`` is below ``spec.min_resolution`` (the one such check)."""
    minimum = min_resolution(spec)
    if resolution < minimum:
        raise ValueError(f"resolution {resolution} is too small for {type(spec).__name__}; the minimum is {minimum}")


@dataclass(frozen=True)
class ModelInfo:
    """A registered variant: its name, default input resolution and spec."""

    name: str
    spec: Spec
    resolution: int = 224

    @property
    def family(self) -> str:
        return self.spec.family


def spec_type(cls: type) -> type:
    """Class decorator: make a spec type known to ``spec_from_dict``."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} must be a dataclass")
    _SPEC_TYPES[cls.__name__] = cls
    return cls


def register(name: str, spec: Spec, resolution: int = 224) -> None:
    """Register ``spec`` under ``name`` with its default (native) input resolution."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    if type(spec).__name__ not in _SPEC_TYPES:
        raise TypeError(f"{type(spec).__name__} is not decorated with @spec_type")
    _REGISTRY[name] = ModelInfo(name=name, spec=spec, resolution=resolution)


def _ensure_loaded() -> None:
    # Importing the family modules fills the registry; done lazily so `models.registry` has no cycles.
    import models.external  # ExternalSpec, for spec_from_dict
    import models.families  # noqa: F401


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching an fnmatch ``pattern`` (e.g. ``"regnetx_*"``), sorted.

    An external pattern (``timm:regnet*``, ``torchvision:resnet*``) expands with its library's list.
    """
    _ensure_loaded()
    if ":" in pattern:
        from models import external

        return external.expand(pattern)
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def resolve_model(
    ref: str,
    kwargs: dict[str, Any] | None = None,
    *,
    family: str | None = None,
    name: str | None = None,
    resolution: int | None = None,
    base_dir: Any = None,
) -> ModelInfo:
    """A registry name or an external reference (``timm:NAME``, ``torchvision:NAME``, ``MODULE:CALLABLE``,
    ``PATH.py:CALLABLE``; see ``models.external``) as a ``ModelInfo``; ValueError naming what is wrong.

    ``kwargs`` go to an external factory (for a registry name they override spec fields); ``family``, ``name``
    and ``resolution`` replace the defaults (a sweep config's per-model table).
    """
    if ":" in ref:
        from models import external

        spec, default_res = external.resolve(ref, kwargs, family=family, base_dir=base_dir)
        info = ModelInfo(name=name or ref, spec=spec, resolution=resolution or default_res)
    else:
        base = model_info(ref)
        spec = replace_spec(base.spec, **(kwargs or {})) if kwargs else base.spec
        info = ModelInfo(name=name or ref, spec=spec, resolution=resolution or base.resolution)
        if family:
            raise ValueError(f"a family can be given for external models only; {ref!r} is a registry model")
    return info


def model_info(name: str) -> ModelInfo:
    """The registration of ``name`` (or an external reference, see ``resolve_model``); ValueError with close
    matches when unknown."""
    _ensure_loaded()
    if ":" in name:
        return resolve_model(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `python -m profiler list`"
        raise ValueError(f"unknown model {name!r}{hint}") from None


def replace_spec(spec: Spec, **overrides: Any) -> Spec:
    """``dataclasses.replace`` that names unknown fields and their close matches (an external spec takes any
    keyword: they join its factory's kwargs)."""
    if hasattr(spec, "with_kwargs"):
        return spec.with_kwargs(**overrides)
    fields = [f.name for f in dataclasses.fields(spec)]
    for key in overrides:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(
                f"{type(spec).__name__} has no field {key!r}{hint}; valid fields: {', '.join(fields)}"
            )
    return dataclasses.replace(spec, **overrides)


def get_spec(name: str, **overrides: Any) -> Spec:
    """The spec registered as ``name``, with ``overrides`` applied (and validated)."""
    return replace_spec(model_info(name).spec, **overrides)


def get_model(name: str, **overrides: Any) -> nn.Module:
    """Build the registered model ``name``; ``overrides`` replace spec fields (e.g. ``num_classes=10``)."""
    return get_spec(name, **overrides).build()


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """A JSON-safe dict that ``spec_from_dict`` turns back into an equal spec."""
    return {"type": type(spec).__name__, **dataclasses.asdict(spec)}


def _tuplify(value: Any) -> Any:
    # JSON has no tuples; specs use tuples so that they stay hashable.
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


def spec_from_dict(data: dict[str, Any]) -> Spec:
    """Inverse of ``spec_to_dict``."""
    _ensure_loaded()
    data = dict(data)
    type_name = data.pop("type", None)
    if type_name not in _SPEC_TYPES:
        raise ValueError(f"unknown spec type {type_name!r}; known: {', '.join(sorted(_SPEC_TYPES))}")
    return _SPEC_TYPES[type_name](**{k: _tuplify(v) for k, v in data.items()})


def spec_hash(spec: Spec) -> str:
    """A short stable hash of a spec (same spec → same hash on any machine)."""
    blob = json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
