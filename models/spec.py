"""What a model spec is, and the two tables that family modules fill at import (below ``models.registry``).

A *spec* is a frozen dataclass that describes one network completely. Every spec type provides (the ``Spec``
protocol; structural, so spec types need not inherit from it):
- ``family`` (class attribute or property): the architecture family, used to group models in the analysis;
- ``min_resolution`` (class attribute): the smallest square input the network accepts (``check_resolution``);
- ``num_classes`` (field, default 1000);
- ``build() -> nn.Module``.
Specs are validated in ``__post_init__`` (ValueError naming the field and the allowed range) and round-trip
through plain JSON with ``spec_to_dict`` / ``models.registry.spec_from_dict`` so that a sweep task can carry one to
a worker.

Family modules (and ``models.external``) import ``spec_type`` and ``register`` from here; the lookups
(``get_spec``, ``list_models``, ``spec_from_dict``…) live in ``models.registry``, which imports the family modules:
the dependency goes one way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from torch import nn

# Filled at import of the family modules (``register``, ``spec_type``); read through ``models.registry``.
REGISTRY: dict[str, ModelInfo] = {}
SPEC_TYPES: dict[str, type] = {}


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
    SPEC_TYPES[cls.__name__] = cls
    return cls


def register(name: str, spec: Spec, resolution: int = 224) -> None:
    """Register ``spec`` under ``name`` with its default (native) input resolution."""
    if name in REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    if type(spec).__name__ not in SPEC_TYPES:
        raise TypeError(f"{type(spec).__name__} is not decorated with @spec_type")
    REGISTRY[name] = ModelInfo(name=name, spec=spec, resolution=resolution)


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """A JSON-safe dict that ``spec_from_dict`` turns back into an equal spec."""
    return {"type": type(spec).__name__, **dataclasses.asdict(spec)}


def spec_hash(spec: Spec) -> str:
    """A short stable hash of a spec (same spec → same hash on any machine)."""
    blob = json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
