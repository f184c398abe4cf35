"""The report as a person sees it: opened from a file in headless Chromium, with every network path shut.

A probe script, appended to a copy of the report, runs after the page's load event and writes into the DOM what
the browser saw: each image's load state and natural size, every resource the page fetched (Resource Timing),
and the order of a sortable table after a click on a header. ``--dump-dom`` prints that DOM; a second run takes a
screenshot. Skipped, with the reason, where no Chromium is installed (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = os.environ.get("ARCHPROF_CHROMIUM") or next(filter(None, map(shutil.which, CANDIDATES)), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason=f"no headless browser: none of {', '.join(CANDIDATES)} on PATH (apt-get install chromium)"
)
SORT_HEADER = "latency (ms / batch, median)"
PROBE = """
<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.map.call(document.images, function (i) {
    return {alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight};
  });
  var fetched = performance.getEntriesByType("resource").map(function (e) { return e.name; });
  var table = document.querySelector("#measurements table.sortable");
  var col = Array.prototype.findIndex.call(table.tHead.rows[0].cells, function (th) {
    return th.textContent.trim() === %(header)s;
  });
  table.tHead.rows[0].cells[col].click();
  var sorted = Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[col].dataset.sort; });
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: imgs, fetched: fetched, sorted: sorted, column: col});
  document.body.appendChild(out);
});
</script>
"""


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    """Headless Chromium with no network: background services off and every host name unresolvable."""
    cmd = [
        BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=45, check=False)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory, rendered_report: tuple[dict, str]) -> Path:
    path = tmp_path_factory.mktemp("browser") / "report.html"
    path.write_text(rendered_report[1], encoding="utf-8")
    return path


def test_report_in_chromium(report_file: Path, tmp_path: Path) -> None:
    probed = report_file.with_name("probed.html")
    probe = PROBE % {"header": json.dumps(SORT_HEADER)}
    probed.write_text(report_file.read_text(encoding="utf-8").replace("</body>", probe + "</body>"), encoding="utf-8")
    run = chromium("--virtual-time-budget=10000", "--dump-dom", probed.as_uri(), profile=tmp_path / "profile")
    match = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)
    assert match, f"the probe did not run; chromium exit {run.returncode}: {run.stderr[-2000:]}"
    seen = json.loads(htmllib.unescape(match.group(1)))

    assert len(seen["images"]) >= 12
    broken = [i["alt"] for i in seen["images"] if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert seen["fetched"] == [], f"the page fetched resources: {seen['fetched']}"

    dom = run.stdout
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", dom, re.I)  # nothing added by script either
    assert '<span class="badge">' in dom and 'id="verdict"' in dom
    for title in ("Coefficients", "Test battery", "Held-out errors", "Per-model results", "Failed measurements"):
        assert title in dom, title

    keys = [float(v) for v in seen["sorted"]]
    assert seen["column"] >= 0 and len(keys) == 48
    assert keys == sorted(keys), "clicking the latency header did not sort the table ascending"


def test_screenshot(report_file: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    run = chromium(f"--screenshot={shot}", "--window-size=1280,4000", report_file.as_uri(), profile=tmp_path / "p")
    assert shot.is_file(), f"no screenshot; chromium exit {run.returncode}: {run.stderr[-2000:]}"
    with Image.open(shot) as im:
        assert im.size == (1280, 4000)
        top = im.convert("L").crop((0, 0, 1280, 1200))
        # A page that rendered has text and figures: many grey levels, not a blank or single-colour screen.
        assert len(top.getcolors(maxcolors=256)) > 50
    keep = os.environ.get("ARCHPROF_SCREENSHOT_DIR")
    if keep:  # for a person to look at: ARCHPROF_SCREENSHOT_DIR=/tmp pytest tests/report/test_report_browser.py
        shutil.copy(shot, Path(keep) / "report-screenshot.png")
