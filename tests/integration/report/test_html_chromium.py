"""report.html in a real browser: Debian's headless Chromium, started by the test.

The page is rendered from the recorded journal and sample file of a real
``db-outage`` run (``tests/unit/report/recorded/``), as ``chaoskit report``
does, then loaded from disk with every network feature Chromium has switched
off. Chromium's own log goes to stderr (``--enable-logging=stderr``), where a
page error would appear as ``INFO:CONSOLE ... "Uncaught ReferenceError ..."``
(seen with a deliberately broken page); the report has no script, so any
console line at all is a failure.

Without Chromium the tests skip, except under ``CI=true``: ``.ci/run``
installs it, so a missing browser there is a broken CI, not a reason to skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chaoskit.report import document_from_journal, write_reports

RECORDED = Path(__file__).parents[2] / "unit" / "report" / "recorded"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
    "--enable-logging=stderr", "--v=0",
]  # fmt: skip
# What a broken page makes Chromium log: a script error, a console.error, a
# resource it could not load (a self-contained page loads none).
PAGE_ERRORS = re.compile(r":CONSOLE|Uncaught|Failed to load resource|net::ERR_")
# The fault windows are #e8590c at 13% over white, in the screenshot.
SHADE = (252, 233, 223)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed; under CI=true .ci/run installs it")
    pytest.skip("chromium is not installed (Debian: apt-get install chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html of the recorded run, re-rendered from its journal."""
    run = tmp_path_factory.mktemp("run")
    shutil.copytree(RECORDED, run, dirs_exist_ok=True)
    write_reports(document_from_journal(run), run)
    return run / "report.html"


def browse(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"  # a new, empty profile each time
    profile.mkdir()
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_dom_has_the_charts_and_every_shaded_window_and_no_errors(page, tmp_path):
    result = browse(page, tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr
    dom = result.stdout
    assert not PAGE_ERRORS.search(result.stderr), result.stderr
    assert '<div class="verdict">PASSED</div>' in dom
    assert "chaoskit run experiments/db-outage.toml --seed 11" in dom
    # Overall and per task (browse, progress); each has three panels and one
    # fault window on every panel, a label and a recovery mark.
    for chart in ("overall", "task-0", "task-1"):
        assert re.search(rf'<svg[^>]* class="chart" id="{chart}"', dom)
        for row in range(3):
            assert f'id="{chart}-fault-0-{row}"' in dom
            assert f'id="{chart}-recovery-0-{row}"' in dom
        assert f'id="{chart}-fault-0-label"' in dom
    assert dom.count(">db gone (down)<") == 3
    assert "<script" not in dom


def test_a_screenshot_shows_the_page_with_its_shaded_windows(page, tmp_path):
    from PIL import Image  # pillow comes with matplotlib

    shot = tmp_path / "report.png"
    result = browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert result.returncode == 0, result.stderr
    assert not PAGE_ERRORS.search(result.stderr), result.stderr
    assert shot.stat().st_size > 50_000
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        counted = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    colours = {colour: count for count, colour in counted if isinstance(colour, tuple)}
    shaded = sum(
        count
        for colour, count in colours.items()
        if max(abs(a - b) for a, b in zip(colour, SHADE, strict=True)) <= 4
    )
    assert len(colours) > 200  # text, lines, fills: not a blank or error page
    # The first chart's three panels are within the first 2000 px, each with
    # the window shaded over about 2 s of a 10 s axis.
    assert shaded > 20_000
