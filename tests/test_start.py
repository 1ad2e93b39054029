"""The two-phase start: every camera armed, then started at a time chosen from what was measured; a camera that
cannot make the time says so before it and the start moves for all; a camera that cannot arm leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from rpi_camera_colony.clock import conductor_now_us
from rpi_camera_colony.control import start
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.control.start import StartOutcome
from rpi_camera_colony.exc import CameraError, ColonyCommandError


def record_once(config: Path, name: str) -> tuple[StartOutcome, dict[str, dict[str, Any]], Path]:
    """Start a recording of every camera and stop it: how the start went, the summaries, the session folder."""
    with Conductor(config_file=config, acquisition_name=name) as conductor:
        conductor.start_acquisition()
        outcome = conductor.start_outcome
        assert outcome is not None
        return outcome, conductor.stop_acquisition(), conductor.session_folder()


def test_every_camera_starts_at_the_time_chosen_from_the_round_trips(colony_config: Callable[..., Path]) -> None:
    # start_delay sets the shortest lead: on a machine as busy as CI can be, a start at the measured lead alone may
    # have to start a camera late (the benchmark shows none late up to 32 cameras on an idle machine)
    config = colony_config(cameras=4, framerate=60, control={"start_delay": 0.2})
    outcome, summaries, folder = record_once(config, "arm__ok")
    assert outcome.late_us == {}  # (on a busy machine a camera may have asked for a later start: still on time)
    assert outcome.reschedules <= start.MAX_RESCHEDULES
    assert outcome.lead_s >= max(0.2, start.ROUND_TRIPS * outcome.round_trip_s)
    assert all(margin > 0 for margin in outcome.margins_us.values()) and len(outcome.margins_us) == 4
    assert set(outcome.began_us) == {"cam0", "cam1", "cam2", "cam3"}
    assert all(abs(t - outcome.start_at_us) <= start.LATE_US for t in outcome.began_us.values())
    assert outcome.skew_us is not None and outcome.skew_us < start.LATE_US
    assert all(s["frames"] > 0 for s in summaries.values())
    for metadata in folder.glob("*.metadata.json"):
        timing = json.loads(metadata.read_text())["timing"]
        assert timing["start_at_us"] == outcome.start_at_us and timing["late_starts_us"] == {}


def test_a_camera_that_cannot_arm_fails_the_start_and_the_others_leave_no_files(
    colony_config: Callable[..., Path],
) -> None:
    config = colony_config(cameras=3, per_camera={"cam1": {"sim_fault": "fail_at_arm"}})
    with Conductor(config_file=config, acquisition_name="arm__fails") as conductor:
        with pytest.raises(ColonyCommandError) as caught:
            conductor.start_acquisition()
        assert caught.value.command == "arm" and set(caught.value.failures) == {"cam1"}
        assert "sim_fault = fail_at_arm" in str(caught.value)
        assert not conductor.acquiring
        folder = conductor.session_folder()
        states = {name: status.state for name, status in conductor.status().items()}
    assert not folder.exists() or not any(folder.iterdir())  # the armed cameras' empty files are removed
    assert states["cam0"] == states["cam2"] == "configured"


def test_a_start_time_too_near_is_said_before_it_and_moved_for_every_camera(
    colony_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cameras are asked for a long notice (200 round trips) and given a 50 ms lead: the first start time is
    # nearer than they need, and they say so with most of the lead left, so the start can move for every camera.
    monkeypatch.setattr(start, "ROUND_TRIPS", 0)
    monkeypatch.setattr(start, "MIN_LEAD_S", 0.05)
    monkeypatch.setattr(start, "NOTICE_ROUND_TRIPS", 200)
    outcome, summaries, _ = record_once(colony_config(cameras=3, framerate=60), "arm__moved")
    assert 1 <= outcome.reschedules <= start.MAX_RESCHEDULES
    assert outcome.late_us == {}  # moved, not started late
    assert all(abs(t - outcome.start_at_us) <= start.LATE_US for t in outcome.began_us.values())
    assert all(s["frames"] > 0 for s in summaries.values())


def test_a_camera_that_cannot_make_a_start_that_can_no_longer_move_starts_at_once_late(
    colony_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The start time is nearer than the cameras' own lead, and moving it is not allowed: they start at once, late.
    monkeypatch.setattr(start, "ROUND_TRIPS", 0)
    monkeypatch.setattr(start, "MIN_LEAD_S", 0.0)
    monkeypatch.setattr(start, "MAX_RESCHEDULES", 0)
    outcome, summaries, _ = record_once(colony_config(cameras=2, framerate=60), "arm__late")
    assert outcome.reschedules == 0 and outcome.late_us  # recording, late, and said
    assert all(delay > start.LATE_US for delay in outcome.late_us.values())
    assert all(s["frames"] > 0 for s in summaries.values())


def test_an_agent_refuses_a_start_too_near_and_moves_a_waiting_one(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=1, framerate=60)
    with Conductor(config_file=config, acquisition_name="arm__agent") as conductor:
        link = conductor.controllers["cam0"]
        names = {"acquisition_name": "arm__agent", "acquisition_time": "agent", "acquisition_group": "arm"}
        armed = link.send("arm", names).wait()
        assert armed.state == "armed" and armed.data["synchronised"] is True
        lead_us = armed.data["start_lead_us"]
        assert lead_us > 0

        near = link.send("start", {"start_at_us": conductor_now_us() + lead_us // 5})
        with pytest.raises(CameraError, match="start time too near"):
            near.wait()
        assert near.reply is not None and near.reply.data["too_near"] is True and near.reply.state == "armed"

        far = link.send("start", {"start_at_us": conductor_now_us() + 5_000_000}, timeout=30)
        moved_to = conductor_now_us() + 300_000
        moved = link.send("start", {"start_at_us": moved_to}, timeout=30)
        with pytest.raises(CameraError, match="rescheduled"):
            far.wait()
        first = moved.wait().data["first_frame"]["conductor_us"]
        assert abs(first - moved_to) <= start.LATE_US  # at the new time, not the first one
        link.stop().wait()


def test_agents_load_their_encoder_before_they_say_hello(colony_config: Callable[..., Path]) -> None:
    """What a start would otherwise pay for inside its window (PyAV and x264 for simulated cameras) is loaded by each
    agent before its hello: connected and configured, but not armed, the agents have it."""
    config = colony_config(cameras=2)
    with Conductor(config_file=config) as conductor:
        for name, status in conductor.status().items():
            assert status.pid is not None and status.state == "configured"
            command = Path(f"/proc/{status.pid}/cmdline").read_bytes().split(b"\0")
            assert command[command.index(b"--preload-backends") + 1 :][:2] == [b"simulated", b"simulated"], name
            maps = Path(f"/proc/{status.pid}/maps").read_text()
            assert "libx264" in maps and "libavcodec" in maps, name


def test_a_start_for_a_camera_no_longer_armed_says_why(colony_config: Callable[..., Path]) -> None:
    """A start that follows a failed one (as a start moved later can) names the camera's state and its error."""
    config = colony_config(cameras=1, per_camera={"cam0": {"sim_fault": "fail_at_start"}})
    with Conductor(config_file=config, acquisition_name="arm__failed") as conductor:
        link = conductor.controllers["cam0"]
        link.send(
            "arm", {"acquisition_name": "arm__failed", "acquisition_time": "x", "acquisition_group": "arm"}
        ).wait()
        with pytest.raises(CameraError, match="simulated camera failure at start"):
            link.send("start", {"start_at_us": conductor_now_us() + 300_000}, timeout=30).wait()
        with pytest.raises(CameraError, match=r"not armed: error \(.*simulated camera failure at start"):
            link.send("start", {"start_at_us": conductor_now_us() + 300_000}, timeout=30).wait()
