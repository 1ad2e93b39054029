"""Camera backend for picamera2 (libcamera; Raspberry Pi OS Bullseye and later, every Pi model with a CSI camera).

Settings map to libcamera controls as follows (the original's picamera ranges on the left):

=====================  =====================================================================================
framerate              FrameDurationLimits = (1e6/fps, 1e6/fps) µs
resolution             main stream size (YUV420, encoded by the H.264 encoder: hardware on Pi 4, libav on Pi 5)
hflip, vflip           libcamera.Transform(hflip, vflip); extra ``rotation = 180`` sets both
brightness 0..100      Brightness = (brightness - 50) / 50            (-1..1)
contrast -100..100     Contrast = 1 + contrast / 100                  (0..2)
saturation -100..100   Saturation = 1 + saturation / 100; 0 with color_effects = 128, 128 (black and white)
sharpness -100..100    Sharpness = 1 + sharpness / 100
iso 0..1600            AnalogueGain = iso / 100 (0: automatic)
zoom x, y, w, h        ScalerCrop = the same fractions of the sensor's PixelArraySize
video_denoise          NoiseReductionMode = 2 (high quality) or 0 (off)
shutter_speed (extra)  ExposureTime (µs) with AeEnable = False
exposure_mode = off    AeEnable = False;  awb_mode = off: AwbEnable = False;  awb_gains = r, b: ColourGains
sync_mode              SyncMode = 1 (server) or 2 (client): libcamera's software camera sync (Pi 5)
lock_exposure_after    after that many seconds, AeEnable = AwbEnable = False with the ExposureTime,
                       AnalogueGain and ColourGains the automatic algorithms had reached (the original's
                       preview_static)
=====================  =====================================================================================

Settings with no libcamera equivalent are reported by name at configure time: led, preview_alpha, still_stats,
image_denoise (stills only), video_stabilization, color_effects other than None or 128, 128, and the picamera
extras not listed above. Each frame's SensorTimestamp (ns, CLOCK_MONOTONIC) is its timestamp; the frame number is
counted from the timestamps so a lost frame leaves a gap.
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

BUFFER_COUNT = 6
#: Where the board's model is named (e.g. "Raspberry Pi 5 Model B Rev 1.0").
MODEL_FILE = "/proc/device-tree/model"


def h264_encoder_class(encoders: Any) -> Any:
    """The hardware H.264 encoder, or on a Raspberry Pi 5 (which has none) picamera2's libav encoder."""
    try:
        with open(MODEL_FILE, "rb") as handle:
            model = handle.read().decode(errors="replace")
    except OSError:
        model = ""
    if "Raspberry Pi 5" in model and hasattr(encoders, "LibavH264Encoder"):
        return encoders.LibavH264Encoder
    return encoders.H264Encoder


NOT_IN_LIBCAMERA = ("led", "preview_alpha", "still_stats")
SYNC_MODES = {"server": 1, "client": 2}


def controls_for(
    settings: ControllerSettings, pixel_array: tuple[int, int]
) -> tuple[dict[str, Any], dict[str, int], list[str]]:
    """libcamera controls, transform flags and unsupported setting names for ``settings``."""
    period = round(1e6 / settings.framerate)
    controls: dict[str, Any] = {
        "FrameDurationLimits": (period, period),
        "Brightness": (settings.brightness - 50) / 50,
        "Contrast": 1 + settings.contrast / 100,
        "Sharpness": 1 + settings.sharpness / 100,
        "NoiseReductionMode": 2 if settings.video_denoise else 0,
    }
    unsupported = [
        name for name in NOT_IN_LIBCAMERA if getattr(settings, name) != getattr(ControllerSettings(name=""), name)
    ]
    if settings.image_denoise is False:
        unsupported.append("image_denoise")
    if settings.video_stabilization:
        unsupported.append("video_stabilization")
    if settings.color_effects == (128, 128):
        controls["Saturation"] = 0.0
    else:
        controls["Saturation"] = 1 + settings.saturation / 100
        if settings.color_effects is not None:
            unsupported.append("color_effects")
    if settings.iso:
        controls["AnalogueGain"] = max(1.0, settings.iso / 100)
    if settings.zoom != (0.0, 0.0, 1.0, 1.0):
        width, height = pixel_array
        x, y, w, h = settings.zoom
        controls["ScalerCrop"] = (round(x * width), round(y * height), round(w * width), round(h * height))
    if settings.sync_mode in SYNC_MODES:
        controls["SyncMode"] = SYNC_MODES[settings.sync_mode]
    flips = {"hflip": int(settings.hflip), "vflip": int(settings.vflip)}
    for name, value in settings.camera_extras:
        text = value.strip().lower()
        if name == "shutter_speed" and text.isdigit():
            if int(text) > 0:
                controls["ExposureTime"] = int(text)
                controls["AeEnable"] = False
        elif name == "exposure_mode" and text in ("off", "auto"):
            controls["AeEnable"] = text == "auto"
        elif name == "awb_mode" and text in ("off", "auto"):
            controls["AwbEnable"] = text == "auto"
        elif name == "awb_gains":
            try:
                gains = tuple(float(v) for v in text.replace(",", " ").split())
            except ValueError:
                raise BackendError(f"awb_gains = {value!r}: must be two numbers, red and blue gain") from None
            if len(gains) != 2:
                raise BackendError(f"awb_gains = {value!r}: must be two numbers, red and blue gain")
            controls["ColourGains"] = gains
            controls["AwbEnable"] = False
        elif name == "rotation" and text in ("0", "180"):
            if text == "180":
                flips = {"hflip": 1 - flips["hflip"], "vflip": 1 - flips["vflip"]}
        else:
            unsupported.append(name)
    return controls, flips, unsupported


class Picamera2Camera(CameraBackend):
    """Record with picamera2; ``camera_num`` selects the camera on boards with two."""

    name = "picamera2"

    def __init__(
        self, *, clock: Optional[CameraClock] = None, camera_num: int = 0, bitrate: Optional[int] = None
    ) -> None:
        super().__init__(clock=clock or CameraClock())  # SensorTimestamp runs on CLOCK_MONOTONIC
        self.camera_num = camera_num
        self.bitrate = bitrate
        self._camera: Any = None
        self._settings: Optional[ControllerSettings] = None
        self._lock = threading.Lock()
        self._first_us: Optional[int] = None
        self._on_frame: Optional[FrameCallback] = None
        self._on_error: Optional[ErrorCallback] = None
        self._recording = False
        self._timer: Optional[threading.Timer] = None
        self._locked = False

    def configure(self, settings: ControllerSettings) -> list[str]:
        try:
            from libcamera import Transform
            from picamera2 import Picamera2
        except ImportError as err:
            raise BackendError(f"picamera2 is not available: {err}") from None
        if self._camera is None:
            try:
                self._camera = Picamera2(self.camera_num)
            except (RuntimeError, IndexError) as err:
                raise BackendError(f"no camera {self.camera_num} found by libcamera: {err}") from None
        pixel_array = tuple(self._camera.camera_properties.get("PixelArraySize", settings.resolution))
        controls, flips, unsupported = controls_for(settings, (int(pixel_array[0]), int(pixel_array[1])))
        try:
            config = self._camera.create_video_configuration(
                main={"size": settings.resolution, "format": "YUV420"},
                controls=controls,
                transform=Transform(**flips),
                buffer_count=BUFFER_COUNT,
            )
            self._camera.configure(config)
        except (RuntimeError, ValueError) as err:
            raise BackendError(f"the camera refused the settings: {err}") from None
        self._settings = settings
        return unsupported

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
        with self._lock:
            self._first_us = None
            self._locked = False
            self._on_frame, self._on_error = on_frame, on_error
        self._camera.post_callback = self._frame
        wait = 0.0 if start_at_us is None else self.clock.to_monotonic(start_at_us) - time.monotonic()
        if wait > 0:  # libcamera starts when asked: begin at the common start time, without blocking the agent
            self._timer = threading.Timer(wait, self._begin, args=(output, True))
            self._timer.start()
        else:
            self._begin(output, False)

    def _begin(self, output: Optional[VideoOutput], deferred: bool) -> None:
        from picamera2 import encoders
        from picamera2.outputs import FileOutput

        assert self._settings is not None
        try:
            if output is None:
                self._camera.start()
            else:
                encoder = h264_encoder_class(encoders)(bitrate=self.bitrate, iperiod=self._settings.framerate)
                self._camera.start_recording(encoder, FileOutput(output))
        except RuntimeError as err:
            self._camera.post_callback = None
            failure = BackendError(f"the camera did not start: {err}")
            if not deferred:
                raise failure from None
            if self._on_error is not None:
                self._on_error(failure)
            return
        self._recording = output is not None

    def _frame(self, request: Any) -> None:
        """post_callback: runs on picamera2's thread for every frame."""
        try:
            metadata = request.get_metadata()
            stamp_us = int(metadata["SensorTimestamp"]) // 1000
            assert self._settings is not None
            with self._lock:
                if self._first_us is None:
                    self._first_us = stamp_us
                index = round((stamp_us - self._first_us) * self._settings.framerate / 1e6)
                callback = self._on_frame
                lock_now = (
                    not self._locked
                    and self._settings.lock_exposure_after > 0
                    and stamp_us - self._first_us >= self._settings.lock_exposure_after * 1e6
                )
                if lock_now:
                    self._locked = True
            if lock_now:
                self._lock_exposure(metadata)
            if callback is not None:
                callback(FrameInfo(index, stamp_us, time.time(), 0, index % self._settings.framerate == 0))
        except Exception as err:  # surfaced to the agent, never raised into picamera2's thread
            if self._on_error is not None:
                self._on_error(err)

    def _lock_exposure(self, metadata: dict[str, Any]) -> None:
        """Fix exposure and white balance where the automatic algorithms have settled."""
        controls = {
            "AeEnable": False,
            "AwbEnable": False,
            "ExposureTime": int(metadata["ExposureTime"]),
            "AnalogueGain": float(metadata["AnalogueGain"]),
            "ColourGains": tuple(float(g) for g in metadata["ColourGains"]),
        }
        self._camera.set_controls(controls)
        logger.info("exposure and white balance locked: %s", controls)

    def stop(self) -> None:
        if self._camera is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
            self._timer = None
        with self._lock:
            self._on_frame = None
        if self._recording:
            self._camera.stop_recording()
            self._recording = False
        else:
            self._camera.stop()
        self._camera.post_callback = None

    def close(self) -> None:
        if self._camera is not None:
            self.stop()
            self._camera.close()
            self._camera = None
