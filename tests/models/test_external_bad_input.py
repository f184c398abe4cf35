"""Every bad model reference of issue #24 gives one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from profiler.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
NETS = DATA / "tinynet.py"


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("ref", "needles"),
    [
        ("nosuch.module:build", ("cannot import module 'nosuch.module'", "MODULE:CALLABLE")),
        (f"{NETS}:nosuch", ("has no callable 'nosuch'", "build")),
        (f"{DATA}/missing.py:build", ("no such file", "missing.py")),
        (f"{NETS}:raises", ("raised RuntimeError: weights server unreachable",)),
        (f"{NETS}:not_a_module", ("returned dict", "{'conv': 3}", "not a torch.nn.Module")),
        (f"{NETS}:two_inputs", ("needs 2 inputs (image, mask)", "one image tensor")),
        ("nosuch", ("unknown model 'nosuch'",)),
    ],
)
def test_bad_reference(ref: str, needles: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["count", ref, "--resolution", "8"], capsys, *needles)


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ("{bad", ("--model-kwargs is not JSON",)),
        ("[1, 2]", ("must be a JSON object",)),
        ('{"depth": 3}', ("does not accept kwargs", "'depth'")),
    ],
)
def test_bad_kwargs(kwargs: str, needles: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["count", f"{NETS}:build", "--model-kwargs", kwargs], capsys, *needles)


@pytest.mark.parametrize(
    "command",
    [
        ["count"],
        ["count", "--method", "torch"],
        ["time", "--iters", "1"],
        ["trace", "--iters", "1", "--peaks", "stored"],
    ],
)
def test_model_that_cannot_run_at_the_resolution(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = [command[0], f"{NETS}:fixed_size", *command[1:], "--resolution", "16"]
    _fails(argv, capsys, "16x16", "module 'fc' (Linear)", "512")


@pytest.mark.parametrize("command", ["time", "trace", "predict"])
def test_every_command_names_a_bad_reference(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["--from", str(DATA / "small_run.csv"), "--cell", "backend=eager"] if command == "predict" else []
    _fails([command, f"{NETS}:raises", *extra], capsys, "weights server unreachable")


def test_timm_name_with_a_typo_names_close_matches(timm_lib, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["count", "timm:resnet5O"], capsys, "timm has no model 'resnet5O'", "did you mean resnet50")


def test_timm_kwargs_the_factory_rejects(timm_lib, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["count", "timm:resnet18", "--model-kwargs", '{"depthx": 3}'], capsys, "depthx")


def test_torchvision_unknown_name(torchvision_lib, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["count", "torchvision:resnet180"], capsys, "torchvision has no model 'resnet180'", "resnet18")


@pytest.mark.parametrize(
    "argv",
    [
        ["count", "timm:resnet50"],
        ["list", "timm:resnet*"],
        ["time", "timm:resnet50"],
        ["count", "--all", "timm:resnet*"],
    ],
)
def test_timm_missing_names_the_install_command(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # what an environment without the extra looks like
    _fails(argv, capsys, "timm is not installed", "pip install -e '.[timm]'")


def test_wildcards_on_user_code_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["list", "nets.py:*"], capsys, "wildcards are for timm: and torchvision:")


def test_empty_timm_reference(capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["count", "timm:"], capsys, "names no model", "timm:resnet50")


def test_torchvision_missing_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    _fails(["count", "torchvision:resnet18"], capsys, "torchvision is not installed", "pip install -e '.[timm]'")
