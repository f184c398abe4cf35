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
    measure_peaks = true          # `profiler sweep` measures the device's peaks (~15 s) when none are stored
    [models]
    include = ["resnet50", "regnetx_*",            # names or fnmatch patterns (see `profiler list`)
               "timm:regnety_00*",                 # timm models (wildcards expand with timm.list_models)
               "torchvision:resnet18",             # torchvision.models.get_model(NAME, weights=None)
               "nets.py:build", "mypkg.nets:tiny"] # a factory in a file (relative to this file's folder) or module
    exclude = ["regnetx_32gf", "timm:regnety_002"] # fnmatch patterns over the names above
    samples = [{space = "regnetx", n = 10, seed = 1, macs_range = [2e8, 4e9]}]
    [[models.custom]]             # one model with factory kwargs, a display name, a family, a native resolution
    ref = "timm:resnet50"         # any reference above (a registry name: kwargs override its spec's fields)
    name = "resnet50-c10"         # the model's name in rows, filters and [faults] (default: ref)
    family = "resnet"             # default: timm's name rule, torchvision's builder module, the callable's name
    kwargs = {num_classes = 10}   # keyword arguments of the factory (timm.create_model, get_model, yours)
    resolution = 160              # what "native" means for it (default: the library's input size, else 224)
    [settings]
    batches = [1]; resolutions = ["native", 128]; backends = ["eager"]; dtypes = ["fp32"]
    memory_formats = ["contiguous"]
    [timing]                      # any profiler.timing.TimingConfig field
    iters = 30
    [[subsweep]]                  # more models/settings, e.g. a resolution sweep of a few networks
    models = ["resnet50"]; resolutions = [128, 160, 224, 288]
    [faults]                      # test hook: model name -> "raise" | "crash" | "hang" (in the worker)

Any unknown key or bad value raises UsageError naming the key, the file and the valid values; a reference that
cannot be resolved (unknown timm name, timm not installed, a module that does not import, a callable that is not
there, kwargs the factory does not take) is such an error too, before anything runs. A model is named by its
reference as written (``"timm:resnet50"``) unless ``[[models.custom]]`` names it; its spec (``models.external``)
records source, kwargs and library version (or the file's sha256), and its hash keys the count and ONNX caches.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profiler.core.errors import UsageError
from profiler.core.paths import PROJECT_ROOT
from profiler.sweep.config_tables import (
    CUSTOM_KEYS,
    DEFAULT_SETTINGS,
    FAULTS,
    MODEL_KEYS,
    SAMPLE_KEYS,
    SETTING_KEYS,
    SUBSWEEP_KEYS,
    Checker,
    Group,
    ModelEntry,
    Settings,
    parse_faults,
    parse_groups,
    parse_models,
    parse_timing,
)

if TYPE_CHECKING:
    from profiler.timing import TimingConfig

__all__ = [
    "CUSTOM_KEYS",
    "DEFAULT_SETTINGS",
    "EXPERIMENTS_DIR",
    "FAULTS",
    "ISOLATION",
    "MODEL_KEYS",
    "PREFETCH",
    "SAMPLE_KEYS",
    "SETTING_KEYS",
    "SUBSWEEP_KEYS",
    "TABLE_KEYS",
    "TOP_KEYS",
    "Group",
    "ModelEntry",
    "Settings",
    "SweepConfig",
    "config_file",
    "load_config",
    "parse_config",
]

ISOLATION = ("model", "repeat", "sweep")
PREFETCH = ("auto", "overlap", "before", "off")
TABLE_KEYS = ("models", "settings", "timing", "subsweep", "faults")  # one parser each in profiler.sweep.config_tables
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"  # the shipped sweep files
DEFAULT_CONFIG = {"cpu": "quick-cpu.toml", "cuda": "regnet-claim.toml"}  # `profiler sweep` without --config
_NOT_A_KEY = {"toml": False}
_TABLE = {"toml": False}


@dataclass(frozen=True)
class SweepConfig:
    """A parsed, validated sweep definition (``load_config``)."""

    name: str
    path: str = field(metadata=_NOT_A_KEY)
    text: str = field(metadata=_NOT_A_KEY)
    description: str = ""
    seed: int = 0
    shuffle: bool = True
    repeats: int = 1
    task_timeout_s: float = 600.0
    count: bool = True
    isolation: str = "model"
    reference_model: str | None = None  # `profiler check` normalizes machine speed by this model
    prefetch: str = "auto"
    prefetch_workers: int = 0
    prefetch_lookahead: int = 3
    measure_peaks: bool = True  # the sweep command measures peaks once per device key when none are stored
    # read from the tables (profiler.sweep.config_tables), not from a top-level key of their own name
    timing: dict[str, Any] = field(default_factory=dict, metadata=_TABLE)
    faults: dict[str, str] = field(default_factory=dict, metadata=_TABLE)
    groups: tuple[Group, ...] = field(default=(), metadata=_TABLE)
    models: dict[str, ModelEntry] = field(default_factory=dict, metadata=_TABLE)
    raw: dict[str, Any] = field(default_factory=dict, metadata=_NOT_A_KEY)

    def timing_config(self) -> TimingConfig:
        from profiler.timing import TimingConfig

        return TimingConfig(**self.timing)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the parsed file, the resolved model list and the file text (for meta.json)."""
        return {
            "name": self.name,
            "path": self.path,
            "parsed": self.raw,
            "text": self.text,
            "models": {n: e.family for n, e in self.models.items()},
            # where each external model comes from: source, target, kwargs, library version or file sha
            "sources": {n: dataclasses.asdict(e.spec) for n, e in self.models.items() if hasattr(e.spec, "source")},
            "groups": [dataclasses.asdict(g) for g in self.groups],
        }


# Top-level keys: SweepConfig's scalar fields (in field order), then the tables.
TOP_KEYS = (*(f.name for f in dataclasses.fields(SweepConfig) if f.metadata.get("toml", True)), *TABLE_KEYS)


def parse_config(text: str, path: str = "<string>") -> SweepConfig:
    """Parse and validate a sweep definition given as TOML text (``path`` only names it in errors)."""
    ck = Checker(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    ck.keys(raw, TOP_KEYS, "top level")
    if "models" not in raw:
        raise ck.fail("top level", "a [models] table is required (keys: include, exclude, samples, custom)")
    seed = ck.typed(raw.get("seed", 0), int, "seed", "an integer")
    repeats = ck.typed(raw.get("repeats", 1), int, "repeats", "an integer >= 1")
    if repeats < 1:
        raise ck.fail("repeats", f"must be an integer >= 1, got {repeats}")
    timeout = ck.typed(raw.get("task_timeout_s", 600.0), int | float, "task_timeout_s", "a number of seconds > 0")
    if timeout <= 0:
        raise ck.fail("task_timeout_s", f"must be a number of seconds > 0, got {timeout}")

    names, entries = parse_models(ck, raw, seed)
    groups = parse_groups(ck, raw, names, entries)
    timing = parse_timing(ck, raw)
    faults = parse_faults(ck, raw, entries)
    isolation = raw.get("isolation", "model")
    if isolation not in ISOLATION:
        raise ck.fail("isolation", f"invalid value {isolation!r}; valid values: {', '.join(ISOLATION)}")
    prefetch = raw.get("prefetch", "auto")
    if prefetch not in PREFETCH:
        raise ck.fail("prefetch", f"invalid value {prefetch!r}; valid values: {', '.join(PREFETCH)}")
    pf_workers = ck.typed(raw.get("prefetch_workers", 0), int, "prefetch_workers", "an integer >= 0")
    pf_ahead = ck.typed(raw.get("prefetch_lookahead", 3), int, "prefetch_lookahead", "an integer >= 1")
    if pf_workers < 0 or pf_ahead < 1:
        raise ck.fail(
            "prefetch_workers" if pf_workers < 0 else "prefetch_lookahead",
            "must be an integer >= 0 (workers; 0 = automatic) / >= 1 (lookahead)",
        )
    reference = raw.get("reference_model")
    if reference is not None and reference not in entries:
        raise ck.fail("reference_model", f"{reference!r} is not one of this sweep's models: {', '.join(entries)}")
    return SweepConfig(
        reference_model=reference,
        name=ck.typed(raw.get("name", Path(path).stem), str, "name", "a string"),
        path=path,
        text=text,
        description=ck.typed(raw.get("description", ""), str, "description", "a string"),
        seed=seed,
        shuffle=ck.typed(raw.get("shuffle", True), bool, "shuffle", "true or false"),
        repeats=repeats,
        task_timeout_s=float(timeout),
        count=ck.typed(raw.get("count", True), bool, "count", "true or false"),
        isolation=isolation,
        prefetch=prefetch,
        prefetch_workers=pf_workers,
        prefetch_lookahead=pf_ahead,
        timing=timing,
        faults=faults,
        groups=tuple(groups),
        models=entries,
        raw=raw,
        measure_peaks=ck.typed(raw.get("measure_peaks", True), bool, "measure_peaks", "true or false"),
    )


def config_file(arg: str | Path | None, device: str) -> Path:
    """The sweep file to use: ``DEFAULT_CONFIG[device]`` of the shipped ones when ``arg`` is None; a bare name
    that does not exist here but is shipped (``--config quick-cpu.toml`` from anywhere) is the shipped file."""
    if arg is None:
        return EXPERIMENTS_DIR / DEFAULT_CONFIG[device]
    path = Path(arg)
    if not path.exists() and (EXPERIMENTS_DIR / path.name).exists() and path.parent == Path("."):
        return EXPERIMENTS_DIR / path.name
    return path


def load_config(path: Path | str) -> SweepConfig:
    """Read and validate ``path`` (a TOML file); UsageError on any problem, before anything runs."""
    path = Path(path)
    if not path.is_file():
        shipped = sorted(p.name for p in EXPERIMENTS_DIR.glob("*.toml"))
        raise UsageError(f"sweep config {path} not found" + (f"; shipped: {', '.join(shipped)}" if shipped else ""))
    return parse_config(path.read_text(), str(path))
