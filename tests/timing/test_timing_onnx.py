"""ONNX Runtime backend on CPU: export cache, exporter fallback, output check, provider check, IO binding."""

from __future__ import annotations

import json

import pytest
import torch

from profiler.timing import (
    ExportError,
    OutputMismatchError,
    ProviderError,
    measure,
    onnx_export,
)
from profiler.timing import onnx as tonnx
from tests.support.nets import Tiny, Unexportable
from tests.support.timing import FAST


class Liar(Tiny):
    """Exports a different function than it runs eagerly: the output check must catch it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return y + 1.0 if torch.onnx.is_in_onnx_export() else y


def test_ort_cpu_fp32_cached(tmp_path):
    kw = dict(
        backend="onnxruntime",
        device="cpu",
        dtype="fp32",
        batch=2,
        resolution=16,
        config=FAST,
        cache_key="tiny",
        cache_dir=tmp_path,
    )
    first = measure(Tiny(), **kw)
    d = first.details
    assert len(first.samples_ms) == 4 and d["provider"] == "CPUExecutionProvider"
    assert d["providers_active"][0] == "CPUExecutionProvider" and d["io_binding"] is True
    assert d["exporter"] in ("dynamo", "torchscript") and isinstance(d["opset"], int)
    assert d["graph_optimization_level"] == "all" and d["cache_hit"] is False
    assert d["export_path"] == "dynamic-fp32" and d["batch_axis"] == "batch"
    assert d["max_output_error_rel"] < 1e-4  # fp32 ORT agrees with eager to rounding
    assert (tmp_path / "tiny_r16_fp32.onnx-v3" / "model.onnx").exists()
    assert d["phases"]["export_s"] > 0
    # Same (key, resolution, graph dtype): reused, and checked against the reference stored with the
    # export, not against this freshly initialised Tiny (whose random weights differ from the exported ones).
    again = measure(Tiny(), **kw)
    assert again.details["cache_hit"] is True and again.details["exporter"] == d["exporter"]
    assert again.details["phases"]["export_s"] == 0.0


def test_output_mismatch_is_detected(tmp_path):
    with pytest.raises(OutputMismatchError, match="differs from eager fp32"):
        measure(
            Liar(),
            backend="onnxruntime",
            device="cpu",
            dtype="fp32",
            batch=1,
            resolution=16,
            config=FAST,
            cache_key="liar",
            cache_dir=tmp_path,
        )
    # The CPU check caught the dynamic graph first and said so; the static fallback lied too, and timing refused it.
    marker = json.loads((tmp_path / "liar_r16_fp32.onnx-v3" / "meta.json").read_text())
    assert marker["export_path"] == "static-fallback" and "OutputMismatchError" in marker["failed"]


def test_exporter_fallback_is_recorded(tmp_path, monkeypatch):
    real = onnx_export._export_once

    def dynamo_breaks(model, x, path, exporter, opset, dynamic=False):
        if exporter == "dynamo":
            raise RuntimeError("simulated failure of aten::frobnicate")
        real(model, x, path, exporter, opset, dynamic)

    monkeypatch.setattr(onnx_export, "_export_once", dynamo_breaks)
    meta = onnx_export.export_graph(Tiny().eval(), torch.randn(2, 3, 16, 16), tmp_path / "m.onnx", dynamic=True)
    assert meta["exporter"] == "torchscript" and "aten::frobnicate" in meta["fallback_reason"]
    assert (tmp_path / "m.onnx").exists() and meta["batch_axis"] == "batch"


def test_export_failure_names_the_operator(tmp_path):
    with pytest.raises(ExportError, match="archprof_test::twist"):
        onnx_export.export_graph(Unexportable().eval(), torch.randn(1, 3, 8, 8), tmp_path / "m.onnx", dynamic=False)
    assert not list(tmp_path.glob("*.onnx"))  # no half-written file is left to be "reused"


def test_operator_of():
    assert onnx_export.operator_of("Exporting the operator 'aten::foo.Tensor' is not supported") == "aten::foo.Tensor"
    assert onnx_export.operator_of("nothing here") is None


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path))
    assert onnx_export.default_cache_dir() == tmp_path / "onnx"


class FakeSession:
    def __init__(self, providers: list[str]) -> None:
        self._providers = providers

    def get_providers(self) -> list[str]:
        return self._providers


def test_provider_check_fails_loudly_on_silent_cpu_fallback():
    with pytest.raises(ProviderError, match=r"asked CUDAExecutionProvider, got \['CPUExecutionProvider'\]"):
        tonnx.check_providers(FakeSession(["CPUExecutionProvider"]), "CUDAExecutionProvider")
    with pytest.raises(ProviderError, match="onnxruntime-gpu missing"):
        tonnx.check_providers(FakeSession([]), "CUDAExecutionProvider")
    tonnx.check_providers(FakeSession(["CUDAExecutionProvider", "CPUExecutionProvider"]), "CUDAExecutionProvider")


def test_make_session_cuda_path_with_faked_ort(monkeypatch, tmp_path):
    import onnxruntime as ort

    seen = {}

    def fake_session(path, sess_options, providers):
        seen["providers"] = providers
        return FakeSession(["CPUExecutionProvider"])  # what ORT does when libcudart is missing

    monkeypatch.setattr(ort, "InferenceSession", fake_session)
    with pytest.raises(ProviderError, match="CUDA libraries not found"):
        tonnx.make_session(tmp_path / "m.onnx", "cuda", "fp32", FAST)
    name, opts = seen["providers"][0]
    assert name == "CUDAExecutionProvider" and opts["use_tf32"] == "0"  # ORT's default is TF32 on


def test_make_session_creation_failure_is_provider_error(monkeypatch, tmp_path):
    import onnxruntime as ort

    def refuse(*args, **kwargs):
        raise ValueError("CUDAExecutionProvider is not in available provider names")

    monkeypatch.setattr(ort, "InferenceSession", refuse)
    with pytest.raises(ProviderError, match="available"):
        tonnx.make_session(tmp_path / "m.onnx", "cuda", "fp32", FAST)


def test_provider_options_state_tf32_both_ways():
    assert tonnx.provider_options("cuda", "tf32")["use_tf32"] == "1"
    assert tonnx.provider_options("cuda", "fp16")["use_tf32"] == "0"
    assert tonnx.provider_options("cpu", "fp32") == {}


def test_output_error_is_scale_relative():
    ref = torch.tensor([0.1, -0.2, 0.05])
    assert tonnx.output_error(ref + 0.002, ref) == pytest.approx(0.01, rel=1e-4)
    assert tonnx.output_error(torch.tensor([float("nan"), 0.0, 0.0]), ref) == float("inf")
