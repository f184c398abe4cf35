"""``profiler peaks``: the stored schema, positivity, the per-device-key file round trip and the sweep's meta."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.cli import main
from profiler.hardware.measure import (
    SCHEMA_KEYS,
    attach_peaks,
    ensure_peaks,
    load_peaks,
    measure_peaks,
    peaks_dir,
    peaks_key,
    save_peaks,
    validate_peaks,
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("archprof-cache")


@pytest.fixture(scope="module")
def cli_doc(cache: Path) -> dict:
    """One quick CPU measurement through the CLI, saved under a private cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ARCHPROF_CACHE", str(cache))
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["peaks", "--device", "cpu", "--quick", "--json"]) == 0
    yield json.loads(buf.getvalue())
    mp.undo()


def test_schema_and_positive(cli_doc: dict) -> None:
    assert set(SCHEMA_KEYS) <= set(cli_doc)
    assert cli_doc["device"] == "cpu" and cli_doc["threads"] == 1  # the sweeps' one-thread rule by default
    tf = cli_doc["matmul_tflops"]
    assert set(tf) == {"fp32", "tf32", "fp16", "bf16"}
    assert tf["fp32"] > 0 and tf["bf16"] > 0
    assert tf["fp16"] is None and tf["tf32"] is None  # not CPU eager precisions: not measured, not invented
    assert cli_doc["copy_bandwidth_gbs"] > 0 and cli_doc["launch_us"] > 0
    assert validate_peaks(cli_doc) is cli_doc


def test_saved_file_round_trip(cli_doc: dict, cache: Path, monkeypatch) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(cache))
    path = Path(cli_doc["saved_to"])
    assert path.parent == peaks_dir() and path.name == f"{cli_doc['device_key']}.json"
    assert "-t1-" in cli_doc["device_key"]  # the key names the threads the peaks were measured with
    stored = {k: v for k, v in cli_doc.items() if k != "saved_to"}
    assert json.loads(path.read_text()) == stored
    assert load_peaks("cpu", threads=1) == stored
    assert load_peaks("cpu", threads=2) is None  # another thread count is another device key
    assert load_peaks("cpu", env={"peaks": stored}) == stored  # a run's env wins


def test_save_load_with_other_root(cli_doc: dict, tmp_path: Path) -> None:
    doc = cli_doc | {"device_key": "cpu-test-key"}
    path = save_peaks(doc, tmp_path)
    assert path == tmp_path / "cpu-test-key.json"
    assert validate_peaks(json.loads(path.read_text()))["launch_us"] == doc["launch_us"]


def test_corrupt_or_absent_file_is_none(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path))
    assert load_peaks("cpu", threads=1) is None
    key = peaks_key("cpu", threads=1)
    (tmp_path / "peaks").mkdir()
    (tmp_path / "peaks" / f"{key}.json").write_text('{"device": "cpu", "launch_us": 0}')
    assert load_peaks("cpu", threads=1) is None


@pytest.mark.parametrize("bad", [{"device": "cpu"}, {"device": "tpu"}, []])
def test_validate_rejects(bad) -> None:
    with pytest.raises(ValueError):
        validate_peaks(bad)


def test_sweep_meta_carries_peaks(cli_doc: dict, cache: Path, monkeypatch) -> None:
    from profiler.sweep.config import load_config
    from profiler.sweep.run import _meta

    monkeypatch.setenv("ARCHPROF_CACHE", str(cache))
    config = load_config("experiments/quick-cpu.toml")  # [timing] threads = 1: the key of the stored file
    meta = _meta(config, "cpu", [])
    assert meta["environment"]["peaks"] == {k: v for k, v in cli_doc.items() if k != "saved_to"}
    env = {k: v for k, v in meta["environment"].items() if k != "peaks"}
    monkeypatch.setenv("ARCHPROF_CACHE", str(cache / "empty"))
    assert "peaks" not in attach_peaks(env, "cpu", threads=1)  # no file: no peaks, never made-up ones


def test_cuda_absent_exits_2(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    # No skip on a GPU machine: CUDA is made absent here, so the refusal is tested everywhere.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["peaks", "--device", "cuda", "--no-save"]) == 2
    assert "CUDA is unavailable" in capsys.readouterr().err


def test_bad_threads_exits_2(capsys) -> None:
    assert main(["peaks", "--threads", "0", "--no-save"]) == 2
    assert "--threads" in capsys.readouterr().err


@pytest.mark.gpu
def test_cuda_peaks_measured(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path))
    doc = validate_peaks(measure_peaks("cuda", quick=True))
    assert all(doc["matmul_tflops"][d] > 0 for d in ("fp32", "tf32", "fp16", "bf16"))
    assert doc["device_key"].startswith("cuda-")


def test_ensure_peaks_measures_once_per_device_key(tmp_path: Path, monkeypatch) -> None:
    """A sweep's first run on a machine measures and stores the peaks; later runs reuse them (issue #27)."""
    import profiler.hardware.measure as pk

    calls, said = [], []
    fake = {
        "device": "cpu",
        "device_name": "x",
        "matmul_tflops": {"fp32": 0.02},
        "copy_bandwidth_gbs": 10.0,
        "launch_us": 2.0,
        "measured_at": "now",
        "torch": "2",
        "device_key": pk.peaks_key("cpu", threads=1),
    }
    monkeypatch.setattr(pk, "measure_peaks", lambda device, threads=None: calls.append(threads) or dict(fake))
    doc = ensure_peaks("cpu", 1, root=tmp_path, say=said.append)
    assert doc["measured_by"] == "sweep" and calls == [1] and "--no-peaks" in said[0]
    assert load_peaks("cpu", threads=1, root=tmp_path)["measured_by"] == "sweep"
    assert ensure_peaks("cpu", 1, root=tmp_path, say=said.append) is None and calls == [1]


@pytest.mark.parametrize(
    ("flag", "toml", "measured"), [([], "", True), (["--no-peaks"], "", False), ([], "measure_peaks = false\n", False)]
)
def test_sweep_command_measures_peaks_unless_told_not_to(tmp_path: Path, monkeypatch, flag, toml, measured) -> None:
    import profiler.hardware.measure
    import profiler.sweep.run

    seen = []
    monkeypatch.setattr(
        profiler.hardware.measure, "ensure_peaks", lambda device, threads, say=None: seen.append(threads)
    )
    monkeypatch.setattr(profiler.sweep.run, "run_sweep", lambda *a, **k: None)
    monkeypatch.setattr(profiler.sweep.run, "session_summary", lambda run_dir: None)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'{toml}[models]\ninclude = ["resnet18"]\n[timing]\nthreads = 1\n')
    assert main(["sweep", "--config", str(cfg), "--device", "cpu", "--results-dir", str(tmp_path), *flag]) == 0
    assert seen == ([1] if measured else [])
