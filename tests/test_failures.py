"""Cameras that fail: at configure, at start, by dying, by going silent. Errors name each camera; nothing is lost."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from rpi_camera_colony import read_session_data
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.exc import AgentExited, CameraError, ColonyCommandError, ConfigError, HandshakeTimeout
from rpi_camera_colony.testing import (
    agent_children,
    assert_session_complete,
    process_running,
    read_frame_indices,
    wait_for,
)


def test_start_failures_are_named_and_others_stop_cleanly(colony_config: Callable[..., Path]) -> None:
    config = colony_config(
        cameras=4,
        per_camera={"cam1": {"sim_fault": "crash_at_start"}, "cam2": {"sim_fault": "fail_at_start"}},
    )
    with Conductor(config_file=config) as conductor:
        with pytest.raises(ColonyCommandError) as caught:
            conductor.start_acquisition()
        err = caught.value
        assert err.command == "start"
        assert set(err.failures) == {"cam1", "cam2"}
        assert isinstance(err.failures["cam1"], AgentExited)
        assert err.failures["cam1"].returncode == 70
        assert "sim_fault = crash_at_start" in str(err.failures["cam1"])  # the agent's last output is shown
        assert "simulated camera failure at start" in str(err)
        assert "cam1" in str(err) and "cam2" in str(err)
        assert not conductor.acquiring
        status = conductor.status()
        assert status["cam1"].state == "exited" and not status["cam1"].ok
        assert status["cam2"].state == "error"
        assert status["cam0"].state == "stopped" and status["cam3"].state == "stopped"
        folder = conductor.session_folder()
        summaries = conductor.last_summaries
    assert set(summaries) == {"cam0", "cam3"}
    # The cameras that did start were stopped cleanly: complete files, status "stopped".
    assert_session_complete(read_session_data(folder), ["cam0", "cam3"], folder)


def test_configure_failure_names_camera_and_leaves_nothing_running(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=2, per_camera={"cam1": {"camera_backend": "picamera2"}})
    with pytest.raises(ColonyCommandError) as caught:
        Conductor(config_file=config)
    assert set(caught.value.failures) == {"cam1"}
    message = str(caught.value)
    assert "'picamera2' cannot run here: picamera2 is installed, but not libcamera" in message
    assert "camera_backend = simulated" in message
    assert agent_children() == []


def test_missing_agent_times_out_with_its_name(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=2, control={"hello_timeout": 1.0}, per_camera={"cam1": {"launcher": "none"}})
    started = time.monotonic()
    with pytest.raises(HandshakeTimeout) as caught:
        Conductor(config_file=config)
    assert time.monotonic() - started < 10
    assert set(caught.value.failures) == {"cam1"}
    assert "launcher = none" in str(caught.value)
    assert isinstance(caught.value, TimeoutError)


def test_agent_killed_mid_recording(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=2, framerate=30)
    with Conductor(config_file=config) as conductor:
        conductor.start_acquisition()
        threading.Event().wait(1.5)
        pid = conductor.status()["cam1"].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: conductor.status()["cam1"].state == "exited")
        with pytest.raises(ColonyCommandError) as caught:
            conductor.stop_acquisition()
        assert set(caught.value.failures) == {"cam1"}
        assert isinstance(caught.value.failures["cam1"], AgentExited)
        summaries = conductor.last_summaries
        folder = conductor.session_folder()
    assert summaries["cam0"]["status"] == "stopped"
    # What cam1 wrote before it died is on disk: at most the last second is lost.
    session = read_session_data(folder)
    killed = session["cam1"]
    assert killed["metadata"]["status"] == "recording"  # it never got to finish
    rows = len(killed["timestamps.ttl.out"])
    assert rows >= 15, rows  # >= 0.5 s of 1.5 s at 30 fps survived
    decoded = read_frame_indices(folder / killed["video_file_h264"])
    assert decoded and decoded == list(range(decoded[0], decoded[0] + len(decoded)))
    # Video and rows were flushed together: every row's frame is in the video, and the video holds at most one
    # frame without a row (the one written between the two flushes), not a second's worth.
    table_frames = killed["timestamps.ttl.out"]["frame_index"].tolist()
    assert table_frames == decoded[: len(table_frames)]
    assert len(decoded) - len(table_frames) <= 1, (len(decoded), len(table_frames))


def test_silent_agent_is_marked_lost_then_reattached(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=2, framerate=30, control={"heartbeat_interval": 0.1})
    with Conductor(config_file=config) as conductor:
        conductor.start_acquisition()
        pid = conductor.status()["cam1"].pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            assert wait_for(lambda: conductor.status()["cam1"].state == "lost", timeout=5)
            assert conductor.status()["cam1"].problem
            assert conductor.status()["cam0"].ok
        finally:
            os.kill(pid, signal.SIGCONT)
        assert wait_for(lambda: conductor.status()["cam1"].state == "recording", timeout=5)
        summaries = conductor.stop_acquisition()
    assert summaries["cam1"]["status"] == "stopped"


def test_bad_config_raises_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "bad.config"
    config.write_text("[controllers]\n  [[cam0]]\n    framerate = 500\n    resolution = 10x10\n")
    with pytest.raises(ConfigError) as caught:
        Conductor(config_file=config)
    assert len(caught.value.problems) == 2
    assert agent_children() == []


def test_commands_after_cleanup_fail_clearly(colony_config: Callable[..., Path]) -> None:
    conductor = Conductor(config_file=colony_config(cameras=1))
    conductor.cleanup()
    with pytest.raises(Exception, match="cleaned up"):
        conductor.start_acquisition()
    status = conductor.controllers["cam0"].ping()
    with pytest.raises(CameraError):
        status.wait(1)


CRASHING_CONDUCTOR = """
import os, sys
from rpi_camera_colony.control.conductor import Conductor
conductor = Conductor(config_file=sys.argv[1])
conductor.start_acquisition()
print(" ".join(str(s.pid) for s in conductor.status().values()), flush=True)
os._exit(3)  # the central machine's process dies without cleaning up
"""


def test_recording_survives_conductor_crash(colony_config: Callable[..., Path]) -> None:
    import subprocess
    import sys

    config = colony_config(cameras=2, framerate=30, general={"max_acquisition_time": 2})
    # the dead conductor cannot remove its agents' output folder: it is made in this test's folder
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_CONDUCTOR, str(config)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "TMPDIR": str(config.parent)},
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    pids = [int(p) for p in result.stdout.split()]
    assert len(pids) == 2
    try:
        assert wait_for(lambda: not any(process_running(p) for p in pids), timeout=20), "orphaned agents did not finish"
    finally:
        for pid in pids:
            if process_running(pid):
                os.kill(pid, signal.SIGKILL)
    folder = next(p for p in (config.parent / "data").rglob("*") if p.is_dir() and any(p.glob("*.h264")))
    session = read_session_data(folder)
    for name in ("cam0", "cam1"):
        meta = session[name]["metadata"]
        assert meta["status"] == "stopped" and meta["stop_reason"] == "max_acquisition_time"
        assert meta["frames"]["written"] == len(session[name]["timestamps.ttl.out"]) >= 50
        decoded = read_frame_indices(folder / session[name]["video_file_h264"])
        assert decoded == session[name]["timestamps.ttl.out"]["frame_index"].tolist()


def test_preview_runs_camera_without_files(colony_config: Callable[..., Path], data_dir: Path) -> None:
    with Conductor(config_file=colony_config(cameras=1)) as conductor:
        camera = conductor.controllers["cam0"]
        assert camera.preview().wait().state == "previewing"
        assert conductor.status()["cam0"].state == "previewing"
        assert not list(data_dir.rglob("*.h264"))  # a preview writes nothing
        assert camera.stop().wait().state == "configured"
        assert camera.request_status().wait().data["state"] == "configured"
        assert camera.preview().wait().state == "previewing"
        conductor.start_acquisition()  # from previewing, the camera switches to recording
        assert conductor.status()["cam0"].state == "recording"
        conductor.stop_acquisition()
    assert len(list(data_dir.rglob("*.h264"))) == 1


def test_launcher_none_agent_serves_successive_conductors(colony_config: Callable[..., Path], data_dir: Path) -> None:
    """An agent started elsewhere (as the systemd unit does) records for one conductor after another."""
    import socket
    import subprocess
    import sys

    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    agent = subprocess.Popen(
        [sys.executable, "-m", "rpi_camera_colony.acquisition", "--instance-name", "cam0",
         "--control-stream-ip", "127.0.0.1", "--control-stream-port", str(ports[0]),
         "--log-ip", "127.0.0.1", "--log-port", str(ports[1]), "--data-path", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        config = colony_config(
            cameras=1,
            control={"port": ports[0]},
            log={"port": ports[1]},
            per_camera={"cam0": {"launcher": "none"}},
        )
        for name in ("first__take", "second__take"):
            with Conductor(config_file=config, acquisition_name=name) as conductor:
                summary = conductor.start_acquisition() and conductor.stop_acquisition()
                assert summary["cam0"]["frames"] > 0
            assert agent.poll() is None, "the conductor must leave an agent it did not start running"
        assert len(list(data_dir.rglob("*.h264"))) == 2
    finally:
        agent.terminate()
        assert agent.wait(10) == 0


def test_full_disk_is_reported_and_recorded_data_kept(
    colony_config: Callable[..., Path], small_disk: Callable[[str], Path]
) -> None:
    """The data disk fills up mid-recording: the camera reports the error by name, what was written stays readable."""
    import errno

    small = small_disk("160k")
    config = colony_config(
        cameras=2, framerate=90, general={"remote_data_path": str(small), "disk_space_check": "off"},
        log={"log_to_file": False},
        per_camera={"cam1": {"resolution": "64x64", "framerate": 5}},
    )  # fmt: skip
    with Conductor(config_file=config) as conductor:
        conductor.start_acquisition()
        assert wait_for(lambda: conductor.status()["cam0"].state == "error", timeout=30), conductor.status()
        status = conductor.status()["cam0"]
        assert status.problem and "No space left on device" in status.problem
        summaries = conductor.stop_acquisition()
        folder = conductor.session_folder()
        # a full disk is a condition to report, not a defect: no traceback (found: one on the console)
        said = "\n".join(record["msg"] for record in conductor.remote_log_records("cam0"))
        assert "No space left on device" in said and "Traceback" not in said
        processes = dict(conductor._processes)
    # the agent was closed, not crashed (found: it exited with code 1 after a camera error)
    assert all(process.wait(10) == 0 for process in processes.values())
    assert summaries["cam0"]["status"] == "failed" and "No space left" in summaries["cam0"]["stop_reason"]
    video = next(folder.glob("*.cam0.*.rcc.video.h264"))
    frames = read_frame_indices(video)[:-2]  # the last frame was cut off by the full disk (and concealed)
    assert len(frames) > 10 and frames == list(range(frames[0], frames[0] + len(frames)))
    # The camera's files agree and say why it stopped; nothing temporary is left on the full disk.
    session = read_session_data(folder)
    meta = session["cam0"]["metadata"]
    assert meta["status"] == "failed" and "No space left" in meta["stop_reason"]
    rows = session["cam0"]["timestamps.ttl.out"]["frame_index"].tolist()
    assert meta["frames"]["written"] == len(rows) and rows == read_frame_indices(video)[: len(rows)]
    assert not list(small.rglob("*.tmp"))
    # A write error in the background sync thread is reported too, not lost with the thread.
    from rpi_camera_colony.acquisition.writers import CsvFile, DataSyncer

    errors: list[BaseException] = []
    syncer = DataSyncer(0.05, on_error=errors.append)
    late = CsvFile(small / "late.csv", ["x"])  # a few bytes: they wait in Python's buffer, not on the disk
    syncer.add(late)
    late.write_row(1)
    assert wait_for(lambda: bool(errors), timeout=5), "the sync thread's write error was lost"
    assert isinstance(errors[0], OSError) and errors[0].errno == errno.ENOSPC
    syncer.close()
    with pytest.raises(OSError):
        late.close()


def test_log_file_is_private_and_never_written_through_a_symlink(
    colony_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The original's default log file was a predictable name in /tmp, opened following symlinks: another user
    could plant a symlink there and have the conductor append to a file of their choosing."""
    import stat

    from rpi_camera_colony.control import conductor as conductor_module

    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setattr(conductor_module, "datestr", lambda: "20260101_000000")
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    folder = state / "rpi_camera_colony"
    folder.mkdir(parents=True)
    (folder / "rcc_conductor.20260101_000000.log").symlink_to(victim)  # planted
    config = colony_config(cameras=1, log={"log_file": "/tmp/rpi_camera_colony__logging"})
    with Conductor(config_file=config) as conductor:
        log_file = conductor.log_file
    assert log_file == folder / "rcc_conductor.20260101_000000-2.log"
    assert victim.read_text() == "untouched\n"
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600 and "conductor listening" in log_file.read_text()


def test_a_recording_the_disk_cannot_hold_is_refused_before_it_starts(
    colony_config: Callable[..., Path], small_disk: Callable[[str], Path]
) -> None:
    """With 80 MB free, ten minutes at 90 fps do not fit: refused with the figures; 'warn' records
    anyway and says so; a short max_acquisition_time fits."""
    small = small_disk("80m")
    config = colony_config(
        cameras=1, framerate=90, general={"remote_data_path": str(small)}, log={"log_to_file": False}
    )
    with Conductor(config_file=config) as conductor:
        with pytest.raises(ColonyCommandError) as caught:
            conductor.start_acquisition()
        message = str(caught.value.failures["cam0"])
        assert "GB free at" in message and " h at about " in message and "needs" in message
        assert "disk_space_check = warn" in message
        assert not list(small.rglob("*.rcc.*")), "a refused recording leaves no files"
    config = colony_config(
        cameras=1, framerate=90, log={"log_to_file": False},
        general={"remote_data_path": str(small), "disk_space_check": "warn"},
    )  # fmt: skip
    with Conductor(config_file=config, acquisition_name="room__warned") as conductor:
        conductor.start_acquisition()
        conductor.stop_acquisition()
        warnings = [r["msg"] for r in conductor.remote_log_records("cam0") if r["level"] == "WARNING"]
    assert any("needs" in text and "GB free" in text for text in warnings), warnings
    config = colony_config(
        cameras=1, framerate=90, log={"log_to_file": False},
        general={"remote_data_path": str(small), "max_acquisition_time": 5},
    )  # fmt: skip
    with Conductor(config_file=config, acquisition_name="room__short") as conductor:
        conductor.start_acquisition()
        summaries = conductor.stop_acquisition()
    assert summaries["cam0"]["status"] == "stopped"
