"""A/B latency check in one job: a base revision (A) and the working tree (B) measured on the same machine.

A stored baseline from another machine cannot gate latency: two machines with the same device key differed by
2x here, and not in proportion across models. So ``check --against REV`` checks REV out into a temporary
``git worktree``, lets each side plan the config with its own code, and measures the sides in interleaved
rounds, each round a fresh worker process per model and side, the order alternating (AB, BA, AB, …) so that a
drift of the machine's speed during the job hits both sides alike. Side A's rows become an in-memory baseline
and the usual rule (``profiler.baseline.rule``, with process-level separation over the rounds) judges B.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.core.errors import UsageError
from profiler.results.measurement import Measurement
from profiler.sweep.tasks import Task

MAIN_BRANCHES = ("main", "origin/main", "master", "origin/master")
_PLAN_SNIPPET = (
    "import json, sys\n"
    # The checkout measured may predate the package layout (parse_config and plan were top-level modules then).
    "try:\n"
    "    from profiler.sweep.config import parse_config\n"
    "    from profiler.sweep.run import plan\n"
    "except ImportError:\n"
    "    from profiler.config import parse_config\n"
    "    from profiler.sweep import plan\n"
    "cfg = parse_config(sys.stdin.read(), sys.argv[2])\n"
    "print(json.dumps([t.to_dict() for t in plan(cfg, sys.argv[1]) if t.repeat == 0]))\n"
)


@dataclass
class Side:
    """One side of the comparison: the checkout whose code measures, and extra worker environment."""

    label: str  # e.g. "A main@1a2b3c4d" / "B working tree"
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)


def run_git(args: list[str], cwd: Path) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise UsageError(f"git {' '.join(args)} failed in {cwd}: {out.stderr.strip().splitlines()[-1:] or ['?']}")
    return out.stdout.strip()


def repo_root(start: Path) -> Path | None:
    """The git checkout holding ``start``, or None outside one."""
    out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True)
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def default_against(root: Path) -> str | None:
    """The merge-base of HEAD with the main branch (the first of ``MAIN_BRANCHES`` that exists), or None."""
    for branch in MAIN_BRANCHES:
        ok = subprocess.run(["git", "rev-parse", "--verify", "--quiet", branch], cwd=root, capture_output=True)
        if ok.returncode == 0:
            out = subprocess.run(["git", "merge-base", "HEAD", branch], cwd=root, capture_output=True, text=True)
            if out.returncode == 0:
                return out.stdout.strip()
    return None


def same_code(root: Path, sha: str) -> bool:
    """True when the working tree is exactly commit ``sha`` (HEAD is ``sha`` and nothing tracked is modified)."""
    head = run_git(["rev-parse", "HEAD"], root)
    dirty = run_git(["status", "--porcelain", "--untracked-files=no"], root)
    return head == sha and not dirty


@contextmanager
def worktree(root: Path, rev: str, parent: Path) -> Iterator[tuple[Path, str]]:
    """Check ``rev`` out into a temporary worktree under ``parent``; yields (path, full sha); always removed."""
    try:
        sha = run_git(["rev-parse", "--verify", f"{rev}^{{commit}}"], root)
    except UsageError:
        raise UsageError(
            f"--against {rev!r} is not a commit of {root}; valid: a branch, tag or commit id "
            "(e.g. HEAD~1, main), or 'stored' for the committed baseline"
        ) from None
    path = parent / f"ab-base-{sha[:10]}"
    run_git(["worktree", "add", "--detach", "--quiet", str(path), sha], root)
    try:
        yield path, sha
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=root, capture_output=True)


def plan_at(root: Path, config_text: str, config_path: str, device: str, rounds: int) -> list[Task]:
    """The config's tasks as planned by the code in ``root`` (repeat 0), copied once per round."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", _PLAN_SNIPPET, device, config_path],
        input=config_text,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        raise UsageError(f"the code at {root} cannot plan {config_path}: {last}")
    try:
        base = [Task.from_dict(d) for d in json.loads(out.stdout.strip().splitlines()[-1])]
    except (ValueError, TypeError, IndexError) as exc:
        raise UsageError(f"the code at {root} planned tasks this version cannot read: {exc}") from None
    return [Task(**{**t.to_dict(), "repeat": r}) for r in range(rounds) for t in base]


def round_order(rounds: int, n_sides: int = 2) -> list[tuple[int, int]]:
    """(round, side index) in run order: AB, BA, AB, … (alternating cancels a linear drift between sides)."""
    fwd = list(range(n_sides))
    return [(r, s) for r in range(rounds) for s in (fwd if r % 2 == 0 else fwd[::-1])]


def run_rounds(
    sides: list[Side],
    rounds: int,
    write: Callable[[int, Measurement], None],
    *,
    executor_factory: Callable[[Side], Any] | None = None,
    on_round: Callable[[int, Side], None] | None = None,
) -> None:
    """Measure each side's tasks round by round in ``round_order``; ``write(side_index, row)`` stores each row."""
    from profiler.sweep.exec.local import SubprocessExecutor

    factory = executor_factory or (lambda side: SubprocessExecutor(package_root=side.root, env=side.env))
    for r, s in round_order(rounds, len(sides)):
        side = sides[s]
        if on_round is not None:
            on_round(r, side)
        for row in factory(side).run([t for t in side.tasks if t.repeat == r]):
            write(s, row)
