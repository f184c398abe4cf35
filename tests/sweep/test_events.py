"""The worker protocols' typed events (profiler.sweep.exec.events): every event survives its wire format, and the
lines of an older worker (``check --against REV`` runs one) still parse."""

from __future__ import annotations

import json

import pytest

from profiler.results.measurement import Measurement
from profiler.sweep.exec import events
from profiler.sweep.exec.events import Budget, GateAnswer, Hello, Phase, PrepDone, Row, Start, Want

ROW = Measurement(
    task_key="k1",
    model="resnet18",
    status="ok",
    latency_ms=1.5,
    samples_ms=[1.4, 1.5, 1.6],
    stable=False,
    build_s=0.0,
    worker_pid=123,
    details_json=json.dumps({"phases": {"timed_s": 0.1}}),
)
EVERY = [
    Start("k1"),
    Phase("k1", "export_s", None),
    Phase("k1", "export_s", 1.25),
    Want("k1"),
    Row(ROW),
    Budget(),
    Hello(node="vm", gpu_index=None, worker_pid=7, ray_node_id="n1"),
    Hello(node="gpu", gpu_index=3, worker_pid=8),
]

# Lines as the worker of the flat layout (``profiler.worker``, before the package move) wrote them with
# ``json.dumps({...})``: what `check --against REV` reads from an older commit.
OLD_LINES = [
    '{"event": "start", "key": "resnet18|eager|cpu|fp32|contiguous|b1|r64|rep0"}',
    '{"event": "phase", "key": "resnet18|eager|cpu|fp32|contiguous|b1|r64|rep0", "phase": "build_s", "s": null}',
    '{"event": "phase", "key": "resnet18|eager|cpu|fp32|contiguous|b1|r64|rep0", "phase": "build_s", "s": 0.4}',
    '{"event": "want", "key": "resnet18|eager|cpu|fp32|contiguous|b1|r64|rep0"}',
    '{"event": "row", "row": {"task_key": "resnet18|eager|cpu|fp32|contiguous|b1|r64|rep0", "model": "resnet18", '
    '"backend": "eager", "device": "cpu", "batch": 1, "resolution": 64, "repeat": 0, "worker_pid": 4242, '
    '"started_at": "2026-11-30T10:00:00.000+00:00", "build_s": 0.4, "latency_ms": 2.5, "samples_ms": [2.4, 2.5], '
    '"status": "ok", "error": null, "duration_s": 1.2, "device_name": "AMD EPYC", "some_future_column": 1}}',
    '{"event": "row", "row": {"task_key": "resnet18|eager|cpu|fp32|contiguous|b2|r64|rep0", "model": "resnet18", '
    '"status": "failed", "error": "worker killed by signal SIGKILL (9)"}}',
    '{"event": "budget"}',
]


@pytest.mark.parametrize("ev", EVERY, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_its_line(ev: events.WorkerEvent) -> None:
    line = ev.to_json()
    assert "\n" not in line and json.loads(line)["event"] == ev.event
    assert events.parse(line) == ev
    assert events.parse(line.encode()) == ev  # the executor reads bytes from the pipe
    assert events.from_dict(ev.to_dict()) == ev  # Ray's events travel as dicts


def test_the_old_workers_lines_parse() -> None:
    got = [events.parse(line) for line in OLD_LINES]
    assert [type(e) for e in got] == [Start, Phase, Phase, Want, Row, Row, Budget]
    assert got[1].s is None and got[2] == Phase("resnet18|eager|cpu|fp32|contiguous|b1|r64|rep0", "build_s", 0.4)
    assert got[4].row.latency_ms == 2.5 and got[4].row.samples_ms == [2.4, 2.5] and got[4].row.ok
    assert not hasattr(got[4].row, "some_future_column")  # a newer worker's column: dropped, the rest kept
    assert not got[5].row.ok and got[5].row.error.startswith("worker killed")
    # The lines this worker writes carry the same columns with the same values, and no others: an older executor
    # (which parses them by hand and rejects a column it does not know) reads them. Only the key order is the
    # store's, and a NULL column is absent rather than null.
    old = [json.loads(line) for line in OLD_LINES]
    new = [json.loads(e.to_json()) for e in got]
    for line in old:
        if "row" in line:
            line["row"] = {k: v for k, v in line["row"].items() if v is not None and k != "some_future_column"}
    assert new == old
    assert [e.to_json() for e in got if not isinstance(e, Row)] == [x for x in OLD_LINES if '"row"' not in x]


def test_unknown_and_malformed_lines_are_handled_as_before() -> None:
    assert events.parse('{"event": "progress", "pct": 50}') is None  # an event this version does not know: skipped
    assert events.parse('{"event": "start", "key": "k", "extra": 1}') == Start("k")  # extra fields: ignored
    with pytest.raises(json.JSONDecodeError):
        events.parse("Warning: not JSON\n")  # the protocol is never mixed with prints: this is a broken worker
    bad_lines = (
        '{"key": "k"}',
        "[1, 2]",
        '{"event": "phase", "key": "k"}',
        '{"event": "row"}',
        '{"event": "row", "row": [1]}',
    )
    for bad in bad_lines:
        with pytest.raises(ValueError):
            events.parse(bad)


def test_a_row_with_values_json_lacks_is_sent_as_their_text() -> None:
    from pathlib import Path

    sent = Row(Measurement(task_key="k", error=Path("/x")))  # type: ignore[arg-type]  # a value JSON lacks
    assert events.parse(sent.to_json()) == Row(Measurement(task_key="k", error="/x"))


def test_a_row_is_its_columns_on_the_wire_and_typed_again_after() -> None:
    wire = json.loads(Row(ROW).to_json())["row"]
    assert list(wire) == [k for k in ROW.to_dict() if ROW.to_dict()[k] is not None]  # the store's order, no nulls
    back = events.parse(Row(ROW).to_json())
    assert isinstance(back, Row) and back.row == ROW and back.row.stable is False  # False is a value, not NULL


def test_gate_answer_and_preparation_answer_round_trip() -> None:
    for ans in (GateAnswer(None), GateAnswer("preparation process killed by signal SIGKILL (9)")):
        assert GateAnswer.parse(ans.to_json()) == ans
    assert GateAnswer.parse('{"reason": null}\n') == GateAnswer(None)  # as an older executor writes it
    for done in (PrepDone("m|r64", 0.5, 1.0, 2.0), PrepDone("m|r64", 0.1, 0.0, 0.0, error="ValueError: x")):
        assert PrepDone.parse(done.to_json()) == done
    assert "error" not in json.loads(PrepDone("k").to_json())  # no error: no field, as before
    assert "died" not in PrepDone("k", died=True).to_json()  # the pool's own mark never crosses the wire
