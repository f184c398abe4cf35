"""profiler.sweep.resume: which config a resume uses and what it refuses, read through RunMeta (no measuring)."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.core.errors import UsageError
from profiler.results.store import META_NAME, ResultStore
from profiler.sweep.config import parse_config
from profiler.sweep.resume import open_for_resume, resume_config

TEXT = 'name = "tiny"\n[models]\ninclude = ["resnet18"]\n'


def _run(path: Path, meta: dict) -> Path:
    ResultStore.create(path, meta).close()
    return path


def test_resume_config_from_meta_text_or_given_file(tmp_path: Path) -> None:
    run = _run(tmp_path / "r", {"config": {"text": TEXT, "path": "experiments/tiny.toml"}})
    cfg = resume_config(run)
    assert (cfg.name, cfg.text, cfg.path, list(cfg.models)) == ("tiny", TEXT, "experiments/tiny.toml", ["resnet18"])
    other = tmp_path / "other.toml"
    other.write_text('[models]\ninclude = ["resnet34"]\n')
    assert list(resume_config(run, other).models) == ["resnet34"]
    bare = _run(tmp_path / "bare", {})
    with pytest.raises(UsageError, match="holds no sweep config; pass --config FILE"):
        resume_config(bare)
    with pytest.raises(UsageError, match="not an archprof run directory"):
        resume_config(tmp_path)
    (run / META_NAME).write_text("{half")
    with pytest.raises(UsageError, match="is not valid JSON"):
        resume_config(run, other)


def test_open_for_resume_refuses_merges_other_text_and_other_device(tmp_path: Path) -> None:
    cfg = parse_config(TEXT, "tiny.toml")
    ok = _run(tmp_path / "ok", {"config": {"text": TEXT}, "run": {"device": "cpu"}, "environment": {"a": 1}})
    store, meta = open_for_resume(ok, cfg, "cpu")
    store.close()
    assert meta.environment == {"a": 1} and meta.device == "cpu"
    with pytest.raises(UsageError, match="measured on cpu; resume it with --device cpu"):
        open_for_resume(ok, cfg, "cuda")
    changed = _run(tmp_path / "changed", {"config": {"text": TEXT + "# edited\n"}})
    with pytest.raises(UsageError, match="different config text"):
        open_for_resume(changed, cfg, "cpu")
    merged = _run(tmp_path / "merged", {"merged_from": [{"run_id": "a"}]})
    with pytest.raises(UsageError, match="merge of several runs"):
        open_for_resume(merged, cfg, "cpu")
    store, meta = open_for_resume(_run(tmp_path / "old", {}), cfg, "cuda")  # nothing recorded: nothing to refuse
    store.close()
    assert not meta.raw.get("config")
