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
exposure_warmup        at configure (and ``reset``), the camera runs that many seconds without recording; then
                       AeEnable = AwbEnable = False with the ExposureTime, AnalogueGain and ColourGains the
                       automatic algorithms had reached, for every recording after (the original's
                       preview_static); a ``preview`` settles them again that far into the preview. Only what
                       is automatic is fixed (not exposure with shutter_speed, not white balance with awb_gains)
lock_exposure_after    the same, that many seconds into each recording (when no warm-up fixed them)
=====================  =====================================================================================

Settings with no libcamera equivalent are reported by name at configure time: led, preview_alpha, still_stats,
image_denoise (stills only), video_stabilization, color_effects other than None or 128, 128, and the picamera
extras not listed above.

The pipeline, per frame: libcamera completes a request; picamera2's event loop calls our ``post_callback`` (the
frame's SensorTimestamp, ns on CLOCK_BOOTTIME, and the time it arrived are noted) and hands the request to the
encoder, picamera2's own ``H264Encoder`` (the V4L2 hardware encoder on VC4 boards, Pi 4 and older; picamera2
makes the same name its libav encoder on Pi 5, which has none). The encoder passes each encoded frame to our
:class:`picamera2.outputs.Output`, which writes it to the recording's file and only then reports the frame (with
the encoder's real size and keyframe flag) to the agent, which raises the frame's TTL pulse: on every backend the
pulse marks the moment a frame's encoded data was handed to the file. The frame number is counted from the
timestamps, so a frame lost anywhere in the pipeline leaves a gap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Optional

from rpi_camera_colony.acquisition.cameras.base import (
    CameraBackend,
    ErrorCallback,
    FrameCallback,
    FrameInfo,
    VideoOutput,
)
from rpi_camera_colony.acquisition.cameras.settle import SettleCallback
from rpi_camera_colony.clock import CameraClock, boottime_clock
from rpi_camera_colony.config.settings import ControllerSettings
from rpi_camera_colony.exc import BackendError

logger = logging.getLogger(__name__)

BUFFER_COUNT = 6


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


def h264_encoder_name() -> str:
    """The class name of the H.264 encoder picamera2 gives this board (``H264Encoder`` = V4L2 hardware)."""
    from picamera2 import encoders

    encoder = encoders.H264Encoder
    return "LibavH264Encoder" if encoder is getattr(encoders, "LibavH264Encoder", None) else str(encoder.__name__)


class _FrameSink:
    """What one recording's encoder output needs: the file, the agent's callbacks and the frames awaiting encoding.

    ``arrived`` is filled on picamera2's event-loop thread (post_callback) and drained where the encoder delivers
    (the same thread for libav, the V4L2 encoder's own thread on VC4), hence the lock.
    """

    def __init__(
        self, output: Optional[VideoOutput], framerate: int, on_frame: FrameCallback, on_error: ErrorCallback
    ) -> None:
        self.output = output
        self.framerate = framerate
        self.on_frame = on_frame
        self.on_error = on_error
        self.encoder: Any = None  #: set while recording (None: preview)
        self.lock_after = 0.0  #: seconds into this run at which exposure is fixed (0: not in this run)
        self.arrived: deque[tuple[int, float]] = deque()  # (sensor timestamp µs, time.time() on arrival)
        self.first_us: Optional[int] = None  #: the first frame that arrived: frame numbers count from it
        self.exposure_locked = False
        self.carry = 0  # bytes written that belong to no frame yet (a separate header buffer)
        self.lock = threading.Lock()
        self.active = True

    def index(self, stamp_us: int) -> int:
        assert self.first_us is not None  # every frame arrives (post_callback) before it is encoded
        return round((stamp_us - self.first_us) * self.framerate / 1e6)

    def frame_arrived(self, stamp_us: int) -> bool:
        """Note a frame as it arrives; True when exposure should be locked now (:attr:`lock_after` into the run)."""
        with self.lock:
            if self.first_us is None:
                self.first_us = stamp_us
            if self.encoder is not None:
                self.arrived.append((stamp_us, time.time()))
            lock_after = self.lock_after
            lock_now = not self.exposure_locked and lock_after > 0 and stamp_us - self.first_us >= lock_after * 1e6
            self.exposure_locked |= lock_now
            return lock_now

    def encoded(self, data: bytes, keyframe: bool, timestamp: Optional[int]) -> None:
        """An encoded frame: write it, then report it (the agent raises the TTL pulse when it is reported)."""
        if self.output is not None:
            self.output.write(data)
        first = getattr(self.encoder, "firsttimestamp", None)
        if timestamp is None or first is None:
            self.carry += len(data)
            return
        stamp_us = int(first) + int(timestamp)  # the encoder counts from its first frame's SensorTimestamp
        with self.lock:
            while self.arrived and self.arrived[0][0] < stamp_us:
                self.arrived.popleft()  # not encoded: shows as a gap in the timestamps
            if not self.arrived or self.arrived[0][0] != stamp_us:
                self.carry += len(data)
                return
            _, sys_time = self.arrived.popleft()
            size, self.carry = self.carry + len(data), 0
            index = self.index(stamp_us)
        if self.active:
            self.on_frame(FrameInfo(index, stamp_us, sys_time, size, bool(keyframe)))


def _output_class() -> type:
    """A picamera2 ``Output`` (picamera2's extension point for encoded frames) that feeds a :class:`_FrameSink`."""
    from picamera2.outputs import Output

    class RecordingOutput(Output):  # type: ignore[misc]
        def __init__(self, sink: _FrameSink) -> None:
            super().__init__()
            self.sink = sink

        def outputframe(
            self,
            frame: bytes,
            keyframe: bool = True,
            timestamp: Optional[int] = None,
            packet: Any = None,
            audio: bool = False,
        ) -> None:
            if audio or frame is None:
                return
            try:
                self.sink.encoded(bytes(frame), keyframe, timestamp)
            except Exception as err:  # surfaced to the agent, never raised into the encoder's thread
                self.sink.on_error(err)

    return RecordingOutput


class Picamera2Camera(CameraBackend):
    """Record with picamera2; ``camera_num`` selects the camera on boards with two."""

    name = "picamera2"

    def __init__(
        self, *, clock: Optional[CameraClock] = None, camera_num: int = 0, bitrate: Optional[int] = None
    ) -> None:
        super().__init__(clock=clock or boottime_clock())  # SensorTimestamp runs on CLOCK_BOOTTIME
        self.camera_num = camera_num
        self.bitrate = bitrate
        self._camera: Any = None
        self._settings: Optional[ControllerSettings] = None
        self._sink: Optional[_FrameSink] = None
        self._timer: Optional[threading.Timer] = None
        self._controls: dict[str, Any] = {}  #: the settings' controls, given at every start
        self._latest: Optional[dict[str, Any]] = None  #: the metadata of the latest frame that arrived
        self._armed_encoder: Any = None  #: made by arm(), used by the next recording's start
        self._schedule = threading.Lock()  #: guards the start timer against reschedule() while it fires

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
                cause = f" ({err.__cause__})" if err.__cause__ is not None else ""
                raise BackendError(f"no camera {self.camera_num} could be opened by libcamera: {err}{cause}") from None
        pixel_array = tuple(self._camera.camera_properties.get("PixelArraySize", settings.resolution))
        controls, flips, unsupported = controls_for(settings, (int(pixel_array[0]), int(pixel_array[1])))
        try:
            config = self._camera.create_video_configuration(
                main={"size": tuple(settings.resolution), "format": "YUV420"},
                controls=controls,
                transform=Transform(**flips),
                buffer_count=BUFFER_COUNT,
            )
            self._camera.configure(config)
        except (RuntimeError, ValueError, TypeError, KeyError) as err:
            raise BackendError(f"the camera refused the settings: {err}") from None
        size = tuple(self._camera.camera_config["main"]["size"])
        if size != tuple(settings.resolution):
            raise BackendError(
                f"resolution {settings.resolution[0]}x{settings.resolution[1]}: libcamera can only give "
                f"{size[0]}x{size[1]} on this camera; set that resolution (or one the sensor's modes allow)"
            )
        self._settings = settings
        self._controls = controls
        self._automatic = tuple(
            part
            for part, key in (("exposure", "AeEnable"), ("white balance", "AwbEnable"))
            if controls.get(key, True) is not False
        )
        self._fixed = self._fixed_before = None
        return unsupported

    def settle_exposure(self, seconds: float, on_done: SettleCallback) -> bool:
        if self._camera is None or self._settings is None:
            raise BackendError("camera is not configured: send 'configure' before a warm-up")
        return self._start_warmup(
            seconds, on_done, begin=self._warmup_begin, finish=self._warmup_finish, abort=self._stop_camera
        )

    def _warmup_begin(self) -> None:
        self._fixed_before = None
        self._unfix()
        self._latest = None
        self.start(None, lambda frame: None, self._warmup_failed)

    def _warmup_failed(self, error: BaseException) -> None:
        logger.error("camera failed during the exposure warm-up: %s", error)

    def _warmup_finish(self) -> dict[str, Any]:
        metadata = self._latest
        self._stop_camera()
        if metadata is None:
            raise BackendError("no frame arrived during the exposure warm-up: the camera delivers nothing")
        self._fixed = self._fixed_controls(metadata)
        return dict(self._fixed)

    def _unfix(self) -> None:
        """Automatic exposure and white balance again (what the settings leave automatic), from the next start."""
        self._fixed = None

    def _start_controls(self) -> dict[str, Any]:
        """What a start gives libcamera: the settings' controls, and the fixed values or automatic again."""
        controls = dict(self._controls)
        if self._fixed is not None:
            controls.update(self._fixed)
        else:
            enable = {"exposure": "AeEnable", "white balance": "AwbEnable"}
            controls.update({enable[part]: True for part in self._automatic})
        return controls

    def _fixed_controls(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """Controls that fix the automatic parts where a frame's metadata says they were."""
        controls: dict[str, Any] = {}
        if "exposure" in self._automatic:
            controls.update(
                AeEnable=False,
                ExposureTime=int(metadata["ExposureTime"]),
                AnalogueGain=float(metadata["AnalogueGain"]),
            )
        if "white balance" in self._automatic:
            controls.update(AwbEnable=False, ColourGains=tuple(float(g) for g in metadata["ColourGains"]))
        return controls

    @property
    def encoder_name(self) -> str:
        """See :func:`h264_encoder_name`."""
        return h264_encoder_name()

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
        sink = self._sink = _FrameSink(output, self._settings.framerate, on_frame, on_error)
        warmup = self._settings.exposure_warmup
        if output is None and settle_exposure and warmup > 0 and self._automatic and not self._warming_up():
            self._fixed_before = self._fixed
            self._unfix()  # a preview settles exposure again, that far into it
            sink.lock_after = warmup
        elif output is not None and self._fixed is None:
            sink.lock_after = self._settings.lock_exposure_after
        self._camera.post_callback = self._arrived
        wait = 0.0 if start_at_us is None else self.clock.to_monotonic(start_at_us) - time.monotonic()
        if wait > 0:  # libcamera starts when asked: begin at the common start time, without blocking the agent
            self._start_timer(wait, output is not None)
        else:
            self._begin(output is not None, False)

    def _start_timer(self, wait: float, record: bool) -> None:
        self._timer = threading.Timer(wait, self._begin, args=(record, True))
        self._timer.start()

    @classmethod
    def preload(cls) -> None:
        from picamera2 import encoders  # noqa: F401  (picamera2's import is slow on a Pi: paid before the hello)

    def arm(self) -> None:
        if self._settings is None:
            raise BackendError("camera is not configured: send 'configure' before 'arm'")
        if self._armed_encoder is None:
            self._armed_encoder = self._new_encoder(self._settings.framerate)

    def _new_encoder(self, fps: int) -> Any:
        from picamera2 import encoders

        return encoders.H264Encoder(bitrate=self.bitrate, repeat=True, iperiod=fps, framerate=fps)

    def reschedule(self, start_at_us: int) -> None:
        wait = self.clock.to_monotonic(start_at_us) - time.monotonic()
        with self._schedule:
            timer = self._timer
            if timer is None:
                raise BackendError("the camera has started: too late to move its start")
            if wait <= 0:
                raise BackendError("the new start time has passed")
            timer.cancel()
            self._start_timer(wait, self._sink is not None and self._sink.output is not None)

    def _begin(self, record: bool, deferred: bool) -> None:
        with self._schedule:
            if deferred:
                if self._timer is not threading.current_thread():
                    return  # a reschedule() cancelled this timer as it fired, and started another
                self._timer = None  # begun: no longer movable
            self._begin_now(record, deferred)

    def _begin_now(self, record: bool, deferred: bool) -> None:
        sink, settings = self._sink, self._settings
        assert sink is not None and settings is not None
        try:
            # every start gets them all (picamera2 applies controls set before a start from its first frame)
            self._camera.set_controls(self._start_controls())
            if not record:
                self._camera.start()
            else:
                encoder, self._armed_encoder = self._armed_encoder, None
                encoder = encoder or self._new_encoder(settings.framerate)
                sink.encoder = encoder  # before the start: the first frames need it
                self._camera.start_recording(encoder, _output_class()(sink))
        except (RuntimeError, OSError) as err:
            sink.encoder = None
            self._camera.post_callback = None
            failure = BackendError(f"the camera did not start ({type(err).__name__}): {err}")
            if not deferred:
                raise failure from None
            sink.on_error(failure)

    def _arrived(self, request: Any) -> None:
        """post_callback: runs on picamera2's event-loop thread for every frame, before it is encoded."""
        sink, settings = self._sink, self._settings
        if sink is None or settings is None:
            return
        try:
            metadata = request.get_metadata()
            self._latest = metadata
            stamp_us = int(metadata["SensorTimestamp"]) // 1000
            if sink.frame_arrived(stamp_us):
                self._lock_exposure(metadata)
            preview = self.preview
            if preview is not None and preview.wants():  # the main stream's Y plane, shrunk by the preview
                luma = request.make_array("main")[: settings.resolution[1]]
                preview.offer(luma, sink.index(stamp_us), stamp_us, time.time(), sink.encoder is not None)
            if sink.encoder is None and sink.active:  # preview: nothing is encoded, reported as it arrives
                sink.on_frame(FrameInfo(sink.index(stamp_us), stamp_us, time.time(), 0, False))
        except Exception as err:  # surfaced to the agent, never raised into picamera2's thread
            sink.on_error(err)

    def _lock_exposure(self, metadata: dict[str, Any]) -> None:
        """Fix exposure and white balance where the automatic algorithms have settled (camera running)."""
        controls = self._fixed_controls(metadata)
        self._camera.set_controls(controls)
        self._fixed, self._fixed_before = controls, None
        logger.info("exposure and white balance locked: %s", controls)

    def stop(self) -> None:
        self._cancel_warmup()
        self._stop_camera()
        released = self._released_by_preview()
        if released is not None:
            self._fixed = released
            logger.warning("the preview ended before exposure had settled again: the values fixed before stay fixed")

    def _stop_camera(self) -> None:
        if self._camera is None:
            return
        self._armed_encoder = None
        with self._schedule:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            if timer is not threading.current_thread():
                timer.join()
        sink = self._sink
        encoder = None if sink is None else sink.encoder
        try:
            if encoder is not None:
                bitrate = getattr(encoder, "bitrate", None)  # set by picamera2 from the quality if not given
                self.target_bitrate = int(bitrate) if bitrate else None
                self._camera.stop_recording()  # the encoder's last frames still reach the file and the agent
            elif self._camera.started:
                self._camera.stop()
        finally:
            if sink is not None:
                sink.active = False
                sink.encoder = None
            self._camera.post_callback = None

    def close(self) -> None:
        if self._camera is not None:
            try:
                self.stop()
            finally:
                camera, self._camera = self._camera, None
                camera.close()
