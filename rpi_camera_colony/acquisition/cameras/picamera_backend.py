"""Camera backend for the legacy picamera library (Raspberry Pi OS Buster, Bullseye with the legacy stack).

As the original package did: ``PiCamera(resolution, framerate, clock_mode='raw')``, every seed setting set as the
PiCamera attribute of the same name (extras too), H.264 recorded with ``start_recording``. Frames are reported from
the output's ``write`` calls: after each complete frame, ``camera.frame`` (a PiVideoFrame) gives its index and
timestamp (µs on the camera's GPU clock, which :attr:`clock` maps to this machine's monotonic clock). A setting
PiCamera refuses is reported by name at configure time. With ``lock_exposure_after`` the white balance gains and the
exposure that auto mode reached are fixed after that many seconds, as the original's ``preview_static`` did.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

from rpi_camera_colony.acquisition.cameras.base import (
    CameraBackend,
    ErrorCallback,
    FrameCallback,
    FrameInfo,
    VideoOutput,
)
from rpi_camera_colony.clock import CameraClock
from rpi_camera_colony.config.settings import ControllerSettings
from rpi_camera_colony.exc import BackendError

logger = logging.getLogger(__name__)

SEED_ATTRIBUTES = (
    "vflip", "hflip", "brightness", "contrast", "saturation", "sharpness", "iso", "color_effects", "zoom",
    "image_denoise", "video_denoise", "video_stabilization", "still_stats", "led",
)  # fmt: skip


def _extra_value(text: str) -> Any:
    """An extra setting's text as PiCamera wants it: number, tuple of numbers, or word."""
    parts = [p for p in text.replace("(", " ").replace(")", " ").replace(",", " ").split() if p]
    numbers = []
    for part in parts:
        try:
            numbers.append(int(part) if part.lstrip("-").isdigit() else float(part))
        except ValueError:
            return text.strip()
    return numbers[0] if len(numbers) == 1 else tuple(numbers)


class _FrameOutput:
    """The file-like object PiCamera writes H.264 to; reports each completed frame."""

    def __init__(
        self, camera: Any, output: Optional[VideoOutput], on_frame: FrameCallback, on_error: ErrorCallback
    ) -> None:
        self._camera = camera
        self._output = output
        self._on_frame = on_frame
        self._on_error = on_error
        self._last_index = -1

    def write(self, data: bytes) -> int:
        if self._output is not None:
            self._output.write(data)
        try:
            frame = self._camera.frame
            if frame is not None and frame.complete and frame.index != self._last_index and frame.timestamp is not None:
                kind = getattr(frame.frame_type, "name", "")
                if kind in ("frame", "key_frame"):
                    self._last_index = frame.index
                    self._on_frame(
                        FrameInfo(
                            frame.index, int(frame.timestamp), time.time(), int(frame.frame_size), kind == "key_frame"
                        )
                    )
        except Exception as err:  # surfaced to the agent, never raised into picamera's thread
            self._on_error(err)
        return len(data)

    def flush(self) -> None:
        return None


class PicameraCamera(CameraBackend):
    name = "picamera"

    def __init__(self, *, clock: Optional[CameraClock] = None, camera_num: int = 0) -> None:
        super().__init__(clock=clock or CameraClock())
        self.camera_num = camera_num
        self._camera: Any = None
        self._settings: Optional[ControllerSettings] = None
        self._lock_timer: Optional[threading.Timer] = None

    def configure(self, settings: ControllerSettings) -> list[str]:
        try:
            import picamera
        except ImportError as err:
            raise BackendError(f"picamera is not available: {err}") from None
        if self._camera is not None:
            self._camera.close()
        try:
            self._camera = picamera.PiCamera(
                camera_num=self.camera_num,
                resolution=settings.resolution,
                framerate=settings.framerate,
                clock_mode="raw",
            )
        except Exception as err:  # picamera raises its own PiCameraError family
            raise BackendError(f"the camera could not be opened: {err}") from None
        problems = []
        values: list[tuple[str, Any]] = [(name, getattr(settings, name)) for name in SEED_ATTRIBUTES]
        values += [(name, _extra_value(text)) for name, text in settings.camera_extras]
        for name, value in values:
            try:
                setattr(self._camera, name, value)
            except (ValueError, AttributeError, TypeError) as err:
                problems.append(f"{name} = {value!r}: {err}")
        if problems:
            raise BackendError("the camera refused: " + "; ".join(problems))
        # The frames' GPU clock against this machine's monotonic clock, read back to back.
        before = time.monotonic()
        gpu_us = int(self._camera.timestamp)
        after = time.monotonic()
        self.clock = CameraClock(offset_s=gpu_us / 1e6 - (before + after) / 2)
        self._settings = settings
        return []

    def start(
        self,
        output: Optional[VideoOutput],
        on_frame: FrameCallback,
        on_error: ErrorCallback,
        *,
        start_at_us: Optional[int] = None,
    ) -> None:
        if self._camera is None or self._settings is None:
            raise BackendError("camera is not configured: send 'configure' before 'start'")
        sink = _FrameOutput(self._camera, output, on_frame, on_error)
        try:
            self._camera.start_recording(sink, format="h264", intra_period=self._settings.framerate)
        except Exception as err:
            raise BackendError(f"the camera did not start: {err}") from None
        if self._settings.lock_exposure_after > 0:
            self._lock_timer = threading.Timer(
                self._settings.lock_exposure_after, self._lock_exposure, args=(on_error,)
            )
            self._lock_timer.start()

    def _lock_exposure(self, on_error: ErrorCallback) -> None:
        """The original's preview_static: keep the white balance and exposure that auto mode settled on."""
        try:
            camera = self._camera
            gains = camera.awb_gains
            camera.awb_mode = "off"
            camera.awb_gains = gains
            camera.shutter_speed = camera.exposure_speed
            camera.exposure_mode = "off"
            logger.info("exposure and white balance locked: awb_gains=%s shutter_speed=%s", gains, camera.shutter_speed)
        except Exception as err:  # surfaced to the agent
            on_error(err)

    def stop(self) -> None:
        if self._lock_timer is not None:
            self._lock_timer.cancel()
            self._lock_timer.join()
            self._lock_timer = None
        if self._camera is not None and getattr(self._camera, "recording", False):
            self._camera.stop_recording()

    def close(self) -> None:
        if self._camera is not None:
            self.stop()
            self._camera.close()
            self._camera = None
