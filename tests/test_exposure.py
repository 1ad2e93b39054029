"""Exposure and white balance settle when an agent's camera is configured (the original's preview_static) and stay
fixed for its recordings; preview and reset settle them again; a key turns it off. On the real picamera2 over the
fake libcamera, and the legacy picamera fake; over the network, the warm-up does not stop heartbeats."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rpi_camera_colony.acquisition.acquisition_control import PiAcquisitionControl
from rpi_camera_colony.acquisition.camera_agent import CameraAgent
from rpi_camera_colony.config import controller_from_dict
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.exc import ColonyError
from rpi_camera_colony.testing import free_port, wait_for
from rpi_camera_colony.testing.fakes import installed

WARMUP_S = 0.5
HARDWARE = ["picamera2", "picamera"]


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with installed("picamera2", "picamera") as modules:
        yield modules


def make_agent(tmp_path: Path, camera: str) -> CameraAgent:
    return CameraAgent(
        instance_name="cam0", data_path=str(tmp_path / "data"), camera_backend=camera, ttl_backend="simulated"
    )


def settings(**values: Any) -> Any:
    return controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "320x240", **values})


def exposure_sets(fakes: dict[str, Any]) -> list[tuple[str, Any]]:
    """The legacy camera's exposure and white balance attribute writes, in order."""
    names = {"awb_mode", "awb_gains", "shutter_speed", "exposure_mode"}
    return [args for name, args in fakes["picamera"].cameras[-1].calls if name == "set" and args[0] in names]


def test_picamera2_settles_at_configure_and_every_recording_starts_fixed(tmp_path: Path, fakes: dict[str, Any]) -> None:
    with make_agent(tmp_path, "picamera2") as agent:
        agent.configure(settings(exposure_warmup=WARMUP_S))
        assert agent.state == "configured"
        assert agent.camera is not None
        fixed = agent.camera.fixed_exposure
        assert fixed is not None and fixed["AeEnable"] is False and fixed["AwbEnable"] is False
        sensor = fakes["picamera2"].cameras[-1]
        warm = [f.metadata for f in sensor.frames if f.outcome == "delivered"]
        assert warm, "the camera ran during the warm-up"
        assert fixed["ExposureTime"] == warm[-1]["ExposureTime"]  # what automatic exposure had reached
        assert tuple(fixed["ColourGains"]) == pytest.approx(tuple(warm[-1]["ColourGains"]), rel=1e-6)
        warm_frames = len(sensor.frames)
        for take in ("one", "two"):
            recording = agent.start(acquisition_name=take, acquisition_time="20260101_000000")
            assert wait_for(lambda: recording.frames_written >= 10)  # noqa: B023 (called at once)
            agent.stop()
            given = sensor.start_controls[-1]
            assert (given["AeEnable"], given["AwbEnable"], given["ExposureTime"]) == (
                False,
                False,
                fixed["ExposureTime"],
            )
            assert given["FrameDurationLimits"] == (33333, 33333)  # the settings' controls too, at every start
            assert recording.files is not None
            metadata = json.loads(recording.files.metadata.read_text())
            assert metadata["exposure"]["warmup_s"] == WARMUP_S
            assert metadata["exposure"]["fixed"]["ExposureTime"] == fixed["ExposureTime"]
        recorded = {f.metadata["ExposureTime"] for f in sensor.frames[warm_frames:] if f.outcome == "delivered"}
        assert recorded == {fixed["ExposureTime"]}  # both recordings, from their first frame


def test_picamera_settles_at_configure_as_the_original(tmp_path: Path, fakes: dict[str, Any]) -> None:
    with make_agent(tmp_path, "picamera") as agent:
        agent.configure(settings(exposure_warmup=WARMUP_S))
        assert agent.camera is not None and agent.camera.fixed_exposure is not None
        writes = exposure_sets(fakes)
        assert [name for name, _ in writes] == [
            "awb_mode", "shutter_speed", "exposure_mode",  # automatic for the warm-up
            "awb_mode", "awb_gains", "shutter_speed", "exposure_mode",  # then fixed where they settled
        ]  # fmt: skip
        assert writes[3] == ("awb_mode", "off") and writes[-1] == ("exposure_mode", "off")
        for take in ("one", "two"):
            recording = agent.start(acquisition_name=take, acquisition_time="20260101_000000")
            assert wait_for(lambda: recording.frames_written >= 5)  # noqa: B023 (called at once)
            agent.stop()
        assert exposure_sets(fakes) == writes  # nothing changed them for the recordings


@pytest.mark.parametrize("camera", HARDWARE)
def test_a_preview_settles_again(tmp_path: Path, fakes: dict[str, Any], camera: str) -> None:
    with make_agent(tmp_path, camera) as agent:
        agent.configure(settings(exposure_warmup=WARMUP_S))
        assert agent.camera is not None and agent.camera.fixed_exposure is not None
        agent.preview()
        assert agent.camera.fixed_exposure is None  # automatic again while the preview starts
        assert wait_for(lambda: agent.camera is not None and agent.camera.fixed_exposure is not None, timeout=5)
        agent.stop()
        assert agent.state == "configured" and agent.camera.fixed_exposure is not None


@pytest.mark.parametrize("camera", HARDWARE)
def test_a_preview_stopped_before_it_settled_keeps_the_values_fixed_before(
    tmp_path: Path, fakes: dict[str, Any], camera: str
) -> None:
    with make_agent(tmp_path, camera) as agent:
        agent.configure(settings(exposure_warmup=WARMUP_S))
        assert agent.camera is not None
        fixed = agent.camera.fixed_exposure
        assert fixed is not None
        agent.preview()
        agent.stop()  # long before the preview's warm-up
        assert agent.camera.fixed_exposure == fixed
        recording = agent.start(acquisition_name="after", acquisition_time="20260101_000000")
        assert wait_for(lambda: recording.frames_written >= 5)
        agent.stop()
        if camera == "picamera2":
            given = fakes["picamera2"].cameras[-1].start_controls[-1]
            assert (given["AeEnable"], given["ExposureTime"]) == (False, fixed["ExposureTime"])
        else:
            writes = exposure_sets(fakes)
            assert writes[-2:] == [("shutter_speed", fixed["shutter_speed"]), ("exposure_mode", "off")]


@pytest.mark.parametrize("camera", HARDWARE)
def test_a_stop_during_the_warm_up_leaves_exposure_automatic(
    tmp_path: Path, fakes: dict[str, Any], camera: str
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    agent = CameraAgent(
        instance_name="cam0",
        data_path=str(tmp_path / "data"),
        camera_backend=camera,
        ttl_backend="simulated",
        on_event=lambda name, details: events.append((name, details)),
    )
    with agent:
        agent.configure(settings(exposure_warmup=30), wait=False)
        assert agent.state == "settling"
        with pytest.raises(Exception, match="still settling"):
            agent.start(acquisition_name="early")
        agent.stop()
        assert agent.state == "configured" and agent.camera is not None and agent.camera.fixed_exposure is None
        assert [d["error"] for name, d in events if name == "settled"] == [
            "stopped before exposure and white balance had settled"
        ]
        assert agent.finish_settling() is None  # nothing left to take
        recording = agent.start(acquisition_name="auto", acquisition_time="20260101_000000")
        assert wait_for(lambda: recording.frames_written >= 5)
        agent.stop()
        if camera == "picamera2":
            given = fakes["picamera2"].cameras[-1].start_controls[-1]
            assert (given["AeEnable"], given["AwbEnable"]) == (True, True)


@pytest.mark.parametrize(
    "values",
    [
        {"exposure_warmup": 0},  # turned off
        {"exposure_warmup": WARMUP_S, "camera_extras": {"shutter_speed": "8000", "awb_gains": "1.5, 1.2"}},  # manual
    ],
    ids=["off", "manual"],
)
@pytest.mark.parametrize("camera", [*HARDWARE, "simulated"])
def test_nothing_to_settle(tmp_path: Path, fakes: dict[str, Any], camera: str, values: dict[str, Any]) -> None:
    with make_agent(tmp_path, camera) as agent:
        agent.configure(settings(**values))
        assert agent.state == "configured"
        assert agent.camera is not None and agent.camera.fixed_exposure is None
        assert agent.settle_exposure() is False
        if camera == "picamera2":
            assert fakes["picamera2"].cameras[-1].start_controls == []  # the camera never ran


def test_over_the_network_configure_waits_for_the_warm_up_and_heartbeats_go_on(
    tmp_path: Path, fakes: dict[str, Any], colony_config: Callable[..., Path]
) -> None:
    port = free_port()
    config = colony_config(
        cameras=1,
        control={"port": port, "heartbeat_interval": 0.2},
        per_camera={"cam0": {"launcher": "none", "exposure_warmup": 2.0, "camera_backend": "picamera2"}},
    )
    agent = PiAcquisitionControl(
        instance_name="cam0",
        control_port=port,
        data_path=str(tmp_path / "agent"),
        heartbeat_interval=0.2,
        ttl_backend="simulated",
    )
    with agent, Conductor(config_file=str(config)) as conductor:
        link = conductor.controllers["cam0"]
        # the configure was acknowledged after the warm-up; the agent was never silent long enough to count as lost
        # (4 heartbeats of 0.2 s: a loop blocked for the 2 s warm-up would have been)
        assert agent.agent.camera is not None and agent.agent.camera.fixed_exposure is not None
        assert conductor.status()["cam0"].outages == 0
        first = agent.agent.camera.fixed_exposure
        reply = link.reset().wait()
        assert reply.data["exposure"]["AeEnable"] is False and conductor.status()["cam0"].outages == 0
        assert agent.agent.camera.fixed_exposure is not None and first is not None
        pending = link.reset()
        assert wait_for(lambda: conductor.status()["cam0"].state == "settling")
        link.stop().wait()
        with pytest.raises(ColonyError, match="before exposure and white balance had settled"):
            pending.wait(timeout=5)
        # a stop and a reset at once: the stopped warm-up's end (still queued) must not answer the new reset
        pending = link.reset()
        assert wait_for(lambda: conductor.status()["cam0"].state == "settling")
        stopped, again = link.stop(), link.reset()
        stopped.wait()
        reply = again.wait(timeout=10)
        assert reply.data["exposure"] is not None and reply.data["exposure"]["AeEnable"] is False
        assert conductor.status()["cam0"].state == "configured"
        with pytest.raises(ColonyError, match="before exposure and white balance had settled"):
            pending.wait(timeout=5)
        conductor.start_acquisition("net")
        summaries = conductor.stop_acquisition()
        assert summaries["cam0"]["frames"] > 0
