"""One registry of named model specs: ``get_model``, ``get_spec``, ``list_models`` (timm-style wildcards).

What a spec is (the ``Spec`` protocol, ``spec_type``, ``register``, ``spec_to_dict``, ``spec_hash``) lives in
``models.spec``, below the family modules that register their variants; it is re-exported here. This module
imports the family modules (lazily, on the first lookup), never the other way round.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from typing import Any

from torch import nn

from models.spec import (  # noqa: F401  (re-exported: models.registry.spec_type, .register, .Spec...)
    REGISTRY,
    SPEC_TYPES,
    ModelInfo,
    Spec,
    check_resolution,
    min_resolution,
    register,
    spec_hash,
    spec_to_dict,
    spec_type,
)


def _ensure_loaded() -> None:
    # Importing the family modules fills the registry (they import models.spec, never this module); done on
    # the first lookup, so that importing models.registry alone stays cheap.
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
    return sorted(n for n in REGISTRY if fnmatch.fnmatchcase(n, pattern))


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
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(REGISTRY), n=5, cutoff=0.5)
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
            raise ValueError(f"{type(spec).__name__} has no field {key!r}{hint}; valid fields: {', '.join(fields)}")
    return dataclasses.replace(spec, **overrides)


def get_spec(name: str, **overrides: Any) -> Spec:
    """The spec registered as ``name``, with ``overrides`` applied (and validated)."""
    return replace_spec(model_info(name).spec, **overrides)


def get_model(name: str, **overrides: Any) -> nn.Module:
    """Build the registered model ``name``; ``overrides`` replace spec fields (e.g. ``num_classes=10``)."""
    return get_spec(name, **overrides).build()


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
    if type_name not in SPEC_TYPES:
        raise ValueError(f"unknown spec type {type_name!r}; known: {', '.join(sorted(SPEC_TYPES))}")
    return SPEC_TYPES[type_name](**{k: _tuplify(v) for k, v in data.items()})
