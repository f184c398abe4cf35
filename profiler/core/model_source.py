"""Where commands get their model: a registry name or an external reference (``timm:NAME``, ``torchvision:NAME``,
``MODULE:CALLABLE``, ``PATH.py:CALLABLE``; ``models.external``) with factory kwargs, as a ``models.ModelInfo``.

Every failure of the model source (unknown name, missing library, a user's callable that raises or returns no
module) becomes one ``UsageError`` line: exit 2, no traceback; ``profiler.counting.check_runs`` does the same for
a model that cannot run at the asked resolution.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from profiler.core.errors import UsageError

if TYPE_CHECKING:
    from torch import nn

    from models import ModelInfo


def parse_kwargs(text: str | None) -> dict[str, Any] | None:
    """``--model-kwargs`` as a dict (None when absent); UsageError when it is not a JSON object."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--model-kwargs is not JSON ({exc.msg} at char {exc.pos}): {text!r}; "
            "give an object, e.g. '{\"num_classes\": 10}'"
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"--model-kwargs must be a JSON object of keyword arguments, got {text!r}")
    return value


def resolve_model(name: str, kwargs: str | dict[str, Any] | None = None) -> ModelInfo:
    """The registration of ``name`` or the spec of a reference (``timm:NAME``...), with ``--model-kwargs``
    applied; UsageError (one line) for an unknown name, a bad reference or kwargs the factory does not take."""
    import models

    try:
        return models.resolve_model(name, parse_kwargs(kwargs) if isinstance(kwargs, str) else kwargs)
    except ValueError as exc:
        raise UsageError(one_line(str(exc))) from None


def build_model(info: ModelInfo) -> nn.Module:
    """``info.spec.build()``; UsageError naming the reason when the factory fails (a user's callable raised, it
    returned something other than a module, the module wants more than one input)."""
    try:
        return info.spec.build()
    except ValueError as exc:
        raise UsageError(one_line(str(exc))) from None


def one_line(text: str, limit: int = 600) -> str:
    """``text`` on one line (library messages often span several), at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
