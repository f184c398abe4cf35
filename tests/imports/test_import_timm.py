"""``profiler import timm``: a tiny timm table (3 small models at 64 px) becomes a run; bad input exits 2."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

from profiler.cli import main
from profiler.imports.include import Include, seed_family
from profiler.imports.timm_csv import read_table, setting_from_name
from profiler.results.runs import RunMeta

# timm is imported through models.external (its torchvision import needs a shim beside the CPU torch wheel).
pytestmark = pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="needs the [timm] extra")

TINY = Path(__file__).parents[1] / "data" / "timm_tiny.csv"
HEADER = (
    "model,infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size,param_count,infer_gmacs,infer_macts"
)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("imp")
    out = base / "run"
    argv = [
        "import",
        "timm",
        str(TINY),
        "--device-name",
        "NVIDIA RTX 3090",
        "--dtype",
        "amp",
        "-o",
        str(out),
        "--workers",
        "0",
        "--no-progress",
        "--include",
        "resnet*,mobilenet*,regnet*,no_such*",
    ]
    mp = pytest.MonkeyPatch()
    mp.setenv("ARCHPROF_CACHE", str(base / "cache"))
    try:
        assert main(argv) == 0
    finally:
        mp.undo()
    return out


def _rows(run: Path) -> list[dict]:
    conn = sqlite3.connect(run / "results.sqlite")
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute("SELECT * FROM measurements ORDER BY model")]


def test_rows_carry_timms_latency_and_archprofs_counts(imported: Path) -> None:
    from profiler.counting import count_model

    rows = _rows(imported)
    assert [r["model"] for r in rows] == ["timm:mobilenetv2_035", "timm:regnetx_002", "timm:resnet10t"]
    r = rows[2]
    assert (r["status"], r["latency_ms"], r["batch"], r["resolution"]) == ("ok", 5.12, 256, 64)
    assert (r["device"], r["device_name"], r["dtype"], r["backend"]) == ("cuda", "NVIDIA RTX 3090", "amp", "eager")
    assert r["n_samples"] is None and r["samples_ms"] is None
    c = count_model("timm:resnet10t", resolution=64, method="torch")
    assert (r["macs"], r["params"], r["acts"], r["ops"], r["bytes"]) == (c.macs, c.params, c.acts, c.ops, c.bytes)
    details = json.loads(r["details_json"])
    assert details["timm_gmacs"] == 0.09 and details["timm_macts"] == 0.36 and details["csv_line"] == 2
    assert "not archprof's" in details["latency_protocol"]
    assert (imported / "counts" / f"{r['spec_hash']}_r64.ops.json").is_file()
    assert {x["family"] for x in rows} == {"mobilenetv2", "regnetx", "resnet"}


def test_meta_and_readme_carry_provenance(imported: Path) -> None:
    meta = RunMeta.read(imported)
    imp = meta.raw["imported"]
    assert imp["sha256"] == hashlib.sha256(TINY.read_bytes()).hexdigest()
    assert imp["file"] == TINY.name and imp["batches"] == [128, 256] and imp["rows_imported"] == 3
    assert [s["model"] for s in imp["skipped"]] == ["no_such_net_xyz"]  # unknown to timm: listed, not fatal
    assert "timm has no model" in imp["skipped"][0]["reason"]
    assert meta.device == "cuda" and imp["timm_version_counted_with"]
    readme = (imported / "README.md").read_text()
    assert imp["sha256"] in readme and "Apache-2.0" in readme and "no_such_net_xyz" in readme


def test_existing_output_needs_force(imported: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(imported.parent / "cache"))  # counted already: no recount
    argv = [
        "import",
        "timm",
        str(TINY),
        "--device-name",
        "NVIDIA RTX 3090",
        "-o",
        str(imported),
        "--workers",
        "0",
        "--no-progress",
        "--include",
        "resnet*",
        "--dtype",
        "amp",
    ]
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err
    copy = tmp_path / "again"
    assert main([*argv[:5], "-o", str(copy), *argv[7:]]) == 0
    assert main([*argv[:5], "-o", str(copy), *argv[7:], "--force"]) == 0
    assert len(_rows(copy)) == 1


def _csv(tmp_path: Path, text: str, name: str = "benchmark-infer-amp-nchw-pt240-cu124-x.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "argv_extra", "match"),
    [
        ("name,infer_step_time\nresnet18,1.0\n", [], "it has columns name, infer_step_time; expected model"),
        (f"{HEADER}\nresnet18,64,10,abc,256,1,1,1\n", [], "line 2 (resnet18): infer_step_time = 'abc' is not a number"),
        (f"{HEADER}\nresnet18,64,10,-1,256,1,1,1\n", [], "must be a positive number"),
        (f"{HEADER}\nresnet18,64,10,1.0,256,1,1,1\n", ["--dtype", "fp64"], "unknown --dtype 'fp64'; valid: fp32"),
        (f"{HEADER}\nno_such_net_a,64,10,1.0,256,1,1,1\n", [], "no row of"),
        (f"{HEADER}\nresnet18,64,10,1.0,256,1,1,1\n", ["--include", "vit*"], "matches --include"),
        (f"{HEADER}\nresnet18,64,10,1.0,256,1,1,1\n", ["--include", "cnn-families"], "unknown include rule"),
        (f"{HEADER}\nresnet18,64,10,1.0,256,1,1,1\n", ["--backend", "onnxruntime"], "onnxruntime has no autocast"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, monkeypatch, capsys, text, argv_extra, match) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path / "cache"))
    argv = [
        "import",
        "timm",
        _csv(tmp_path, text),
        "--device-name",
        "GPU X",
        "-o",
        str(tmp_path / "run"),
        "--workers",
        "0",
        "--no-progress",
        *argv_extra,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and "Traceback" not in err


def test_dtype_must_be_said_when_the_file_name_does_not(tmp_path, capsys) -> None:
    path = _csv(tmp_path, f"{HEADER}\nresnet18,64,10,1.0,256,1,1,1\n", name="table.csv")
    assert main(["import", "timm", path, "--device-name", "GPU X", "-o", str(tmp_path / "r")]) == 2
    assert "does not say its dtype; give --dtype" in capsys.readouterr().err


def test_train_columns_are_read_by_name(tmp_path: Path) -> None:
    text = "train_batch_size,model,train_step_time,train_img_size\n64,resnet18,12.5,160\n"
    table = read_table(_csv(tmp_path, text))
    assert table.mode == "train"
    r = table.rows[0]
    assert (r.model, r.batch, r.step_time_ms, r.resolution, r.gmacs) == ("resnet18", 64, 12.5, 160, None)


def test_setting_from_timms_file_names() -> None:
    cpu = setting_from_name("benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv")
    assert (cpu["dtype"], cpu["backend"], cpu["device"], cpu["memory_format"]) == (
        "fp32",
        "compile",
        "cpu",
        "contiguous",
    )
    assert setting_from_name("benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv")["backend"] == "eager"


@pytest.mark.parametrize(
    ("name", "seed"),
    [
        ("resnet50", True),
        ("resnet50d", True),
        ("seresnext26d_32x4d", True),
        ("legacy_seresnet18", True),
        ("tf_efficientnet_b0", True),
        ("mobilenetv2_100", True),
        ("mobilenetv1_100", True),
        ("regnety_032", True),
        ("inception_v3", True),
        ("densenet121", True),
        ("resnext50_32x4d", True),
        ("inception_next_tiny", False),
        ("resnet50_clip", False),
        ("resnet50_gn", False),
        ("resnetv2_50", False),
        ("efficientnetv2_s", False),
        ("efficientnet_b0_gn", False),
        ("efficientnet_cc_b0_4e", False),
        ("vit_base_patch16_224", False),
        ("mobilenetv3_large_100", False),
        ("regnetz_040", False),
    ],
)
def test_cnn_seed_family_rule(name: str, seed: bool) -> None:
    assert seed_family(name) is seed
    assert Include("cnn-seed-families").accepts(name) is seed


def test_include_patterns_and_exclusions() -> None:
    inc = Include("resnet*,!*d")
    assert inc.accepts("resnet50") and not inc.accepts("resnet50d") and not inc.accepts("vit_small")
    assert Include("").accepts("anything") and not Include("!vit*").accepts("vit_small")
    assert "fnmatch resnet*" in inc.describe()


def _run_csv(path: Path, rows: list[tuple[str, int, int, float]], dtype: str) -> str:
    lines = ["model,family,resolution,batch,latency_ms,status,device_name,backend,dtype,memory_format"]
    lines += [f"{m},fam,{res},{b},{ms},ok,GPU,eager,{dtype},contiguous" for m, res, b, ms in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_compare_prints_per_image_ratios(tmp_path: Path, capsys) -> None:
    a = _run_csv(
        tmp_path / "a.csv", [("timm:x", 224, 256, 20.0), ("timm:y", 224, 256, 10.0), ("timm:z", 224, 256, 1.0)], "amp"
    )
    b = _run_csv(
        tmp_path / "b.csv", [("timm:x", 224, 1024, 40.0), ("timm:y", 224, 512, 40.0), ("timm:y", 288, 512, 1.0)], "amp"
    )
    assert main(["compare", a, b, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    ratios = {r["model"]: r["ratio"] for r in res["rows"]}
    assert ratios == pytest.approx({"timm:x": 2.0, "timm:y": 0.5})  # (20/256) / (40/1024), (10/256) / (40/512)
    assert res["ratio_geomean"] == pytest.approx(1.0) and (res["only_a"], res["only_b"]) == (1, 1)
    assert main(["compare", a, _run_csv(tmp_path / "c.csv", [("timm:w", 224, 1, 1.0)], "fp32")]) == 2
    assert "no (model, resolution) in both runs" in capsys.readouterr().err


def test_count_pool_counts_in_processes_and_then_reads_the_cache(tmp_path: Path, monkeypatch) -> None:
    import models
    from models.external import resolve
    from profiler.imports import count_pool

    spec, _ = resolve("timm:resnet10t")
    job = count_pool.CountJob(
        "resnet10t", json.loads(json.dumps(models.spec_to_dict(spec))), models.spec_hash(spec), 32
    )
    bad = count_pool.CountJob("broken", {"type": "NoSuchSpec"}, "0" * 16, 32)
    first = count_pool.count_all([job, bad], tmp_path, workers=1, progress=False)
    assert first[job.key][0]["macs"] > 0 and (tmp_path / f"{job.key}.ops.json").is_file()
    assert first[bad.key][0] is None and first[bad.key][1]  # a failure is a reason, not an exception

    def refuse(*_a: object) -> None:
        raise AssertionError("counted again")

    monkeypatch.setattr(count_pool, "count_job", refuse)
    assert count_pool.count_all([job], tmp_path, workers=0, progress=False)[job.key] == (first[job.key][0], None)


def test_report_of_an_import_says_public_data(imported: Path, tmp_path: Path) -> None:
    from profiler.report import write_report

    out = tmp_path / "r.html"
    write_report(str(imported), out, n_boot=100)
    html = out.read_text()
    assert "PUBLIC DATA" in html and "not by archprof" in html and "timm_tiny.csv" in html


def test_a_row_given_twice_is_a_second_repeat(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path / "cache"))
    path = _csv(tmp_path, f"{HEADER}\nresnet10t,64,10,1.0,256,1,1,1\nresnet10t,64,10,3.0,256,1,1,1\n")
    assert (
        main(
            [
                "import",
                "timm",
                path,
                "--device-name",
                "GPU X",
                "-o",
                str(tmp_path / "r"),
                "--workers",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    rows = _rows(tmp_path / "r")
    assert sorted((r["repeat"], r["latency_ms"]) for r in rows) == [(0, 1.0), (1, 3.0)]
