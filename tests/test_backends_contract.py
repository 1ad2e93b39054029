"""One contract for every camera and TTL backend: the simulated ones, and the Raspberry Pi ones against faithful fakes
of picamera2, picamera, gpiozero and RPi.GPIO (rpi_camera_colony.fakes), driven through the agent's public API."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rpi_camera_colony
from rpi_camera_colony import read_session_data
from rpi_camera_colony.acquisition import backends
from rpi_camera_colony.acquisition.acquisition_control import PiAcquisitionControl
from rpi_camera_colony.config import controller_from_dict
from rpi_camera_colony.exc import BackendError, RecordingError
from rpi_camera_colony.fakes import installed
from rpi_camera_colony.testing import wait_for

CAMERAS = ["simulated", "picamera2", "picamera"]
TTLS = ["simulated", "gpiozero", "rpi_gpio"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with installed("picamera2", "picamera", "gpiozero", "rpi_gpio") as modules:
        yield modules


def make_agent(tmp_path: Path, camera: str, ttl: str) -> PiAcquisitionControl:
    """An agent with no conductor (nothing listens on its control port): the in-process API only."""
    return PiAcquisitionControl(
        instance_name="cam0",
        control_address="127.0.0.1",
        control_port=_free_port(),
        data_path=str(tmp_path / "data"),
        camera_backend=camera,
        ttl_backend=ttl,
    )


def drive_input(fakes: dict[str, Any], agent: PiAcquisitionControl, ttl: str, level: int) -> None:
    if ttl == "simulated":
        agent.ttl.inject_edge(level)  # type: ignore[union-attr]
    elif ttl == "gpiozero":
        device = next(d for d in fakes["gpiozero"].devices if d.pin == 16 and not d.closed)
        device.drive(level)
    else:
        fakes["rpi_gpio"].drive(16, level)


def pulses_sent(fakes: dict[str, Any], agent: PiAcquisitionControl, ttl: str) -> int:
    if ttl == "simulated":
        return int(agent.ttl.pulse_count)  # type: ignore[union-attr]
    if ttl == "gpiozero":
        return sum(len(d.pulses) for d in fakes["gpiozero"].devices if hasattr(d, "pulses"))
    return sum(1 for pin, level in fakes["rpi_gpio"].state.writes if pin == 8 and level == 1)


@pytest.mark.parametrize("camera", CAMERAS)
@pytest.mark.parametrize("ttl", TTLS)
def test_backend_contract(tmp_path: Path, fakes: dict[str, Any], camera: str, ttl: str) -> None:
    agent = make_agent(tmp_path, camera, ttl)
    try:
        settings = controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "320x240"})
        assert agent.configure(settings) == []  # default settings: everything honoured
        recording = agent.start(acquisition_name="contract", acquisition_time="20260101_000000")
        assert wait_for(lambda: recording.frames_written >= 8)
        drive_input(fakes, agent, ttl, 1)
        drive_input(fakes, agent, ttl, 0)
        assert wait_for(lambda: recording.ttl_in_edges == 2)
        summary = agent.stop()
        assert summary["status"] == "stopped" and summary["frames"] >= 8 and summary["dropped"] == 0
        assert pulses_sent(fakes, agent, ttl) == summary["frames"] == summary["ttl_out"]
        folder = tmp_path / "data" / "contract"
        session = read_session_data(folder)["cam0"]
        stamps = session["timestamps.ttl.out"]["timestamp_frame"]
        assert len(stamps) == summary["frames"] and stamps.is_monotonic_increasing and stamps.is_unique
        edges = session["timestamps.ttl.in"]
        assert edges["level"].tolist() == [1, 0]
        # edges are stamped on the frames' clock (the legacy camera's GPU clock is 7 s off the system's)
        late_bound = stamps.iloc[-1] + 2e6 / 30  # the recording may stop within a frame after the edges
        assert (edges["timestamp_frame"] > stamps.iloc[0]).all() and (edges["timestamp_frame"] < late_bound).all()
        assert agent.clock is agent.camera.clock and agent.ttl.clock is agent.clock  # type: ignore[union-attr]
        assert session["metadata"]["backend"]["camera"] == camera and session["metadata"]["backend"]["ttl"] == ttl
        assert session["has_h264"] and (folder / session["video_file_h264"]).stat().st_size > 0
        # frame period on the camera's own clock
        periods = stamps.diff().dropna()
        assert abs(periods.median() - 1e6 / 30) < 2000
    finally:
        agent.close()
        agent.close()  # twice is harmless
    if camera == "picamera2":
        assert fakes["picamera2"].cameras[-1].closed
    if camera == "picamera":
        assert fakes["picamera"].cameras[-1].closed
    if ttl == "gpiozero":
        assert all(d.closed for d in fakes["gpiozero"].devices)
    if ttl == "rpi_gpio":
        assert fakes["rpi_gpio"].state.pins == {}


def test_picamera2_receives_exactly_these_controls(tmp_path: Path, fakes: dict[str, Any]) -> None:
    agent = make_agent(tmp_path, "picamera2", "simulated")
    try:
        settings = controller_from_dict(
            {
                "name": "cam0", "framerate": 60, "resolution": "1280x720", "hflip": True, "brightness": 75,
                "contrast": 20, "sharpness": -50, "iso": 400, "zoom": [0.25, 0.25, 0.5, 0.5], "color_effects": None,
                "saturation": 10, "video_denoise": False, "sync_mode": "server", "led": True,
                "camera_extras": {"shutter_speed": "8000", "rotation": "90", "awb_mode": "off"},
            }
        )  # fmt: skip
        unsupported = agent.configure(settings)
        camera = fakes["picamera2"].cameras[-1]
        _, config = next(call for call in camera.calls if call[0] == "create_video_configuration")
        assert config["main"] == {"size": (1280, 720), "format": "YUV420"}
        assert config["buffer_count"] == 6
        assert (config["transform"].hflip, config["transform"].vflip) == (1, 0)
        assert config["controls"] == {
            "FrameDurationLimits": (16667, 16667),
            "Brightness": 0.5,
            "Contrast": 1.2,
            "Sharpness": 0.5,
            "NoiseReductionMode": 0,
            "Saturation": 1.1,
            "AnalogueGain": 4.0,
            "ScalerCrop": (1014, 760, 2028, 1520),
            "SyncMode": 1,
            "ExposureTime": 8000,
            "AeEnable": False,
            "AwbEnable": False,
        }
        assert sorted(unsupported) == ["led", "rotation"]
        mono = controller_from_dict({"name": "cam0", "color_effects": [128, 128]})
        agent.configure(mono)
        assert camera.closed  # the previous camera was released before the new configuration
        assert fakes["picamera2"].cameras[-1].controls["Saturation"] == 0.0
    finally:
        agent.close()


def test_picamera_receives_the_seed_attributes(tmp_path: Path, fakes: dict[str, Any]) -> None:
    agent = make_agent(tmp_path, "picamera", "rpi_gpio")
    try:
        settings = controller_from_dict(
            {"name": "cam0", "framerate": 90, "resolution": "640x480", "brightness": 60, "vflip": True,
             "camera_extras": {"awb_mode": "off", "awb_gains": "1.5, 1.2", "shutter_speed": "8000"}}
        )  # fmt: skip
        agent.configure(settings)
        camera = fakes["picamera"].cameras[-1]
        assert camera.calls[0] == ("__init__", {"resolution": (640, 480), "framerate": 90, "clock_mode": "raw"})
        sets = dict(call[1] for call in camera.calls if call[0] == "set")
        assert sets["brightness"] == 60 and sets["vflip"] is True and sets["color_effects"] == (128, 128)
        assert sets["awb_mode"] == "off" and sets["awb_gains"] == (1.5, 1.2) and sets["shutter_speed"] == 8000
        agent.start(acquisition_name="legacy", acquisition_time="20260101_000000")
        assert ("start_recording", {"format": "h264", "intra_period": 90}) in camera.calls
        assert fakes["rpi_gpio"].state.mode == fakes["rpi_gpio"].BOARD
        agent.stop()
    finally:
        agent.close()


@pytest.mark.parametrize(
    ("camera", "ttl", "settings", "fragment"),
    [
        ("picamera", "simulated", {"camera_extras": {"awb_mode": "nonsense"}}, "awb_mode = 'nonsense'"),
        ("picamera2", "simulated", {"camera_extras": {"awb_gains": "1.5"}}, "awb_gains"),
        ("picamera2", "simulated", {"resolution": "4096x4096"}, "refused the settings"),
        ("simulated", "gpiozero", {"ttl_out_pin": 1}, "TTL pins out 1"),
        ("simulated", "rpi_gpio", {"ttl_in_pin": 2}, "TTL pins out 8 / in 2"),
        ("simulated", "simulated", {"ttl_in_pin": 8}, "both 8"),
    ],
)
def test_bad_settings_are_named(
    tmp_path: Path, fakes: dict[str, Any], camera: str, ttl: str, settings: dict[str, Any], fragment: str
) -> None:
    agent = make_agent(tmp_path, camera, ttl)
    try:
        config = controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "320x240", **settings})
        with pytest.raises((BackendError, RecordingError), match=fragment):
            agent.configure(config)
            agent.start(acquisition_name="bad", acquisition_time="20260101_000000")
        assert agent.state != "recording"
    finally:
        agent.close()


def test_auto_prefers_picamera2_then_picamera_then_simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backends.CAMERA_ENV, raising=False)
    with installed("picamera2", "picamera"):
        name, reason = backends.resolve("camera", None, "auto", backends.CAMERA_BACKENDS, backends.CAMERA_ENV)
        assert name == "picamera2" and "picamera2 is installed" in reason
    with installed("picamera"):
        assert backends.resolve("camera", None, "auto", backends.CAMERA_BACKENDS, backends.CAMERA_ENV)[0] == "picamera"
    name, reason = backends.resolve("camera", None, "auto", backends.CAMERA_BACKENDS, backends.CAMERA_ENV)
    assert name == "simulated" and "no Raspberry Pi camera library" in reason
    monkeypatch.setenv(backends.CAMERA_ENV, "simulated")
    with installed("picamera2"):
        assert backends.resolve("camera", None, "auto", backends.CAMERA_BACKENDS, backends.CAMERA_ENV) == (
            "simulated",
            f"camera backend 'simulated' chosen by {backends.CAMERA_ENV}",
        )
    with pytest.raises(BackendError, match="unknown camera backend 'webcam'"):
        backends.resolve("camera", "webcam", "auto", backends.CAMERA_BACKENDS, backends.CAMERA_ENV)


def test_every_module_imports_without_hardware() -> None:
    for module in pkgutil.walk_packages(rpi_camera_colony.__path__, "rpi_camera_colony."):
        importlib.import_module(module.name)
    for library in ("picamera2", "picamera", "gpiozero", "RPi"):
        assert importlib.util.find_spec(library) is None, f"{library} must not be needed to import the package"


@pytest.mark.parametrize("camera_backend", ["picamera2", "picamera"])
def test_exposure_and_white_balance_lock_after_warm_up(
    tmp_path: Path, fakes: dict[str, Any], camera_backend: str
) -> None:
    agent = make_agent(tmp_path, camera_backend, "simulated")
    try:
        agent.configure(controller_from_dict({"name": "cam0", "framerate": 30, "lock_exposure_after": 0.2}))
        recording = agent.start(acquisition_name="lock", acquisition_time="20260101_000000")
        assert wait_for(lambda: recording.frames_written >= 15)
        agent.stop()
        camera = fakes[camera_backend].cameras[-1]
        if camera_backend == "picamera2":
            locks = [args for name, args in camera.calls if name == "set_controls"]
            assert len(locks) == 1
            assert locks[0]["AeEnable"] is False and locks[0]["AwbEnable"] is False
            assert locks[0]["AnalogueGain"] == 2.5 and locks[0]["ColourGains"] == (1.8, 1.4)
            assert 12000 <= locks[0]["ExposureTime"] < 12007  # what auto exposure had reached
        else:
            sets = [args for name, args in camera.calls if name == "set"]
            assert sets[-4:] == [
                ("awb_mode", "off"),
                ("awb_gains", (1.7, 1.3)),
                ("shutter_speed", 11000),
                ("exposure_mode", "off"),
            ]
    finally:
        agent.close()


@pytest.mark.parametrize(("model", "encoder"), [("Raspberry Pi 5 Model B Rev 1.0", "LibavH264Encoder"),
                                                ("Raspberry Pi 4 Model B Rev 1.4", "H264Encoder")])  # fmt: skip
def test_pi5_encodes_with_libav(
    tmp_path: Path, fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch, model: str, encoder: str
) -> None:
    from rpi_camera_colony.acquisition.cameras import picamera2_backend

    model_file = tmp_path / "model"
    model_file.write_bytes(model.encode() + b"\x00")
    monkeypatch.setattr(picamera2_backend, "MODEL_FILE", str(model_file))
    agent = make_agent(tmp_path, "picamera2", "simulated")
    try:
        agent.configure(controller_from_dict({"name": "cam0", "framerate": 30}))
        agent.start(acquisition_name="pi5", acquisition_time="20260101_000000")
        calls = fakes["picamera2"].cameras[-1].calls
        assert ("start_recording", (encoder, "FileOutput")) in calls
        agent.stop()
    finally:
        agent.close()
