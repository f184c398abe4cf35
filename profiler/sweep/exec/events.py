"""The typed messages of the sweep's worker protocols, and their one wire format (JSON lines).

Timing worker (``profiler.sweep.exec.worker``, also the Ray task body) → executor, one JSON object a line, named by
its ``"event"`` field: ``start`` (a task begins), ``phase`` (a phase starts, ``s`` null, or ends, ``s`` its seconds
so far), ``want`` (the worker waits for the prefetch pool to prepare a task's pair), ``row`` (a task's result row),
``budget`` (the time budget stopped the worker), and on Ray only ``hello`` (the worker's placement). The executor
answers a ``want`` with a ``GateAnswer`` line on the worker's stdin. Preparation process
(``profiler.sweep.exec.prefetch_worker``) → ``Prefetcher``: one ``PrepDone`` line per job (no ``"event"`` field).

The wire format is frozen: ``check --against REV`` runs the worker of an older commit (``profiler.worker``) and
reads its lines with this module, and an older checkout reads this worker's lines with its hand-written parser.
``parse`` keeps the executor's old handling: a line that is not JSON raises (``json.JSONDecodeError``, a
``ValueError``), an event name it does not know is ``None`` (ignored by the reader), extra fields are ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from profiler.results.measurement import Measurement


class _Event:
    """One line of the worker protocol: ``{"event": NAME, <the fields, in their order>}``."""

    event: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event, **{f.name: getattr(self, f.name) for f in fields(self)}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class Start(_Event):
    """A task begins (the executor's in-flight task, its timeout clock and the progress display)."""

    key: str
    event: ClassVar[str] = "start"


@dataclass(frozen=True)
class Phase(_Event):
    """A phase of task ``key`` starts (``s`` None) or ends (``s``: the phase's seconds so far)."""

    key: str
    phase: str
    s: float | None
    event: ClassVar[str] = "phase"


@dataclass(frozen=True)
class Want(_Event):
    """The worker waits for the (spec, resolution) pair of task ``key``; the executor answers a ``GateAnswer``."""

    key: str
    event: ClassVar[str] = "want"


@dataclass(frozen=True)
class Row(_Event):
    """The result row of one task (``row.task_key`` names it).

    On the wire, the columns that hold a value, in the store's order: a column left NULL is absent, as it was in
    the dicts the worker sent before rows were typed, so an older executor (which rejects a column it does not
    know) reads these lines as long as the newer columns are unset. Reading, a column this version does not know
    (a newer worker's) is dropped.
    """

    row: Measurement
    event: ClassVar[str] = "row"

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event, "row": self.row.to_dict(skip_none=True)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)  # a row may hold values JSON lacks: their text


@dataclass(frozen=True)
class Budget(_Event):
    """The time budget stopped the worker: the tasks it did not start get no row (the sweep is resumable)."""

    event: ClassVar[str] = "budget"


@dataclass(frozen=True)
class Hello(_Event):
    """A Ray worker is up: where it runs (row columns ``node``, ``gpu_index``, ``worker_pid``)."""

    node: str
    gpu_index: int | None
    worker_pid: int
    ray_node_id: str | None = None
    event: ClassVar[str] = "hello"

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "ray_node_id": self.ray_node_id,
            "node": self.node,
            "gpu_index": self.gpu_index,
            "worker_pid": self.worker_pid,
        }

    @property
    def place(self) -> dict[str, Any]:
        """The row columns of the worker's placement."""
        return {"node": self.node, "gpu_index": self.gpu_index, "worker_pid": self.worker_pid}


WorkerEvent = Start | Phase | Want | Row | Budget | Hello
_EVENTS: dict[str, type] = {cls.event: cls for cls in (Start, Phase, Want, Row, Budget, Hello)}


def from_dict(msg: Any) -> WorkerEvent | None:
    """The event of a decoded message; None for an event name this version does not know (the reader skips it).

    A message that is not an object with an ``"event"`` field, or lacks a field its event needs, raises ValueError.
    """
    if not isinstance(msg, dict) or "event" not in msg:
        raise ValueError(f"not a worker event: {str(msg)[:200]}")
    cls = _EVENTS.get(msg["event"])
    if cls is None:
        return None
    try:
        if cls is Start or cls is Want:
            return cls(key=msg["key"])
        if cls is Phase:
            return Phase(key=msg["key"], phase=msg["phase"], s=None if msg["s"] is None else float(msg["s"]))
        if cls is Row:
            return Row(row=Measurement.from_dict(msg["row"], ignore_unknown=True))
        if cls is Hello:
            return Hello(
                node=msg["node"],
                gpu_index=msg["gpu_index"],
                worker_pid=msg["worker_pid"],
                ray_node_id=msg.get("ray_node_id"),
            )
        return Budget()
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed {msg['event']!r} event ({type(exc).__name__}: {exc}): {str(msg)[:200]}") from None


def parse(line: str | bytes) -> WorkerEvent | None:
    """The event of one protocol line (see ``from_dict``); a line that is not JSON raises json.JSONDecodeError."""
    return from_dict(json.loads(line))


@dataclass(frozen=True)
class GateAnswer:
    """The executor's answer to a ``Want``: None (prepared) or why the pair's tasks fail."""

    reason: str | None

    def to_json(self) -> str:
        return json.dumps({"reason": self.reason})

    @classmethod
    def parse(cls, line: str | bytes) -> GateAnswer:
        """The answer on one stdin line of the worker."""
        return cls(reason=json.loads(line)["reason"])


@dataclass(frozen=True)
class PrepDone:
    """A preparation process's answer for one (spec, resolution) job: each phase's seconds and an error, if any.

    ``died`` is the pool's own mark (the process died: the pair's tasks fail); it never crosses the wire.
    """

    key: str | None = None
    build_s: float = 0.0
    count_s: float = 0.0
    export_s: float = 0.0
    error: str | None = None
    died: bool = field(default=False, compare=False)

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "key": self.key,
            "build_s": self.build_s,
            "count_s": self.count_s,
            "export_s": self.export_s,
        }
        if self.error is not None:
            doc["error"] = self.error
        return json.dumps(doc)

    @classmethod
    def parse(cls, line: str | bytes) -> PrepDone:
        """The answer on one stdout line of a preparation process; a line that is not a JSON object raises
        ValueError (``json.JSONDecodeError`` is one)."""
        doc = json.loads(line)
        if not isinstance(doc, dict):
            raise ValueError(f"not a preparation answer: {str(doc)[:200]}")
        return cls(
            key=doc.get("key"),
            build_s=float(doc.get("build_s") or 0.0),
            count_s=float(doc.get("count_s") or 0.0),
            export_s=float(doc.get("export_s") or 0.0),
            error=doc.get("error") or None,
        )
