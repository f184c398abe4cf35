"""Sweep definitions: ``experiments/*.toml`` read with tomllib, validated strictly, resolved to model specs.

A sweep file (every key optional except ``[models]``; see ``experiments/quick-cpu.toml`` for a commented one)::

    name = "quick-cpu"            # default: the file's stem
    seed = 0                      # drives design-space samples' default seed and the randomized order
    shuffle = true                # randomize the model order (per repeat)
    repeats = 1                   # independent process repeats of every measurement
    task_timeout_s = 600          # a measurement running longer is killed and recorded as failed
    count = true                  # count macs/params/acts (once per spec and resolution)
    isolation = "model"           # a fresh worker process per "model" (× repeat), per "repeat", or one "sweep"
                                  # ("sweep": cuDNN autotuning and imports once; a crash still gets a new one)
    prefetch = "auto"             # build/count/export in CPU processes: "overlap" (with timing; auto on cuda),
                                  # "before" (all first, never during timing; auto on cpu) or "off"
    prefetch_workers = 0          # preparation processes (0: all cores but 2, max 4, when overlapping; all cores)
    prefetch_lookahead = 3        # (spec, resolution) pairs prepared ahead of the timing worker ("overlap")
    reference_model = "resnet18"  # for `profiler check`: machine-speed normalization (one of the models)
    [models]
    include = ["resnet50", "regnetx_*"]            # names or fnmatch patterns (see `profiler list`)
    exclude = ["regnetx_32gf"]
    samples = [{space = "regnetx", n = 10, seed = 1, macs_range = [2e8, 4e9]}]
    [settings]
    batches = [1]; resolutions = ["native", 128]; backends = ["eager"]; dtypes = ["fp32"]
    memory_formats = ["contiguous"]
    [timing]                      # any profiler.timing.TimingConfig field
    iters = 30
    [[subsweep]]                  # more models/settings, e.g. a resolution sweep of a few networks
    models = ["resnet50"]; resolutions = [128, 160, 224, 288]
    [faults]                      # test hook: model name -> "raise" | "crash" | "hang" (in the worker)

Any unknown key or bad value raises UsageError naming the key, the file and the valid values.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.errors import UsageError
from profiler.timing.protocol import BACKENDS, DTYPES, MEMORY_FORMATS

FAULTS = ("raise", "crash", "hang", "prefetch_crash")
ISOLATION = ("model", "repeat", "sweep")
PREFETCH = ("auto", "overlap", "before", "off")
TOP_KEYS = ("name", "description", "seed", "shuffle", "repeats", "task_timeout_s", "count", "isolation",
            "reference_model", "prefetch", "prefetch_workers", "prefetch_lookahead", "models", "settings", "timing",
            "subsweep", "faults")
MODEL_KEYS = ("include", "exclude", "samples")
SAMPLE_KEYS = ("space", "n", "seed", "macs_range", "resolution")
SETTING_KEYS = ("batches", "resolutions", "backends", "dtypes", "memory_formats")
SUBSWEEP_KEYS = ("name", "models", *SETTING_KEYS)
DEFAULT_SETTINGS = {"batches": [1], "resolutions": ["native"], "backends": ["eager"], "dtypes": ["fp32"],
                    "memory_formats": ["contiguous"]}


@dataclass(frozen=True)
class ModelEntry:
    """One model of the sweep: a registered variant or a design-space sample (named ``space-sSEED-i``)."""

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


@dataclass(frozen=True)
class SweepConfig:
    """A parsed, validated sweep definition (``load_config``)."""

    name: str
    path: str
    text: str
    description: str = ""
    seed: int = 0
    shuffle: bool = True
    repeats: int = 1
    task_timeout_s: float = 600.0
    count: bool = True
    isolation: str = "model"
    prefetch: str = "auto"
    prefetch_workers: int = 0
    prefetch_lookahead: int = 3
    reference_model: str | None = None  # `profiler check` normalizes machine speed by this model
    timing: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)
    groups: tuple[Group, ...] = ()
    models: dict[str, ModelEntry] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def timing_config(self):  # -> profiler.timing.TimingConfig
        from profiler.timing import TimingConfig

        return TimingConfig(**self.timing)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the parsed file, the resolved model list and the file text (for meta.json)."""
        return {"name": self.name, "path": self.path, "parsed": self.raw, "text": self.text,
                "models": {n: e.family for n, e in self.models.items()},
                "groups": [dataclasses.asdict(g) for g in self.groups]}


class _Checker:
    """Error messages that name the file, the key and the valid values."""

    def __init__(self, path: str) -> None:
        self.path = path

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


def _settings(ck: _Checker, table: dict[str, Any], base: dict[str, Any], where: str) -> Settings:
    merged = {**base, **{k: v for k, v in table.items() if k in SETTING_KEYS}}
    return Settings(
        batches=ck.int_list(merged["batches"], f"{where}.batches"),
        resolutions=ck.int_list(merged["resolutions"], f"{where}.resolutions", allow=("native",)),
        backends=ck.str_list(merged["backends"], f"{where}.backends", BACKENDS),
        dtypes=ck.str_list(merged["dtypes"], f"{where}.dtypes", DTYPES),
        memory_formats=ck.str_list(merged["memory_formats"], f"{where}.memory_formats", MEMORY_FORMATS),
    )


def _resolve_names(ck: _Checker, patterns: tuple[str, ...], where: str, out: dict[str, ModelEntry]) -> list[str]:
    import models

    names: list[str] = []
    all_names = models.list_models()
    for pat in patterns:
        if pat in out:  # a sample named earlier in the file
            names.append(pat)
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


def _samples(ck: _Checker, value: Any, seed: int, out: dict[str, ModelEntry]) -> list[str]:
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


def parse_config(text: str, path: str = "<string>") -> SweepConfig:
    """Parse and validate a sweep definition given as TOML text (``path`` only names it in errors)."""
    ck = _Checker(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    ck.keys(raw, TOP_KEYS, "top level")
    if "models" not in raw:
        raise ck.fail("top level", "a [models] table is required (keys: include, exclude, samples)")
    seed = ck.typed(raw.get("seed", 0), int, "seed", "an integer")
    repeats = ck.typed(raw.get("repeats", 1), int, "repeats", "an integer >= 1")
    if repeats < 1:
        raise ck.fail("repeats", f"must be an integer >= 1, got {repeats}")
    timeout = ck.typed(raw.get("task_timeout_s", 600.0), int | float, "task_timeout_s", "a number of seconds > 0")
    if timeout <= 0:
        raise ck.fail("task_timeout_s", f"must be a number of seconds > 0, got {timeout}")

    entries: dict[str, ModelEntry] = {}
    mt = ck.keys(raw["models"], MODEL_KEYS, "[models]")
    names = _samples(ck, mt.get("samples", []), seed, entries)
    if "include" in mt:
        names = _resolve_names(ck, ck.str_list(mt["include"], "models.include"), "models.include", entries) + names
    excluded = ck.str_list(mt["exclude"], "models.exclude") if "exclude" in mt else ()
    names = [n for n in dict.fromkeys(names) if not any(fnmatch.fnmatchcase(n, p) for p in excluded)]
    if not names:
        raise ck.fail("[models]", "selects no model; give include = [names or patterns] and/or samples")

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

    timing = dict(ck.keys(raw.get("timing", {}), _timing_fields(), "[timing]"))
    try:
        from profiler.timing import TimingConfig

        TimingConfig(**timing)
    except (UsageError, TypeError) as exc:
        raise ck.fail("[timing]", str(exc)) from None
    faults = ck.keys(raw.get("faults", {}), tuple(entries), "[faults]")
    for model, kind in faults.items():
        if kind not in FAULTS:
            raise ck.fail(f"faults.{model}", f"invalid value {kind!r}; valid values: {', '.join(FAULTS)}")
    isolation = raw.get("isolation", "model")
    if isolation not in ISOLATION:
        raise ck.fail("isolation", f"invalid value {isolation!r}; valid values: {', '.join(ISOLATION)}")
    prefetch = raw.get("prefetch", "auto")
    if prefetch not in PREFETCH:
        raise ck.fail("prefetch", f"invalid value {prefetch!r}; valid values: {', '.join(PREFETCH)}")
    pf_workers = ck.typed(raw.get("prefetch_workers", 0), int, "prefetch_workers", "an integer >= 0")
    pf_ahead = ck.typed(raw.get("prefetch_lookahead", 3), int, "prefetch_lookahead", "an integer >= 1")
    if pf_workers < 0 or pf_ahead < 1:
        raise ck.fail("prefetch_workers" if pf_workers < 0 else "prefetch_lookahead",
                      "must be an integer >= 0 (workers; 0 = automatic) / >= 1 (lookahead)")
    reference = raw.get("reference_model")
    if reference is not None and reference not in entries:
        raise ck.fail("reference_model", f"{reference!r} is not one of this sweep's models: {', '.join(entries)}")
    return SweepConfig(
        reference_model=reference,
        name=ck.typed(raw.get("name", Path(path).stem), str, "name", "a string"), path=path, text=text,
        description=ck.typed(raw.get("description", ""), str, "description", "a string"),
        seed=seed, shuffle=ck.typed(raw.get("shuffle", True), bool, "shuffle", "true or false"), repeats=repeats,
        task_timeout_s=float(timeout), count=ck.typed(raw.get("count", True), bool, "count", "true or false"),
        isolation=isolation, prefetch=prefetch, prefetch_workers=pf_workers, prefetch_lookahead=pf_ahead,
        timing=timing, faults=dict(faults), groups=tuple(groups), models=entries, raw=raw,
    )


def _timing_fields() -> tuple[str, ...]:
    from profiler.timing import TimingConfig

    return tuple(f.name for f in dataclasses.fields(TimingConfig))


def load_config(path: Path | str) -> SweepConfig:
    """Read and validate ``path`` (a TOML file); UsageError on any problem, before anything runs."""
    path = Path(path)
    if not path.is_file():
        shipped = sorted(p.name for p in Path("experiments").glob("*.toml"))
        raise UsageError(f"sweep config {path} not found" + (f"; shipped: {', '.join(shipped)}" if shipped else ""))
    return parse_config(path.read_text(), str(path))
