"""``profiler baseline save`` and ``profiler check`` on synthetic run directories (no timing, fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.cli import main
from tests.support.runs import COUNTS, ENV, make_run

OTHER_ENV = dict(ENV, cpu_model="Another CPU 7000")


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A baselines root with the ci-check baseline of ENV saved through the CLI."""
    root = tmp_path / "baselines"
    assert main(["baseline", "save", str(make_run(tmp_path / "base")), "--root", str(root), "--no-layers"]) == 0
    return root


def check(root: Path, run: Path, *extra: str) -> int:
    return main(["check", "--run", str(run), "--baseline", str(root), *extra])


def test_save_writes_keyed_file_and_unchanged_run_passes(saved: Path, tmp_path: Path, capsys) -> None:
    files = list(saved.glob("*/*.json"))
    assert [p.relative_to(saved).as_posix() for p in files] == ["cpu-test-cpu-9000-t2-torch2.13-ort1.22/ci-check.json"]
    capsys.readouterr()
    assert check(saved, make_run(tmp_path / "same", seed=7)) == 0
    out = capsys.readouterr().out
    assert "result: PASS" in out and "machine-speed factor" in out


def test_slowdown_fails_in_fail_mode_and_warns_in_warn_mode(saved: Path, tmp_path: Path, capsys) -> None:
    slow = make_run(tmp_path / "slow", seed=8, scale={"mobilenet_v2": 1.5})
    assert check(saved, slow) == 1
    assert check(saved, slow, "--latency", "warn") == 0
    assert check(saved, slow, "--latency", "off") == 0
    assert check(saved, slow, "--threshold", "0.6") == 0  # 1.5x is under a 60 % threshold
    capsys.readouterr()
    assert check(saved, slow, "--format", "json") == 1
    data = json.loads(capsys.readouterr().out)
    assert {e["model"]: e["verdict"] for e in data["entries"]}["mobilenet_v2"] == "fail"


def test_count_change_fails_even_in_warn_mode(saved: Path, tmp_path: Path, capsys) -> None:
    changed = make_run(tmp_path / "changed", counts=dict(COUNTS, mobilenet_v2=(500, 101, 400)))
    capsys.readouterr()
    assert check(saved, changed, "--latency", "warn", "--format", "github") == 1
    out = capsys.readouterr().out
    assert "::error title=archprof check%3A mobilenet_v2" in out and "params 100 → 101" in out


def test_device_key_mismatch_exits_2_in_fail_mode(saved: Path, tmp_path: Path, capsys) -> None:
    other = make_run(tmp_path / "other", env=OTHER_ENV, scale={"mobilenet_v2": 3.0})
    assert check(saved, other) == 2
    assert "device key mismatch" in capsys.readouterr().err


def test_device_key_mismatch_degrades_to_counts_only_in_warn_mode(saved: Path, tmp_path: Path, capsys) -> None:
    other = make_run(tmp_path / "other", env=OTHER_ENV, scale={"mobilenet_v2": 3.0})
    assert check(saved, other, "--latency", "warn", "--format", "github") == 0  # 3x slower: not compared
    captured = capsys.readouterr()
    assert "::warning title=archprof check::no baseline for this machine" in captured.out
    assert "counts only" in captured.err
    bad = make_run(tmp_path / "other-bad", env=OTHER_ENV, counts=dict(COUNTS, resnet18=(999, 200, 300)))
    assert check(saved, bad, "--latency", "warn") == 1  # counts still compared exactly


def test_missing_baseline_and_bad_usage_exit_2(saved: Path, tmp_path: Path, capsys) -> None:
    run = make_run(tmp_path / "r")
    (tmp_path / "empty-root").mkdir()
    assert check(tmp_path / "empty-root", run) == 2
    assert "no baseline 'ci-check'" in capsys.readouterr().err
    assert check(tmp_path / "no-such-root", run) == 2
    assert "does not exist" in capsys.readouterr().err
    assert check(saved, run, "--name", "nightly") == 2
    assert main(["check", "--baseline", str(saved)]) == 2  # neither --run nor --config
    assert "exactly one of --config" in capsys.readouterr().err
    assert check(saved, run, "--threshold", "-1") == 2
    assert main(["check", "--run", str(run), "--baseline", str(tmp_path / "missing.json")]) == 2


def test_explicit_baseline_file(saved: Path, tmp_path: Path) -> None:
    path = next(saved.glob("*/ci-check.json"))
    assert check(path, make_run(tmp_path / "r", seed=3)) == 0
    assert check(path, make_run(tmp_path / "o", env=OTHER_ENV)) == 2


def test_check_config_measures_on_cuda_when_present(tmp_path: Path, monkeypatch) -> None:
    """No --device: `check --config` measures where `sweep --device auto` would, on CUDA when torch sees it
    (it used to look for a device on the SweepConfig, which has none, and always measured on CPU)."""
    import torch

    import profiler.core.environment

    seen: list[str] = []

    class Stop(Exception):
        pass

    def capture(device: str) -> dict:  # the first thing that needs the device: the baseline's key
        seen.append(device)
        raise Stop

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(profiler.core.environment, "capture", capture)
    config = Path(__file__).resolve().parents[2] / "experiments" / "ci-check.toml"
    with pytest.raises(Stop):
        main(["check", "--config", str(config), "--against", "stored", "--baseline", str(tmp_path)])
    assert seen == ["cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(Stop):
        main(["check", "--config", str(config), "--against", "stored", "--baseline", str(tmp_path)])
    assert seen == ["cuda", "cpu"]
