"""Facts written once (issue 23): the cache root, a run's file layout and the phase names live in one module
each, and every other module uses them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from profiler.core import paths, phases

ROOT = Path(__file__).resolve().parents[2]
CODE = [p for d in ("profiler", "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))]


def _hits(pattern: str, allowed: set[str]) -> list[str]:
    rx = re.compile(pattern)
    return [
        f"{p.relative_to(ROOT)}:{i}"
        for p in CODE
        if p.relative_to(ROOT).as_posix() not in allowed
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if rx.search(line) and not line.lstrip().startswith("#")
    ]


def test_the_cache_root_is_defined_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _hits(r'home\(\) / "\.cache"', {"profiler/core/paths.py"}) == []
    assert _hits(r'environ\.get\("ARCHPROF_CACHE"', {"profiler/sweep/exec/ray_pool.py"}) == []  # it forwards it
    from profiler.analysis.optables import cache_dir as optables_dir
    from profiler.hardware.measure import peaks_dir
    from profiler.imports.count_pool import default_cache_dir as counts_dir
    from profiler.timing.onnx_export import default_cache_dir as onnx_dir

    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path))
    assert [onnx_dir(), peaks_dir(), optables_dir(), counts_dir()] == [
        tmp_path / "onnx",
        tmp_path / "peaks",
        tmp_path / "optables",
        tmp_path / "counts",
    ]
    monkeypatch.setenv(paths.CACHE_ENV, "")  # empty: the default, as unset
    assert paths.cache_root() == Path.home() / ".cache" / "archprof"


def test_run_layout_is_built_in_one_place() -> None:
    assert _hits(r"_r\{", {"profiler/core/paths.py", "profiler/timing/onnx_cache.py"}) == []
    assert _hits(r'ops\.json"', {"profiler/core/paths.py"}) == []
    assert (
        _hits(
            r'"meta\.json"',
            {
                "profiler/core/paths.py",
                "profiler/timing/onnx_cache.py",  # a graph's own meta
                "benchmarks/sweep_overhead.py",
                "benchmarks/verdict_stability.py",
                "benchmarks/cross_device.py",
            },
        )
        == []
    )  # runs of other checkouts, read raw
    assert paths.ops_path("run", "abc", 224.0) == Path("run/counts/abc_r224.ops.json")
    assert paths.count_file(paths.counts_dir("run"), paths.count_key("abc", 64)) == Path("run/counts/abc_r64.json")


def test_phase_names_are_the_phase_columns() -> None:
    from profiler.results.store import PHASE_COLUMNS
    from profiler.sweep.exec import worker

    assert PHASE_COLUMNS == phases.PHASES == phases.WORKER_PHASES + phases.TIMING_PHASES
    assert set(phases.LABELS) == set(phases.PHASES)
    assert worker._PHASES == phases.PHASES and worker._TIMING_PHASES == phases.TIMING_PHASES
    assert (
        _hits(r'"build_s", "count_s", "export_s"', {"profiler/core/phases.py", "profiler/sweep/exec/prefetch.py"}) == []
    )


def test_meta_json_has_one_reader(tmp_path: Path) -> None:
    from profiler.results.runs import RunMeta
    from profiler.results.store import ResultStore

    with ResultStore.create(tmp_path / "r", {"run": {"device": "cpu"}}) as store:
        assert store.read_meta() == RunMeta.read(tmp_path / "r").raw
    # only RunMeta parses meta.json (ResultStore.read_meta goes through it)
    assert (
        _hits(
            r"json\.load.*(meta_path|META_NAME|meta\.json)",
            {
                "profiler/timing/onnx_cache.py",  # an ONNX graph's own meta.json, not a run's
                "benchmarks/sweep_overhead.py",
                "benchmarks/verdict_stability.py",
            },
        )
        == []
    )
