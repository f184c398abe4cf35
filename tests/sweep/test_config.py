"""Sweep definitions: the shipped configs meet their issue's requirements; bad files fail naming key and file."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from profiler.core.errors import UsageError
from profiler.sweep.config import load_config, parse_config
from profiler.sweep.run import plan

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = '[models]\ninclude = ["resnet18"]\n'


def test_quick_cpu_meets_its_spec() -> None:
    cfg = load_config(ROOT / "experiments" / "quick-cpu.toml")
    tasks = plan(cfg, "cpu")
    families = {t.family for t in tasks}
    assert len({t.model for t in tasks}) >= 20
    assert len(families) >= 6
    assert {t.backend for t in tasks} == {"eager", "onnxruntime"}
    assert max(t.resolution for t in tasks) < 224  # reduced resolution


def test_regnet_claim_meets_its_spec() -> None:
    import models

    cfg = load_config(ROOT / "experiments" / "regnet-claim.toml")
    tasks = plan(cfg, "cuda")
    names = {t.model for t in tasks}
    assert len(names) >= 60
    registered_families = {models.model_info(n).family for n in models.list_models()}
    assert registered_families <= {t.family for t in tasks}  # every family in the zoo
    sampled = [n for n in names if "-s" in n and n not in models.list_models()]
    assert len(sampled) >= 20
    macs = [cfg.models[n].spec.complexity()["macs"] for n in sampled]
    assert max(macs) / min(macs) > 5
    assert {t.batch for t in tasks} == {1, 64}
    assert {t.dtype for t in tasks} == {"fp32", "fp16"}
    assert {t.backend for t in tasks} == {"eager", "onnxruntime"}
    assert cfg.repeats >= 3 and {t.repeat for t in tasks} == set(range(cfg.repeats))
    # the resolution sweep: one architecture at several resolutions
    assert len({t.resolution for t in tasks if t.model == "resnet50"}) >= 4
    assert cfg.timing["iters"] == 30 and cfg.timing["warmup_iters"] == 3


def test_plan_is_reproducible_shuffled_and_grouped() -> None:
    text = (
        'seed = 3\nrepeats = 2\n[models]\ninclude = ["resnet18", "resnet34", "mobilenet_v2*", "regnetx_2*"]\n'
        "[settings]\nbatches = [1, 2]\nresolutions = [32]\n"
    )
    tasks = plan(parse_config(text), "cpu")
    assert [t.key for t in tasks] == [t.key for t in plan(parse_config(text), "cpu")]
    n_models = len({t.model for t in tasks})
    assert n_models == 7 and len({t.key for t in tasks}) == len(tasks) == n_models * 2 * 2
    orders = [[t.model for t in tasks if t.repeat == r][::2] for r in (0, 1)]
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])  # reshuffled per repeat
    groups = [t.group_key for t in tasks]
    changes = sum(a != b for a, b in itertools.pairwise(groups))
    assert changes == 2 * n_models - 1  # each model's settings run together (one worker per model and repeat)
    assert [t.repeat for t in tasks] == sorted(t.repeat for t in tasks)  # repeats outermost
    per_repeat = plan(parse_config('isolation = "repeat"\n' + text), "cpu")
    assert len({t.group_key for t in per_repeat}) == 2  # one worker process per repeat


def test_plan_skips_impossible_combinations() -> None:
    text = MINIMAL + (
        '[settings]\ndtypes = ["fp32", "fp16"]\nbackends = ["eager", "onnxruntime"]\nresolutions = [16, 64]\n'
    )
    tasks = plan(parse_config(text), "cpu")
    expected = {("eager", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "fp16")}
    assert {(t.backend, t.dtype) for t in tasks} == expected
    assert {t.resolution for t in tasks} == {64}  # 16 is below resnet's minimum of 32


def test_task_round_trips_through_json() -> None:
    import json

    from profiler.sweep.tasks import Task

    task = plan(parse_config(MINIMAL), "cpu")[0]
    again = Task.from_dict(json.loads(task.to_json()))
    assert again == task and again.key == task.key


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (MINIMAL + "bogus = 1\n", ["bogus", "valid keys"]),
        ("[models]\ninclude = ['resnet18']\n[settings]\nbackend = ['eager']\n", ["backend", "backends"]),
        (MINIMAL + "[settings]\nbackends = ['tensorrt']\n", ["settings.backends", "tensorrt", "onnxruntime"]),
        (MINIMAL + "[settings]\ndtypes = ['fp8']\n", ["settings.dtypes", "fp8", "bf16"]),
        (MINIMAL + "[settings]\nbatches = [0]\n", ["settings.batches", "integers >= 1"]),
        (MINIMAL + "[settings]\nresolutions = ['big']\n", ["settings.resolutions", "'native'"]),
        ("[models]\ninclude = ['resnet99']\n", ["models.include", "resnet99", "did you mean"]),
        ("[models]\nsamples = [{space = 'regnetz', n = 2}]\n", ["models.samples[0].space", "regnetx"]),
        ("repeats = 0\n" + MINIMAL, ["repeats", ">= 1"]),
        (MINIMAL + "[timing]\niters = 0\n", ["[timing]", "iters"]),
        (MINIMAL + "[timing]\nwarmup = 1\n", ["[timing]", "warmup", "warmup_s"]),
        ("isolation = 'gpu'\n" + MINIMAL, ["isolation", "'gpu'", "model, repeat"]),
        (MINIMAL + "[faults]\nresnet18 = 'explode'\n", ["faults.resnet18", "crash"]),
        (MINIMAL + "[faults]\nresnet50 = 'raise'\n", ["[faults]", "resnet50", "resnet18"]),
        ("name = 'x'\n", ["[models]", "required"]),
        ("[models\n", ["not valid TOML"]),
    ],
)
def test_bad_config_names_key_file_and_valid_values(text: str, names: list[str]) -> None:
    with pytest.raises(UsageError) as err:
        parse_config(text, "experiments/bad.toml")
    message = str(err.value)
    assert message.startswith("experiments/bad.toml: ")
    for part in names:
        assert part in message


def test_cli_bad_config_exits_2_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from profiler.cli import main

    cfg = tmp_path / "bad.toml"
    cfg.write_text(MINIMAL + "[settings]\nbackends = ['tensorrt']\n")
    code = main(["sweep", "--config", str(cfg), "--device", "cpu", "--results-dir", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "bad.toml" in err and "tensorrt" in err
    assert not (tmp_path / "res").exists()
