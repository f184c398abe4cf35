"""Shared pytest setup: tests marked ``gpu`` are skipped where torch sees no CUDA device."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    reason = "needs a CUDA device: torch.cuda.is_available() is False on this machine"
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for modules of small forward passes, restored afterwards.

    Tiny inputs gain nothing from intra-op threads, and on a shared 2-core runner OpenMP spin-waiting made such
    tests up to ~10x slower in CPU time. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def timm_lib():
    """timm, imported once per session (several seconds); the test is skipped with the reason without the extra."""
    _skip_without("timm")
    from models.external import import_timm

    return import_timm()


@pytest.fixture(scope="session")
def torchvision_lib():
    """torchvision (``models.external.import_torchvision``), or a skip naming the extra."""
    _skip_without("torchvision")
    from models.external import import_torchvision

    return import_torchvision()


def _skip_without(name: str) -> None:
    # Not pytest.importorskip: a plain `import timm` fails beside the CPU torch (models.external.import_torchvision).
    import importlib.util

    if importlib.util.find_spec(name) is None:
        pytest.skip(f"needs {name}, the [timm] extra: pip install -e '.[timm]'")


@pytest.fixture(autouse=True)
def _no_peaks_in_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """`profiler sweep` measures the device's peaks (~15 s) when none are stored; an in-process test sweep does
    not (tests/hardware/test_peaks.py tests that step with the function itself, imported before this patch)."""
    import profiler.hardware.measure

    monkeypatch.setattr(profiler.hardware.measure, "ensure_peaks", lambda *a, **k: None)


@pytest.fixture(scope="session")
def rendered_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """(context, HTML) of the report tests' stored run (``tests/support/report.py``), rendered once per session
    (tens of seconds): test_report.py, test_report_trace.py and test_report_browser.py share it."""
    import json

    from profiler.report import build_context, render_html
    from profiler.results.store import load_results
    from tests.support.report import N_BOOT, TRACE, stored_run

    run_dir = stored_run(tmp_path_factory.mktemp("report") / "run-small")
    (run_dir / "traces").mkdir()  # a recorded `profiler trace` in the run: the report shows it per layer
    (run_dir / "traces" / TRACE.name).write_bytes(TRACE.read_bytes())
    ctx = build_context(
        load_results(run_dir), json.loads((run_dir / "meta.json").read_text()), str(run_dir), n_boot=N_BOOT
    )
    return ctx, render_html(ctx)
