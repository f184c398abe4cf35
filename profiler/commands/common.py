"""Helpers shared by sub-commands: resolving model names, printing JSON."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from profiler.errors import UsageError
from profiler.jsonsafe import dumps

if TYPE_CHECKING:
    from models import ModelInfo


def resolve_model(name: str) -> ModelInfo:
    """The registration of ``name``, or a UsageError listing close matches."""
    import models

    try:
        return models.model_info(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def print_json(obj: Any) -> None:
    """Pretty JSON on stdout (via ``profiler.jsonsafe``: NaN becomes null so that strict parsers accept it)."""
    sys.stdout.write(dumps(obj, indent=2) + "\n")
