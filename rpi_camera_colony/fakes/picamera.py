"""Fake legacy picamera (1.13 API): PiCamera with validated attributes, clock_mode='raw', PiVideoFrame per frame."""

from __future__ import annotations

import time
import types
from collections import namedtuple
from enum import Enum
from typing import Any, Optional

from rpi_camera_colony.fakes._frames import FrameTicker

GPU_CLOCK_OFFSET_US = 7_000_000  # the GPU's timestamp clock is not the system's


class PiCameraValueError(ValueError):
    pass


class PiCameraRuntimeError(RuntimeError):
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
    "awb_mode": {
        "off",
        "auto",
        "sunlight",
        "cloudy",
        "shade",
        "tungsten",
        "fluorescent",
        "incandescent",
        "flash",
        "horizon",
    },
    "exposure_mode": {
        "off",
        "auto",
        "night",
        "nightpreview",
        "backlight",
        "spotlight",
        "sports",
        "snow",
        "beach",
        "verylong",
        "fixedfps",
        "antishake",
        "fireworks",
    },
    "meter_mode": {"average", "spot", "backlit", "matrix"},
    "drc_strength": {"off", "low", "medium", "high"},
    "flash_mode": {"off", "auto", "on", "redeye", "fillin", "torch"},
    "image_effect": {
        "none",
        "negative",
        "solarize",
        "sketch",
        "denoise",
        "emboss",
        "oilpaint",
        "hatch",
        "gpen",
        "pastel",
        "watercolor",
        "film",
        "blur",
        "saturation",
        "colorswap",
        "washedout",
        "posterise",
        "colorpoint",
        "colorbalance",
        "cartoon",
        "deinterlace1",
        "deinterlace2",
    },
}
_BOOLEANS = {"vflip", "hflip", "image_denoise", "video_denoise", "video_stabilization", "still_stats", "led"}


class PiCamera:
    instances: list[PiCamera] = []

    def __init__(
        self, camera_num: int = 0, resolution: Any = None, framerate: Any = None, clock_mode: str = "reset", **_: Any
    ) -> None:
        object.__setattr__(
            self, "calls", [("__init__", {"resolution": resolution, "framerate": framerate, "clock_mode": clock_mode})]
        )
        if clock_mode not in ("reset", "raw"):
            raise PiCameraValueError(f"Invalid clock mode: {clock_mode}")
        object.__setattr__(
            self,
            "settings",
            {
                "resolution": tuple(resolution or (1280, 720)),
                "framerate": framerate or 30,
                "awb_mode": "auto",
                "exposure_mode": "auto",
                "awb_gains": (1.7, 1.3),  # what auto white balance settled on
                "exposure_speed": 11000,  # read-only in picamera: the current exposure time (µs)
            },
        )
        object.__setattr__(self, "clock_mode", clock_mode)
        object.__setattr__(self, "frame", None)
        object.__setattr__(self, "closed", False)
        object.__setattr__(self, "recording", False)
        object.__setattr__(self, "_ticker", None)
        object.__setattr__(self, "_output", None)
        type(self).instances.append(self)

    def __setattr__(self, name: str, value: Any) -> None:
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
        elif name in ("resolution", "framerate", "rotation"):
            if name == "rotation" and value not in (0, 90, 180, 270):
                raise PiCameraValueError(f"Invalid rotation angle: {value}")
        else:
            raise AttributeError(f"'PiCamera' object has no attribute '{name}'")
        self.calls.append(("set", (name, value)))
        self.settings[name] = value

    def __getattr__(self, name: str) -> Any:
        settings = object.__getattribute__(self, "settings")
        if name in settings:
            return settings[name]
        raise AttributeError(name)

    @property
    def timestamp(self) -> int:
        """The camera's (GPU) clock in microseconds, as clock_mode='raw' reports it."""
        return int(time.monotonic() * 1e6) + GPU_CLOCK_OFFSET_US

    def _frame(self, index: int, monotonic_ns: int) -> None:
        size = 60
        kind = PiVideoFrameType.key_frame if index % 30 == 0 else PiVideoFrameType.frame
        stamp = monotonic_ns // 1000 + GPU_CLOCK_OFFSET_US
        frame = PiVideoFrame(index, kind, size, size * (index + 1), size * (index + 1), stamp, True)
        object.__setattr__(self, "frame", frame)
        self._output.write(b"\x00\x00\x00\x01" + index.to_bytes(4, "big") + b"\x00" * (size - 8))

    def start_recording(self, output: Any, format: Optional[str] = None, **options: Any) -> None:
        if self.recording:
            raise PiCameraRuntimeError("The camera is already using port 1")
        if format not in (None, "h264"):
            raise PiCameraValueError(f"Invalid format {format}")
        self.calls.append(("start_recording", {"format": format, **options}))
        object.__setattr__(self, "_output", output)
        object.__setattr__(self, "recording", True)
        ticker = FrameTicker(1.0 / float(self.settings["framerate"]), self._frame)
        object.__setattr__(self, "_ticker", ticker)
        ticker.start()

    def stop_recording(self) -> None:
        if not self.recording:
            raise PiCameraRuntimeError("No recording in progress")
        self.calls.append(("stop_recording", None))
        self._ticker.stop()
        object.__setattr__(self, "recording", False)

    def close(self) -> None:
        self.calls.append(("close", None))
        if self.recording:
            self.stop_recording()
        object.__setattr__(self, "closed", True)


def module() -> types.ModuleType:
    PiCamera.instances = []
    fake = types.ModuleType("picamera")
    fake.PiCamera = PiCamera  # type: ignore[attr-defined]
    fake.PiVideoFrameType = PiVideoFrameType  # type: ignore[attr-defined]
    fake.PiCameraValueError = PiCameraValueError  # type: ignore[attr-defined]
    fake.PiCameraRuntimeError = PiCameraRuntimeError  # type: ignore[attr-defined]
    fake.cameras = PiCamera.instances  # type: ignore[attr-defined]
    fake.__fake__ = True  # type: ignore[attr-defined]
    return fake
