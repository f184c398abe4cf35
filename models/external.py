"""Networks from outside the registry: ``timm:NAME``, ``torchvision:NAME``, ``MODULE:CALLABLE``, ``PATH.py:CALLABLE``.

A *reference* is a string that names a factory; ``resolve(ref, kwargs)`` turns it into an :class:`ExternalSpec`, a
frozen spec like the registry's (``family``, ``min_resolution``, ``num_classes``, ``build()``; it round-trips
through ``spec_to_dict``), so that it travels to timing workers, preparation processes and Ray workers as data and
is rebuilt there, and its ``spec_hash`` keys the count and ONNX caches.

- ``timm:NAME``: ``timm.create_model(NAME, pretrained=False, **kwargs)`` (never downloads weights). Default
  resolution: ``pretrained_cfg["input_size"]``. Family: the architecture name's leading letters, with a ``vN``
  version kept and a source prefix (``tf_``, ``gluon_``, ``legacy_``, ``tv_``...) dropped, e.g.
  ``seresnext26d_32x4d`` → ``seresnext``, ``mobilenetv2_100`` → ``mobilenetv2``, ``tf_efficientnet_b0`` →
  ``efficientnet``, ``regnetx_002`` → ``regnetx``.
- ``torchvision:NAME``: ``torchvision.models.get_model(NAME, weights=None, **kwargs)``. Default resolution: the
  crop size of the model's default weights' transforms (299 for inception_v3), else 224. Family: the module
  its builder lives in (``resnext50_32x4d`` → ``resnet``).
- ``MODULE:CALLABLE`` (an importable dotted module) and ``PATH.py:CALLABLE`` (a Python file): any callable that
  returns an ``nn.Module``. Family: the one given (a sweep config's ``family``), else the callable's name.
  Default resolution 224 (a config may give another).

The hash covers the source, the target, the kwargs and a version: the library's ``__version__`` for timm and
torchvision, and for user code the sha256 of the file that defines the callable, so that an edited file is
recounted rather than served from a cache.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import hashlib
import importlib
import importlib.util
import inspect
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from models.spec import spec_type

SOURCES = ("timm", "torchvision", "module", "file")
DEFAULT_RESOLUTION = 224
TIMM_PREFIXES = ("tf_", "gluon_", "legacy_", "tv_", "ig_", "ssl_", "swsl_", "tresnet_")
INSTALL_HINT = "install the optional extra: pip install -e '.[timm]' (timm, torchvision==0.28.0 beside torch 2.13)"
_TIMM_FAMILY = re.compile(r"^([a-z]+)(\d*)")


class ModelSourceError(ValueError):
    """A model reference that cannot be resolved or built (names the reference and what would be valid).

    A ``ValueError``, so that commands turn it into one line and exit 2 like any bad model name."""


ReferenceError_ = ModelSourceError  # its first name (fc5b4b0)


def is_reference(name: str) -> bool:
    """Whether ``name`` is an external reference (``SOURCE:TARGET``) rather than a registry name."""
    return ":" in name


def _canonical_kwargs(kwargs: dict[str, Any] | None) -> str:
    try:
        return json.dumps(kwargs or {}, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ModelSourceError(f"model kwargs must be JSON values: {exc}") from None


def import_torchvision() -> Any:
    """``import torchvision``, also where its compiled ops cannot load (the CPU torch wheel beside PyPI's build).

    PyPI's torchvision 0.28 ships ops built against CUDA torch; beside the CPU wheel its ``_C`` does not load and
    the import dies registering a fake kernel for ``torchvision::nms``. The classification models need none of its
    detection ops, so the two schemas that import needs are declared and the import is retried.
    """
    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
        for key in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[key]
        import torch

        lib = torch.library.Library("torchvision", "FRAGMENT")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _KEEP.append(lib)  # a Library deregisters its ops when collected
        import torchvision
    except ImportError:
        raise ModelSourceError(f"torchvision is not installed; {INSTALL_HINT}") from None
    return torchvision


_KEEP: list[Any] = []


def import_timm() -> Any:
    """``import timm`` (after torchvision, see :func:`import_torchvision`), or a one-line error naming the extra."""
    if sys.modules.get("timm") is not None:
        return sys.modules["timm"]
    if importlib.util.find_spec("timm") is None:  # also where sys.modules["timm"] is None (blocked)
        raise ModelSourceError(f"timm is not installed; {INSTALL_HINT}")
    import_torchvision()
    import timm

    return timm


def timm_family(name: str) -> str:
    """The family of a timm model name by the rule in the module doc (``seresnext26d_32x4d`` → ``seresnext``)."""
    arch = name.split(".", 1)[0]
    for prefix in TIMM_PREFIXES:
        if arch.startswith(prefix):
            arch = arch[len(prefix) :]
            break
    match = _TIMM_FAMILY.match(arch)
    if not match:
        return arch
    letters, digits = match.groups()
    # A version suffix stays ("mobilenetv2", "resnetv2"); a depth or width does not ("resnet50" -> "resnet").
    return letters + digits if letters.endswith("v") and digits else letters


def _file_sha(path: str | None) -> str:
    if not path or not Path(path).is_file():
        return ""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _code_sha(fn: Any) -> str:
    """The sha of the file that defines ``fn`` (a spec's ``version`` for user code); "" where there is none."""
    try:
        defined_in = inspect.getsourcefile(fn) if inspect.isfunction(fn) or inspect.isclass(fn) else None
    except TypeError:  # a built-in
        defined_in = None
    return _file_sha(defined_in)


def _load_file_module(path: Path) -> Any:
    # Keyed by path and content: an edited file is loaded again (and its spec hash is a new one).
    key = f"archprof_user_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}_{_file_sha(str(path))}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise ModelSourceError(f"cannot load {path} as Python source")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[key]
        raise ModelSourceError(f"importing {path} failed: {type(exc).__name__}: {exc}") from None
    return module


def _user_callable(source: str, target: str) -> Any:
    where, _, attr = target.rpartition(":")
    if source == "file":
        path = Path(where)
        if not path.is_file():
            raise ModelSourceError(f"no such file {where!r} (a reference PATH.py:CALLABLE needs an existing file)")
        module = _load_file_module(path)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise ModelSourceError(
                f"cannot import module {where!r} ({exc}); MODULE:CALLABLE needs a dotted module on sys.path, "
                "else give PATH.py:CALLABLE"
            ) from None
        except Exception as exc:
            raise ModelSourceError(f"importing module {where!r} failed: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; callables there: {', '.join(sorted(names)[:8])}"
        raise ModelSourceError(f"{where} has no callable {attr!r}{hint}")
    return fn


@spec_type
@dataclass(frozen=True)
class ExternalSpec:
    """A network built by a factory outside the registry (see the module doc); ``kwargs`` is canonical JSON."""

    source: str
    target: str
    kwargs: str = "{}"
    family_name: str = ""
    version: str = ""

    min_resolution: ClassVar[int] = 1  # unknown ahead of a build: a model that cannot run says so when counted

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")

    @property
    def family(self) -> str:
        return self.family_name or self.target.rsplit(":", 1)[-1]

    @property
    def num_classes(self) -> int:
        return int(json.loads(self.kwargs).get("num_classes", 1000))

    @property
    def reference(self) -> str:
        """The reference string this spec was resolved from (without kwargs)."""
        return self.target if self.source in ("module", "file") else f"{self.source}:{self.target}"

    def with_kwargs(self, **overrides: Any) -> ExternalSpec:
        """This spec with ``overrides`` merged into its factory's kwargs."""
        merged = {**json.loads(self.kwargs), **overrides}
        return dataclasses.replace(self, kwargs=_canonical_kwargs(merged))

    def factory(self) -> Any:
        """The callable that builds the network (imports its library or module)."""
        if self.source == "timm":
            timm = import_timm()
            return lambda **kw: timm.create_model(self.target, pretrained=False, **kw)
        if self.source == "torchvision":
            tv = import_torchvision()
            return lambda **kw: tv.models.get_model(self.target, weights=None, **kw)
        return _user_callable(self.source, self.target)

    def build(self) -> nn.Module:
        """Call the factory with the kwargs; ModelSourceError naming what went wrong (never a bare traceback).

        User code must still be the code this spec was resolved from (its file's sha): an edited file would be
        measured under another file's hash and cached counts."""
        fn = self.factory()
        if self.source in ("module", "file") and self.version and (now := _code_sha(fn)) != self.version:
            raise ModelSourceError(
                f"{self.reference}: the code changed since it was resolved (file sha {self.version} → {now or '?'}); "
                "resolve it again (a sweep: plan a new run, or resume after restoring the file)"
            )
        kwargs = json.loads(self.kwargs)
        try:
            model = fn(**kwargs)
        except TypeError as exc:
            raise ModelSourceError(f"{self.reference} with kwargs {self.kwargs}: {exc}") from None
        except Exception as exc:
            raise ModelSourceError(f"{self.reference} raised {type(exc).__name__}: {exc}") from None
        if not isinstance(model, nn.Module):
            raise ModelSourceError(
                f"{self.reference} returned {type(model).__name__} ({str(model)[:60]!r}), not a torch.nn.Module"
            )
        _check_one_input(model, self.reference)
        return model


def _check_one_input(model: nn.Module, ref: str) -> None:
    """ModelSourceError when ``model.forward`` needs more than one argument: archprof feeds one image tensor."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty and (p.kind in positional or p.kind == inspect.Parameter.KEYWORD_ONLY)
    ]
    if len(required) > 1:
        raise ModelSourceError(
            f"{ref}: {type(model).__name__}.forward needs {len(required)} inputs ({', '.join(required)}); archprof "
            "feeds one image tensor (B, 3, H, W): wrap the model in a module whose forward takes that one tensor"
        )


def _source_and_target(ref: str, base_dir: Path | None) -> tuple[str, str]:
    head, _, tail = ref.partition(":")
    if head in ("timm", "torchvision"):
        if not tail:
            raise ModelSourceError(f"{ref!r} names no model; e.g. {head}:resnet50")
        return head, tail
    where, _, attr = ref.rpartition(":")
    if not where or not attr:
        raise ModelSourceError(
            f"{ref!r} is not a model reference; valid: a registry name, timm:NAME, torchvision:NAME, "
            "MODULE:CALLABLE or PATH.py:CALLABLE"
        )
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return "file", f"{path.resolve()}:{attr}"
    return "module", ref


def _check_timm_name(timm: Any, name: str) -> None:
    if timm.is_model(name):
        return
    close = difflib.get_close_matches(name.split(".", 1)[0], timm.list_models(), n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `python -m profiler list 'timm:*'`"
    raise ModelSourceError(f"timm has no model {name!r}{hint}")


def _check_torchvision_name(tv: Any, name: str) -> None:
    names = tv.models.list_models()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `python -m profiler list 'torchvision:*'`"
        raise ModelSourceError(f"torchvision has no model {name!r}{hint}")


def _check_kwargs(fn: Any, kwargs: dict[str, Any], ref: str) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        raise ModelSourceError(f"{ref} does not accept kwargs {json.dumps(kwargs)}: {exc}") from None


def resolve(
    ref: str, kwargs: dict[str, Any] | None = None, *, family: str | None = None, base_dir: Path | None = None
) -> tuple[ExternalSpec, int]:
    """The spec of reference ``ref`` and its default resolution; ModelSourceError when it names nothing valid.

    ``base_dir``: where a relative ``PATH.py`` is found (a sweep config's folder); else the working directory.
    """
    source, target = _source_and_target(ref, base_dir)
    canonical = _canonical_kwargs(kwargs)
    resolution = DEFAULT_RESOLUTION
    if source == "timm":
        timm = import_timm()
        _check_timm_name(timm, target)
        cfg = timm.get_pretrained_cfg(target)
        if cfg is not None and getattr(cfg, "input_size", None):
            resolution = int(cfg.input_size[-1])
        spec = ExternalSpec(source, target, canonical, family or timm_family(target), timm.__version__)
    elif source == "torchvision":
        tv = import_torchvision()
        _check_torchvision_name(tv, target)
        resolution = _torchvision_resolution(tv, target)
        builder_family = tv.models.get_model_builder(target).__module__.rsplit(".", 1)[-1]
        spec = ExternalSpec(source, target, canonical, family or builder_family, tv.__version__)
    else:
        fn = _user_callable(source, target)
        _check_kwargs(fn, kwargs or {}, ref)
        spec = ExternalSpec(source, target, canonical, family or fn.__name__, _code_sha(fn))
    return spec, resolution


def _torchvision_resolution(tv: Any, name: str) -> int:
    try:
        weights = tv.models.get_model_weights(name)
        crop = weights.DEFAULT.transforms.keywords.get("crop_size", DEFAULT_RESOLUTION)
    except Exception:  # a builder without published weights: the documented default
        return DEFAULT_RESOLUTION
    return int(crop[0] if isinstance(crop, list | tuple) else crop)


def expand(pattern: str) -> list[str]:
    """References that a ``timm:`` or ``torchvision:`` wildcard pattern names (sorted); a plain reference as is."""
    source, _, tail = pattern.partition(":")
    if not any(ch in tail for ch in "*?["):
        return [pattern]
    if source == "timm":
        return [f"timm:{n}" for n in import_timm().list_models(tail)]
    if source == "torchvision":
        names = import_torchvision().models.list_models()
        return [f"torchvision:{n}" for n in sorted(names) if fnmatch.fnmatchcase(n, tail)]
    raise ModelSourceError(f"wildcards are for timm: and torchvision: references, not {pattern!r}")
