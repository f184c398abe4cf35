"""Helpers shared by sub-commands: resolving model names, printing JSON."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from profiler.errors import UsageError
from profiler.jsonsafe import dumps

if TYPE_CHECKING:
    from models import ModelInfo

# Copies of profiler.timing.protocol's choice tuples for the parsers (tests/test_timing_graphs.py binds them):
# importing the protocol pulls the timing package and numpy, which tripled the time to build the parser
# (95 → 310 ms median, measured on the busy 2-core VM), paid by every command including --help.
BACKENDS = ("eager", "onnxruntime", "cudagraph", "compile")
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead")
EXPORTERS = ("dynamo", "torchscript")
DEVICES = ("cpu", "cuda")
DTYPES = ("fp32", "tf32", "fp16", "bf16", "amp")
MEMORY_FORMATS = ("contiguous", "channels_last")


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
