"""rcc_report --html: one self-contained page with the timing table, its flags and the plots, opened in Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import copy_camera, run_without

BIN = Path(sys.executable).parent


def test_the_page_shows_the_flags_and_every_plot(stalled_session: Path, tmp_path: Path, browser_page: Any) -> None:
    out = tmp_path / "report.html"
    result = subprocess.run([str(BIN / "rcc_report"), str(stalled_session), "--html", str(out)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1, result.stderr  # the stall is flagged
    assert f"HTML report: {out}" in result.stdout
    page_text = out.read_text()
    assert re.search(r"cam1: \d+ frame\(s\) dropped", page_text)
    assert not re.search(r"<script|<link|<img|src=", page_text)  # self-contained: nothing to fetch
    errors: list[str] = []
    browser_page.on("pageerror", lambda error: errors.append(str(error)))
    browser_page.goto(out.as_uri())
    assert browser_page.locator("figure svg").count() == 3
    assert browser_page.locator("li.flag").count() >= 1
    assert "cam1" in (browser_page.text_content("li.flag") or "")
    sizes = browser_page.evaluate("() => [...document.querySelectorAll('figure svg')].map(s => s.getBBox().width)")
    assert all(width > 100 for width in sizes)  # drawn, not empty
    browser_page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert not errors


def test_a_folder_above_the_sessions_is_said(stalled_session: Path) -> None:
    data = stalled_session.parent.parent
    result = subprocess.run([str(BIN / "rcc_report"), str(data)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"give a session folder (DATA/GROUP/NAME); rcc_sessions {data} lists the recordings" in result.stderr


def test_without_matplotlib_the_report_says_what_to_install(stalled_session: Path, tmp_path: Path) -> None:
    args = [str(stalled_session), "--html", str(tmp_path / "r.html")]
    result = run_without("matplotlib", "rpi_camera_colony.session.report:main", args)
    assert result.returncode == 2
    assert "pip install 'rpi_camera_colony[report]'" in result.stderr


def test_the_page_may_go_to_a_new_folder_and_its_ticks_are_plain_numbers(stalled_session: Path, tmp_path: Path) -> None:
    """Found: --html into a folder that did not exist printed the whole report, then "[Errno 2] ..." (exit 2); the
    frame-interval plot of a steady camera was labelled like "1.00008 x 10^0" (its log scale over a narrow range)."""
    steady = copy_camera(stalled_session, "cam0", tmp_path / "steady")
    out = tmp_path / "new" / "folder" / "report.html"
    result = subprocess.run([str(BIN / "rcc_report"), str(steady), "--html", str(out)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode in (0, 1) and not result.stderr, result.stderr  # 1: a flag (a busy machine's clock sync)
    assert f"HTML report: {out}" in result.stdout
    labels = re.findall(r"<!-- (.*?) -->", out.read_text())  # matplotlib's SVG keeps each text as a comment
    assert "frame interval / nominal period" in labels and {"0.5", "1", "2"} <= set(labels)
    assert not [label for label in labels if "times" in label or "^" in label]
