"""Fake picamera2 (with its libcamera, encoders and outputs modules), after the Picamera2 manual's API."""

from __future__ import annotations

import types
from typing import Any, Optional

from rpi_camera_colony.fakes._frames import FrameTicker

#: Sensor of the HQ camera (IMX477), as Picamera2.camera_properties reports it.
PIXEL_ARRAY_SIZE = (4056, 3040)
#: Controls a Picamera2 accepts in create_video_configuration / set_controls, with their documented ranges.
CONTROL_RANGES: dict[str, tuple[Any, Any]] = {
    "FrameDurationLimits": (100, 1_000_000_000),
    "Brightness": (-1.0, 1.0),
    "Contrast": (0.0, 32.0),
    "Saturation": (0.0, 32.0),
    "Sharpness": (0.0, 16.0),
    "AnalogueGain": (1.0, 22.26),
    "ExposureTime": (1, 694_422_939),
    "AeEnable": (False, True),
    "AwbEnable": (False, True),
    "ColourGains": (0.0, 32.0),
    "ScalerCrop": (0, max(PIXEL_ARRAY_SIZE)),
    "NoiseReductionMode": (0, 4),
    "SyncMode": (0, 2),
}


class Transform:
    """libcamera.Transform(hflip=0, vflip=0)."""

    def __init__(self, hflip: int = 0, vflip: int = 0, transpose: int = 0) -> None:
        self.hflip, self.vflip, self.transpose = int(hflip), int(vflip), int(transpose)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transform) and (self.hflip, self.vflip, self.transpose) == (
            other.hflip,
            other.vflip,
            other.transpose,
        )

    def __repr__(self) -> str:
        return f"<Transform hflip={self.hflip} vflip={self.vflip}>"


class H264Encoder:
    def __init__(self, bitrate: Optional[int] = None, repeat: bool = False, iperiod: Optional[int] = None) -> None:
        self.bitrate, self.repeat, self.iperiod = bitrate, repeat, iperiod


class LibavH264Encoder(H264Encoder):
    """The software (libav) H.264 encoder picamera2 offers where the SoC has none (Raspberry Pi 5)."""


class FileOutput:
    """picamera2.outputs.FileOutput: wraps a file name or a file-like object."""

    def __init__(self, file: Any = None, pts: Any = None, split: Any = None) -> None:
        self.fileoutput = file

    def outputframe(self, frame: bytes, keyframe: bool = True, timestamp: Optional[int] = None) -> None:
        self.fileoutput.write(frame)


class Request:
    def __init__(self, metadata: dict[str, Any]) -> None:
        self._metadata = metadata

    def get_metadata(self) -> dict[str, Any]:
        return dict(self._metadata)


class Picamera2:
    instances: list[Picamera2] = []

    def __init__(self, camera_num: int = 0, tuning: Any = None) -> None:
        self.camera_num = camera_num
        self.calls: list[tuple[str, Any]] = [("__init__", camera_num)]
        self.camera_properties = {"Model": "imx477", "PixelArraySize": PIXEL_ARRAY_SIZE}
        self.camera_config: Optional[dict[str, Any]] = None
        self.controls: dict[str, Any] = {}
        self.post_callback: Any = None
        self.pre_callback: Any = None
        self.started = False
        self.closed = False
        self._ticker: Optional[FrameTicker] = None
        self._encoder_output: Optional[FileOutput] = None
        type(self).instances.append(self)

    @staticmethod
    def _check_controls(controls: dict[str, Any]) -> None:
        for name, value in controls.items():
            if name not in CONTROL_RANGES:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")
            low, high = CONTROL_RANGES[name]
            for item in value if isinstance(value, (tuple, list)) else (value,):
                if not low <= item <= high:
                    raise RuntimeError(f"Control {name} value {value!r} out of range")

    def create_video_configuration(
        self,
        main: Optional[dict[str, Any]] = None,
        lores: Any = None,
        raw: Any = None,
        transform: Optional[Transform] = None,
        colour_space: Any = None,
        buffer_count: int = 6,
        controls: Optional[dict[str, Any]] = None,
        display: Optional[str] = "main",
        encode: Optional[str] = "main",
        queue: bool = True,
    ) -> dict[str, Any]:
        controls = dict(controls or {})
        self._check_controls(controls)
        config = {
            "use_case": "video",
            "main": dict(main or {"size": (1280, 720), "format": "XBGR8888"}),
            "transform": transform or Transform(),
            "buffer_count": buffer_count,
            "controls": controls,
        }
        self.calls.append(("create_video_configuration", config))
        return config

    def configure(self, camera_config: dict[str, Any]) -> None:
        width, height = camera_config["main"]["size"]
        if width % 2 or height % 2 or width > PIXEL_ARRAY_SIZE[0] or height > PIXEL_ARRAY_SIZE[1]:
            raise RuntimeError(f"Invalid size {width}x{height}")
        self.camera_config = camera_config
        self.controls = dict(camera_config["controls"])
        self.calls.append(("configure", camera_config))

    def set_controls(self, controls: dict[str, Any]) -> None:
        self._check_controls(controls)
        self.controls.update(controls)
        self.calls.append(("set_controls", dict(controls)))

    def _period_s(self) -> float:
        limits = self.controls.get("FrameDurationLimits", (33333, 33333))
        return float(limits[0]) / 1e6

    def _frame(self, index: int, monotonic_ns: int) -> None:
        auto = self.controls.get("AeEnable", True), self.controls.get("AwbEnable", True)
        request = Request(
            {
                "SensorTimestamp": monotonic_ns,
                "FrameDuration": round(self._period_s() * 1e6),
                "ExposureTime": 12000 + index % 7 if auto[0] else self.controls["ExposureTime"],
                "AnalogueGain": 2.5 if auto[0] else self.controls["AnalogueGain"],
                "ColourGains": (1.8, 1.4) if auto[1] else self.controls["ColourGains"],
            }
        )
        if self.post_callback is not None:
            self.post_callback(request)
        if self._encoder_output is not None:
            self._encoder_output.outputframe(b"\x00\x00\x00\x01" + index.to_bytes(4, "big") + b"\x00" * 56)

    def start(self, config: Any = None, show_preview: bool = False) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.calls.append(("start", None))
        self.started = True
        self._ticker = FrameTicker(self._period_s(), self._frame)
        self._ticker.start()

    def start_recording(self, encoder: H264Encoder, output: Any, pts: Any = None, quality: Any = None) -> None:
        self.calls.append(("start_recording", (type(encoder).__name__, type(output).__name__)))
        self._encoder_output = output if isinstance(output, FileOutput) else FileOutput(output)
        self.start()

    def stop(self) -> None:
        self.calls.append(("stop", None))
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self.started = False

    def stop_recording(self) -> None:
        self.calls.append(("stop_recording", None))
        self.stop()
        self._encoder_output = None

    def close(self) -> None:
        self.calls.append(("close", None))
        self.stop()
        self.closed = True

    @property
    def frames(self) -> int:
        return 0 if self._ticker is None else self._ticker.frames


def module() -> types.ModuleType:
    Picamera2.instances = []
    fake = types.ModuleType("picamera2")
    fake.Picamera2 = Picamera2  # type: ignore[attr-defined]
    fake.cameras = Picamera2.instances  # type: ignore[attr-defined]
    fake.__fake__ = True  # type: ignore[attr-defined]
    return fake


def encoders_module() -> types.ModuleType:
    fake = types.ModuleType("picamera2.encoders")
    fake.H264Encoder = H264Encoder  # type: ignore[attr-defined]
    fake.LibavH264Encoder = LibavH264Encoder  # type: ignore[attr-defined]
    return fake


def outputs_module() -> types.ModuleType:
    fake = types.ModuleType("picamera2.outputs")
    fake.FileOutput = FileOutput  # type: ignore[attr-defined]
    return fake


def libcamera_module() -> types.ModuleType:
    fake = types.ModuleType("libcamera")
    fake.Transform = Transform  # type: ignore[attr-defined]
    return fake
