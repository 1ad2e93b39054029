"""End to end: a colony of simulated cameras in real agent processes, through the public API."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Optional

import pytest

from conftest import require_tool
from rpi_camera_colony import read_session_data
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.session import read_frames
from rpi_camera_colony.testing import assert_session_complete, read_frame_indices

CAMERAS = ["cam0", "cam1", "cam2", "cam3"]


def _record(conductor: Conductor, seconds: float) -> dict[str, dict]:
    conductor.start_acquisition()
    threading.Event().wait(seconds)  # the recording itself: let the cameras run
    return conductor.stop_acquisition()


def test_four_cameras_record_complete_files(colony_config: Callable[..., Path], data_dir: Path) -> None:
    config = colony_config(cameras=4, framerate=60, acquisition_name="mouse1__day1")
    with Conductor(config_file=config) as conductor:
        assert set(conductor.status()) == set(CAMERAS)
        assert all(s.state == "configured" for s in conductor.status().values())
        replies = conductor.start_acquisition()
        assert set(replies) == set(CAMERAS)
        assert all(r.ok and r.state == "recording" for r in replies.values())
        assert all(r.data["first_frame"]["index"] >= 0 for r in replies.values())
        threading.Event().wait(2.5)
        summaries = conductor.stop_acquisition()
        session_dir = conductor.session_folder()
        logs = {name: conductor.remote_log_records(name) for name in CAMERAS}
        log_file = conductor.log_file

    assert session_dir == data_dir / "mouse1" / "mouse1__day1"
    assert set(summaries) == set(CAMERAS)
    for summary in summaries.values():
        assert summary["status"] == "stopped"
        assert summary["frames"] >= 100, summary
        assert summary["dropped"] == 0, summary

    # File names follow the original layout: {name}.{instance}.{YYYYmmdd_HHMMSS}.rcc.{kind}
    names = sorted(p.name for p in session_dir.iterdir())
    assert len(names) == 4 * 5  # video, frame and TTL-in timestamps, clock samples, metadata
    for name in names:
        acquisition, camera, stamp, rest = name.split(".", 3)
        assert acquisition == "mouse1__day1" and camera in CAMERAS and len(stamp) == 15 and rest.startswith("rcc.")

    session = read_session_data(session_dir)
    assert_session_complete(session, CAMERAS, session_dir)
    for name in CAMERAS:
        table = session[name]["timestamps.ttl.out"]
        assert list(table.columns[:3]) == ["timestamp_frame", "timestamp_ttl", "sys_time"]
        assert len(table) == summaries[name]["frames"]
        decoded = read_frame_indices(session_dir / session[name]["video_file_h264"])
        assert decoded == table["frame_index"].tolist(), f"{name}: decoded frame numbers differ from the CSV"
        assert decoded == list(range(decoded[0], decoded[0] + len(decoded))), f"{name}: gaps in the video"
        meta = session[name]["metadata"]
        assert meta["acquisition_group"] == "mouse1"
        assert meta["backend"]["camera"] == "simulated"
        assert meta["settings"]["framerate"] == 60

    # Every agent's log records reached the conductor and its log file.
    text = log_file.read_text()
    for name in CAMERAS:
        assert any("recording mouse1__day1" in r["msg"] for r in logs[name]), f"no start log from {name}"
        assert f"[{name}] stopped (requested)" in text


def test_independent_decoder_agrees(colony_config: Callable[..., Path]) -> None:
    ffprobe = require_tool("ffprobe")
    config = colony_config(cameras=1, framerate=30)
    with Conductor(config_file=config) as conductor:
        summaries = _record(conductor, 1.0)
        session_dir = conductor.session_folder()
    video = next(session_dir.glob("*.rcc.video.h264"))
    result = subprocess.run(
        [ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames,width,height,codec_name", "-of", "json", str(video)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    stream = json.loads(result.stdout)["streams"][0]
    assert stream["codec_name"] == "h264"
    assert (stream["width"], stream["height"]) == (320, 240)
    assert int(stream["nb_read_frames"]) == summaries["cam0"]["frames"]


def test_seed_spelling_settings_file_and_properties(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=1, acquisition_name="plain_name")
    with Conductor(settings_file=config) as conductor:
        assert conductor.active and not conductor.acquiring
        assert conductor.acquisition_group == ""
        conductor.start_acquisition()
        assert conductor.acquiring and conductor.active
        conductor.stop_acquisition()
        assert conductor.session_folder().name == "plain_name"
    assert not conductor.active
    conductor.cleanup()  # a second clean-up is harmless


@pytest.mark.skipif(sys.platform != "linux", reason="process groups and sessions as Linux has them")
def test_local_agents_have_process_groups_of_their_own_in_the_conductors_session(
    colony_config: Callable[..., Path],
) -> None:
    """A terminal's Ctrl-C (SIGINT to the foreground process group) must not reach the agents, and on Python 3.11 and
    later they share the conductor's session, so that autogroup scheduling gives the conductor no smaller share of
    the processor than any agent."""
    import os

    with Conductor(config_file=colony_config(cameras=2)) as conductor:
        pids = [int(link.hello["pid"]) for link in conductor.controllers.values() if link.hello]
        assert len(pids) == 2
        for pid in pids:
            assert os.getpgid(pid) == pid != os.getpgid(0)
            if sys.version_info >= (3, 11):
                assert os.getsid(pid) == os.getsid(0)
            else:
                assert os.getsid(pid) == pid


def test_save_data_false_records_nothing(colony_config: Callable[..., Path], data_dir: Path) -> None:
    config = colony_config(cameras=2, general={"save_data": False})
    with Conductor(config_file=config) as conductor:
        summaries = _record(conductor, 0.5)
    assert all(s["frames"] > 0 and s["files"] == {} for s in summaries.values())
    assert not any(p.suffix in (".h264", ".csv") for p in data_dir.rglob("*"))


def test_controller_save_data_without_general_priority(colony_config: Callable[..., Path], data_dir: Path) -> None:
    config = colony_config(
        cameras=2,
        general={"general_setting_has_priority": False},
        per_camera={"cam1": {"save_data": False}},
    )
    with Conductor(config_file=config) as conductor:
        _record(conductor, 0.5)
        folder = conductor.session_folder()
    assert {p.name.split(".")[1] for p in folder.iterdir()} == {"cam0"}


def test_max_acquisition_time_stops_cameras_on_their_own(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=2, general={"max_acquisition_time": 1})
    with Conductor(config_file=config) as conductor:
        conductor.start_acquisition()
        done = threading.Event()
        for _ in range(100):  # heartbeats report the agents' own stop within a few seconds
            if not conductor.active:
                break
            done.wait(0.1)
        assert not conductor.active, conductor.status()
        statuses = conductor.status()
        summaries = conductor.stop_acquisition()
        folder = conductor.session_folder()
    assert all(s.state == "stopped" for s in statuses.values())
    assert all(s["stop_reason"] == "max_acquisition_time" for s in summaries.values())
    session = read_session_data(folder)
    for name in ("cam0", "cam1"):
        meta = session[name]["metadata"]
        assert meta["stop_reason"] == "max_acquisition_time"
        assert 0.9 <= meta["duration_s"] <= 3.0


@pytest.mark.parametrize(
    ("which", "levels"), [(None, [1, 1]), ("rising", [1, 1]), ("falling", [0, 0]), ("both", [1, 0, 1, 0])]
)
def test_ttl_in_edges_are_recorded(colony_config: Callable[..., Path], which: Optional[str], levels: list[int]) -> None:
    """One row per recorded edge: rising edges only by default, as the original (its readers count rows as
    pulses); `ttl_in_edges = falling | both` per camera."""
    config = colony_config(cameras=2, per_camera={"cam0": {"ttl_in_edges": which}} if which else None)
    with Conductor(config_file=config) as conductor:
        conductor.start_acquisition()
        assert conductor.controllers["cam0"].inject_ttl_in(4).wait().data["injected"] == 4
        conductor.stop_acquisition()
        folder = conductor.session_folder()
    session = read_session_data(folder)
    edges = session["cam0"]["timestamps.ttl.in"]
    assert list(edges.columns[:2]) == ["timestamp_frame", "sys_time"]  # the original's columns come first
    assert edges["level"].tolist() == levels
    assert session["cam0"]["metadata"]["frames"]["ttl_in_edges"] == len(levels)
    assert len(session["cam1"]["timestamps.ttl.in"]) == 0
    frames = read_frames(folder, "cam0")
    assert edges["frame_index"].isin(frames["frame_index"]).all()


def test_two_acquisitions_in_a_row(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=2)
    with Conductor(config_file=config) as conductor:
        conductor.start_acquisition("animal__first")
        conductor.stop_acquisition()
        first = conductor.session_folder()
        conductor.start_acquisition("animal__second")
        conductor.stop_acquisition()
        second = conductor.session_folder()
    assert first.parent == second.parent and first.name == "animal__first" and second.name == "animal__second"
    for folder in (first, second):
        assert_session_complete(read_session_data(folder), ["cam0", "cam1"], folder)


@pytest.mark.parametrize("resolution", [(64, 64), (1280, 720)])
def test_resolutions_decode(colony_config: Callable[..., Path], resolution: tuple[int, int]) -> None:
    config = colony_config(cameras=1, framerate=30, resolution=resolution)
    with Conductor(config_file=config) as conductor:
        _record(conductor, 0.5)
        folder = conductor.session_folder()
    table = read_frames(folder, "cam0")
    video = next(folder.glob("*.h264"))
    assert read_frame_indices(video) == table["frame_index"].tolist()


def test_stalled_encoder_drops_are_counted_never_faked(colony_config: Callable[..., Path]) -> None:
    from rpi_camera_colony.acquisition.cameras.simulated import BUFFER_COUNT, STALL_AT_FRAME, STALL_FRAMES

    config = colony_config(cameras=1, framerate=60, per_camera={"cam0": {"sim_fault": "stall"}})
    with Conductor(config_file=config) as conductor:
        summaries = _record(conductor, 1.5)
        folder = conductor.session_folder()
    table = read_frames(folder, "cam0")
    indices = table["frame_index"].tolist()
    gaps = [(a, b) for a, b in zip(indices, indices[1:]) if b != a + 1]
    assert len(gaps) == 1, gaps
    before, after = gaps[0]
    missing = after - before - 1
    assert STALL_FRAMES - BUFFER_COUNT - 2 <= missing <= STALL_FRAMES, missing
    assert STALL_AT_FRAME <= before <= STALL_AT_FRAME + BUFFER_COUNT
    meta = read_session_data(folder)["cam0"]["metadata"]
    assert summaries["cam0"]["dropped"] == meta["frames"]["dropped"] == missing
    assert meta["frames"]["dropped_at"] == [before]
    # The gap is in the timestamps too, and the video holds exactly the frames the table lists.
    stamps = table["timestamp_frame"].to_numpy()
    assert (stamps[1:] - stamps[:-1]).max() > (missing + 0.5) * 1e6 / 60
    assert read_frame_indices(next(folder.glob("*.h264"))) == indices


LOGGING_SCRIPT = """
import sys
from rpi_camera_colony.control.conductor import Conductor
with Conductor(config_file=sys.argv[1]) as conductor:
    conductor.start_acquisition()
    conductor.stop_acquisition()
"""


@pytest.mark.parametrize("to_console", [True, False])
def test_log_to_console_from_the_python_api(colony_config: Callable[..., Path], to_console: bool) -> None:
    """Found: `log_to_console = True` printed nothing from a script (only the CLI configured a handler). With no
    logging set up by the application, the conductor shows its records on stderr as the config says."""
    config = colony_config(cameras=1, log={"log_to_console": to_console, "level": "INFO"})
    result = subprocess.run(
        [sys.executable, "-c", LOGGING_SCRIPT, str(config)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert ("all 1 camera(s) recording" in result.stderr) == to_console, result.stderr
    assert ("cam0" in result.stderr) == to_console


def test_each_simulated_camera_draws_its_own_id(colony_config: Callable[..., Path]) -> None:
    """Found: two simulated cameras at the same settings wrote byte-identical videos, so a mix-up of cameras could
    not be seen in the data. Each frame now carries its camera's id beside its frame number."""
    import time

    from rpi_camera_colony.acquisition.cameras.simulated import camera_id
    from rpi_camera_colony.testing import read_camera_ids, read_frame_indices

    with Conductor(config_file=colony_config(cameras=2, framerate=30)) as conductor:
        conductor.start_acquisition()
        time.sleep(0.5)  # the length of the recording
        conductor.stop_acquisition()
        folder = conductor.session_folder()
    session = read_session_data(folder)
    videos = {name: folder / session[name]["video_file_h264"] for name in ("cam0", "cam1")}
    for name, video in videos.items():
        assert read_camera_ids(video) == {camera_id(name)}
        assert read_frame_indices(video) == session[name]["timestamps.ttl.out"]["frame_index"].tolist()
    assert camera_id("cam0") != camera_id("cam1")
    assert videos["cam0"].read_bytes()[:4096] != videos["cam1"].read_bytes()[:4096]
