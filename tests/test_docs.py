"""The docs: the README's two commands stay as CI and users run them, and every link of the docs resolves inside
the repository (to a file, and to a heading where it names one)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "README.md",
    ROOT / "results" / "README.md",
    ROOT / "benchmarks" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
RUN_COMMAND = "pip install torch==2.13.0 -e . && python -m profiler sweep && python -m profiler report latest"
TEST_COMMAND = 'pip install torch==2.13.0 -e ".[test,timm]" && python -m pytest'


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def test_readme_states_the_run_and_test_commands_first() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    assert [line for line in first_block.splitlines() if line.startswith("pip ")] == [RUN_COMMAND, TEST_COMMAND]
    ci = (ROOT / ".ci" / "run").read_text()
    assert TEST_COMMAND in ci  # CI runs the README's test command as written


def test_readme_stays_short() -> None:
    # issue #23: what archprof is, the two commands, a tour, your own model, the findings, links; the rest in docs/
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_every_link_resolves_inside_the_repository() -> None:
    bad = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.is_relative_to(ROOT) or not dest.exists():
                bad.append(f"{page.relative_to(ROOT)}: {target} (no such file in the repository)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                bad.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not bad, "\n".join(bad)


def test_no_page_points_outside_the_repository() -> None:
    # docs/architecture.md once named ../shared/DESIGN.md, which a clone does not have
    for page in PAGES:
        assert "../shared" not in page.read_text(), page
