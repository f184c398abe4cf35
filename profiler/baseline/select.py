"""What a check compares with: the stored baseline for this machine (or another key's), and the models it covers.

``profiler check`` only parses its arguments and calls these; the rules (which file, when a key mismatch is fatal,
which models a ``--models`` pattern keeps) live here.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from pathlib import Path
from typing import Any

from profiler.baseline.files import DEFAULT_ROOT, load_baseline
from profiler.core.errors import UsageError


def select_baseline(target: Path | str | None, name: str, key: str, latency: str, warn: list[str]) -> Path:
    """The baseline file to compare with (``target``: a file, a baselines directory, or None for the default root).

    With no file for ``key``, one of another key serves for counts only, with a note appended to ``warn``; that is
    a UsageError (exit 2) when ``latency == "fail"``, since latency across machines is not comparable.
    """
    given = target is not None
    target = Path(target) if given else DEFAULT_ROOT
    if target.is_file():
        found, others = (target, []) if load_baseline(target)["device_key"] == key else (None, [target])
    elif target.is_dir() or not given:
        found, others = find_baseline(target, name, key)
    else:
        raise UsageError(f"baseline {target} does not exist (give a baseline .json file or a baselines directory)")
    if found is not None:
        return found
    if not others:
        raise UsageError(
            f"no baseline {name!r} under {target}/ for device key {key!r} (nor for any other key); "
            f"create one with `python -m profiler baseline save RUN --name {name}`"
        )
    keys = [load_baseline(p)["device_key"] for p in others]
    if latency == "fail":
        raise UsageError(
            f"device key mismatch: this machine is {key!r} but baseline {name!r} exists only for "
            f"{keys}; latency across machines is not comparable. Save a baseline here, or use "
            "--latency warn/off to check counts only"
        )
    same_kind = [p for p, k in zip(others, keys, strict=True) if k.split("-", 1)[0] == key.split("-", 1)[0]]
    chosen = max(same_kind or others, key=lambda p: p.stat().st_mtime)
    warn.append(f"no baseline for this machine ({key}); checking counts only against {chosen}")
    return chosen


def find_baseline(root: Path | str, name: str, key: str) -> tuple[Path | None, list[Path]]:
    """The baseline ``name`` for device ``key`` under ``root`` (or None) and those of the same name for other keys."""
    root = Path(root)
    exact = root / key / f"{name}.json"
    others = sorted(p for p in root.glob(f"*/{name}.json") if p != exact) if root.is_dir() else []
    return (exact if exact.is_file() else None), others


def newest_baseline(target: Path | str, name: str) -> tuple[dict[str, Any], str]:
    """The baseline file ``target``, else the newest one named ``name`` under it (any device key), and a note.

    For counts only: they do not depend on the machine, so any key's file serves.
    """
    target = Path(target)
    if target.is_file():
        return load_baseline(target), f"counts compared with {target}"
    files = sorted(target.glob(f"*/{name}.json"), key=lambda p: p.stat().st_mtime) if target.is_dir() else []
    if not files:
        raise UsageError(
            f"no stored baseline {name!r} under {target}/ to check counts against; create one with "
            f"`python -m profiler baseline save RUN --name {name}` (checked before measuring)"
        )
    return load_baseline(files[-1]), (
        f"counts compared with {files[-1]} (counts do not depend on the machine; its latency is not used)"
    )


def restrict_config(cfg: Any, pattern: str, reference: str | None) -> Any:
    """The ``SweepConfig`` with only the models matching ``pattern`` (plus the reference model) in every group."""
    keep = lambda m: fnmatch.fnmatchcase(m, pattern) or m == reference  # noqa: E731
    groups = tuple(dataclasses.replace(g, models=tuple(m for m in g.models if keep(m))) for g in cfg.groups)
    groups = tuple(g for g in groups if g.models)
    if not any(keep(m) and m != reference for m in cfg.models):
        raise UsageError(f"--models {pattern!r} matches none of the config's models: {', '.join(cfg.models)}")
    models = {n: e for n, e in cfg.models.items() if keep(n)}
    return dataclasses.replace(cfg, groups=groups, models=models)


def restrict_tasks(tasks: list, pattern: str, reference: str | None) -> list:
    """The tasks of models matching ``pattern`` (and the reference model)."""
    kept = [t for t in tasks if fnmatch.fnmatchcase(t.model, pattern) or t.model == reference]
    if not any(t.model != reference for t in kept):
        raise UsageError(
            f"--models {pattern!r} matches none of the config's models: {', '.join(sorted({t.model for t in tasks}))}"
        )
    return kept
