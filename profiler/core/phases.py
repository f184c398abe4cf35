"""The phases a measured row's time is split into: the one list of their names (and the end-of-sweep labels).

Each is a nullable column of a result row (``results.measurement``: the fields flagged ``phase``, in this
order), the timing layer's ``details["phases"]`` keys (``timing.protocol.PhaseLog``) and ``meta.json``'s
``sessions[].phases_s`` keys. Plain Python: the store and the command parsers import it without torch.
"""

from __future__ import annotations

BUILD, COUNT, EXPORT, COMPILE, LOAD, WARMUP, TIMED = (
    "build_s",
    "count_s",
    "export_s",
    "compile_s",
    "load_s",
    "warmup_s",
    "timed_s",
)
WORKER_PHASES = (BUILD, COUNT)  # the sweep worker's own (build the model, count it)
TIMING_PHASES = (EXPORT, COMPILE, LOAD, WARMUP, TIMED)  # the timing layer's (``measure``)
PHASES = WORKER_PHASES + TIMING_PHASES
PREPARE_PHASES = (BUILD, COUNT, EXPORT)  # what a preparation (prefetch) process does ahead of the timing

LABELS = {
    BUILD: "model build (timing worker)",
    COUNT: "counting (timing worker)",
    EXPORT: "ONNX export",
    COMPILE: "compile",
    LOAD: "session / model load",
    WARMUP: "warm-up",
    TIMED: "timed iterations",
}
