"""``RunMeta``: a run's ``meta.json``, read in one place (``profiler.results.runs`` adds its rows).

This is the one reader of ``meta.json`` (``ResultStore.write_meta`` is its one writer). The layout, as
``profiler.sweep.run`` writes it:

- ``run``: ``config_name``, ``device``, ``argv``, ``git_commit``, ``started_at``, ``skipped`` (combinations that
  can never be measured, with the reason); an import (``profiler.imports``) writes ``kind: "import"`` instead of
  ``config_name`` and adds ``imported`` (source file, sha256, licence, include rule, skipped models);
- ``environment``: ``profiler.core.environment.capture(device)`` (older files: ``env``);
- ``config``: ``SweepConfig.to_dict()`` — ``name``, ``path``, ``parsed`` (the TOML, holding e.g. ``reference_model``),
  ``text``, ``models``, ``groups``;
- ``sessions``: one per start or resume (wall time, timed time, overhead ratio, rows, failed…).

>>> meta = RunMeta.from_dict({"config": {"name": "ci-check", "parsed": {"reference_model": "resnet18"}}})
>>> meta.config_name, meta.reference_model, meta.environment, meta.last_session
('ci-check', 'resnet18', None, None)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.core import paths
from profiler.core.errors import UsageError


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class RunMeta:
    """The parsed ``meta.json`` of a run (every part empty when the run has none)."""

    run: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole file, e.g. for ``schema_version``

    @classmethod
    def from_dict(cls, meta: Mapping[str, Any] | RunMeta) -> RunMeta:
        """The meta of a ``meta.json`` document (a RunMeta passes through)."""
        if isinstance(meta, RunMeta):
            return meta
        env = next((dict(meta[k]) for k in ("environment", "env") if isinstance(meta.get(k), Mapping)), None)
        sessions = [dict(s) for s in meta.get("sessions") or [] if isinstance(s, Mapping)]
        return cls(_dict(meta.get("run")), env, _dict(meta.get("config")), sessions, dict(meta))

    @classmethod
    def read(cls, run_dir: Path | str, *, strict: bool = True) -> RunMeta:
        """The ``meta.json`` of ``run_dir`` (empty when absent); unreadable: UsageError, or empty if not ``strict``."""
        path = paths.meta_path(run_dir)
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            if strict:
                raise UsageError(f"{path} is not valid JSON: {exc}") from None
            return cls()
        return cls.from_dict(data)

    def __bool__(self) -> bool:
        return bool(self.raw)

    def config_field(self, name: str) -> Any:
        """``name`` of the recorded sweep config: its top level, else any table in it (``parsed``), else None."""
        if name in self.config:
            return self.config[name]
        for section in self.config.values():  # e.g. parsed.reference_model
            if isinstance(section, Mapping) and name in section:
                return section[name]
        return None

    @property
    def config_name(self) -> str | None:
        return self.config_field("name")

    @property
    def config_path(self) -> str | None:
        return self.config.get("path")

    @property
    def config_text(self) -> str | None:
        """The sweep config file's text (what a resume re-parses), None if not recorded."""
        return self.config.get("text")

    @property
    def reference_model(self) -> str | None:
        """The model ``profiler check`` normalizes machine speed by (the config's ``reference_model``)."""
        return self.config_field("reference_model")

    @property
    def device(self) -> str | None:
        return self.run.get("device")

    @property
    def git_commit(self) -> str | None:
        return self.run.get("git_commit") or (self.environment or {}).get("git_commit")

    @property
    def started_at(self) -> str | None:
        return self.run.get("started_at")

    @property
    def last_session(self) -> dict[str, Any] | None:
        """The latest session (wall time, timed time, overhead ratio…), None before the first one ends."""
        return self.sessions[-1] if self.sessions else None
