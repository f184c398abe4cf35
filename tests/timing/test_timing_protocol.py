"""Protocol pieces that need no real timing: statistics, validation, device checks, precision, timers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from profiler.core.errors import UsageError
from profiler.timing import (
    CudaEventTimer,
    HostTimer,
    TimingConfig,
    apply_precision,
    check_device,
    precision_context,
    protocol,
    read_precision_switches,
    summarize,
    validate_request,
)

STATS_KEYS = {
    "latency_ms_median",
    "latency_ms_mean",
    "latency_ms_iqr",
    "latency_ms_p5",
    "latency_ms_p95",
    "latency_ms_min",
    "latency_cv",
    "n_samples",
    "throughput_ips",
    "stable",
}


@pytest.fixture
def restore_switches():
    before = read_precision_switches()
    yield
    torch.set_float32_matmul_precision(before["float32_matmul_precision"])
    torch.backends.cudnn.allow_tf32 = before["cudnn_allow_tf32"]
    torch.backends.cudnn.benchmark = before["cudnn_benchmark"]


def test_summarize_values_and_keys():
    samples = [10.0, 12.0, 11.0, 13.0, 50.0]  # one outlier: median/IQR must ignore it, mean must not
    s = summarize(samples, batch=4)
    assert set(s) == STATS_KEYS
    assert s["latency_ms_median"] == 12.0
    assert s["latency_ms_mean"] == pytest.approx(19.2)
    assert s["latency_ms_iqr"] == pytest.approx(13.0 - 11.0)
    assert s["latency_ms_min"] == 10.0
    assert s["latency_ms_p5"] == pytest.approx(np.percentile(samples, 5))
    assert s["latency_ms_p95"] == pytest.approx(np.percentile(samples, 95))
    assert s["n_samples"] == 5
    assert s["throughput_ips"] == pytest.approx(4 * 1000 / 12.0)
    assert s["latency_cv"] == pytest.approx(np.std(samples, ddof=1) / 19.2)
    assert s["stable"] is False


def test_summarize_stable_flag_and_single_sample():
    assert summarize([10.0, 10.1, 9.9, 10.0], batch=1)["stable"] is True
    one = summarize([5.0], batch=2)
    assert one["latency_cv"] == 0.0 and one["latency_ms_iqr"] == 0.0 and one["throughput_ips"] == 400.0
    with pytest.raises(ValueError, match="no samples"):
        summarize([], batch=1)


def test_run_protocol_warms_up_for_time_and_iterations(monkeypatch):
    clock = iter(np.arange(0.0, 100.0, 0.1))  # each perf_counter call advances 0.1 s
    monkeypatch.setattr(protocol.time, "perf_counter", lambda: float(next(clock)))
    calls = []
    samples, warm = protocol.run_protocol(lambda: calls.append(1) or 2.5, TimingConfig(iters=7, warmup_s=0.45))
    assert samples == [2.5] * 7
    assert warm["warmup_iters_done"] >= 4  # 0.45 s at 0.1 s per iteration, more than warmup_iters=3
    assert len(calls) == warm["warmup_iters_done"] + 7
    # Timed loop: one clock read before it and one after, 0.1 s apart on this clock.
    assert warm["timed_s_done"] == pytest.approx(0.1)


def test_run_protocol_min_warmup_iters():
    samples, warm = protocol.run_protocol(lambda: 1.0, TimingConfig(iters=2, warmup_iters=5, warmup_s=0.0))
    assert warm["warmup_iters_done"] == 5 and len(samples) == 2


def _noisy(seed: int = 0, cv: float = 0.2):
    rng = np.random.default_rng(seed)
    return lambda: float(10.0 * rng.lognormal(0.0, cv))


def test_adaptive_timing_goes_on_until_the_median_ci_meets_the_target():
    config = TimingConfig(iters=30, warmup_iters=1, warmup_s=0.0, ci_target=0.02, max_timed_s=30.0)
    samples, warm = protocol.run_protocol(_noisy(), config)
    assert len(samples) > 30 and warm["extra_iters"] == len(samples) - 30
    assert warm["ci_target_met"] is True and warm["median_ci_rel"] <= 0.02
    assert protocol.median_ci_rel(samples) == pytest.approx(warm["median_ci_rel"], abs=1e-5)
    assert protocol.median_ci_rel(samples[:30]) > 0.02  # the floor alone would not have met it


def test_adaptive_timing_stops_at_the_cap_and_keeps_the_floor(monkeypatch):
    clock = iter(np.arange(0.0, 1e4, 0.1))  # each perf_counter call advances 0.1 s
    monkeypatch.setattr(protocol.time, "perf_counter", lambda: float(next(clock)))
    config = TimingConfig(iters=30, warmup_iters=1, warmup_s=0.0, ci_target=0.001, max_timed_s=2.0)
    samples, warm = protocol.run_protocol(_noisy(cv=0.5), config)
    assert 30 < len(samples) < 60  # the cap ends it, the floor of 30 is kept
    assert warm["ci_target_met"] is False and warm["ci_target"] == 0.001 and warm["max_timed_s"] == 2.0


@pytest.mark.parametrize(("config", "cap_s"), [("quick-cpu.toml", 1.0), ("regnet-claim.toml", 2.0)])
def test_the_default_configs_time_adaptively(config: str, cap_s: float) -> None:
    from profiler.sweep.config import EXPERIMENTS_DIR, load_config

    timing = load_config(EXPERIMENTS_DIR / config).timing_config()
    assert (timing.iters, timing.ci_target, timing.max_timed_s) == (30, 0.02, cap_s)


def test_no_adaptive_timing_by_default():
    samples, warm = protocol.run_protocol(_noisy(), TimingConfig(iters=30, warmup_iters=1, warmup_s=0.0))
    assert len(samples) == 30 and "ci_target_met" not in warm


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ci_target": 1.5}, "ci_target"),
        ({"ci_target": 0.02}, "max_timed_s"),
        ({"max_timed_s": -1}, "max_timed_s"),
        ({"iters": 0}, "iters"),
        ({"threads": 0}, "threads"),
        ({"ort_graph_optimization": "max"}, "extended"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(UsageError, match=match):
        TimingConfig(**kwargs)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("tvm", "cpu", "fp32", "contiguous"), "valid: eager, onnxruntime"),
        (("eager", "tpu", "fp32", "contiguous"), "valid: cpu, cuda"),
        (("eager", "cpu", "int8", "contiguous"), "valid: fp32, tf32, fp16, bf16"),
        (("eager", "cpu", "fp32", "nhwc"), "valid: contiguous, channels_last"),
        (("eager", "cpu", "fp16", "contiguous"), "valid on cpu: fp32, bf16"),
        (("eager", "cpu", "tf32", "contiguous"), "CUDA"),
        (("onnxruntime", "cuda", "bf16", "contiguous"), "fp32, tf32, fp16"),
        (("onnxruntime", "cpu", "fp32", "channels_last"), "contiguous"),
    ],
)
def test_validate_request_names_valid_values(args, match):
    with pytest.raises(UsageError, match=match):
        validate_request(*args, batch=1, resolution=32)


def test_validate_request_accepts_good_settings():
    validate_request("onnxruntime", "cpu", "fp16", "contiguous", 2, 32)  # ORT fp16 on CPU does work
    validate_request("eager", "cuda", "tf32", "channels_last", 64, 224)


def test_check_device_cpu_only_build(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(UsageError, match="CPU-only build"):
        check_device("cuda")
    check_device("cpu")  # never an error


def test_check_device_no_driver(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(UsageError, match=r"CUDA 12\.4 but no NVIDIA driver or GPU"):
        check_device("cuda")

    def broken() -> int:
        raise RuntimeError("libcuda.so.1: cannot open shared object file")

    monkeypatch.setattr(torch.cuda, "device_count", broken)
    with pytest.raises(UsageError, match="driver failed: libcuda"):
        check_device("cuda")


def test_check_device_available_and_unknown(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_device("cuda")
    with pytest.raises(UsageError, match="valid: cpu, cuda"):
        check_device("xpu")


@pytest.mark.usefixtures("restore_switches")
def test_apply_precision_sets_switches_both_ways():
    on = apply_precision("tf32", "cuda")
    assert on["matmul_allow_tf32"] and on["cudnn_allow_tf32"] and on["float32_matmul_precision"] == "high"
    assert on["cudnn_benchmark"] is True and on["precision"] == "tf32"
    for precision in ("fp32", "fp16", "bf16"):
        off = apply_precision(precision, "cuda")
        assert not off["matmul_allow_tf32"] and not off["cudnn_allow_tf32"]
        assert off["float32_matmul_precision"] == "highest"
        assert torch.backends.cudnn.allow_tf32 is False
    assert apply_precision("fp32", "cpu")["cudnn_benchmark"] is False  # cuDNN autotuning is a CUDA thing


@pytest.mark.usefixtures("restore_switches")
def test_precision_context_restores():
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("medium")
    before = read_precision_switches()
    with precision_context("fp32", "cuda") as switches:
        assert switches["cudnn_allow_tf32"] is False and torch.get_float32_matmul_precision() == "highest"
    assert read_precision_switches() == before


class FakeEvent:
    """Stands in for torch.cuda.Event: records the fake clock's time."""

    def __init__(self, clock: list[float]) -> None:
        self.clock, self.t = clock, None

    def record(self) -> None:
        self.t = self.clock[0]

    def elapsed_time(self, end: FakeEvent) -> float:
        return end.t - self.t


def test_cuda_event_timer_uses_one_event_pair_and_syncs():
    clock, events, syncs = [0.0], [], []

    def factory() -> FakeEvent:
        events.append(FakeEvent(clock))
        return events[-1]

    def work() -> None:
        clock[0] += 4.25  # the "kernel" takes 4.25 ms on the fake device

    timer = CudaEventTimer(event_factory=factory, synchronize=lambda: syncs.append(1))
    assert [timer(work) for _ in range(3)] == [4.25, 4.25, 4.25]
    assert len(events) == 6 and len(syncs) == 6  # one pair and a sync before and after per iteration


def test_host_timer_syncs_around_the_call():
    order = []
    ms = HostTimer(sync=lambda: order.append("sync"))(lambda: order.append("run"))
    assert order == ["sync", "run", "sync"] and ms >= 0.0


def test_warmup_continues_while_iterations_page_fault(monkeypatch):
    from profiler.timing import allocator

    faults = iter([0, 5000, 0, 5000, 0, 5000, 0, 5000, 0, 100, 0, 3] + [0] * 200)  # (before, after) per iteration
    total = [0]

    def minor_faults() -> int:
        total[0] += next(faults)
        return total[0]

    monkeypatch.setattr(allocator, "minor_faults", minor_faults)
    samples, warm = protocol.run_protocol(lambda: 1.0, TimingConfig(iters=2, warmup_iters=3, warmup_s=0.0))
    # 3 iterations would do; the 4th still faulted 5000 times, the 5th 100 (> FAULT_QUIET), the 6th 3: stop there.
    assert warm["warmup_iters_done"] == 6 and warm["minflt_last_warmup_iter"] == 3
    assert warm["minflt_per_iter"] == 0 and len(samples) == 2


def test_keep_heap_is_recorded():
    from profiler.timing.allocator import keep_heap

    state = keep_heap()
    assert state is keep_heap() and "keep_heap" in state  # set once per process, always says what it did
