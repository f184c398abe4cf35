"""A graph backend's executable form (``Built``) and the builder signature: what ``graphs`` (the shared flow) and
each backend (``cudagraph``, ``compiled``) agree on, below both so that the backends never import the flow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from profiler.timing.protocol import TimingConfig


@dataclass
class Built:
    """A backend's executable form: ``step`` runs one inference on the static input."""

    step: Callable[[], Any]
    out: Any  # the output of the first run on the static input (checked against eager)
    details: dict[str, Any] = field(default_factory=dict)
    after_timing: Callable[[], dict[str, Any]] | None = None  # checks that the samples are valid; more details


# build(prepared model, static input, config) -> Built
Builder = Callable[[Any, Any, TimingConfig], Built]
