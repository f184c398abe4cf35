"""``profiler trace``: per-layer attribution sums, traffic counts, roofline arithmetic, idle fraction, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import profiler.trace
from profiler.cli import main
from profiler.results.measurement import Measurement
from profiler.trace.aggregate import TraceError, aggregate
from profiler.trace.hooks import MODULE_PREFIX, STEP_NAME, module_traffic
from profiler.trace.roofline import place


@pytest.fixture(scope="module")
def traced(tmp_path_factory) -> dict:
    """resnet18 at 64 px through the CLI, no peaks stored (a private, empty cache)."""
    tmp = tmp_path_factory.mktemp("trace")
    mp = pytest.MonkeyPatch()
    mp.setenv("ARCHPROF_CACHE", str(tmp / "cache"))
    out, run = tmp / "trace.json", tmp / "run-x"
    run.mkdir()
    argv = ["trace", "resnet18", "--resolution", "64", "--iters", "2", "--warmup", "1", "--peaks", "stored"]
    assert main([*argv, "--top", "5", "-o", str(out), "--run", str(run)]) == 0
    mp.undo()
    assert (run / "traces" / "resnet18-cpu-fp32-b1-r64.json").read_text() == out.read_text()  # the run's copy
    return json.loads(out.read_text())


def test_layer_sums_within_totals(traced: dict) -> None:
    t, layers = traced["totals"], traced["layers"]
    assert traced["threads"] == 1 and traced["device"] == "cpu"
    assert sum(r["device_ms"] for r in layers) <= t["device_ms"] * (1 + 1e-9)
    assert sum(r["cpu_ms"] for r in layers) <= t["step_ms"] * (1 + 1e-9)
    assert all(r["device_ms"] <= r["cpu_ms"] * (1 + 1e-9) for r in layers)  # on CPU aten time is host time
    assert sum(r["n_ops"] for r in layers) == t["n_ops"]  # every operator of the model is in some layer
    assert 0 <= t["idle_fraction"] < 1 and t["n_kernels"] == 0


def test_top_sorted_and_counts_exact(traced: dict) -> None:
    from profiler.counting import count_model

    dev = [r["device_ms"] for r in traced["layers"]]
    assert dev == sorted(dev, reverse=True)
    assert traced["top"] == [r["name"] for r in traced["layers"][:5]]
    # Every MAC of the model lands in a layer that ran operators.
    total = count_model("resnet18", 64, method="torch").macs
    assert sum(r["macs"] for r in traced["layers"]) == total == traced["totals"]["macs"]
    conv = next(r for r in traced["layers"] if r["name"] == "stem.0.0")
    assert conv["type"] == "Conv2d" and conv["n_ops"] == 1
    # (1,3,64,64) in, (1,64,32,32) out, 64·3·7·7 weights, fp32: each read or written once.
    assert conv["bytes"] == 4 * (3 * 64 * 64 + 64 * 32 * 32 + 64 * 3 * 7 * 7)


def test_no_peaks_means_unknown(traced: dict) -> None:
    assert traced["peaks"] is None
    assert {r["bound"] for r in traced["layers"]} == {"unknown"}
    assert all(r["compute_ms"] is None for r in traced["layers"])


def test_traffic_exact() -> None:
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True)).eval()
    by_module, ops = module_traffic(m, (2, 3, 5, 5), 2)  # charged at 2 bytes per element (fp16/bf16)
    act = 2 * 8 * 5 * 5
    assert by_module["0"] == 2 * (2 * 3 * 5 * 5 + 8 * 3 * 9 + act)
    assert by_module["1"] == 2 * (2 * act + 4 * 8)  # in, out, weight, bias, running mean and var
    assert by_module["2"] == 2 * (2 * act)  # in place: read and written
    assert ops == {"0": 1, "1": 1, "2": 1}


def test_place_arithmetic() -> None:
    peaks = {"matmul_tflops": {"fp32": 2.0, "fp16": None}, "copy_bandwidth_gbs": 100.0, "launch_us": 5.0}
    row = {"macs": 1_000_000, "bytes": 4_000_000, "n_ops": 3}
    p = place(row, peaks, "fp32")
    assert p["compute_ms"] == pytest.approx(2e6 / 2e12 * 1e3)
    assert p["memory_ms"] == pytest.approx(4e6 / 1e11 * 1e3)
    assert p["launch_ms"] == pytest.approx(3 * 5e-3)
    assert p["bound"] == "memory" and p["intensity"] == pytest.approx(0.5)
    assert place(row, peaks, "fp16")["bound"] == "unknown"  # fp16 not measured: no guess
    assert place({"macs": 0, "bytes": 0, "n_ops": 0}, peaks, "fp32")["intensity"] is None


def _ev(name, start, end, parent=None, device="CPU", kernels=()):
    e = SimpleNamespace(
        name=name,
        time_range=SimpleNamespace(start=start, end=end),
        cpu_parent=parent,
        cpu_children=[],
        device_type=f"DeviceType.{device}",
        kernels=list(kernels),
    )
    if parent is not None:
        parent.cpu_children.append(e)
    return e


def test_cuda_idle_fraction_from_intervals() -> None:
    """Two iterations: kernels busy 8 µs (overlapping 10–13 and 12–15, then 17–20) of a 10 µs span, then 4 of 4."""
    events = []
    for s0, kernels in ((0.0, [(10, 13), (12, 15), (17, 20)]), (100.0, [(110, 114)])):
        step = _ev(STEP_NAME, s0, s0 + 50)
        mod = _ev(MODULE_PREFIX + "conv", s0 + 1, s0 + 40, step)
        k = [SimpleNamespace(duration=b - a) for a, b in kernels]
        _ev("aten::conv2d", s0 + 2, s0 + 30, mod, kernels=k)
        events += [step, mod, *mod.cpu_children]
        events += [_ev("kernel", a, b, device="CUDA") for a, b in kernels]
    events.append(_ev("kernel before the profiled steps", -5, -1, device="CUDA"))  # not counted
    out = aggregate(events, "cuda", {"conv": "Conv2d"})
    assert out["totals"]["idle_fraction"] == pytest.approx(1 - 12 / 14)
    assert [p["idle_fraction"] for p in out["per_iteration"]] == pytest.approx([0.2, 0.0])
    assert out["totals"]["device_ms"] == pytest.approx(13 / 2 / 1e3) and out["totals"]["n_kernels"] == 2.0
    (row,) = out["layers"]
    assert row["device_ms"] == pytest.approx((9 + 4) / 2 / 1e3) and row["n_kernels"] == 2.0
    assert row["cpu_ms"] == pytest.approx(39 / 1e3) and row["type"] == "Conv2d"


def test_empty_profile_raises() -> None:
    with pytest.raises(TraceError, match="no events"):
        aggregate([], "cpu")
    with pytest.raises(TraceError, match="no CUDA kernels"):
        step = _ev(STEP_NAME, 0, 10)
        aggregate([step, _ev(MODULE_PREFIX + "m", 1, 9, step), _ev("aten::add", 2, 3, step)], "cuda")


def test_zero_events_says_so(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path))
    monkeypatch.setattr(profiler.trace, "profile_events", lambda *a, **k: [])
    assert main(["trace", "resnet18", "--resolution", "32", "--iters", "1", "--warmup", "0", "--peaks", "stored"]) == 1
    out = capsys.readouterr().out
    assert "recorded no events" in out and "Traceback" not in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["trace", "resnet_nope"], "resnet_nope"),
        (["trace", "resnet18", "--dtype", "fp16"], "fp16"),
        (["trace", "resnet18", "--iters", "0"], "--iters"),
        (["trace", "resnet18", "-o", "x.html"], ".json"),
        (["trace", "resnet18", "--run", "no-such-run-dir"], "no-such-run-dir"),
        (["trace", "resnet18", "--top", "0"], "--top"),
    ],
)
def test_bad_input_exits_2(argv, needle, capsys) -> None:
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_cuda_absent_exits_2(capsys) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert main(["trace", "resnet18", "--device", "cuda"]) == 2
    assert "CUDA is unavailable" in capsys.readouterr().err


@pytest.mark.gpu
def test_cuda_trace_kernels(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path))
    doc = profiler.trace.trace_model("resnet18", device="cuda", resolution=64, iters=3, warmup_iters=2)
    t = doc["totals"]
    assert t["n_kernels"] > 0 and t["device_ms"] > 0 and 0 <= t["idle_fraction"] < 1
    assert sum(r["device_ms"] for r in doc["layers"]) <= t["device_ms"] * (1 + 1e-9)
    assert doc["peaks"] is not None and {r["bound"] for r in doc["layers"]} <= {"compute", "memory", "launch"}


def test_summary_is_clean_text_and_kineto_notes_are_held_back(capfd, tmp_path: Path, monkeypatch) -> None:
    """No raw Python dict in the summary, none of torch's 'USDT:' lines on stderr (issue #27)."""
    from profiler.commands.cmd_trace import print_summary

    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path))
    assert main(["trace", "resnet18", "--resolution", "32", "--iters", "1", "--warmup", "0", "--peaks", "stored"]) == 0
    out, err = capfd.readouterr()
    assert "USDT" not in err and "STAGE:" not in err and "resnet18  cpu" in out
    doc = json.loads((Path(__file__).parents[1] / "data" / "trace_resnet18_cpu_r64.json").read_text())
    print_summary(doc, 3)
    out = capfd.readouterr().out
    assert "layers by bound: " in out and "{'" not in out and "'compute':" not in out


def test_quick_peaks_copy_as_much_as_the_full_measurement(monkeypatch) -> None:
    """trace's quick copy (a quarter, cache-resident) read 2x faster than `peaks` on the same machine."""
    import profiler.hardware.measure as pk

    sizes = []

    def fake_set(device, n, n_copy, threads, min_run_s, clock):
        sizes.append(n_copy)
        return {
            "matmul_tflops": {"fp32": 0.1},
            "copy_bandwidth_gbs": 10.0,
            "launch_us": 1.0,
            "launch_us_fastest": 1.0,
            "median_matmul_tflops": {"fp32": 0.1},
            "median_copy_bandwidth_gbs": 10.0,
        }

    monkeypatch.setattr(pk, "_measure_set", fake_set)
    pk.measure_peaks("cpu", threads=1, quick=True)
    pk.measure_peaks("cpu", threads=1, quick=False)
    assert sizes[0] == sizes[-1] == pk.COPY_MIB["cpu"] * 2**20 // 4


def _run_at(run_dir: Path, resolution: int) -> Path:
    from profiler.results.store import ResultStore

    store = ResultStore.create(run_dir, {"run": {}})
    store.add(
        Measurement.from_dict(
            {"task_key": "k", "model": "resnet18", "family": "resnet", "resolution": resolution, "status": "ok"}
        )
    )
    store.close()
    return run_dir


def test_trace_into_a_run_uses_its_resolution_or_refuses(tmp_path: Path, capsys) -> None:
    from profiler.commands.cmd_trace import run_resolution

    run = _run_at(tmp_path / "run112", 112)
    assert main(["trace", "resnet18", "--run", str(run), "--resolution", "224"]) == 2
    err = capsys.readouterr().err
    assert "--run run112 was measured at 112 px, not 224 px" in err and "--resolution 112" in err
    assert run_resolution(run, "resnet18", None) == 112 and "tracing at 112 px" in capsys.readouterr().err
    assert run_resolution(run, "mobilenet_v2", None) == 112  # a model the run lacks: the run's only resolution
    assert run_resolution(tmp_path, "resnet18", None) is None  # not a store: nothing to match
