"""The unit of work of a sweep: one model × one setting × one repeat, as plain JSON-serializable data.

A ``Task`` carries everything a worker needs (the spec as a dict, the setting, the timing knobs), so that any
executor — a local subprocess today, a cluster worker (e.g. Ray, one per GPU) later — can run it unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from profiler.core import paths
from profiler.results.measurement import Measurement


@dataclass(frozen=True)
class Task:
    """One measurement to make. ``key`` is its identity in the results store (resume skips stored keys)."""

    model: str
    family: str
    spec: dict[str, Any]  # models.spec_to_dict(spec)
    spec_hash: str
    backend: str
    device: str
    dtype: str
    memory_format: str
    batch: int
    resolution: int
    repeat: int
    timing: dict[str, Any] = field(default_factory=dict)  # TimingConfig fields
    count: bool = True  # fill macs/params/acts (cached per spec and resolution)
    timeout_s: float = 600.0
    fault: str | None = None  # test hook (config [faults]): "raise" | "crash" | "hang"
    isolation: str = "model"  # a fresh worker process per "model" (and repeat), per "repeat", or one per "sweep"

    @property
    def key(self) -> str:
        """Unique, readable key of (model spec, setting, repeat) — the store's primary key."""
        return (
            f"{self.model}|{self.spec_hash}|{self.backend}|{self.device}|{self.dtype}|{self.memory_format}"
            f"|b{self.batch}|r{self.resolution}|rep{self.repeat}"
        )

    @property
    def group_key(self) -> str:
        """Consecutive tasks with the same group key run in one worker process (one model or one repeat)."""
        if self.isolation == "sweep":
            return "sweep"
        return f"rep{self.repeat}" if self.isolation == "repeat" else f"{self.spec_hash}|rep{self.repeat}"

    @property
    def prep_key(self) -> str:
        """What one preparation job makes ready (build, counts, ONNX graphs): one (spec, resolution)."""
        return paths.count_key(self.spec_hash, self.resolution)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(**data)

    def base_row(self, values: Mapping[str, Any] | None = None, /, **columns: Any) -> Measurement:
        """A new result row holding the columns the task itself determines, then ``values`` and ``columns``."""
        row = Measurement(
            task_key=self.key,
            model=self.model,
            family=self.family,
            spec_json=json.dumps(self.spec, sort_keys=True),
            spec_hash=self.spec_hash,
            backend=self.backend,
            device=self.device,
            dtype=self.dtype,
            memory_format=self.memory_format,
            batch=self.batch,
            resolution=self.resolution,
            repeat=self.repeat,
        )
        row.update(values, **columns)
        return row

    def failed_row(self, reason: str, **columns: Any) -> Measurement:
        """A row recording that this task failed (failures are data)."""
        return self.base_row(status="failed", error=reason, **columns)
