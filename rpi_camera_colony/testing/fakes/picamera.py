"""Fake legacy picamera (1.13 API), for the legacy camera backend: the real one needs the Pi's MMAL libraries.

Every install builds a new :class:`FakePicameraLibrary` (no module-level state); its module's ``PiCamera`` has the
real constructor and ``start_recording`` signatures (an unknown keyword or encoder option raises ``TypeError`` as
picamera's does), validates attributes with picamera's own messages, and records real H.264: frames are rendered
with their frame number drawn as a barcode, encoded with libx264 through PyAV on a paced sensor thread, and each
encoded frame is written to the output after ``camera.frame`` (a ``PiVideoFrame``) describes it, as picamera's
encoder callback does. The GPU clock that stamps frames (``clock_mode='raw'``) runs :data:`GPU_CLOCK_OFFSET_US`
away from the system's monotonic clock, like the real one. Assertion helpers: ``library.cameras`` (every PiCamera
made, with ``.calls``), ``library.assert_all_closed()``.
"""

from __future__ import annotations

import threading
import time
import types
from collections import namedtuple
from enum import Enum
from fractions import Fraction
from typing import Any, Optional

import numpy as np

from rpi_camera_colony.testing.fakes._frames import FrameTicker

GPU_CLOCK_OFFSET_US = 7_000_000  # the GPU's timestamp clock is not the system's


class PiCameraError(Exception):
    pass


class PiCameraValueError(PiCameraError, ValueError):
    pass


class PiCameraRuntimeError(PiCameraError, RuntimeError):
    pass


class PiVideoFrameType(Enum):
    frame = 0
    key_frame = 1
    sps_header = 2
    motion_data = 3


PiVideoFrame = namedtuple(
    "PiVideoFrame", ["index", "frame_type", "frame_size", "video_size", "split_size", "timestamp", "complete"]
)

_RANGES = {
    "brightness": (0, 100),
    "contrast": (-100, 100),
    "saturation": (-100, 100),
    "sharpness": (-100, 100),
    "iso": (0, 1600),
    "exposure_compensation": (-25, 25),
    "shutter_speed": (0, 10_000_000),
    "sensor_mode": (0, 7),
}
_OPTIONS = {
    "awb_mode": {"off", "auto", "sunlight", "cloudy", "shade", "tungsten", "fluorescent", "incandescent", "flash",
                 "horizon", "greyworld"},
    "exposure_mode": {"off", "auto", "night", "nightpreview", "backlight", "spotlight", "sports", "snow", "beach",
                      "verylong", "fixedfps", "antishake", "fireworks"},
    "meter_mode": {"average", "spot", "backlit", "matrix"},
    "drc_strength": {"off", "low", "medium", "high"},
    "flash_mode": {"off", "auto", "on", "redeye", "fillin", "torch"},
    "image_effect": {"none", "negative", "solarize", "sketch", "denoise", "emboss", "oilpaint", "hatch", "gpen",
                     "pastel", "watercolor", "film", "blur", "saturation", "colorswap", "washedout", "posterise",
                     "colorpoint", "colorbalance", "cartoon", "deinterlace1", "deinterlace2"},
}  # fmt: skip
_BOOLEANS = {"vflip", "hflip", "image_denoise", "video_denoise", "video_stabilization", "still_stats", "led"}
_READ_ONLY = {"exposure_speed", "analog_gain", "digital_gain", "timestamp", "frame", "recording", "closed"}
#: picamera's H.264 encoder options (PiVideoEncoder._create_encoder); anything else is a TypeError there too.
_ENCODER_OPTIONS = {"bitrate", "intra_period", "profile", "level", "quantization", "quality", "inline_headers",
                    "sei", "sps_timing", "motion_output", "intra_refresh"}  # fmt: skip


def _make_camera_class(library: FakePicameraLibrary) -> type:
    class PiCamera:
        def __init__(
            self,
            camera_num: int = 0,
            stereo_mode: str = "none",
            stereo_decimate: bool = False,
            resolution: Any = None,
            framerate: Any = None,
            sensor_mode: int = 0,
            led_pin: Any = None,
            clock_mode: str = "reset",
            framerate_range: Any = None,
        ) -> None:
            init = {"resolution": resolution, "framerate": framerate, "clock_mode": clock_mode}
            object.__setattr__(self, "calls", [("__init__", init)])
            if camera_num >= library.camera_count:
                raise PiCameraError(f"Camera is not enabled or camera {camera_num} is not connected")
            if clock_mode not in ("reset", "raw"):
                raise PiCameraValueError(f"Invalid clock mode: {clock_mode}")
            width, height = tuple(resolution or (1280, 720))
            if width > 3280 or height > 2464:
                raise PiCameraValueError(f"Invalid resolution requested: {(width, height)!r}")
            object.__setattr__(
                self,
                "settings",
                {
                    "resolution": (int(width), int(height)),
                    "framerate": framerate or 30,
                    "awb_mode": "auto",
                    "exposure_mode": "auto",
                    "awb_gains": (Fraction(17, 10), Fraction(13, 10)),  # what auto white balance settled on
                    "exposure_speed": 11000,  # read-only in picamera: the current exposure time (µs)
                },
            )
            initial = {"clock_mode": clock_mode, "frame": None, "closed": False, "recording": False}
            for name, value in {**initial, "_ticker": None, "_output": None, "_encoder": None}.items():
                object.__setattr__(self, name, value)
            library.cameras.append(self)

        def __setattr__(self, name: str, value: Any) -> None:
            if self.closed:
                raise PiCameraRuntimeError("Camera is closed")
            if name in _READ_ONLY:
                raise AttributeError(f"can't set attribute {name!r}")
            if name in _BOOLEANS:
                if not isinstance(value, bool):
                    raise PiCameraValueError(f"Invalid value for {name}: {value!r}")
            elif name in _OPTIONS:
                if value not in _OPTIONS[name]:
                    raise PiCameraValueError(f"Invalid {name.replace('_', ' ')}: {value}")
            elif name in _RANGES:
                low, high = _RANGES[name]
                if not isinstance(value, (int, float)) or not low <= value <= high:
                    raise PiCameraValueError(f"Invalid {name} value: {value}")
            elif name == "color_effects":
                if value is not None and (len(value) != 2 or not all(0 <= v <= 255 for v in value)):
                    raise PiCameraValueError(f"Invalid color effect (u, v) tuple: {value}")
            elif name == "zoom":
                if len(value) != 4 or not all(0.0 <= v <= 1.0 for v in value):
                    raise PiCameraValueError(f"Invalid zoom rectangle: {value}")
            elif name == "awb_gains":
                value = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
                if len(value) != 2 or not all(0.0 <= v <= 8.0 for v in value):
                    raise PiCameraValueError(f"Invalid gain(s) in {value!r} (0.0 <= gain <= 8.0)")
            elif name == "rotation":
                if value not in (0, 90, 180, 270):
                    raise PiCameraValueError(f"Invalid rotation angle: {value}")
            elif name in ("resolution", "framerate"):
                if self.recording:
                    raise PiCameraRuntimeError(f"Recording is currently running: cannot change {name}")
            else:
                raise AttributeError(f"'PiCamera' object has no attribute '{name}'")
            self.calls.append(("set", (name, value)))
            self.settings[name] = value

        def __getattr__(self, name: str) -> Any:
            settings = object.__getattribute__(self, "settings")
            if name in settings:
                return settings[name]
            raise AttributeError(f"'PiCamera' object has no attribute '{name}'")

        @property
        def timestamp(self) -> int:
            """The camera's (GPU) clock in microseconds, as clock_mode='raw' reports it."""
            return int(time.monotonic() * 1e6) + GPU_CLOCK_OFFSET_US

        def _frame(self, index: int, monotonic_ns: int) -> None:
            encoder = self._encoder
            frame = encoder.render(index)
            stamp = monotonic_ns // 1000 + GPU_CLOCK_OFFSET_US
            for data, key in encoder.encode(frame):
                kind = PiVideoFrameType.key_frame if key else PiVideoFrameType.frame
                video_size = encoder.bytes_out + len(data)
                info = PiVideoFrame(index, kind, len(data), video_size, video_size, stamp, True)
                object.__setattr__(self, "frame", info)
                encoder.bytes_out = video_size
                self._output.write(data)

        def start_recording(
            self, output: Any, format: Optional[str] = None, resize: Any = None, splitter_port: int = 1, **options: Any
        ) -> None:
            unknown = set(options) - _ENCODER_OPTIONS
            if unknown:
                raise TypeError(f"_create_encoder() got an unexpected keyword argument {sorted(unknown)[0]!r}")
            if self.closed:
                raise PiCameraRuntimeError("Camera is closed")
            if self.recording:
                raise PiCameraRuntimeError(f"The camera is already using port {splitter_port}")
            if format not in (None, "h264"):
                raise PiCameraValueError(f"Invalid format {format}")
            if not hasattr(output, "write"):
                raise PiCameraValueError("output must be a filename or an object with a write method")
            self.calls.append(("start_recording", {"format": format, **options}))
            framerate = int(self.settings["framerate"])
            encoder = _H264(self.settings["resolution"], framerate, int(options.get("intra_period", 60)))
            object.__setattr__(self, "_encoder", encoder)
            object.__setattr__(self, "_output", output)
            object.__setattr__(self, "recording", True)
            ticker = FrameTicker(1.0 / framerate, self._frame)
            object.__setattr__(self, "_ticker", ticker)
            ticker.start()

        def stop_recording(self, splitter_port: int = 1) -> None:
            if not self.recording:
                raise PiCameraRuntimeError(f"There is no recording in progress on port {splitter_port}")
            self.calls.append(("stop_recording", None))
            self._ticker.stop()
            for data, _key in self._encoder.encode(None):
                self._output.write(data)
            object.__setattr__(self, "recording", False)

        def close(self) -> None:
            if self.closed:
                return
            self.calls.append(("close", None))
            if self.recording:
                self.stop_recording()
            object.__setattr__(self, "closed", True)

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    return PiCamera


class _H264:
    """Renders frames with their number as a barcode and encodes them (what the GPU does on a real Pi)."""

    def __init__(self, size: tuple[int, int], framerate: int, intra_period: int) -> None:
        import av

        from rpi_camera_colony.acquisition.cameras.simulated import draw_frame_index

        self._draw = draw_frame_index
        width, height = size
        self._codec = av.CodecContext.create("libx264", "w")
        self._codec.width, self._codec.height, self._codec.pix_fmt = width, height, "yuv420p"
        self._codec.time_base = Fraction(1, framerate)
        self._codec.gop_size = intra_period
        self._codec.max_b_frames = 0
        self._codec.thread_count = 1
        self._codec.options = {"preset": "ultrafast", "tune": "zerolatency"}
        self._codec.open()
        self._image = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        self._height = height
        self.bytes_out = 0
        self._lock = threading.Lock()

    def render(self, index: int) -> Any:
        import av

        self._draw(self._image[: self._height], index)
        frame = av.VideoFrame.from_ndarray(self._image, format="yuv420p")
        frame.pts = index
        return frame

    def encode(self, frame: Any) -> list[tuple[bytes, bool]]:
        with self._lock:
            return [(bytes(packet), bool(packet.is_keyframe)) for packet in self._codec.encode(frame)]


class FakePicameraLibrary:
    """One installed fake picamera: its cameras and its module."""

    def __init__(self, *, camera_count: int = 1) -> None:
        self.camera_count = camera_count
        self.cameras: list[Any] = []
        self.PiCamera = _make_camera_class(self)

    def assert_all_closed(self) -> None:
        open_cameras = [camera for camera in self.cameras if not camera.closed]
        if open_cameras:
            raise AssertionError(f"{len(open_cameras)} PiCamera object(s) were not closed")

    def module(self) -> types.ModuleType:
        fake = types.ModuleType("picamera")
        fake.PiCamera = self.PiCamera  # type: ignore[attr-defined]
        fake.PiVideoFrame = PiVideoFrame  # type: ignore[attr-defined]
        fake.PiVideoFrameType = PiVideoFrameType  # type: ignore[attr-defined]
        fake.PiCameraError = PiCameraError  # type: ignore[attr-defined]
        fake.PiCameraValueError = PiCameraValueError  # type: ignore[attr-defined]
        fake.PiCameraRuntimeError = PiCameraRuntimeError  # type: ignore[attr-defined]
        fake.fake = self  # type: ignore[attr-defined]
        return fake
