"""One ONNX export per (spec, resolution): dynamic batch, fp16 derived, static fallback, prepare_onnx, cache v2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from profiler.core.errors import UsageError
from profiler.timing import ExportError, TimingConfig, measure, onnx_cache, onnx_export, onnx_prepare, prepare_onnx
from tests.support.nets import Tiny, Unexportable
from tests.support.timing import FAST

pytestmark = pytest.mark.usefixtures("one_thread")


def ort(tmp_path, dtype="fp32", batch=1, model=None, **kw):
    return measure(
        model or Tiny(),
        backend="onnxruntime",
        device="cpu",
        dtype=dtype,
        batch=batch,
        resolution=16,
        config=kw.pop("config", FAST),
        cache_key="tiny",
        cache_dir=tmp_path,
        **kw,
    )


def graphs(tmp_path) -> list[str]:
    return sorted(p.parent.name for p in tmp_path.rglob("*.onnx"))


def test_one_export_serves_every_batch(tmp_path):
    first, second = ort(tmp_path, batch=1), ort(tmp_path, batch=3)
    assert graphs(tmp_path) == ["tiny_r16_fp32.onnx-v3"]  # one file for batch 1 and 3
    assert first.details["cache_hit"] is False and second.details["cache_hit"] is True
    assert second.details["phases"]["export_s"] == 0.0
    # Batch 3 was checked on its leading reference rows, at the batch that was timed.
    assert second.details["output_checked_rows"] == 2 and second.details["max_output_error_rel"] < 1e-4


def test_fp16_is_converted_from_the_fp32_export(tmp_path):
    r = ort(tmp_path, dtype="fp16", batch=2)
    assert graphs(tmp_path) == ["tiny_r16_fp16.onnx-v3", "tiny_r16_fp32.onnx-v3"]  # one export, one conversion
    d = r.details
    assert d["graph_dtype"] == "fp16" and d["export_path"] == "dynamic-fp16-converted"
    assert d["converter"].startswith("onnxconverter-common") and d["cpu_check_error_rel"] <= 3e-2
    assert d["fp16_casts_added"] == 0  # conv, bn, relu, mean, gemm: all have fp16 kernels, nothing left in fp32
    assert 0 < d["max_output_error_rel"] <= d["output_tolerance_rel"]  # fp16 rounding is visible, within bounds
    import onnx

    model = onnx.load(str(tmp_path / "tiny_r16_fp16.onnx-v3" / "model.onnx"))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16  # fp16 IO, as bound
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_converter_failure_falls_back_to_a_direct_fp16_export(tmp_path, monkeypatch):
    def broken(src, dst):
        raise ValueError("simulated converter failure")

    monkeypatch.setattr(onnx_prepare, "convert_to_fp16", broken)
    d = ort(tmp_path, dtype="fp16").details
    assert d["export_path"] == "dynamic-fp16-exported" and "simulated converter" in d["fp16_conversion_failed"]
    assert d["max_output_error_rel"] <= d["output_tolerance_rel"]


def test_dynamic_failure_falls_back_to_static_and_says_why(tmp_path, monkeypatch):
    real, dynamic_calls = onnx_export._export_once, []

    def no_dynamic(model, x, path, exporter, opset, dynamic=False):
        if dynamic:
            dynamic_calls.append(exporter)
            raise RuntimeError("simulated: batch axis cannot be symbolic")
        real(model, x, path, exporter, opset, dynamic)

    monkeypatch.setattr(onnx_export, "_export_once", no_dynamic)
    d1 = ort(tmp_path, batch=1).details
    assert d1["export_path"] == "static-fallback" and d1["static_batch"] == 1
    assert "batch axis cannot be symbolic" in d1["dynamic_fallback_reason"]
    d2 = ort(tmp_path, batch=2).details
    assert d2["export_path"] == "static-fallback" and d2["cache_hit"] is False
    assert graphs(tmp_path) == ["tiny_r16_b1_fp32.onnx-v3", "tiny_r16_b2_fp32.onnx-v3"]
    # The failure is remembered: the second batch went straight to its static export.
    assert dynamic_calls == ["dynamo", "torchscript"]
    assert ort(tmp_path, batch=2).details["cache_hit"] is True


def test_unexportable_model_fails_with_the_operator_after_both_paths(tmp_path):
    with pytest.raises(ExportError, match="archprof_test::twist"):
        measure(
            Unexportable(),
            backend="onnxruntime",
            device="cpu",
            dtype="fp32",
            batch=1,
            resolution=8,
            config=FAST,
            cache_key="bad",
            cache_dir=tmp_path,
        )
    marker = json.loads((tmp_path / "bad_r8_fp32.onnx-v3" / "meta.json").read_text())
    assert "archprof_test::twist" in marker["failed"] and not graphs(tmp_path)


def test_prepare_onnx_then_measure_only_loads(tmp_path):
    prepared = prepare_onnx(Tiny(), resolution=16, dtypes=["fp32", "fp16"], cache_key="tiny", cache_dir=tmp_path)
    assert prepared["fp32"]["export_path"] == "dynamic-fp32" and prepared["fp32"]["export_s"] > 0
    assert prepared["fp16"]["export_path"] == "dynamic-fp16-converted" and prepared["fp16"]["cache_hit"] is False
    for dtype in ("fp32", "fp16"):
        r = ort(tmp_path, dtype=dtype, batch=2)  # a fresh Tiny: checked against the reference of the export
        assert r.details["cache_hit"] is True and r.details["phases"]["export_s"] == 0.0
        assert r.details["max_output_error_rel"] <= r.details["output_tolerance_rel"]
    assert (
        prepare_onnx(Tiny(), resolution=16, dtypes=["fp32"], cache_key="tiny", cache_dir=tmp_path)["fp32"]["cache_hit"]
        is True
    )
    with pytest.raises(UsageError, match="bf16"):
        prepare_onnx(Tiny(), resolution=16, dtypes=["bf16"], cache_key="tiny", cache_dir=tmp_path)


def test_exporter_choice_is_tried_first_recorded_and_cached_apart(tmp_path):
    from dataclasses import replace

    ts = replace(FAST, exporter="torchscript")
    r = ort(tmp_path, dtype="fp16", batch=2, config=ts)
    assert r.details["exporter"] == "torchscript" and r.details["config"]["exporter"] == "torchscript"
    assert r.details["export_path"] == "dynamic-fp16-converted"  # a TorchScript graph has the batch axis too
    assert graphs(tmp_path) == ["tiny_r16_fp16_xtorchscript.onnx-v3", "tiny_r16_fp32_xtorchscript.onnx-v3"]
    d = ort(tmp_path, batch=3)  # the default asks for dynamo first: never served the TorchScript graph
    assert d.details["exporter"] == "dynamo" and d.details["cache_hit"] is False
    assert ort(tmp_path, batch=1, config=ts).details["cache_hit"] is True
    with pytest.raises(UsageError, match="exporter 'onnx'; valid: dynamo, torchscript"):
        TimingConfig(exporter="onnx")


def test_the_other_exporter_is_the_recorded_fallback(tmp_path, monkeypatch):
    real = onnx_export._export_once

    def no_torchscript(model, x, path, exporter, *args):
        if exporter == "torchscript":
            raise RuntimeError("torchscript exporter removed")
        return real(model, x, path, exporter, *args)

    monkeypatch.setattr(onnx_export, "_export_once", no_torchscript)
    from dataclasses import replace

    d = ort(tmp_path, config=replace(FAST, exporter="torchscript")).details
    assert (
        d["exporter"] == "dynamo"
        and "torchscript failed: RuntimeError: torchscript exporter removed" in (d["fallback_reason"])
    )


def test_old_cache_files_are_never_read(tmp_path):
    # The v1 layout: files named by batch next to each other. A v2 reader must not see them.
    for suffix in (".onnx", ".json", ".ref.npy"):
        (tmp_path / f"tiny_r16_b1_fp32{suffix}").write_bytes(b"not a graph")
    assert ort(tmp_path).details["cache_hit"] is False


def test_publish_first_writer_wins(tmp_path):
    final = onnx_cache.entry_dir(tmp_path, "k", 16, "fp32")
    with onnx_cache.staging(tmp_path) as a, onnx_cache.staging(tmp_path) as b:
        onnx_cache.save_reference(a, np.zeros((2, 3)), np.zeros((2, 1)))
        onnx_cache.save_reference(b, np.ones((2, 3)), np.ones((2, 1)))
        _, mine = onnx_cache.publish(a, final, {"who": "a"})
        lost, theirs = onnx_cache.publish(b, final, {"who": "b"})
    assert mine is True and theirs is False and lost.meta["who"] == "a"
    assert lost.reference()[0].sum() == 0  # b's reference never mixed into a's entry
    assert [p.name for p in tmp_path.iterdir()] == [final.name]  # no staging directory left behind


def test_ort_phases_separate_warmup_from_timed(tmp_path):
    calls = []

    def timer(step):
        # Warm-up calls are slow and timed ones fast: a swap of the phases would fail the bounds below.
        calls.append(1)
        import time

        time.sleep(0.06 if len(calls) <= 3 else 0.01)
        step()
        return 1.0

    r = ort(tmp_path, config=TimingConfig(iters=4, warmup_iters=3, warmup_s=0.0), timer=timer)
    phases = r.details["phases"]
    assert set(phases) == {"export_s", "load_s", "warmup_s", "timed_s"}
    assert all(v >= 0 for v in phases.values()) and r.samples_ms == [1.0] * 4
    assert phases["warmup_s"] >= 0.18 and phases["timed_s"] >= 0.04
    assert phases["warmup_s"] >= r.details["first_run_s"]


def test_same_graph_and_options_reuse_the_session(tmp_path, monkeypatch):
    import onnxruntime

    from profiler.timing import onnx as tonnx

    tonnx.clear_session_cache()
    created = []

    class Counted(onnxruntime.InferenceSession):
        def __init__(self, path, *args, **kw):
            created.append(path)  # the timed sessions; the CPU check when the graph is made is one more
            super().__init__(path, *args, **kw)

    model = Tiny()
    first = ort(tmp_path, batch=1, model=model)
    monkeypatch.setattr(onnxruntime, "InferenceSession", Counted)
    second = ort(tmp_path, batch=2, model=model)
    assert first.details["session_reused"] is False and second.details["session_reused"] is True
    assert created == []  # counted, not timed: the load times of a tiny model differ by a millisecond
    from dataclasses import replace

    ort(tmp_path, batch=2, model=model, config=replace(FAST, ort_graph_optimization="basic"))
    assert len(created) == 1  # another session configuration: a new session (and the count does see them)
    # The reused session is still checked at the batch it times, against the stored reference.
    assert second.details["output_checked_rows"] == 2 and second.details["max_output_error_rel"] < 1e-4
    assert len(second.samples_ms) == FAST.iters


def test_a_reused_session_still_fails_the_output_check(tmp_path, monkeypatch):
    from profiler.timing import OutputMismatchError
    from profiler.timing import onnx as tonnx

    tonnx.clear_session_cache()
    ort(tmp_path, batch=1)
    monkeypatch.setattr(tonnx, "output_error", lambda actual, reference: 1.0)  # as if the graph computed garbage
    with pytest.raises(OutputMismatchError):
        ort(tmp_path, batch=2)


@pytest.mark.parametrize("change", ["dtype", "threads", "graph_opt", "graph"])
def test_a_different_session_configuration_is_not_reused(tmp_path, change):
    from profiler.timing import onnx as tonnx

    tonnx.clear_session_cache()
    model = Tiny()
    ort(tmp_path, model=model)
    cfg = {
        "threads": TimingConfig(iters=4, warmup_s=0.0, threads=2),
        "graph_opt": TimingConfig(iters=4, warmup_s=0.0, ort_graph_optimization="basic"),
    }.get(change, FAST)
    if change == "graph":
        r = measure(
            model,
            backend="onnxruntime",
            device="cpu",
            dtype="fp32",
            batch=1,
            resolution=16,
            config=FAST,
            cache_key="other",
            cache_dir=tmp_path,
        )
    else:
        r = ort(tmp_path, dtype="fp16" if change == "dtype" else "fp32", model=model, config=cfg)
    assert r.details["session_reused"] is False


def test_cuda_graph_sessions_are_never_shared(tmp_path):
    from profiler.timing import onnx as tonnx

    (tmp_path / "m.onnx").write_bytes(b"x")
    cfg = TimingConfig(ort_cuda_graph=True)
    assert tonnx.session_key(tmp_path / "m.onnx", "cuda", "fp32", cfg) is None
    assert tonnx.session_key(tmp_path / "m.onnx", "cpu", "fp32", cfg) is not None


def test_check_graph_catches_a_baked_batch(tmp_path):
    # A static graph of batch 2 cannot pass the check's batch-1 run: the check is what makes a graph "dynamic".
    model = Tiny().eval()
    x, y = onnx_prepare.reference_io(model, 16)
    onnx_export.export_graph(model, torch.from_numpy(x), tmp_path / "m.onnx", dynamic=False)
    with pytest.raises(Exception, match=r"(?i)dimension|shape|index"):
        onnx_prepare.check_graph(tmp_path / "m.onnx", x, y, "fp32")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_cuda_one_graph_serves_batch_1_and_64(tmp_path, dtype):
    import onnxruntime

    import models

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime has no CUDA provider here")
    prepared = prepare_onnx(
        models.get_model("resnet18"), resolution=64, dtypes=[dtype], cache_key="r18", cache_dir=tmp_path
    )
    from profiler.timing import onnx as tonnx

    tonnx.clear_session_cache()
    for batch in (1, 64):
        r = measure(
            models.get_model("resnet18"),
            backend="onnxruntime",
            device="cuda",
            dtype=dtype,
            batch=batch,
            resolution=64,
            config=TimingConfig(iters=5, warmup_s=0.05),
            cache_key="r18",
            cache_dir=tmp_path,
        )
        d = r.details
        assert d["cache_hit"] is True and d["export_path"] == prepared[dtype]["export_path"]
        assert d["providers_active"][0] == "CUDAExecutionProvider"
        assert d["max_output_error_rel"] <= d["output_tolerance_rel"] and d["phases"]["export_s"] == 0.0
        assert d["session_reused"] is (batch == 64)  # one session, rebound for batch 64
    assert len(list(tmp_path.rglob("*.onnx"))) == (2 if dtype == "fp16" else 1)


def _prepare_in_child(cache_dir: str) -> dict:
    torch.manual_seed(int.from_bytes(__import__("os").urandom(4), "little"))  # each process: its own weights
    return prepare_onnx(Tiny(), resolution=16, dtypes=["fp32", "fp16"], cache_key="tiny", cache_dir=cache_dir)


@pytest.mark.slow
def test_concurrent_preparers_publish_one_consistent_entry(tmp_path):
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_prepare_in_child, [str(tmp_path)] * 2)
    assert {r["fp32"]["onnx_path"] for r in results} == {str(tmp_path / "tiny_r16_fp32.onnx-v3" / "model.onnx")}
    assert graphs(tmp_path) == ["tiny_r16_fp16.onnx-v3", "tiny_r16_fp32.onnx-v3"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".stage-")]
    for dtype in ("fp32", "fp16"):  # whichever process won, its graph and its reference agree
        r = ort(tmp_path, dtype=dtype, batch=2)
        assert r.details["cache_hit"] is True and r.details["max_output_error_rel"] <= r.details["output_tolerance_rel"]
