"""rcc_sessions: every recording under a data folder, newest first, from its metadata files."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import copy_camera
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.session.convert import convert_video
from rpi_camera_colony.testing import wait_for

BIN = Path(sys.executable).parent


def test_recordings_newest_first(colony_config: Callable[..., Path], data_dir: Path) -> None:
    config = colony_config(cameras=2, framerate=30)
    with Conductor(config_file=str(config)) as conductor:
        for name in ("mouse1__day1", "mouse2__day1"):
            conductor.start_acquisition(name)
            assert wait_for(lambda: all(s.frames >= 10 for s in conductor.status().values()))
            conductor.stop_acquisition()
    convert_video(next((data_dir / "mouse1" / "mouse1__day1").glob("*.cam0.*.rcc.video.h264")))
    (data_dir / "mouse1" / "notes.txt").write_text("other files are left alone")

    listed = subprocess.run([str(BIN / "rcc_sessions"), str(data_dir), "--json"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["group"], r["name"]) for r in rows] == [("mouse2", "mouse2__day1"), ("mouse1", "mouse1__day1")]
    assert all(r["cameras"] == ["cam0", "cam1"] and r["status"] == "stopped" and r["dropped"] == 0 for r in rows)
    assert all(r["damaged"] == [] for r in rows)
    assert all(r["frames"] >= 20 and r["duration_s"] > 0 for r in rows)
    assert [r["converted"] for r in rows] == [0, 1]
    assert [r["verified"] for r in rows] == [0, 0]  # nothing collected here
    assert rows[0]["file_time"] > rows[1]["file_time"]

    table = subprocess.run([str(BIN / "rcc_sessions"), str(data_dir)], capture_output=True, text=True)
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["recorded", "group", "name"]
    assert "mouse2__day1" in lines[1] and "mouse1__day1" in lines[2] and lines[2].split()[-2:] == ["0/2", "1/2"]


def test_a_missing_folder_is_said(tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "rcc_sessions"), str(tmp_path / "nope")], capture_output=True, text=True)
    assert result.returncode == 2 and "nope: no such folder" in result.stderr
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    result = subprocess.run([str(BIN / "rcc_sessions"), str(a_file)], capture_output=True, text=True)
    assert result.returncode == 2 and f"{a_file} is a file, not a folder: give a data folder" in result.stderr
    a_file.unlink()
    empty = subprocess.run([str(BIN / "rcc_sessions"), str(tmp_path)], capture_output=True, text=True)
    assert empty.returncode == 0 and "no recording under" in empty.stdout


def test_a_camera_with_files_cut_or_missing_is_shown_damaged(stalled_session: Path, tmp_path: Path) -> None:
    """Found: a recording whose video was cut to 50 KB, or whose frame table was emptied, was listed as any other."""
    folder = tmp_path / "home" / "conv" / "conv__stall"
    for camera in ("cam0", "cam1"):
        copy_camera(stalled_session, camera, folder)
    video = next(folder.glob("*.cam0.*.rcc.video.h264"))
    video.write_bytes(video.read_bytes()[:3000])
    next(folder.glob("*.cam1.*.rcc.timestamps.ttl.out.csv")).write_bytes(b"")
    home = str(tmp_path / "home")
    row = json.loads(subprocess.run([str(BIN / "rcc_sessions"), home, "--json"], capture_output=True, text=True).stdout)
    assert row["damaged"][1] == "cam1: empty frame table"
    assert row["damaged"][0].startswith("cam0: video cut short (3000 of ") and row["damaged"][0].endswith(" bytes)")
    table = subprocess.run([str(BIN / "rcc_sessions"), home], capture_output=True, text=True)
    assert table.stdout.splitlines()[2].split()[:3] == ["DAMAGED:", "cam0:", "video"]
    assert f"cam1: empty frame table (rcc_report {folder} says more)" in table.stdout
