"""The dashboard page in a real browser (Playwright driving Debian's chromium): every camera's picture moves, Start
and Stop record good files, a camera whose agent dies turns red within 2 s. The test saves a screenshot of the grid
(to ``RCC_DASHBOARD_SCREENSHOT`` when set: the README's picture is made so)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any, Callable

from rpi_camera_colony import read_session_data
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.dashboard.session import DashboardSession
from rpi_camera_colony.testing import assert_session_complete, wait_for
from rpi_camera_colony.testing.dashboard import ServedDashboard

CAMERAS = ["cam0", "cam1", "cam2", "cam3"]
DESCRIPTIONS = ["arena, from above", "arena, side", "nest box", "running wheel"]
#: A fingerprint of what each tile's <img> shows now (drawn onto a canvas).
PICTURES = """() => [...document.querySelectorAll('.tile img')].map((img) => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  if (!canvas.width) return null;
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum = (sum * 31 + data[i]) % 1000000007;
  return sum;
})"""


def test_the_page_shows_records_and_flags_every_camera(
    browser_page: Any, colony_config: Callable[..., Path], data_dir: Path, tmp_path: Path
) -> None:
    page = browser_page
    config = colony_config(
        cameras=4,
        framerate=30,
        resolution=(640, 480),
        acquisition_name="page__default",
        per_camera={name: {"description": text} for name, text in zip(CAMERAS, DESCRIPTIONS)},
    )
    with Conductor(config_file=str(config)) as conductor, ServedDashboard(DashboardSession(conductor)) as served:
        conductor.stream_preview(True)
        page.goto(served.url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=10_000)
        assert page.locator(".tile").count() == len(CAMERAS)
        assert [page.locator(".tile .name").nth(i).text_content() for i in range(4)] == CAMERAS
        assert [page.locator(".tile .description").nth(i).text_content() for i in range(4)] == DESCRIPTIONS
        assert page.get_attribute("#acquisition-name", "placeholder") == "page__default"  # what an empty name records

        # every camera's picture changes
        assert wait_for(lambda: all(page.evaluate(PICTURES)), timeout=10), "a tile shows no picture"
        first = page.evaluate(PICTURES)
        assert wait_for(lambda: all(a != b for a, b in zip(first, page.evaluate(PICTURES))), timeout=10)

        # Start and Stop from the page
        page.fill("#acquisition-name", "page__take1")
        page.click("#start")
        page.wait_for_selector("#state.recording", timeout=15_000)
        assert page.text_content("#state") == "recording page__take1"
        page.wait_for_function(
            "() => [...document.querySelectorAll('.tile .frames')].every((d) => Number(d.textContent) >= 30)",
            timeout=15_000,
        )
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("RCC_DASHBOARD_SCREENSHOT"):
            shutil.copy(shot, os.environ["RCC_DASHBOARD_SCREENSHOT"])
        page.click("#stop")
        page.wait_for_selector("#recordings tbody tr", timeout=15_000)
        assert page.text_content("#recordings tbody tr td") == "page__take1"
        folder = data_dir / "page" / "page__take1"
        assert_session_complete(read_session_data(folder), CAMERAS, folder)
        assert all(s["dropped"] == 0 for s in conductor.last_summaries.values())

        # a camera whose agent dies mid-recording turns red within 2 s
        page.fill("#acquisition-name", "page__take2")
        page.click("#start")
        page.wait_for_selector("#state.recording", timeout=15_000)  # shown once every camera has started
        assert page.text_content("#state") == "recording page__take2"
        pid = conductor.status()["cam2"].pid
        assert pid is not None
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        page.wait_for_selector('.tile[data-camera="cam2"].problem', timeout=2_000)
        assert time.monotonic() - killed < 2.0
        assert "exited" in (page.text_content('.tile[data-camera="cam2"] .problem') or "")
        assert page.locator(".tile.problem").count() == 1  # the others are fine
        page.click("#stop")
        page.wait_for_function("() => document.getElementById('message').textContent.includes('cam2')", timeout=15_000)
