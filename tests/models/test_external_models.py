"""External models (issue #24): references count exactly, against hand-computed counts and the registry's twins.

``tests/data/tinynet.py`` holds a hand-written network whose counts are worked out in its docstring; the timm and
torchvision pairs below are the same architectures as registry models, so every count must be identical.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import models
from models import external
from profiler.cli import main
from profiler.counting import count_model

DATA = Path(__file__).resolve().parents[1] / "data"
TINY = f"{DATA / 'tinynet.py'}:build"
sys.path.insert(0, str(DATA))
import tinynet  # noqa: E402  (the module under test, also reached as MODULE:CALLABLE below)

sys.path.remove(str(DATA))


@pytest.fixture
def tinynet_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(DATA))


@pytest.mark.parametrize("method", ["torch", "fvcore"])
@pytest.mark.parametrize(("resolution", "batch"), [(8, 1), (16, 2)])
def test_file_factory_counts_equal_the_hand_computed_ones(method: str, resolution: int, batch: int) -> None:
    c = count_model(TINY, resolution, batch, method=method)
    assert {"macs": c.macs, "params": c.params, "acts": c.acts} == tinynet.expected(resolution, batch=batch)
    assert tinynet.expected(8) == {"macs": 11600, "params": 498, "acts": 394}  # the docstring's numbers


def test_module_factory_with_kwargs_counts_exactly(tinynet_importable: None) -> None:
    info = models.resolve_model("tinynet:build", {"num_classes": 3})
    assert (info.name, info.family, info.resolution) == ("tinynet:build", "build", 224)
    c = count_model(info, 8, method="torch")
    assert {"macs": c.macs, "params": c.params, "acts": c.acts} == tinynet.expected(8, num_classes=3)


def test_cli_count_json_and_per_layer(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "count",
        TINY,
        "--resolution",
        "8",
        "--json",
        "--per-layer",
        "--method",
        "torch",
        "--model-kwargs",
        '{"num_classes": 4}',
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["macs"], doc["params"], doc["acts"]) == tuple(tinynet.expected(8, num_classes=4).values())
    layers = {r["name"]: r for r in doc["layers"]}
    assert (layers["conv1"]["macs"], layers["conv2"]["macs"], layers["fc"]["macs"]) == (6912, 4608, 32)
    assert (layers["conv1"]["params"], layers["conv2"]["params"], layers["fc"]["params"]) == (112, 296, 36)


def test_spec_round_trips_and_its_hash_follows_kwargs_and_file_content(tmp_path: Path) -> None:
    src = tmp_path / "nets.py"
    src.write_text((DATA / "tinynet.py").read_text())
    spec, res = external.resolve(f"{src}:build", {"num_classes": 7})
    assert models.spec_from_dict(json.loads(json.dumps(models.spec_to_dict(spec)))) == spec
    assert spec.num_classes == 7 and res == 224
    h = models.spec_hash(spec)
    assert models.spec_hash(external.resolve(f"{src}:build", {"num_classes": 8})[0]) != h
    src.write_text(src.read_text() + "\n# edited\n")
    assert models.spec_hash(external.resolve(f"{src}:build", {"num_classes": 7})[0]) != h  # recounted, not cached


def test_relative_file_reference_uses_base_dir(tmp_path: Path) -> None:
    (tmp_path / "nets.py").write_text((DATA / "tinynet.py").read_text())
    info = models.resolve_model("nets.py:build", base_dir=tmp_path, family="tiny", name="t", resolution=32)
    assert (info.name, info.family, info.resolution) == ("t", "tiny", 32)
    assert info.spec.target == f"{(tmp_path / 'nets.py').resolve()}:build"


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("seresnext26d_32x4d", "seresnext"),
        ("mobilenetv2_100", "mobilenetv2"),
        ("tf_efficientnet_b0", "efficientnet"),
        ("regnetx_002", "regnetx"),
        ("resnet50.a1_in1k", "resnet"),
        ("convnext_tiny", "convnext"),
    ],
)
def test_timm_family_rule(name: str, family: str) -> None:
    assert external.timm_family(name) == family


# Each external model and its registry twin: the same architecture, so identical counts (issue #24, item 3).
TWINS = [
    ("timm:resnet50", "resnet50"),
    ("timm:regnetx_002", "regnetx_200mf"),
    ("timm:efficientnet_b0", "efficientnet_b0"),
    ("timm:mobilenetv2_100", "mobilenet_v2"),
    ("timm:densenet121", "densenet121"),
    ("torchvision:resnet18", "resnet18"),
]


@pytest.mark.parametrize(("ref", "twin"), TWINS)
def test_external_counts_equal_the_registry_twin(timm_lib, ref: str, twin: str) -> None:
    got, want = count_model(ref, method="torch"), count_model(twin, method="torch")
    assert (got.macs, got.params, got.acts) == (want.macs, want.params, want.acts)
    assert got.macs > 0
    if ref == "timm:resnet50":  # the figures
        assert (got.macs, got.params, got.acts) == (4_089_184_256, 25_557_032, 11_315_688)


def test_timm_reference_spec(timm_lib) -> None:
    info = models.model_info("timm:resnet50")
    assert (info.family, info.resolution, info.spec.version) == ("resnet", 224, timm_lib.__version__)
    assert models.model_info("timm:resnet50d").spec != info.spec
    with_kwargs = models.resolve_model("timm:resnet50", {"num_classes": 10})
    assert models.spec_hash(with_kwargs.spec) != models.spec_hash(info.spec)
    assert count_model(with_kwargs, 64, method="torch").params == 25_557_032 - 2048 * 990 - 990


def test_list_expands_timm_and_torchvision_patterns(
    timm_lib, torchvision_lib, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "timm:resnet5*", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["timm:resnet50"] == {"name": "timm:resnet50", "family": "resnet", "resolution": 224}
    assert set(rows) == {f"timm:{n}" for n in timm_lib.list_models("resnet5*")}
    assert main(["list", "torchvision:inception*", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "torchvision:inception_v3", "family": "inception", "resolution": 299}
    ]


def test_time_onnxruntime_caches_the_graph_under_the_spec_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARCHPROF_CACHE", str(tmp_path))
    argv = [
        "time",
        TINY,
        "--backend",
        "onnxruntime",
        "--exporter",
        "torchscript",
        "--iters",
        "3",
        "--warmup-s",
        "0",
        "--resolution",
        "16",
        "--json",
        "--model-kwargs",
        '{"num_classes": 5}',
    ]
    spec = models.resolve_model(TINY, {"num_classes": 5}).spec
    hits = []
    for _ in range(2):
        assert main(argv) == 0
        doc = json.loads(capsys.readouterr().out)
        hits.append(doc["details"]["cache_hit"])
        assert doc["spec"] == models.spec_to_dict(spec) and doc["spec"]["source"] == "file"
    assert hits == [False, True]
    assert [p.name.split("_")[0] for p in (tmp_path / "onnx").iterdir()] == [models.spec_hash(spec)]


@pytest.mark.slow
def test_time_compile_on_cpu_with_a_file_model(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["time", TINY, "--backend", "compile", "--resolution", "16", "--iters", "3", "--threads", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "compile/cpu" in out and "(not in latency)" in out


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["eager", "cudagraph", "compile", "onnxruntime"])
def test_time_a_timm_model_on_cuda(timm_lib, backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "time",
        "timm:resnet18",
        "--device",
        "cuda",
        "--backend",
        backend,
        "--batch",
        "2",
        "--iters",
        "5",
        "--exporter",
        "torchscript",
        "--json",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["spec"]["source"] == "timm" and doc["latency_ms_median"] > 0


def test_predict_a_timm_model_as_its_registry_twin(timm_lib, capsys: pytest.CaptureFixture[str]) -> None:
    got = []
    for ref in ("timm:regnetx_002", "regnetx_200mf"):
        assert main(["predict", ref, "--from", str(DATA / "small_run.csv"), "--cell", "backend=eager", "--json"]) == 0
        [p] = json.loads(capsys.readouterr().out)["predictions"]
        got.append({k: p[k] for k in ("family", "resolution", "macs", "params", "acts", "predicted_ms")})
    assert got[0] == got[1] and got[0]["macs"] == count_model("regnetx_200mf", method="torch").macs > 0


def test_an_edited_file_is_loaded_again_and_an_old_spec_refuses_to_build(tmp_path: Path) -> None:
    src = tmp_path / "nets.py"
    text = (DATA / "tinynet.py").read_text()
    src.write_text(text)
    old, _ = external.resolve(f"{src}:build")
    assert count_model(old, 8, method="torch").params == 498
    src.write_text(text.replace("nn.Linear(8, num_classes)", "nn.Linear(8, num_classes, bias=False)"))
    with pytest.raises(ValueError, match="code changed since it was resolved"):
        old.build()  # would be measured under the old file's hash and cached counts
    new, _ = external.resolve(f"{src}:build")
    assert new.version != old.version and count_model(new, 8, method="torch").params == 498 - 10


def test_trace_a_file_model_into_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "trace",
        TINY,
        "--resolution",
        "16",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--peaks",
        "stored",
        "--json",
        "--run",
        str(tmp_path),
        "--model-kwargs",
        '{"num_classes": 5}',
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["macs"] == tinynet.expected(16, num_classes=5)["macs"]
    [stored] = (tmp_path / "traces").iterdir()  # the reference's ':' and '/' are not path separators here
    assert stored.name.endswith("tinynet.py_build-cpu-fp32-b1-r16.json") and ":" not in stored.name
