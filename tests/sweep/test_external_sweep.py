"""External models in sweeps (issue #24): config references and ``[[models.custom]]``, plans that carry the spec as
data, a worker that fails a model whose file broke after planning (and a resume that measures it once fixed),
a mixed sweep end to end, and a baseline holding an external model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import models
from profiler.core.errors import UsageError
from profiler.sweep.config import parse_config

DATA = Path(__file__).resolve().parents[1] / "data"
TIMING = '[timing]\niters = 3\nwarmup_iters = 1\nwarmup_s = 0.0\nexporter = "torchscript"\n'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A config folder holding ``nets.py`` (a copy of tests/data/tinynet.py)."""
    shutil.copy(DATA / "tinynet.py", tmp_path / "nets.py")
    return tmp_path


def load(folder: Path, text: str):
    path = folder / "sweep.toml"
    path.write_text(text)
    from profiler.sweep.config import load_config

    return load_config(path)


def test_custom_tables_and_relative_file_references(folder: Path) -> None:
    cfg = load(
        folder,
        """
[models]
include = ["nets.py:build", "resnet18"]
exclude = ["resnet*"]
[[models.custom]]
ref = "nets.py:build"
name = "tiny5"
family = "tiny"
kwargs = {num_classes = 5}
resolution = 16
[[models.custom]]
ref = "mobilenet_v2"
name = "mnv2-c10"
kwargs = {num_classes = 10}
""",
    )
    assert cfg.groups[0].models == ("nets.py:build", "tiny5", "mnv2-c10")
    tiny5, plain = cfg.models["tiny5"], cfg.models["nets.py:build"]
    assert (tiny5.family, tiny5.resolution, tiny5.spec.num_classes) == ("tiny", 16, 5)
    assert (plain.family, plain.resolution) == ("build", 224)
    assert tiny5.spec.target == plain.spec.target == f"{(folder / 'nets.py').resolve()}:build"
    assert models.spec_hash(tiny5.spec) != models.spec_hash(plain.spec)
    assert cfg.models["mnv2-c10"].spec == models.get_spec("mobilenet_v2", num_classes=10)
    sources = cfg.to_dict()["sources"]
    assert set(sources) == {"nets.py:build", "tiny5"} and sources["tiny5"]["kwargs"] == '{"num_classes":5}'


@pytest.mark.parametrize(
    ("models_table", "needles"),
    [
        ('include = ["nets.py:nosuch"]', ("models.include", "no callable 'nosuch'")),
        ('include = ["other.py:build"]', ("models.include", "no such file")),
        ('include = ["nets.py:*"]', ("models.include", "wildcards are for timm: and torchvision:")),
        ('[[models.custom]]\nname = "x"', ("models.custom[0]", "needs ref")),
        ('[[models.custom]]\nref = "nets.py:build"\nkwargs = 3', ("models.custom[0].kwargs", "must be a table")),
        ('[[models.custom]]\nref = "nets.py:build"\nkwargs = {depth = 3}', ("models.custom[0]", "'depth'")),
        ('[[models.custom]]\nref = "nets.py:build"\nwidth = 3', ("models.custom[0]", "unknown key 'width'")),
        ('[[models.custom]]\nref = "nets.py:build"\nresolution = 0', ("models.custom[0].resolution", ">= 1")),
        ('[[models.custom]]\nref = "resnet18"\nfamily = "x"', ("models.custom[0]", "external models only")),
        (
            '[[models.custom]]\nref = "nets.py:build"\n[[models.custom]]\nref = "nets.py:build"',
            ("models.custom[1].name", "distinct name"),
        ),
    ],
)
def test_bad_model_tables_name_the_key(folder: Path, models_table: str, needles: tuple[str, ...]) -> None:
    with pytest.raises(UsageError) as err:
        load(folder, f"[models]\n{models_table}\n")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(folder / "sweep.toml"))
    for needle in needles:
        assert needle in msg, msg


def test_timm_wildcards_expand_and_exclude(timm_lib) -> None:
    cfg = parse_config('[models]\ninclude = ["timm:regnetx_00*"]\nexclude = ["timm:regnetx_004*"]\n')
    want = [f"timm:{n}" for n in timm_lib.list_models("regnetx_00*") if not n.startswith("regnetx_004")]
    assert list(cfg.groups[0].models) == want and "timm:regnetx_002" in want
    assert cfg.models["timm:regnetx_002"].spec.version == timm_lib.__version__


def test_plan_carries_the_spec_as_data(folder: Path) -> None:
    from profiler.baseline.select import restrict_config
    from profiler.sweep.run import plan

    cfg = load(folder, '[models]\ninclude = ["nets.py:build", "resnet18"]\n[settings]\nresolutions = [32]\n')
    tasks = {t.model: t for t in plan(cfg, "cpu")}
    task = tasks["nets.py:build"]
    spec = models.spec_from_dict(json.loads(json.dumps(task.spec)))
    assert spec == cfg.models["nets.py:build"].spec and task.spec_hash == models.spec_hash(spec)
    assert task.prep_key == f"{task.spec_hash}_r32"  # what the count cache and the ONNX cache are keyed on
    assert restrict_config(cfg, "nets.py:*", None).groups[0].models == ("nets.py:build",)  # a --models filter


# The timing worker builds the model itself (prefetch off), or the preparation pool does first ("before").
@pytest.mark.parametrize(
    ("prefetch", "damage", "reason"),
    [
        ("off", "delete", "no such file"),
        pytest.param("off", "edit", "the code changed since it was resolved", marks=pytest.mark.slow),
        pytest.param("before", "syntax", "SyntaxError", marks=pytest.mark.slow),
    ],
)
def test_worker_fails_a_model_whose_file_broke_after_planning_then_resume_measures_it(
    folder: Path, prefetch: str, damage: str, reason: str
) -> None:
    from profiler.results.runs import open_run
    from profiler.sweep.run import run_sweep

    cfg = load(
        folder,
        f'''isolation = "sweep"\nprefetch = "{prefetch}"\n[models]\ninclude = ["nets.py:build"]
[[models.custom]]\nref = "nets.py:build"\nname = "tiny5"\nkwargs = {{num_classes = 5}}
[settings]\nresolutions = [16]\n'''
        + TIMING,
    )
    good = (folder / "nets.py").read_text()
    if damage == "delete":
        (folder / "nets.py").unlink()
    else:  # a file that no longer imports, or one that still works but is not the code that was planned
        (folder / "nets.py").write_text(good + ("\ndef broken(:\n" if damage == "syntax" else "\n# edited\n"))
    run_dir = run_sweep(cfg, device="cpu", run_dir=folder / "run", show_progress=False)
    rows = open_run(run_dir).rows
    assert list(rows["status"]) == ["failed", "failed"]  # the model's rows fail with the reason; the sweep goes on
    assert all(reason in e and "nets.py" in e for e in rows["error"]), list(rows["error"])

    (folder / "nets.py").write_text(good)  # the same file again: the same spec hash, so the same tasks
    run_sweep(
        load(folder, cfg.text), device="cpu", run_dir=run_dir, resume=True, retry_failed=True, show_progress=False
    )
    run = open_run(run_dir)
    ok = run.rows[run.rows["status"] == "ok"].set_index("model")
    from tests.support.tinynet_counts import expected

    assert ok.loc["tiny5", ["macs", "params", "acts"]].tolist() == list(expected(16, num_classes=5).values())
    assert ok.loc["nets.py:build", ["macs", "params", "acts"]].tolist() == list(expected(16).values())
    spec = json.loads(ok.loc["tiny5", "spec_json"])
    assert (spec["source"], spec["kwargs"]) == ("file", '{"num_classes":5}') and len(spec["version"]) == 16
    assert (run_dir / "counts" / f"{ok.loc['tiny5', 'spec_hash']}_r16.json").is_file()
    assert run.meta.raw["config"]["sources"]["tiny5"]["source"] == "file"
    assert "timm" in run.meta.environment and "torchvision" in run.meta.environment


def _rows(spec: models.Spec, counts: tuple[int, int, int]) -> pd.DataFrame:
    s = list(np.linspace(1.0, 1.2, 30))
    return pd.DataFrame(
        [
            {
                "model": "tiny",
                "spec_hash": models.spec_hash(spec),
                "spec_json": json.dumps(models.spec_to_dict(spec)),
                "macs": counts[0],
                "params": counts[1],
                "acts": counts[2],
                "acts_all": 1,
                "backend": "eager",
                "device": "cpu",
                "device_name": "cpu",
                "dtype": "fp32",
                "memory_format": "contiguous",
                "batch": 1,
                "resolution": 16,
                "repeat": 0,
                "latency_ms": 1.1,
                "samples_ms": s,
                "status": "ok",
                "error": None,
            }
        ]
    )


def test_a_baseline_holds_an_external_model_and_check_compares_its_counts(folder: Path) -> None:
    from profiler.baseline import build_baseline, compare
    from tests.support.tinynet_counts import expected

    spec = models.resolve_model("nets.py:build", base_dir=folder).spec
    c10 = tuple(expected(16).values())
    meta = {"environment": {"cpu_model": "Test CPU", "torch": "2.13.0+cpu"}, "config": {"name": "ext"}}
    base = build_baseline(_rows(spec, c10), meta, name="ext")
    entry = next(iter(base["entries"].values()))
    assert entry["counts"] == {"macs": c10[0], "params": c10[1], "acts": c10[2], "acts_all": 1}
    assert entry["layers"]["fc"] == [80, 90, 10]  # counted from the row's spec, as measured

    same = compare(base, _rows(spec, c10), current_key=base["device_key"], latency="off")
    assert same.exit_code == 0
    spec5 = spec.with_kwargs(num_classes=5)
    changed = compare(
        base, _rows(spec5, tuple(expected(16, num_classes=5).values())), current_key=base["device_key"], latency="off"
    )
    assert changed.exit_code == 1
    msgs = changed.entries[0].messages
    assert any(m.startswith("counts changed: macs 46160 → 46120") for m in msgs), msgs
    assert "layer 'fc': macs 80 → 40, params 90 → 45, acts 10 → 5" in msgs


MIXED = (
    """name = "mixed"
isolation = "sweep"
prefetch = "off"
[models]
include = ["resnet18", "mobilenet_v2_x0_5", "shufflenet_v2_x0_5", "timm:regnetx_002", "timm:mobilenetv3_small_050",
           "torchvision:resnet18", "torchvision:mobilenet_v3_small", "nets.py:build"]
[[models.custom]]
ref = "nets.py:build"
name = "tiny5"
family = "tiny"
kwargs = {num_classes = 5}
[settings]
resolutions = [32]
[[subsweep]]
models = ["timm:regnetx_002", "torchvision:resnet18", "tiny5"]
resolutions = [32]
backends = ["onnxruntime"]
"""
    + TIMING
)


@pytest.mark.slow
def test_mixed_sweep_runs_end_to_end(
    timm_lib, torchvision_lib, folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from profiler.cli import main
    from profiler.counting import count_model
    from tests.support.tinynet_counts import expected

    monkeypatch.setenv("ARCHPROF_CACHE", str(folder / "cache"))
    (folder / "mixed.toml").write_text(MIXED)
    argv = ["--results-dir", str(folder / "results"), "--no-progress"]
    assert main(["sweep", "--config", str(folder / "mixed.toml"), "--device", "cpu", "--run-id", "mix", *argv]) == 0
    run_dir = folder / "results" / "mix"
    assert main(["export", str(run_dir), "--format", "csv"]) == 0
    df = pd.read_csv(run_dir / "results.csv")
    assert (df["status"] == "ok").all(), df[["model", "error"]]
    assert len(df) == 9 + 3
    row = df[(df["model"] == "timm:regnetx_002") & (df["backend"] == "eager")].iloc[0]
    spec = json.loads(row["spec_json"])
    assert (spec["source"], spec["target"], spec["version"]) == ("timm", "regnetx_002", timm_lib.__version__)
    twin = count_model("regnetx_200mf", 32, method="torch")
    assert (row["macs"], row["params"], row["acts"]) == (twin.macs, twin.params, twin.acts)
    tiny = df[df["model"] == "tiny5"]
    assert (tiny[["macs", "params", "acts"]] == list(expected(32, num_classes=5).values())).all().all()
    # One ONNX graph per external spec, keyed on its hash (the hash carries the library version / file sha).
    graphs = {p.name.split("_r32")[0] for p in (folder / "cache" / "onnx").iterdir()}
    assert set(df.loc[df["backend"] == "onnxruntime", "spec_hash"]) <= graphs
    capsys.readouterr()
    assert main(["analyze", str(run_dir), "--json", "--boot", "100"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(c["cell"]["backend"], c["n"], c["n_families"]) for c in doc["cells"]] == [("eager", 9, 7)]
    assert {"tiny", "build", "regnetx", "mobilenetv3", "resnet"} <= set(doc["cells"][0]["families"])
    assert main(["report", str(run_dir), "-o", str(folder / "mix.html"), "--boot", "100"]) == 0
    assert "timm:regnetx_002" in (folder / "mix.html").read_text()


def test_a_time_budget_plans_external_models(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from profiler.cli import main

    custom = "".join(
        f'[[models.custom]]\nref = "nets.py:build"\nname = "tiny{c}"\nfamily = "fam{c % 3}"\n'
        f"kwargs = {{num_classes = {c}}}\n"
        for c in range(2, 11)
    )
    (folder / "budget.toml").write_text(f"[models]\n{custom}[settings]\nresolutions = [16]\n" + TIMING)
    argv = [
        "sweep",
        "--config",
        str(folder / "budget.toml"),
        "--device",
        "cpu",
        "--dry-run",
        "--time-budget",
        "10m",
        "--results-dir",
        str(folder / "results"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "9 of 9 measurements fit" in out and "1 cell(s) covered" in out
