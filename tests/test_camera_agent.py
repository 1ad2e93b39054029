"""The agent's camera state machine, driven in-process without any socket; and the one backend registry that the
config, the agent's command line, the backend factory and the fakes read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rpi_camera_colony import backend_registry, protocol
from rpi_camera_colony.acquisition.backends import BackendFactory
from rpi_camera_colony.acquisition.camera_agent import CameraAgent
from rpi_camera_colony.acquisition.cameras.base import CameraBackend
from rpi_camera_colony.acquisition.ttl.base import TTLBackend
from rpi_camera_colony.clock import CameraClock
from rpi_camera_colony.config import controller_from_dict
from rpi_camera_colony.exc import BackendError, ConfigError, RecordingError
from rpi_camera_colony.testing import fakes, wait_for


def _agent(tmp_path: Path, **options: object) -> CameraAgent:
    return CameraAgent(instance_name="cam0", data_path=str(tmp_path), camera_backend="simulated", **options)  # type: ignore[arg-type]


def test_the_state_machine_runs_without_a_network(tmp_path: Path) -> None:
    settings = controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "320x240"})
    agent = _agent(tmp_path)
    assert agent.state == "idle"
    with pytest.raises(RecordingError, match="not configured"):
        agent.start(acquisition_name="early", acquisition_time="20260101_000000")
    with pytest.raises(ConfigError, match="settings are for camera 'cam7'"):
        agent.configure(controller_from_dict({"name": "cam7"}))
    assert agent.configure(settings) == [] and agent.state == "configured"
    agent.preview()
    assert agent.state == "previewing" and agent.stop() == {} and agent.state == "configured"
    recording = agent.start(acquisition_name="sm", acquisition_time="20260101_000000", acquisition_group="g")
    assert agent.state == "recording" and agent.busy
    with pytest.raises(RecordingError, match="cannot configure while recording"):
        agent.configure(settings)
    with pytest.raises(RecordingError, match="already recording"):
        agent.preview()
    assert wait_for(lambda: recording.frames_written >= 5)
    status = agent.status()
    assert isinstance(status, protocol.AgentStatus) and status.state == "recording"
    assert status.recording is not None and status.recording["acquisition_name"] == "sm"
    assert status.counts.frames >= 5 and status.free_disk and status.free_disk > 0
    # the status a heartbeat carries is the one the conductor reads back
    heartbeat = protocol.decode(protocol.encode(protocol.heartbeat(status)))
    assert protocol.AgentStatus.from_message(heartbeat) == status
    summary = agent.stop()
    assert agent.state == "stopped" and summary["frames"] >= 5 and summary["stop_reason"] == "requested"
    assert agent.stop() == summary  # idle: the last summary again
    stopped = agent.status()
    assert stopped.stats == {} and stopped.recording is None and stopped.counts.frames == summary["frames"]
    assert (tmp_path / "g" / "sm").is_dir()
    agent.close()
    agent.close()
    assert agent.state == "closed"


def test_the_state_machine_module_needs_no_network_library() -> None:
    script = "import sys, rpi_camera_colony.acquisition.camera_agent\nprint('zmq' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_max_acquisition_time_stops_the_recording(tmp_path: Path) -> None:
    with _agent(tmp_path, max_acquisition_time=0.3) as agent:
        agent.configure(controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "320x240"}))
        agent.start(acquisition_name="limit", acquisition_time="20260101_000000")
        limit = agent.time_limit()
        assert limit is not None and not agent.check_time(limit - 0.01)
        assert agent.check_time(limit) and agent.state == "stopped"
        assert agent.last_summary["stop_reason"] == "max_acquisition_time"
        assert agent.time_limit() is None


def test_failures_leave_the_error_state_until_configured_again(tmp_path: Path) -> None:
    with _agent(tmp_path) as agent:
        agent.configure(controller_from_dict({"name": "cam0", "sim_fault": "fail_at_start"}))
        with pytest.raises(RecordingError, match="simulated camera failure at start"):
            agent.start(acquisition_name="bad", acquisition_time="20260101_000000")
        assert agent.state == "error" and agent.status().error
        agent.configure(controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "320x240"}))
        assert agent.state == "configured" and agent.error is None
        recording = agent.start(acquisition_name="good", acquisition_time="20260101_000000")
        assert wait_for(lambda: recording.frames_written >= 2)
        agent.camera_failed("the ribbon cable came loose")  # what the loop does with a camera's error event
        assert agent.state == "error" and agent.error == "the ribbon cable came loose"
        assert agent.last_summary["frames"] >= 2  # what was recorded is finished and kept
    with pytest.raises(ConfigError, match="disk_space_check = 'sometimes'"):
        _agent(tmp_path, disk_space_check="sometimes")


def test_a_camera_error_event_reaches_the_callback(tmp_path: Path) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    with _agent(tmp_path, on_event=lambda name, details: events.append((name, details))) as agent:
        agent.configure(controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "320x240"}))
        agent.start(acquisition_name="ev", acquisition_time="20260101_000000")
        assert wait_for(lambda: any(name == "first_frame" for name, _ in events))
        agent.stop()


# -- the backend registry --------------------------------------------------------------------------------------


def test_every_registered_backend_is_built_from_the_registry() -> None:
    for backend in backend_registry.BACKENDS:
        module, _, attribute = backend.implementation.partition(":")
        cls = getattr(__import__(module, fromlist=[attribute]), attribute)
        base = CameraBackend if backend.kind == "camera" else TTLBackend
        assert issubclass(cls, base), backend.name
        assert backend.library is None or backend.install_hint, f"{backend.name}: no install hint"
    assert backend_registry.names("camera")[-1] == backend_registry.names("ttl")[-1] == "simulated"  # auto's last
    built = BackendFactory().create("camera", "simulated", clock=CameraClock())
    assert type(built).__name__ == "SimulatedCamera"
    with pytest.raises(BackendError, match="no ttl backend 'laser': choose one of auto, gpiozero, rpi_gpio, simulated"):
        BackendFactory().create("ttl", "laser", clock=CameraClock())


def test_the_config_cli_and_fakes_read_the_registry(tmp_path: Path) -> None:
    from rpi_camera_colony.config.loading import load_config

    for kind in backend_registry.KINDS:
        path = tmp_path / f"{kind}.config"
        path.write_text(f"[general]\n[controllers]\n    [[cam1]]\n        {kind}_backend = webcam\n")
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        allowed = ", ".join(repr(choice) for choice in backend_registry.choices(kind))
        assert f"{kind}_backend = webcam: must be one of {allowed}" in str(caught.value)
    for name in backend_registry.names("camera"):
        path = tmp_path / "ok.config"
        path.write_text(f"[general]\n[controllers]\n    [[cam1]]\n        camera_backend = {name}\n")
        assert load_config(path).controllers["cam1"].camera_backend == name
    result = subprocess.run(
        [sys.executable, "-m", "rpi_camera_colony.acquisition", "--camera-backend", "webcam"],
        capture_output=True,
        text=True,
    )
    choices = ", ".join(repr(choice) for choice in backend_registry.choices("camera"))
    assert result.returncode == 2 and f"invalid choice: 'webcam' (choose from {choices})" in result.stderr
    assert set(fakes.FAKE_MODULES) == {b.name for b in backend_registry.BACKENDS if b.fake}
    with pytest.raises(ValueError, match="no fake for 'gpiozero'"), fakes.installed("gpiozero"):
        pass


def test_the_clock_is_the_cameras(tmp_path: Path) -> None:
    """After configure, the agent's clock is its camera's (the simulated camera's offset clock here)."""
    with _agent(tmp_path) as agent:
        agent.configure(controller_from_dict({"name": "cam0", "sim_clock_offset": 5.0}))
        assert agent.clock is agent.camera.clock and agent.clock.offset_s == 5.0  # type: ignore[union-attr]
        assert abs(agent.clock.now_us() - CameraClock().now_us() - 5_000_000) < 500_000
