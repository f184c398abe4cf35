"""Helpers shared by sub-commands: resolving model names, printing JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from profiler.core.jsonsafe import dumps
from profiler.core.model_source import build_model, one_line, parse_kwargs, resolve_model

__all__ = [
    "BACKENDS",
    "COMPILE_MODES",
    "DEVICES",
    "DTYPES",
    "EXPORTERS",
    "MEMORY_FORMATS",
    "MODEL_HELP",
    "add_model_kwargs",
    "build_model",
    "one_line",
    "parse_kwargs",
    "print_json",
    "resolve_model",
]

# Copies of profiler.timing.protocol's choice tuples for the parsers (tests/timing/test_timing_graphs.py binds them):
# importing the protocol pulls the timing package and numpy, which tripled the time to build the parser
# (95 → 310 ms median, measured on the busy 2-core VM), paid by every command including --help.
BACKENDS = ("eager", "onnxruntime", "cudagraph", "compile")
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead")
EXPORTERS = ("dynamo", "torchscript")
DEVICES = ("cpu", "cuda")
DTYPES = ("fp32", "tf32", "fp16", "bf16", "amp")
MEMORY_FORMATS = ("contiguous", "channels_last")


MODEL_HELP = (
    "registered model name (see `profiler list`), or timm:NAME, torchvision:NAME, MODULE:CALLABLE, PATH.py:CALLABLE"
)
KWARGS_HELP = "JSON object of keyword arguments for the model's factory, e.g. '{\"num_classes\": 10}'"


def add_model_kwargs(p: argparse.ArgumentParser) -> None:
    """The ``--model-kwargs JSON`` option of every command that builds one model."""
    p.add_argument("--model-kwargs", default=None, metavar="JSON", help=KWARGS_HELP)


def print_json(obj: Any) -> None:
    """Pretty JSON on stdout (via ``profiler.core.jsonsafe``: NaN becomes null so that strict parsers accept it)."""
    sys.stdout.write(dumps(obj, indent=2) + "\n")
