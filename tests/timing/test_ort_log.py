"""ONNX Runtime's log lines (written by C++ straight to fd 2) are captured per row into ``details["ort_log"]``:
the fd-level capture itself (``fdcapture``), its summary, and the rows (success, failure, the worker's row)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from profiler.timing import OutputMismatchError, TimingConfig, fdcapture, measure
from profiler.timing import onnx as tonnx
from profiler.timing.fdcapture import FdCapture, summarize_ort_log, summary_of
from tests.support.sweeps import make_task

pytestmark = pytest.mark.usefixtures("one_thread")

# Two lines as the H200 run's workers.log has them (ANSI colours, ORT's timestamp).
CUDNN = (
    b"\x1b[1;31m2026-11-28 06:23:46.933493891 [E:onnxruntime:Default, cudnn_fe_call.cc:39 "
    b"CudaErrString<cudnn_frontend::error_object>] [cudnn_frontend] Error: No execution plans support the "
    b"graph.\x1b[m\n"
)
PLUGIN = (
    b"\x1b[0;93m2026-11-28 06:23:40.467866286 [W:onnxruntime:Default, onnxruntime_pybind_state.cc:856 "
    b"operator()] No registered plugin EP device found for 'CUDAExecutionProvider' with device_id=0\x1b[m\n"
)
CUDNN_MSG = (
    "[E:onnxruntime:Default, cudnn_fe_call.cc:39 CudaErrString<cudnn_frontend::error_object>] "
    "[cudnn_frontend] Error: No execution plans support the graph."
)


@contextlib.contextmanager
def fd2_to(path: Path) -> Iterator[None]:
    """fd 2 points at ``path`` for the block (pytest's own capture, or the terminal with -s, restored after)."""
    saved = os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def test_a_c_level_write_is_captured_and_still_reaches_fd2(tmp_path: Path) -> None:
    out = tmp_path / "stderr"
    capture = FdCapture(2)
    with fd2_to(out):
        os.write(2, b"before\n")
        with capture.capturing():
            os.write(2, CUDNN)  # a write(2) at the fd level, as ORT's C++ logger does it
            os.write(2, b"second\n")
        os.write(2, b"after\n")
    assert capture.data == CUDNN + b"second\n"
    assert out.read_bytes() == b"before\n" + CUDNN + b"second\nafter\n"  # everything, in order


def test_fd2_is_restored_when_the_block_raises(tmp_path: Path) -> None:
    out = tmp_path / "stderr"
    capture = FdCapture(2)
    with fd2_to(out):
        with pytest.raises(RuntimeError, match="session creation failed"), capture.capturing():
            os.write(2, b"inside\n")
            raise RuntimeError("session creation failed")
        os.write(2, b"after\n")  # goes to the restored target, not to the capture
        assert os.fstat(2).st_ino == out.stat().st_ino
    assert capture.data == b"inside\n" and out.read_bytes() == b"inside\nafter\n"


def test_lines_are_passed_on_while_the_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed inside the block (a timeout) has already passed its lines on to workers.log."""
    monkeypatch.setattr(fdcapture, "FOLLOW_S", 0.01)
    out = tmp_path / "stderr"
    capture = FdCapture(2)
    with fd2_to(out), capture.capturing():
        os.write(2, b"early\n")
        deadline = time.monotonic() + 5.0
        while out.read_bytes() != b"early\n" and time.monotonic() < deadline:
            time.sleep(0.01)
        seen_inside = out.read_bytes()
        os.write(2, b"late\n")
    assert seen_inside == b"early\n"
    assert out.read_bytes() == b"early\nlate\n" and capture.data == b"early\nlate\n"  # nothing twice


def test_nested_captures_both_see_the_inner_lines(tmp_path: Path) -> None:
    outer, inner = FdCapture(2), FdCapture(2)
    with fd2_to(tmp_path / "stderr"), outer.capturing():
        os.write(2, b"a\n")
        with inner.capturing():
            os.write(2, b"b\n")
    assert inner.data == b"b\n" and outer.data == b"a\nb\n"
    assert (tmp_path / "stderr").read_bytes() == b"a\nb\n"


def test_a_closed_fd2_captures_nothing_and_records_nothing() -> None:
    saved = os.dup(2)
    capture = FdCapture(2)
    ran = False
    try:
        os.close(2)
        with capture.capturing():
            ran = True
        with contextlib.suppress(OSError):
            os.fstat(2)
            pytest.fail("fd 2 was left open: the capture must not invent one")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    assert ran and not capture.active and summary_of(capture) is None


def test_summary_counts_and_strips_timestamps_and_colours() -> None:
    text = (PLUGIN + CUDNN * 3 + b"a torch warning\n\n").decode()
    s = summarize_ort_log(text)
    assert (s["lines"], s["errors"], s["warnings"], s["distinct_total"]) == (5, 3, 1, 3)
    assert s["distinct"][0] == {"message": CUDNN_MSG, "count": 3}  # most frequent first
    assert s["distinct"][1]["message"].startswith("[W:onnxruntime:Default, onnxruntime_pybind_state.cc:856")
    assert s["distinct"][2] == {"message": "a torch warning", "count": 1}


def test_summary_keeps_five_messages_of_at_most_300_chars() -> None:
    s = summarize_ort_log("".join(f"{i} {'x' * 400}\n" for i in range(8)))
    assert s["lines"] == 8 and s["distinct_total"] == 8 and len(s["distinct"]) == 5
    assert all(len(d["message"]) == 300 for d in s["distinct"])


# --- the rows ---------------------------------------------------------------------------------------------------

ORT = dict(backend="onnxruntime", device="cpu", dtype="fp32", batch=1, resolution=16)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


@pytest.fixture
def cudnn_error_at_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    """ORT prints the H200's cuDNN error while the session is set up (inside the captured region)."""
    real = tonnx.bind_io

    def bind_io(*args, **kwargs):
        os.write(2, CUDNN)
        return real(*args, **kwargs)

    tonnx.clear_session_cache()
    monkeypatch.setattr(tonnx, "bind_io", bind_io)
    yield
    tonnx.clear_session_cache()


def test_an_ort_row_records_its_log(tmp_path: Path) -> None:
    tonnx.clear_session_cache()
    r = measure(
        Tiny(), config=TimingConfig(iters=2, warmup_iters=1, warmup_s=0.0), cache_key="t", cache_dir=tmp_path, **ORT
    )
    log = r.details["ort_log"]
    assert set(log) == {"lines", "errors", "warnings", "distinct", "distinct_total"} and log["lines"] >= 0
    json.dumps(log)  # goes into details_json as it is


def test_the_rows_log_covers_setup_and_warmup_not_the_timed_loop(
    tmp_path: Path, cudnn_error_at_bind: None, capfd: pytest.CaptureFixture[str]
) -> None:
    def timer(step) -> float:  # every warm-up and timed iteration prints a line
        os.write(2, b"iteration line\n")
        step()
        return 1.0

    r = measure(
        Tiny(),
        config=TimingConfig(iters=5, warmup_iters=2, warmup_s=0.0),
        cache_key="t",
        cache_dir=tmp_path,
        timer=timer,
        **ORT,
    )
    log, warm_n = r.details["ort_log"], r.details["warmup_iters_done"]
    assert log["errors"] == 1 and log["warnings"] == 0
    assert log["lines"] == 1 + warm_n  # the timed loop's 5 lines are not the row's
    assert {"message": CUDNN_MSG, "count": 1} in log["distinct"]
    assert {"message": "iteration line", "count": warm_n} in log["distinct"]
    err = capfd.readouterr().err  # fd 2 still got every line (pytest's fd capture, like workers.log)
    assert err.count(CUDNN.decode()) == 1 and err.count("iteration line") == warm_n + 5


def test_a_failed_ort_measurement_carries_its_log(
    tmp_path: Path, cudnn_error_at_bind: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tonnx, "output_error", lambda actual, reference: 1.0)  # the output check fails
    with pytest.raises(OutputMismatchError) as info:
        measure(
            Tiny(), config=TimingConfig(iters=2, warmup_iters=1, warmup_s=0.0), cache_key="t", cache_dir=tmp_path, **ORT
        )
    assert info.value.ort_log["errors"] == 1 and info.value.ort_log["distinct"][0]["message"] == CUDNN_MSG
    assert set(info.value.phases) == {"export_s", "load_s", "warmup_s"}  # PhaseLog still attaches its phases


def test_the_workers_failed_row_keeps_the_log(
    tmp_path: Path, cudnn_error_at_bind: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import models
    from profiler.sweep.exec.worker import run_tasks

    class Spec:
        def build(self) -> nn.Module:
            return Tiny()

    monkeypatch.setattr(models, "spec_from_dict", lambda data: Spec())
    monkeypatch.setattr(tonnx, "output_error", lambda actual, reference: 1.0)
    task = make_task(
        spec_hash="tinyortlog",
        backend="onnxruntime",
        timing={"iters": 2, "warmup_iters": 1, "warmup_s": 0.0, "threads": 1},
        count=False,
    )
    [row] = list(run_tasks([task], onnx_cache_dir=tmp_path / "onnx"))
    assert row.status == "failed" and row.error.startswith("OutputMismatchError")
    details = json.loads(row.details_json)
    assert details["ort_log"]["errors"] == 1 and details["ort_log"]["distinct"][0]["message"] == CUDNN_MSG
    assert set(details["phases"]) == {"export_s", "load_s", "warmup_s"}


def test_the_cpu_check_records_a_log_only_when_ort_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    from profiler.timing import onnx_prepare

    monkeypatch.setattr(onnx_prepare, "check_graph", lambda *a: 1e-7)
    assert onnx_prepare._checked(Path("m.onnx"), None, None, "fp32") == {"cpu_check_error_rel": 1e-7}

    def noisy(*a) -> float:
        os.write(2, PLUGIN)
        return 2e-7

    monkeypatch.setattr(onnx_prepare, "check_graph", noisy)
    got = onnx_prepare._checked(Path("m.onnx"), None, None, "fp32")
    assert got["cpu_check_error_rel"] == 2e-7 and got["ort_log_check"]["warnings"] == 1


def _graph_with_unused_initializer() -> bytes:
    """An ONNX graph ORT warns about at session creation ("Removing initializer ... not used by any node")."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    unused = numpy_helper.from_array(np.ones(4, np.float32), "unused_w")
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y], initializer=[unused])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_real_ort_warning_reaches_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """ORT's own C++ logger (not a simulated write): a session made inside the row's setup warns at creation."""
    import onnxruntime as ort

    real = tonnx.cached_session

    def cached_session(*args, **kwargs):
        ort.InferenceSession(_graph_with_unused_initializer(), providers=["CPUExecutionProvider"])
        return real(*args, **kwargs)

    tonnx.clear_session_cache()
    monkeypatch.setattr(tonnx, "cached_session", cached_session)
    r = measure(
        Tiny(), config=TimingConfig(iters=2, warmup_iters=1, warmup_s=0.0), cache_key="t", cache_dir=tmp_path, **ORT
    )
    tonnx.clear_session_cache()
    log = r.details["ort_log"]
    assert log["warnings"] >= 1
    assert any(
        "Removing initializer 'unused_w'" in d["message"] and d["message"].startswith("[W:onnxruntime")
        for d in log["distinct"]
    )
    assert "Removing initializer 'unused_w'" in capfd.readouterr().err  # and stderr still has it
