"""Camera backend for the legacy picamera library (Raspberry Pi OS Buster, Bullseye with the legacy stack).

As the original package did: ``PiCamera(resolution, framerate, clock_mode='raw')``, every seed setting set as the
PiCamera attribute of the same name (extras too), H.264 recorded with ``start_recording``. Frames are reported from
the output's ``write`` calls: after each complete frame, ``camera.frame`` (a PiVideoFrame) gives its index and
timestamp (µs on the camera's GPU clock, which :attr:`clock` maps to this machine's monotonic clock). A setting
PiCamera refuses is reported by name at configure time.

As the original's ``preview_static``: ``exposure_warmup`` seconds after configure (or ``reset``) the white balance
gains and the exposure that auto mode reached are fixed (``awb_mode = off`` with those ``awb_gains``,
``shutter_speed = exposure_speed``, ``exposure_mode = off``), for every recording after; a preview settles them
again that far into it. Only what the settings leave automatic is fixed. ``lock_exposure_after`` does the same that
many seconds into each recording, when no warm-up fixed them.
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
from rpi_camera_colony.acquisition.cameras.settle import SettleCallback
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
        extras = {name: text.strip().lower() for name, text in settings.camera_extras}
        manual_exposure = extras.get("exposure_mode") == "off" or extras.get("shutter_speed", "0") not in ("", "0")
        manual_balance = extras.get("awb_mode") == "off" or "awb_gains" in extras
        self._automatic = tuple(
            part for part, manual in (("exposure", manual_exposure), ("white balance", manual_balance)) if not manual
        )
        self._fixed = self._fixed_before = None
        return []

    def settle_exposure(self, seconds: float, on_done: SettleCallback) -> bool:
        if self._camera is None or self._settings is None:
            raise BackendError("camera is not configured: send 'configure' before a warm-up")
        # PiCamera runs its automatic algorithms while open: the warm-up only lets time pass, then fixes.
        return self._start_warmup(seconds, on_done, begin=self._unfix, finish=self._fix, abort=lambda: None)

    def _unfix(self) -> None:
        """Automatic exposure and white balance again (what the settings leave automatic)."""
        self._fixed = None
        if "white balance" in self._automatic:
            self._camera.awb_mode = "auto"
        if "exposure" in self._automatic:
            self._camera.shutter_speed = 0
            self._camera.exposure_mode = "auto"

    def _fix(self) -> dict[str, Any]:
        """The original's preview_static: keep the white balance and exposure that auto mode settled on."""
        camera = self._camera
        fixed: dict[str, Any] = {}
        if "white balance" in self._automatic:
            gains = camera.awb_gains
            camera.awb_mode = "off"
            camera.awb_gains = gains
            fixed["awb_gains"] = [float(g) for g in gains]
        if "exposure" in self._automatic:
            camera.shutter_speed = camera.exposure_speed
            camera.exposure_mode = "off"
            fixed["shutter_speed"] = int(camera.shutter_speed)
        self._fixed, self._fixed_before = fixed, None
        return dict(fixed)

    def _refix(self, fixed: dict[str, Any]) -> None:
        """Fix these values again (what a preview that ended too early had released)."""
        camera = self._camera
        if "awb_gains" in fixed:
            camera.awb_mode = "off"
            camera.awb_gains = tuple(fixed["awb_gains"])
        if "shutter_speed" in fixed:
            camera.shutter_speed = fixed["shutter_speed"]
            camera.exposure_mode = "off"
        self._fixed = fixed

    def start(
        self,
        output: Optional[VideoOutput],
        on_frame: FrameCallback,
        on_error: ErrorCallback,
        *,
        start_at_us: Optional[int] = None,
        settle_exposure: bool = True,
    ) -> None:
        if self._camera is None or self._settings is None:
            raise BackendError("camera is not configured: send 'configure' before 'start'")
        sink = _FrameOutput(self._camera, output, on_frame, on_error)
        try:
            self._camera.start_recording(sink, format="h264", intra_period=self._settings.framerate)
        except Exception as err:
            raise BackendError(f"the camera did not start: {err}") from None
        lock_after = 0.0
        if output is None and settle_exposure and self._settings.exposure_warmup > 0 and self._automatic:
            self._fixed_before = self._fixed
            self._unfix()  # a preview settles exposure again, that far into it
            lock_after = self._settings.exposure_warmup
        elif output is not None and self._fixed is None:
            lock_after = self._settings.lock_exposure_after
        if lock_after > 0:
            self._lock_timer = threading.Timer(lock_after, self._lock_exposure, args=(on_error,))
            self._lock_timer.start()

    def _lock_exposure(self, on_error: ErrorCallback) -> None:
        try:
            fixed = self._fix()
            logger.info("exposure and white balance locked: %s", fixed)
        except Exception as err:  # surfaced to the agent
            on_error(err)

    def stop(self) -> None:
        self._cancel_warmup()
        if self._lock_timer is not None:
            self._lock_timer.cancel()
            self._lock_timer.join()
            self._lock_timer = None
        if self._camera is not None and getattr(self._camera, "recording", False):
            self._camera.stop_recording()
        released = self._released_by_preview() if self._camera is not None else None
        if released is not None:
            self._refix(released)
            logger.warning("the preview ended before exposure had settled again: the values fixed before stay fixed")

    def close(self) -> None:
        if self._camera is not None:
            self.stop()
            self._camera.close()
            self._camera = None
