"""One contract for every camera and TTL backend, driven through the agent's public API: the simulated ones; the real
picamera2 on a fake libcamera (only the kernel layer faked); the real gpiozero with its own MockFactory; the legacy
picamera and RPi.GPIO as strict fakes (rpi_camera_colony.testing.fakes)."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional

import gpiozero
import pytest
from gpiozero.pins.mock import MockFactory

from rpi_camera_colony import backend_registry, read_session_data
from rpi_camera_colony.acquisition import backends
from rpi_camera_colony.acquisition.backends import BackendFactory
from rpi_camera_colony.acquisition.camera_agent import CameraAgent
from rpi_camera_colony.config import controller_from_dict
from rpi_camera_colony.exc import BackendError, RecordingError
from rpi_camera_colony.testing import read_frame_indices, wait_for
from rpi_camera_colony.testing.fakes import installed, rpigpio

#: every backend in the registry runs the contract
CAMERAS = list(backend_registry.names("camera"))
TTLS = list(backend_registry.names("ttl"))

#: A short exposure warm-up: every configure here goes through it (the default 3 s would only add time).
WARMUP_S = 0.3

#: Board pins 8 and 16 (the seed's defaults) are GPIO14 and GPIO23.
OUT_GPIO, IN_GPIO = 14, 23


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with installed("picamera2", "picamera", "rpi_gpio") as modules:
        modules["gpiozero"] = MockFactory()
        try:
            yield modules
        finally:
            modules["gpiozero"].close()


def make_agent(tmp_path: Path, camera: str, ttl: str, fakes: Optional[dict[str, Any]] = None) -> CameraAgent:
    """The agent's camera state machine, driven in-process (no socket, no conductor)."""
    return CameraAgent(
        instance_name="cam0",
        data_path=str(tmp_path / "data"),
        camera_backend=camera,
        ttl_backend=ttl,
        backend_factory=BackendFactory(gpio_pin_factory=None if fakes is None else fakes["gpiozero"]),
    )


def drive_input(fakes: dict[str, Any], agent: CameraAgent, ttl: str, level: int) -> None:
    if ttl == "simulated":
        agent.ttl.inject_edge(level)  # type: ignore[union-attr]
    elif ttl == "gpiozero":
        pin = fakes["gpiozero"].pin(IN_GPIO)
        pin.drive_high() if level else pin.drive_low()
    else:
        fakes["rpi_gpio"].drive(16, level)


def pulses_sent(fakes: dict[str, Any], agent: CameraAgent, ttl: str) -> int:
    if ttl == "simulated":
        return int(agent.ttl.pulse_count)  # type: ignore[union-attr]
    if ttl == "gpiozero":
        states = [state.state for state in fakes["gpiozero"].pin(OUT_GPIO).states]
        return sum(1 for before, after in zip(states, states[1:]) if after and not before)
    return int(fakes["rpi_gpio"].pulses(8))


@pytest.mark.parametrize("camera", CAMERAS)
@pytest.mark.parametrize("ttl", TTLS)
def test_backend_contract(tmp_path: Path, fakes: dict[str, Any], camera: str, ttl: str) -> None:
    agent = make_agent(tmp_path, camera, ttl, fakes)
    try:
        settings = controller_from_dict(
            {
                "name": "cam0",
                "exposure_warmup": WARMUP_S,
                "framerate": 30,
                "resolution": "320x240",
                "ttl_in_edges": "both",
            }
        )
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
        # frame period on the camera's own clock
        periods = stamps.diff().dropna()
        assert abs(periods.median() - 1e6 / 30) < 2000
        # the video decodes (independently of the writer) to exactly the frames in the timestamp file, in order,
        # and the per-frame sizes and keyframe flags are the encoder's
        table = session["timestamps.ttl.out"]
        video = folder / session["video_file_h264"]
        barcodes = read_frame_indices(video)
        assert len(barcodes) == len(table)
        assert [b - barcodes[0] for b in barcodes] == (table["frame_index"] - table["frame_index"].iloc[0]).tolist()
        assert int(table["frame_bytes"].sum()) == video.stat().st_size
        assert bool(table["keyframe"].iloc[0]) and (table["frame_bytes"] > 0).all()
    finally:
        agent.close()
        agent.close()  # twice is harmless
    if camera == "picamera2":
        fakes["picamera2"].assert_released()
    if camera == "picamera":
        fakes["picamera"].assert_all_closed()
    if ttl == "gpiozero":  # both pins were released: they can be claimed again
        for number in (8, 16):
            gpiozero.DigitalOutputDevice(f"BOARD{number}", pin_factory=fakes["gpiozero"]).close()
    if ttl == "rpi_gpio":
        assert fakes["rpi_gpio"].pins == {}


def test_picamera2_receives_exactly_these_controls(tmp_path: Path, fakes: dict[str, Any]) -> None:
    agent = make_agent(tmp_path, "picamera2", "simulated", fakes)
    sensor = fakes["picamera2"].cameras[0]
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
        assert sorted(unsupported) == ["led", "rotation"]
        main = next(stream for stream in sensor.configuration if stream["format"] == "YUV420")
        assert main["size"] == (1280, 720) and main["buffer_count"] == 6
        agent.start(acquisition_name="controls", acquisition_time="20260101_000000")
        given = sensor.start_controls[-1]  # what libcamera received when the camera started
        expected = {
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
        for name, value in expected.items():  # libcamera's floats are 32 bit
            assert given.get(name) == (pytest.approx(value) if isinstance(value, float) else value), name
        assert sensor.orientation == "Rotate0Mirror"  # libcamera's name for a horizontal flip
        agent.stop()
        agent.configure(
            controller_from_dict({"name": "cam0", "exposure_warmup": WARMUP_S, "color_effects": [128, 128]})
        )
        assert sensor.acquired  # the previous Picamera2 was closed and a new one opened the same camera
        agent.start(acquisition_name="mono", acquisition_time="20260101_000000")
        assert sensor.start_controls[-1]["Saturation"] == 0.0
        agent.stop()
    finally:
        agent.close()
    assert not sensor.acquired


def synchronise(agent: CameraAgent) -> None:
    """Give the agent's clock mapping one real exchange with the conductor's clock (both on this machine)."""
    from rpi_camera_colony.clock import ClockSample, conductor_now_us

    sent = agent.clock.now_us()
    conductor = conductor_now_us()
    agent.clock_sync.estimator.add(ClockSample(sent, agent.clock.now_us(), conductor))
    agent.clock_sync.estimator.end_burst()


@pytest.mark.parametrize("camera", CAMERAS)
def test_an_armed_recording_begins_at_its_start_time_which_may_move(
    tmp_path: Path, fakes: dict[str, Any], camera: str
) -> None:
    """Arm, then start at a time and move it later before it comes: the first frame is taken at the new time (the
    legacy picamera cannot schedule a start and says so); an armed recording stopped leaves no file behind."""
    from rpi_camera_colony.clock import conductor_now_us

    agent = make_agent(tmp_path, camera, "simulated", fakes)
    try:
        agent.configure(
            controller_from_dict(
                {"name": "cam0", "exposure_warmup": WARMUP_S, "framerate": 30, "resolution": "320x240"}
            )
        )
        synchronise(agent)
        folder = tmp_path / "data" / "armed"
        agent.arm(acquisition_name="armed", acquisition_time="cancelled")
        assert agent.state == "armed" and any(folder.glob("*.metadata.json"))
        assert agent.stop() == {} and agent.state == "configured"
        assert not folder.exists()  # nothing was recorded: nothing is left

        recording = agent.arm(acquisition_name="armed", acquisition_time="moved")
        agent.start(start_at_us=conductor_now_us() + 2_000_000)
        moved_to = conductor_now_us() + 400_000
        if camera == "picamera":
            with pytest.raises(RecordingError, match="cannot change its start time"):
                agent.reschedule(moved_to)
            return
        agent.reschedule(moved_to)
        assert wait_for(lambda: recording.frames_written >= 3, timeout=5)
        first = recording.first_frame["conductor_us"]
        assert moved_to - 1_000 <= first <= moved_to + 3 * 1e6 / 30  # the new time, not the first one
        with pytest.raises(RecordingError, match="too late to move"):
            agent.reschedule(conductor_now_us() + 500_000)
        summary = agent.stop()
        assert summary["status"] == "stopped" and summary["frames"] >= 3
    finally:
        agent.close()


def test_picamera2_frames_are_the_sensors_frames_with_real_drops(tmp_path: Path, fakes: dict[str, Any]) -> None:
    """Every row of the timestamp file is a frame libcamera delivered, stamped with its SensorTimestamp; a stall of
    the camera (no buffer for 0.3 s) shows as dropped frames at that place, and the video holds every written frame."""
    agent = make_agent(tmp_path, "picamera2", "simulated", fakes)
    sensor = fakes["picamera2"].cameras[0]
    try:
        agent.configure(
            controller_from_dict(
                {"name": "cam0", "exposure_warmup": WARMUP_S, "framerate": 30, "resolution": "640x480"}
            )
        )
        recording = agent.start(acquisition_name="truth", acquisition_time="20260101_000000")
        assert wait_for(lambda: recording.frames_written >= 10)
        sensor.hold_buffers(0.3)  # the application holds every buffer: the sensor's frames find none and are lost
        assert wait_for(lambda: recording.frames_dropped > 0)
        assert wait_for(lambda: recording.frames_written >= 30)
        summary = agent.stop()
    finally:
        agent.close()
    session = read_session_data(tmp_path / "data" / "truth")["cam0"]
    table = session["timestamps.ttl.out"]
    delivered = {ns // 1000: seq for seq, ns in zip(sensor.sequence_numbers_delivered, sensor.timestamps_ns)}
    assert set(table["timestamp_frame"]) <= set(delivered)  # each row is a frame the sensor delivered, at its time
    sequences = [delivered[t] for t in table["timestamp_frame"]]
    assert (table["frame_index"] - table["frame_index"].iloc[0]).tolist() == [q - sequences[0] for q in sequences]
    assert 7 <= summary["dropped"] <= 11 and len(summary["dropped_at"]) == 1
    barcodes = read_frame_indices(tmp_path / "data" / "truth" / session["video_file_h264"])
    assert barcodes == sequences  # the fake draws the sequence number into each frame


def test_picamera2_on_a_pi4_uses_the_v4l2_encoder(tmp_path: Path) -> None:
    """On VC4 boards picamera2's H264Encoder is the V4L2 hardware encoder, which needs /dev/video11: here it is
    chosen and fails to start with a message that names the device (the hardware path cannot run off a Pi)."""
    with installed("picamera2", platform="vc4"):
        agent = make_agent(tmp_path, "picamera2", "simulated")
        try:
            agent.configure(controller_from_dict({"name": "cam0", "exposure_warmup": WARMUP_S, "framerate": 30}))
            assert agent.camera.encoder_name == "H264Encoder"  # type: ignore[union-attr]
            with pytest.raises(RecordingError, match="/dev/video11"):
                agent.start(acquisition_name="pi4", acquisition_time="20260101_000000")
            assert agent.state == "error"
        finally:
            agent.close()


def test_picamera2_on_a_pi5_encodes_with_libav(tmp_path: Path, fakes: dict[str, Any]) -> None:
    agent = make_agent(tmp_path, "picamera2", "simulated", fakes)
    try:
        agent.configure(controller_from_dict({"name": "cam0", "exposure_warmup": WARMUP_S, "framerate": 30}))
        assert agent.camera.encoder_name == "LibavH264Encoder"  # type: ignore[union-attr]
    finally:
        agent.close()


def test_picamera_receives_the_seed_attributes(tmp_path: Path, fakes: dict[str, Any]) -> None:
    agent = make_agent(tmp_path, "picamera", "rpi_gpio", fakes)
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
        assert fakes["rpi_gpio"].mode == rpigpio.BOARD
        agent.stop()
    finally:
        agent.close()


@pytest.mark.parametrize(
    ("camera", "ttl", "settings", "fragment"),
    [
        ("picamera", "simulated", {"camera_extras": {"awb_mode": "nonsense"}}, "awb_mode = 'nonsense'"),
        ("picamera2", "simulated", {"camera_extras": {"awb_gains": "1.5"}}, "awb_gains"),
        ("simulated", "gpiozero", {"ttl_out_pin": 1}, "TTL pins out 1"),
        ("simulated", "rpi_gpio", {"ttl_in_pin": 2}, "TTL pins out 8 / in 2"),
        ("simulated", "simulated", {"ttl_in_pin": 8}, "both 8"),
    ],
)
def test_bad_settings_are_named(
    tmp_path: Path, fakes: dict[str, Any], camera: str, ttl: str, settings: dict[str, Any], fragment: str
) -> None:
    agent = make_agent(tmp_path, camera, ttl, fakes)
    try:
        settings = dict(settings)
        pins = {key: settings.pop(key) for key in ("ttl_in_pin", "ttl_out_pin") if key in settings}
        # the backends' own checks, also for settings that never passed the config's (e.g. one pin for in and out)
        config = controller_from_dict(
            {"name": "cam0", "exposure_warmup": WARMUP_S, "framerate": 30, "resolution": "320x240", **settings}
        )
        config = dataclasses.replace(config, **pins)
        with pytest.raises((BackendError, RecordingError), match=fragment):
            agent.configure(config)
            agent.start(acquisition_name="bad", acquisition_time="20260101_000000")
        assert agent.state != "recording"
    finally:
        agent.close()


def test_auto_prefers_picamera2_then_picamera_then_simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    def auto(kind: str = "camera") -> tuple[str, str]:
        return backends.resolve(kind, None, "auto")

    for variable in (*backend_registry.ENV.values(), "GPIOZERO_PIN_FACTORY"):
        monkeypatch.delenv(variable, raising=False)
    with installed("picamera2", "picamera"):
        name, reason = auto()
        assert name == "picamera2" and "picamera2 is installed with libcamera" in reason
    with installed("picamera"):
        assert auto()[0] == "picamera"
    # picamera2 and gpiozero are installed here (the test extra), but neither libcamera nor a pin library is
    name, reason = auto()
    assert name == "simulated" and "picamera2 is installed, but not libcamera" in reason
    name, reason = auto("ttl")
    assert name == "simulated" and "gpiozero is installed, but not any of lgpio, RPi.GPIO, pigpio" in reason
    with installed("rpi_gpio"):
        assert auto("ttl") == ("gpiozero", "ttl backend 'gpiozero' chosen by auto: gpiozero is installed with RPi.GPIO")
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert auto("ttl")[0] == "gpiozero"
    monkeypatch.setenv("RCC_CAMERA_BACKEND", "simulated")
    with installed("picamera2"):
        assert auto() == ("simulated", "camera backend 'simulated' chosen by RCC_CAMERA_BACKEND")
    with pytest.raises(BackendError, match="unknown camera backend 'webcam'"):
        backends.resolve("camera", "webcam", "auto")


def test_every_module_imports_without_hardware() -> None:
    """Importing the whole package needs no Raspberry Pi library and imports none (they load only when used)."""
    script = (
        "import importlib, pkgutil, sys, rpi_camera_colony\n"
        "for m in pkgutil.walk_packages(rpi_camera_colony.__path__, 'rpi_camera_colony.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(n for n in ('picamera2', 'libcamera', 'picamera', 'gpiozero', 'RPi') if n in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
    for kernel_layer in ("libcamera", "picamera", "RPi"):
        assert importlib.util.find_spec(kernel_layer) is None, f"{kernel_layer} must not be installed in tests"


@pytest.mark.parametrize("camera_backend", ["picamera2", "picamera"])
def test_exposure_and_white_balance_lock_after_warm_up(
    tmp_path: Path, fakes: dict[str, Any], camera_backend: str
) -> None:
    agent = make_agent(tmp_path, camera_backend, "simulated", fakes)
    try:
        agent.configure(
            controller_from_dict({"name": "cam0", "exposure_warmup": 0, "framerate": 30, "lock_exposure_after": 0.2})
        )
        recording = agent.start(acquisition_name="lock", acquisition_time="20260101_000000")
        assert wait_for(lambda: recording.frames_written >= 15)
        agent.stop()
        camera = fakes[camera_backend].cameras[-1]
        if camera_backend == "picamera2":
            locks = [(seq, c) for seq, c in camera.controls_history if c.get("AeEnable") is False]
            assert locks, "exposure was never locked"
            sequence, lock = locks[0]
            assert lock["AwbEnable"] is False
            # the values automatic exposure and white balance had reached on a frame just before the lock
            reached = [f.metadata for f in camera.frames if f.outcome == "delivered" and f.sequence < sequence]
            assert lock["ExposureTime"] == reached[-1]["ExposureTime"] or lock["ExposureTime"] in {
                m["ExposureTime"] for m in reached[-5:]
            }
            gains = tuple(lock["ColourGains"])
            assert any(gains == pytest.approx(tuple(m["ColourGains"]), rel=1e-6) for m in reached[-5:])
            held = [f.metadata["ExposureTime"] for f in camera.frames if f.sequence > sequence + 2]
            assert held and set(held) == {lock["ExposureTime"]}  # and held there afterwards
        else:
            sets = [args for name, args in camera.calls if name == "set"]
            assert sets[-4:] == [
                ("awb_mode", "off"),
                ("awb_gains", (Fraction(17, 10), Fraction(13, 10))),  # picamera reports gains as Fractions
                ("shutter_speed", 11000),
                ("exposure_mode", "off"),
            ]
    finally:
        agent.close()


class _Recorder:
    """A video output that counts what was written, and frames reported so far (for the TTL pulse's point)."""

    def __init__(self) -> None:
        self.written = 0
        self.reported = 0
        self.frames: list[Any] = []
        self.late: list[int] = []

    def write(self, data: bytes) -> int:
        self.written += len(data)
        return len(data)

    def on_frame(self, frame: Any) -> None:  # the agent raises the TTL pulse here
        self.reported += frame.size
        if self.reported > self.written:
            self.late.append(frame.index)
        self.frames.append(frame)


@pytest.mark.parametrize("camera", CAMERAS)
def test_a_frame_is_reported_after_its_encoded_data_was_written(fakes: dict[str, Any], camera: str) -> None:
    """The documented point of the TTL pulse, the same on every backend: the frame's encoded data is in the file."""
    from rpi_camera_colony.clock import CameraClock

    backend = BackendFactory().create_camera(camera, clock=CameraClock())
    recorder = _Recorder()
    errors: list[BaseException] = []
    try:
        backend.configure(
            controller_from_dict(
                {"name": "cam0", "exposure_warmup": WARMUP_S, "framerate": 30, "resolution": "320x240"}
            )
        )
        backend.start(recorder, recorder.on_frame, errors.append)
        assert wait_for(lambda: len(recorder.frames) >= 10)
        backend.stop()
    finally:
        backend.close()
    assert not errors and not recorder.late
    assert recorder.reported == recorder.written  # every byte belongs to a reported frame
    assert recorder.frames[0].keyframe and all(frame.size > 0 for frame in recorder.frames)
    assert any(not frame.keyframe for frame in recorder.frames)  # real flags, not all True


def test_ci_runs_picamera2_with_its_real_dependencies() -> None:
    """Without the libcap headers the fake kernel layer stands in for python-prctl; CI builds the real one."""
    from conftest import IN_CI

    found = importlib.util.find_spec("prctl") is not None
    if not found and not IN_CI:
        pytest.skip("python-prctl is not installed (no libcap headers): picamera2 runs with the stand-in prctl")
    assert found, "CI must install libcap-dev so that make builds python-prctl (.ci/run)"
