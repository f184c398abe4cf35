"""The tables of a sweep file, one parser each: ``[models]`` (with samples), ``[settings]`` and ``[[subsweep]]``
(the groups), ``[timing]`` and ``[faults]``; ``profiler.sweep.config.parse_config`` calls them in turn.

Keys come from the dataclasses where one exists (``[settings]``: ``Settings``; ``[timing]``: ``TimingConfig``).
Every error names the file, the key and the valid values (``Checker``).
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.core.errors import UsageError
from profiler.timing.protocol import BACKENDS, DTYPES, MEMORY_FORMATS

FAULTS = ("raise", "crash", "hang", "prefetch_crash")
MODEL_KEYS = ("include", "exclude", "samples", "custom")
SAMPLE_KEYS = ("space", "n", "seed", "macs_range", "resolution")
CUSTOM_KEYS = ("ref", "name", "family", "kwargs", "resolution")
DEFAULT_SETTINGS = {
    "batches": [1],
    "resolutions": ["native"],
    "backends": ["eager"],
    "dtypes": ["fp32"],
    "memory_formats": ["contiguous"],
}


@dataclass(frozen=True)
class ModelEntry:
    """One model of the sweep: a registered variant, an external reference (``timm:NAME``...), a ``[[models.custom]]``
    entry or a design-space sample (named ``space-sSEED-i``)."""

    name: str
    spec: Any
    family: str
    resolution: int  # native resolution ("native" in [settings] means this)


@dataclass(frozen=True)
class Settings:
    """The settings grid every model of a group is measured under."""

    batches: tuple[int, ...]
    resolutions: tuple[int | str, ...]  # ints or "native"
    backends: tuple[str, ...]
    dtypes: tuple[str, ...]
    memory_formats: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    """Models measured under one settings grid (``[models]``+``[settings]``, or one ``[[subsweep]]``)."""

    name: str
    models: tuple[str, ...]
    settings: Settings


SETTING_KEYS = tuple(f.name for f in dataclasses.fields(Settings))
SUBSWEEP_KEYS = ("name", "models", *SETTING_KEYS)


class Checker:
    """Error messages that name the file, the key and the valid values; ``base_dir`` is where a relative
    ``PATH.py:CALLABLE`` reference is found (the file's folder; the working directory for TOML text)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.base_dir = Path(path).resolve().parent if path != "<string>" else None

    def fail(self, where: str, msg: str) -> UsageError:
        return UsageError(f"{self.path}: {where}: {msg}")

    def keys(self, table: Any, valid: tuple[str, ...], where: str) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise self.fail(where, f"must be a table, got {type(table).__name__}")
        for key in table:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(where, f"unknown key {key!r}{hint}; valid keys: {', '.join(valid)}")
        return table

    def typed(self, value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
        # bool is an int in Python; a `repeats = true` is a mistake, not 1.
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise self.fail(where, f"must be {what}, got {value!r}")
        return value

    def str_list(self, value: Any, where: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"must be a non-empty list of strings, got {value!r}")
        for v in value:
            if choices is not None and v not in choices:
                raise self.fail(where, f"invalid value {v!r}; valid values: {', '.join(choices)}")
        return tuple(dict.fromkeys(value))

    def int_list(self, value: Any, where: str, allow: tuple[str, ...] = ()) -> tuple[Any, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, f"must be a non-empty list, got {value!r}")
        for v in value:
            ok = v in allow if isinstance(v, str) else isinstance(v, int) and not isinstance(v, bool) and v >= 1
            if not ok:
                extra = f" or one of {', '.join(map(repr, allow))}" if allow else ""
                raise self.fail(where, f"invalid value {v!r}; valid values: integers >= 1{extra}")
        return tuple(dict.fromkeys(value))


def _settings(ck: Checker, table: dict[str, Any], base: dict[str, Any], where: str) -> Settings:
    merged = {**base, **{k: v for k, v in table.items() if k in SETTING_KEYS}}
    return Settings(
        batches=ck.int_list(merged["batches"], f"{where}.batches"),
        resolutions=ck.int_list(merged["resolutions"], f"{where}.resolutions", allow=("native",)),
        backends=ck.str_list(merged["backends"], f"{where}.backends", BACKENDS),
        dtypes=ck.str_list(merged["dtypes"], f"{where}.dtypes", DTYPES),
        memory_formats=ck.str_list(merged["memory_formats"], f"{where}.memory_formats", MEMORY_FORMATS),
    )


def _resolve_names(ck: Checker, patterns: tuple[str, ...], where: str, out: dict[str, ModelEntry]) -> list[str]:
    import models

    names: list[str] = []
    all_names = models.list_models()
    for pat in patterns:
        if pat in out:  # a sample or [[models.custom]] entry named earlier in the file
            names.append(pat)
            continue
        if ":" in pat:
            names.extend(_resolve_refs(ck, pat, where, out))
            continue
        hits = models.list_models(pat)
        if not hits:
            close = difflib.get_close_matches(pat, all_names, n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else "; see `python -m profiler list`"
            raise ck.fail(where, f"{pat!r} matches no registered model{hint}")
        for name in hits:
            info = models.model_info(name)
            out.setdefault(name, ModelEntry(name, info.spec, info.family, info.resolution))
        names.extend(hits)
    return names


def _resolve_refs(ck: Checker, pattern: str, where: str, out: dict[str, ModelEntry]) -> list[str]:
    """An external reference (or a timm:/torchvision: wildcard): its entries, named by the reference as written."""
    import models

    try:
        refs = models.list_models(pattern)
        if not refs:
            raise ck.fail(where, f"{pattern!r} matches no model; see `python -m profiler list '{pattern}'`")
        for ref in refs:
            if ref not in out:
                info = models.resolve_model(ref, base_dir=ck.base_dir)
                out[ref] = ModelEntry(ref, info.spec, info.family, info.resolution)
    except UsageError:
        raise
    except ValueError as exc:
        raise ck.fail(where, " ".join(str(exc).split())) from None
    return refs


def _custom(ck: Checker, value: Any, out: dict[str, ModelEntry]) -> list[str]:
    """``[[models.custom]]``: one model each, from ``ref`` with ``kwargs``, ``name``, ``family``, ``resolution``."""
    import models

    if not isinstance(value, list):
        raise ck.fail("models.custom", f"must be an array of tables ([[models.custom]]), got {value!r}")
    names: list[str] = []
    for i, item in enumerate(value):
        where = f"models.custom[{i}]"
        ck.keys(item, CUSTOM_KEYS, where)
        if "ref" not in item:
            raise ck.fail(
                where, "needs ref = a registry name, timm:NAME, torchvision:NAME, MODULE:CALLABLE or PATH.py:CALLABLE"
            )
        ref = ck.typed(item["ref"], str, f"{where}.ref", "a string")
        name = ck.typed(item.get("name", ref), str, f"{where}.name", "a string")
        family = ck.typed(item.get("family", ""), str, f"{where}.family", "a string") or None
        kwargs = ck.typed(item.get("kwargs", {}), dict, f"{where}.kwargs", "a table, e.g. {num_classes = 10}")
        res = item.get("resolution")
        if res is not None and (ck.typed(res, int, f"{where}.resolution", "an integer >= 1") < 1):
            raise ck.fail(f"{where}.resolution", f"must be an integer >= 1, got {res}")
        if name in out:
            raise ck.fail(f"{where}.name", f"{name!r} names another model of this file; give a distinct name")
        try:
            info = models.resolve_model(ref, kwargs, family=family, name=name, resolution=res, base_dir=ck.base_dir)
        except ValueError as exc:
            raise ck.fail(where, " ".join(str(exc).split())) from None
        out[name] = ModelEntry(name, info.spec, info.family, info.resolution)
        names.append(name)
    return names


def _samples(ck: Checker, value: Any, seed: int, out: dict[str, ModelEntry]) -> list[str]:
    import models
    from models.spaces import sample_names

    if not isinstance(value, list):
        raise ck.fail("models.samples", f"must be a list of tables, got {value!r}")
    names: list[str] = []
    for i, item in enumerate(value):
        where = f"models.samples[{i}]"
        ck.keys(item, SAMPLE_KEYS, where)
        space = item.get("space")
        if space not in models.SPACES:
            raise ck.fail(f"{where}.space", f"invalid value {space!r}; valid values: {', '.join(models.SPACES)}")
        n = ck.typed(item.get("n"), int, f"{where}.n", "an integer >= 1")
        s = ck.typed(item.get("seed", seed), int, f"{where}.seed", "an integer")
        res = ck.typed(item.get("resolution", 224), int, f"{where}.resolution", "an integer")
        rng = item.get("macs_range")
        if rng is not None:
            ok = isinstance(rng, list) and len(rng) == 2 and all(isinstance(x, int | float) for x in rng)
            if not ok:
                raise ck.fail(f"{where}.macs_range", f"must be [low, high] numbers, got {rng!r}")
            rng = (float(rng[0]), float(rng[1]))
        try:
            specs = models.sample(space, n, s, macs_range=rng, resolution=res)
        except ValueError as exc:
            raise ck.fail(where, str(exc)) from None
        for name, spec in zip(sample_names(space, n, s), specs, strict=True):
            out[name] = ModelEntry(name, spec, spec.family, 224)
            names.append(name)
    return names


def parse_models(ck: Checker, raw: dict[str, Any], seed: int) -> tuple[list[str], dict[str, ModelEntry]]:
    """``[models]`` (present): the main group's names (includes, then samples, less excludes) and every entry."""
    entries: dict[str, ModelEntry] = {}
    mt = ck.keys(raw["models"], MODEL_KEYS, "[models]")
    names = _samples(ck, mt.get("samples", []), seed, entries)
    names = _custom(ck, mt.get("custom", []), entries) + names
    if "include" in mt:
        names = _resolve_names(ck, ck.str_list(mt["include"], "models.include"), "models.include", entries) + names
    excluded = ck.str_list(mt["exclude"], "models.exclude") if "exclude" in mt else ()
    names = [n for n in dict.fromkeys(names) if not any(fnmatch.fnmatchcase(n, p) for p in excluded)]
    if not names:
        raise ck.fail("[models]", "selects no model; give include = [names or patterns], custom and/or samples")
    return names, entries


def parse_groups(ck: Checker, raw: dict[str, Any], names: list[str], entries: dict[str, ModelEntry]) -> list[Group]:
    """``[settings]`` (the main group's grid, the default of every subsweep) and each ``[[subsweep]]``."""
    base = {**DEFAULT_SETTINGS, **ck.keys(raw.get("settings", {}), SETTING_KEYS, "[settings]")}
    groups = [Group("main", tuple(names), _settings(ck, {}, base, "settings"))]
    subs = raw.get("subsweep", [])
    if not isinstance(subs, list):
        raise ck.fail("subsweep", "must be an array of tables: [[subsweep]]")
    for i, sub in enumerate(subs):
        where = f"subsweep[{i}]"
        ck.keys(sub, SUBSWEEP_KEYS, where)
        if "models" not in sub:
            raise ck.fail(where, "needs models = [names or patterns]")
        sub_names = _resolve_names(ck, ck.str_list(sub["models"], f"{where}.models"), f"{where}.models", entries)
        name = ck.typed(sub.get("name", f"subsweep{i}"), str, f"{where}.name", "a string")
        groups.append(Group(name, tuple(dict.fromkeys(sub_names)), _settings(ck, sub, base, where)))
    return groups


def parse_timing(ck: Checker, raw: dict[str, Any]) -> dict[str, Any]:
    """``[timing]``: any ``TimingConfig`` field, validated by constructing one."""
    from profiler.timing import TimingConfig

    timing = dict(ck.keys(raw.get("timing", {}), tuple(f.name for f in dataclasses.fields(TimingConfig)), "[timing]"))
    try:
        TimingConfig(**timing)
    except (UsageError, TypeError) as exc:
        raise ck.fail("[timing]", str(exc)) from None
    return timing


def parse_faults(ck: Checker, raw: dict[str, Any], entries: dict[str, ModelEntry]) -> dict[str, str]:
    """``[faults]`` (a test hook): model name → one of ``FAULTS``."""
    faults = ck.keys(raw.get("faults", {}), tuple(entries), "[faults]")
    for model, kind in faults.items():
        if kind not in FAULTS:
            raise ck.fail(f"faults.{model}", f"invalid value {kind!r}; valid values: {', '.join(FAULTS)}")
    return dict(faults)
