"""The fake camera: what libcamera's Raspberry Pi pipeline handler, its IPA and the sensor do for one camera.

:class:`FakeCamera` is the object behind a ``libcamera.Camera`` handle. It keeps libcamera's camera state machine
(Available, Acquired, Configured, Running: a second ``acquire()`` fails with EBUSY, ``queue_request()`` before
``start()`` with EACCES...), validates configurations the way the Raspberry Pi pipeline handler does (sensor mode
choice, raw formats per platform, ISP output limits, stride alignment, colour spaces), and, while started, runs one
sensor thread that produces frames on the sensor's clock.

The sensor thread: each frame starts at its scheduled time on CLOCK_BOOTTIME (the clock of libcamera's
``SensorTimestamp``) and is one frame duration after the previous one, the duration following the
``FrameDurationLimits`` and exposure in force. A frame takes the oldest queued request; when none is queued the
frame is lost (its sequence number is used up, as on a real camera whose buffers are all held by the application).
The request's buffers get real pixels (see :mod:`._paint`), its metadata the values a Raspberry Pi reports
(exposure, gains, colour temperature, lux, frame duration, crop...), computed by a small AGC/AWB/AF model that
converges over the first frames. Controls carried by a request apply to that frame (ISP controls) or two frames
later (sensor controls: exposure, gain, frame duration), as the real pipeline's delayed controls do. On the first
start after a camera manager is created, the first frames are marked as startup frames
(``FrameMetadata::FrameStartup``) while AGC/AWB converge, exactly as libcamera 0.5.1+rpt and later do; picamera2
drops them.

Completed requests are handed to the camera manager that was current at ``start()``, which makes its eventfd
readable, exactly where the real bindings hand them over. The assertion helpers at the end of :class:`FakeCamera`
(``frames``, ``frames_lost``, ``sequence_numbers_delivered``, ``hold_buffers()``...) are the fake's own additions.
"""

from __future__ import annotations

import errno
import logging
import mmap
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Optional

from rpi_camera_colony.testing.fakes.libcamera import _defs
from rpi_camera_colony.testing.fakes.libcamera._binding import (
    ORIENTATION_BITS,
    CameraConfiguration,
    CameraManager,
    ColorSpace,
    ControlInfo,
    Lib,
    Request,
    Stream,
    StreamConfiguration,
)
from rpi_camera_colony.testing.fakes.libcamera._paint import Painter
from rpi_camera_colony.testing.fakes.libcamera._ports import KernelPort
from rpi_camera_colony.testing.fakes.libcamera._sensors import FakeSensor, SensorMode

logger = logging.getLogger(__name__)

AVAILABLE, ACQUIRED, CONFIGURED, STOPPING, RUNNING = range(5)
STATE_NAMES = ("Available", "Acquired", "Configured", "Stopping", "Running")

#: Frames between a sensor control arriving with a request and the frame it takes effect on.
SENSOR_CONTROL_DELAY = 2
SENSOR_CONTROLS = frozenset(
    {"ExposureTime", "ExposureTimeMode", "AnalogueGain", "AnalogueGainMode", "AeEnable", "FrameDurationLimits"}
)
#: AGC / AWB convergence frames of the Raspberry Pi tuning (``convergence_frames``) plus the one "mistrusted"
#: frame the camera helper declares at startup.
AGC_STARTUP_FRAMES = 6 + 1
AWB_STARTUP_FRAMES = 3 + 1
DEFAULT_EXPOSURE_US = 20000
DEFAULT_MIN_FRAME_DURATION_US = 33333
DEFAULT_MAX_FRAME_DURATION_US = 250_000_000
#: The exposure the AGC aims at for the (fixed) simulated scene, in microseconds x gain.
SCENE_LUX = 400.0
_TARGET_EXPOSURE_PRODUCT = 6.0e6 / SCENE_LUX
_AWB_TARGETS = {"imx477": (2.31, 1.74), "imx708": (2.02, 1.88), "imx219": (1.78, 1.62), "ov5647": (1.55, 1.49)}
_CCM = (1.72, -0.54, -0.18, -0.39, 1.69, -0.30, -0.05, -0.62, 1.67)
_FULL = (65535, 65535, 65535, 65535)


def boottime_ns() -> int:
    """Now on CLOCK_BOOTTIME, the clock of libcamera's ``SensorTimestamp``."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


@dataclass(frozen=True)
class FrameRecord:
    """One frame of the sensor, as the fake saw it.

    Attributes:
        sequence: the frame's sequence number (counts every frame since ``start()``, lost ones included).
        timestamp_ns: its ``SensorTimestamp`` (CLOCK_BOOTTIME).
        outcome: ``"delivered"`` (request completed, status Success), ``"startup"`` (completed with the
            FrameStartup status picamera2 drops) or ``"lost"`` (no request was queued: nothing delivered).
        controls: the controls the request carried, by name (empty for lost frames).
        metadata: the metadata reported (for lost frames: what would have been reported).
    """

    sequence: int
    timestamp_ns: int
    outcome: str
    controls: Mapping[str, Any]
    metadata: Mapping[str, Any]


@dataclass
class _StreamPlan:
    stream: Stream
    cfg: StreamConfiguration
    info: _defs.FormatInfo
    painter: Painter


@dataclass
class _Session:
    """One start()..stop() of the sensor."""

    manager: weakref.ReferenceType[CameraManager]
    next_time_ns: int
    startup_frames: int
    sequence: int = 0
    stop: bool = False
    pending: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)


class _Ipa:
    """A small model of the Raspberry Pi IPA: AGC, AWB, autofocus, frame timing, per-frame metadata."""

    def __init__(self, sensor: FakeSensor, mode: SensorMode, platform: str, crop: tuple[int, int, int, int]) -> None:
        self.sensor, self.mode, self.platform = sensor, mode, platform
        self.exposure_manual = False
        self.gain_manual = False
        self.manual_exposure: Optional[int] = None
        self.manual_gain: Optional[float] = None
        self.product = float(DEFAULT_EXPOSURE_US)  # exposure (us) x analogue gain currently applied
        self.exposure = float(DEFAULT_EXPOSURE_US)
        self.gain = 1.0
        self.limits = self._clamp_limits((DEFAULT_MIN_FRAME_DURATION_US, DEFAULT_MAX_FRAME_DURATION_US))
        self.awb_auto = True
        target = _AWB_TARGETS.get(sensor.driver, (2.0, 1.7))
        self.awb_target = target
        self.colour_gains = (1.0 + 0.6 * (target[0] - 1.0), 1.0 + 0.6 * (target[1] - 1.0))
        self.crop = crop
        self.isp: dict[str, Any] = {}
        self.af_mode = 0
        self.af_state = 0
        self.af_scan_left = 0
        self.lens_position = 1.0
        self.sync_mode = 0
        self.sync_frames = 1000
        self.sync_started_at: Optional[int] = None

    def _clamp_limits(self, limits: tuple[int, int]) -> tuple[int, int]:
        low = min(max(int(limits[0]), self.mode.min_frame_duration_us), self.mode.max_frame_duration_us)
        high = min(max(int(limits[1]), low), self.mode.max_frame_duration_us)
        return (low, high)

    def apply(self, controls: Mapping[str, Any], sequence: int) -> None:
        # Like the IPA's applyControls(): the mode controls first, since others depend on them.
        first = ("AfMode", "AeEnable", "ExposureTimeMode", "AnalogueGainMode")
        ordered = [(n, controls[n]) for n in first if n in controls]
        ordered += [(n, v) for n, v in controls.items() if n not in first]
        for name, value in ordered:
            if name == "AeEnable":
                self.exposure_manual = self.gain_manual = not value
            elif name == "ExposureTimeMode":
                self.exposure_manual = value == 1
            elif name == "AnalogueGainMode":
                self.gain_manual = value == 1
            elif name == "ExposureTime":
                self.manual_exposure = int(value)
            elif name == "AnalogueGain":
                self.manual_gain = float(value)
            elif name == "FrameDurationLimits" and isinstance(value, tuple) and len(value) == 2:
                self.limits = self._clamp_limits((value[0], value[1]))
            elif name == "AwbEnable":
                self.awb_auto = bool(value)
            elif name == "ColourGains" and isinstance(value, tuple) and len(value) == 2:
                self.awb_auto = False
                self.colour_gains = (float(value[0]), float(value[1]))
            elif name == "ScalerCrop" and isinstance(value, tuple) and len(value) == 4:
                self.crop = self._bound_crop(value)
            elif name == "AfMode":
                if int(value) != self.af_mode:
                    self.af_mode = int(value)
                    self.af_state, self.af_scan_left = (1, 8) if self.af_mode == 2 else (0, 0)
            elif name == "AfTrigger" and self.af_mode == 1:
                self.af_state, self.af_scan_left = (1, 8) if value == 0 else (0, 0)
            elif name == "LensPosition" and self.af_mode == 0:
                low, high = self.sensor.lens_limits
                self.lens_position = min(max(float(value), low), high)
            elif name == "SyncMode":
                self.sync_mode = int(value)
                self.sync_started_at = sequence if self.sync_mode else None
            elif name == "SyncFrames":
                self.sync_frames = int(value)
            else:
                self.isp[name] = value

    def _bound_crop(self, crop: tuple[int, ...]) -> tuple[int, int, int, int]:
        mx, my, mw, mh = self.mode.crop
        width = min(max(int(crop[2]), 64), mw)
        height = min(max(int(crop[3]), 64), mh)
        x = min(max(int(crop[0]), mx), mx + mw - width)
        y = min(max(int(crop[1]), my), my + mh - height)
        return (x, y, width, height)

    def frame(self, sequence: int) -> tuple[dict[str, Any], int]:
        """Run the algorithms for one frame: its metadata, and its duration in microseconds."""
        mode, sensor = self.mode, self.sensor
        gain_low, gain_high = sensor.analogue_gain_limits
        exposure_low = mode.exposure_limits[0]
        exposure_high = max(exposure_low, min(mode.exposure_limits[1], self.limits[1]))
        target = _TARGET_EXPOSURE_PRODUCT
        # AGC converges towards the target over a few frames (the speed of the Raspberry Pi AGC at startup).
        self.product += (target - self.product) * 0.45
        if self.exposure_manual and self.manual_exposure:
            exposure = float(min(max(self.manual_exposure, exposure_low), exposure_high))
        elif self.gain_manual and self.manual_gain:
            exposure = min(max(self.product / self.manual_gain, exposure_low), exposure_high)
        else:
            exposure = min(max(min(self.product, 66666.0), exposure_low), exposure_high)
        if self.gain_manual and self.manual_gain:
            gain = min(max(self.manual_gain, gain_low), gain_high)
        else:
            gain = min(max(self.product / exposure, gain_low), gain_high)
        if self.exposure_manual and self.gain_manual:
            ae_state = 0
        else:
            ae_state = 2 if abs(self.product - target) < 0.02 * target else 1
        self.exposure, self.gain = exposure, gain
        digital = 1.0 if (self.exposure_manual and self.gain_manual) else max(1.0, self.product / (exposure * gain))
        duration = int(min(max(exposure, self.limits[0], mode.min_frame_duration_us), self.limits[1]))
        if self.awb_auto:
            r, b = self.colour_gains
            self.colour_gains = (r + (self.awb_target[0] - r) * 0.5, b + (self.awb_target[1] - b) * 0.5)
        red, blue = self.colour_gains
        temperature = int(min(max(2000.0 + 3000.0 * max(red - 1.0, 0.0) / max(blue, 0.1), 1000.0), 15000.0))
        metadata: dict[str, Any] = {
            "ExposureTime": int(exposure),
            "AnalogueGain": gain,
            "DigitalGain": digital,
            "AeState": ae_state,
            "FrameDuration": duration,
            "ColourGains": (red, blue),
            "ColourTemperature": temperature,
            "ColourCorrectionMatrix": _CCM,
            "Lux": SCENE_LUX * target / max(exposure * gain * digital, 1.0),
            "SensorBlackLevels": (sensor.black_level,) * 4,
            "FocusFoM": 1200 + 37 * (sequence % 11),
            "ScalerCrop": self.crop,
        }
        if self.platform == "pisp":
            metadata["ScalerCrops"] = (self.crop,)
        if sensor.has_temperature_sensor:
            metadata["SensorTemperature"] = 38.0 + min(sequence, 600) * 0.01
        if sensor.has_autofocus:
            if self.af_state == 1:
                self.af_scan_left -= 1
                self.lens_position += (1.5 - self.lens_position) * 0.4
                if self.af_scan_left <= 0:
                    self.af_state = 2
            metadata.update({"AfState": self.af_state, "AfPauseState": 0, "LensPosition": self.lens_position})
        if self.sync_mode and self.sync_started_at is not None:
            remaining = max(0, self.sync_started_at + self.sync_frames - sequence)
            metadata["SyncReady"] = remaining == 0
            metadata["SyncTimer"] = remaining * duration
        return metadata, duration


class FakeCamera:
    """One fake camera (sensor + Raspberry Pi pipeline). Reach it as ``kernel.cameras[i]``."""

    def __init__(self, kernel: KernelPort, sensor: FakeSensor, index: int) -> None:
        self._kernel = kernel
        self.sensor = sensor
        self.index = index
        self.platform = kernel.platform
        lib: Lib = kernel.lib
        self._lib = lib
        self.camera_id = _camera_id(kernel.platform, index, sensor)
        self._cond = threading.Condition(threading.RLock())
        self._state = AVAILABLE
        self._dead = False
        self._first_start = True
        self._streams = {name: lib.Stream(name) for name in ("isp0", "isp1", "raw")}
        self._active: list[_StreamPlan] = []
        default_mode = self._best_mode(sensor.resolution, 12)
        self._mode = default_mode
        self._configured_mode: Optional[SensorMode] = None
        self._crop = default_mode.crop
        self._controls = self._control_table(None)
        self._queue: deque[Request] = deque()
        self._session: Optional[_Session] = None
        self._thread: Optional[threading.Thread] = None
        self._ipa: Optional[_Ipa] = None
        self._request_sequence = 0
        self._hold_until_ns = 0
        self._stall_until_ns = 0
        self._records: list[FrameRecord] = []
        self._start_controls: list[dict[str, Any]] = []
        self._cancelled = 0
        self._starts = 0
        self._orientation = "Rotate0"

    # ------------------------------------------------------------------------------------------ state machine

    def _allowed(self, low: int, high: int, what: str) -> int:
        if self._dead:
            return errno.ENODEV
        if low <= self._state <= high:
            return 0
        logger.error(
            "Camera in %s state trying %s() requiring state between %s and %s",
            STATE_NAMES[self._state], what, STATE_NAMES[low], STATE_NAMES[high],
        )  # fmt: skip
        return errno.EACCES

    def acquire(self) -> int:
        with self._cond:
            code = self._allowed(AVAILABLE, AVAILABLE, "acquire")
            if code:
                return errno.EBUSY if code == errno.EACCES else code
            self._state = ACQUIRED
            logger.debug("%s acquired", self.camera_id)
            return 0

    def release(self) -> int:
        with self._cond:
            if self._dead:
                return 0
            code = self._allowed(AVAILABLE, CONFIGURED, "release")
            if code:
                return errno.EBUSY if code == errno.EACCES else code
            self._state = AVAILABLE
            self._active = []
            for stream in self._streams.values():
                stream.set_configuration(None)
            return 0

    def on_new_manager(self) -> None:
        """A new CameraManager exists: its cameras (and their IPA) are new, so the next start is a first start."""
        with self._cond:
            self._first_start = True

    # ------------------------------------------------------------------------------------------ configuration

    def _best_mode(self, size: tuple[int, int], bit_depth: int) -> SensorMode:
        """libcamera's ``CameraData::findBestFormat``: the mode closest in size, aspect ratio and bit depth."""

        def score_format(desired: float, actual: float) -> float:
            difference = desired - actual
            return -difference / 4 if difference < 0 else difference * 2

        def score(mode: SensorMode) -> float:
            ratio = size[0] / size[1] if size[1] else 1.0
            mode_ratio = mode.size[0] / mode.size[1]
            return (
                score_format(size[0], mode.size[0])
                + score_format(size[1], mode.size[1])
                + 1500 * score_format(ratio, mode_ratio)
                + 500 * abs(bit_depth - mode.bit_depth)
            )

        return min(self.sensor.modes, key=score)

    def generate_configuration(self, roles: Sequence[Any]) -> Optional[CameraConfiguration]:
        lib = self._lib
        if self._dead:
            return None
        configs: list[StreamConfiguration] = []
        sensor_size = self.sensor.resolution
        isp_formats: dict[str, Any] = {
            name: lib.SizeRange(lib.Size(64, 64), lib.Size(*sensor_size), 2, 2)
            for name in _defs.ISP_OUTPUT_FORMATS[self.platform]
        }
        raw_formats: dict[str, Any] = {}
        for mode in self.sensor.modes:
            name = _csi2_name(mode.format)
            raw_formats.setdefault(name, []).append(lib.Size(*mode.size))
        for role in roles:
            if role.name == "Raw":
                mode = self._best_mode(sensor_size, 12)
                cfg = lib.StreamConfiguration(lib.StreamFormats(raw_formats))
                cfg.size, cfg.pixel_format = lib.Size(*mode.size), lib.PixelFormat(_csi2_name(mode.format))
                cfg.color_space, cfg.buffer_count = lib.ColorSpace.Raw(), 2
            else:
                size, fmt, colour, count = {
                    "StillCapture": (sensor_size, "YUV420", lib.ColorSpace.Sycc(), 1),
                    "VideoRecording": ((1920, 1080), "YUV420", lib.ColorSpace.Rec709(), 4),
                    "Viewfinder": ((800, 600), "XRGB8888", lib.ColorSpace.Sycc(), 4),
                }[role.name]
                cfg = lib.StreamConfiguration(lib.StreamFormats(dict(isp_formats)))
                cfg.size, cfg.pixel_format = lib.Size(*size), lib.PixelFormat(fmt)
                cfg.color_space, cfg.buffer_count = colour, count
            configs.append(cfg)
        return lib.CameraConfiguration(self, configs)

    def validate(self, config: CameraConfiguration) -> Any:
        """``RPiCameraConfiguration::validate`` with the VC4 or PiSP ``platformValidate``."""
        return self._validate(config)[0]

    def _validate(self, config: CameraConfiguration) -> tuple[Any, Optional[SensorMode]]:
        lib = self._lib
        status_enum = lib.CameraConfiguration.Status
        configs = list(config)
        if not configs:
            return status_enum.Invalid, None
        sensor_config = config.sensor_config
        if sensor_config is not None and not sensor_config.is_valid():
            logger.error("Invalid sensor configuration request")
            return status_enum.Invalid, None
        adjusted = self._validate_colour_spaces(configs)
        # Sensors can flip but not transpose: drop a transpose from the requested orientation.
        bits = ORIENTATION_BITS[config.orientation.name]
        if bits & 4:
            bits &= ~4
            config.orientation = next(o for o in lib.Orientation if ORIENTATION_BITS[o.name] == bits)
            adjusted = True
        raws = [c for c in configs if _is_raw(c)]
        outs = sorted((c for c in configs if not _is_raw(c)), key=lambda c: c.size.width * c.size.height, reverse=True)
        if len(raws) > 1 or len(outs) > 2:
            logger.error("Invalid number of streams requested")
            return status_enum.Invalid, None
        if sensor_config is not None:
            output = sensor_config.output_size
            bit_depth, size = sensor_config.bit_depth, (output.width, output.height)
        elif raws:
            info = raws[0].pixel_format.info
            bit_depth = info.bit_depth if info is not None else 12
            size = (raws[0].size.width, raws[0].size.height)
        elif outs:
            bit_depth, size = 12, (outs[0].size.width, outs[0].size.height)
        else:
            return status_enum.Invalid, None
        mode = self._best_mode(size, bit_depth)
        if sensor_config is not None and (mode.bit_depth != bit_depth or mode.size != size):
            logger.error("Invalid sensor configuration: bitDepth/size mismatch")
            return status_enum.Invalid, None
        for raw in raws:
            adjusted |= self._fix_raw(raw, mode)
        for i, out in enumerate(outs):
            adjusted |= self._fix_output(out, outs[0] if i else None, mode)
        return (status_enum.Adjusted if adjusted else status_enum.Valid), mode

    def _validate_colour_spaces(self, configs: list[StreamConfiguration]) -> bool:
        lib = self._lib
        adjusted = False
        valid = (lib.ColorSpace.Sycc(), lib.ColorSpace.Smpte170m(), lib.ColorSpace.Rec709())
        yuv: Optional[ColorSpace] = None
        for cfg in configs:
            if _is_raw(cfg):
                if cfg.color_space is not None and cfg.color_space.fields() != lib.ColorSpace.Raw().fields():
                    adjusted = True
                cfg.color_space = lib.ColorSpace.Raw()
                continue
            if cfg.color_space is not None and yuv is None:
                wanted = cfg.color_space
                yuv = next(
                    (
                        cs
                        for cs in valid
                        if (cs.primaries, cs.transferFunction) == (wanted.primaries, wanted.transferFunction)
                    ),
                    lib.ColorSpace.Sycc(),
                )
        if yuv is None:
            yuv = lib.ColorSpace.Sycc()
        rgb = lib.ColorSpace(yuv)
        rgb.ycbcrEncoding, rgb.range = lib.ColorSpace.YcbcrEncoding.Null, lib.ColorSpace.Range.Full
        for cfg in configs:
            if _is_raw(cfg):
                continue
            info = cfg.pixel_format.info
            current = cfg.color_space.fields() if cfg.color_space is not None else None
            if info is not None and info.kind == "rgb":
                if current != rgb.fields():
                    if current is not None and current != yuv.fields():
                        adjusted = True
                    cfg.color_space = rgb
            elif current != yuv.fields():
                if current is not None:
                    adjusted = True
                cfg.color_space = yuv
        return adjusted

    def _fix_raw(self, cfg: StreamConfiguration, mode: SensorMode) -> bool:
        lib = self._lib
        info = cfg.pixel_format.info
        assert info is not None
        order = self.sensor.bayer_order
        prefix = "R" if order == "MONO" else f"S{order}"
        if self.platform == "pisp":
            # The PiSP front end writes 16-bit samples, or its own compressed format instead of CSI-2 packing.
            if info.packing == "CSI2P" or info.packing == "PISP_COMP1":
                name = "MONO_PISP_COMP1" if order == "MONO" else f"{order}_PISP_COMP1"
            else:
                name = f"{prefix}16"
        else:
            name = f"{prefix}{mode.bit_depth}" + ("" if info.packing == "" else "_CSI2P")
            if name not in _defs.PIXEL_FORMATS:
                name = f"{prefix}{mode.bit_depth}"
        adjusted = str(cfg.pixel_format) != name or (cfg.size.width, cfg.size.height) != mode.size
        cfg.pixel_format = lib.PixelFormat(name)
        cfg.size = lib.Size(*mode.size)
        stride, frame_size = _defs.stride_and_size(_defs.PIXEL_FORMATS[name], mode.size[0], mode.size[1], self.platform)
        cfg.stride, cfg.frame_size = stride, frame_size
        return adjusted

    def _fix_output(self, cfg: StreamConfiguration, largest: Optional[StreamConfiguration], mode: SensorMode) -> bool:
        lib = self._lib
        adjusted = False
        name = str(cfg.pixel_format)
        if name not in _defs.ISP_OUTPUT_FORMATS[self.platform]:
            name = "YUV420"
            adjusted = True
        width, height = cfg.size.width, cfg.size.height
        if self.platform == "pisp":
            # No more than 64x downscaling from the sensor output (PiSP back end with its downscaler).
            raw = lib.Size(*mode.size).bounded_to_aspect_ratio(lib.Size(max(width, 1), max(height, 1)))
            min_w = ((raw.width + 63) // 64 + 1) & ~1
            min_h = ((raw.height + 63) // 64 + 1) & ~1
            if width < min_w:
                height, width = (height * min_w // max(width, 1) + 1) & ~1, min_w
            if height < min_h:
                width, height = (width * min_h // max(height, 1) + 1) & ~1, min_h
        low = _defs.ISP_MIN_DIM[self.platform]
        width = min(max(width, low), _defs.ISP_MAX_DIM) & ~1
        height = min(max(height, low), _defs.ISP_MAX_DIM) & ~1
        if largest is not None:
            width, height = min(width, largest.size.width), min(height, largest.size.height)
        if (width, height) != (cfg.size.width, cfg.size.height):
            adjusted = True
        cfg.pixel_format = lib.PixelFormat(name)
        cfg.size = lib.Size(width, height)
        stride, frame_size = _defs.stride_and_size(_defs.PIXEL_FORMATS[name], width, height, self.platform)
        cfg.stride, cfg.frame_size = stride, frame_size
        return adjusted

    def configure(self, config: CameraConfiguration) -> int:
        with self._cond:
            code = self._allowed(ACQUIRED, CONFIGURED, "configure")
            if code:
                return code
            for cfg in config:
                cfg.set_stream(None)
            status, mode = self._validate(config)
            if status != self._lib.CameraConfiguration.Status.Valid or mode is None:
                logger.error("Can't configure camera with invalid configuration")
                return errno.EINVAL
            configs = list(config)
            outs = sorted(
                (c for c in configs if not _is_raw(c)), key=lambda c: c.size.width * c.size.height, reverse=True
            )
            plans: list[_StreamPlan] = []
            for cfg in configs:
                name = "raw" if _is_raw(cfg) else ("isp0" if cfg is outs[0] else "isp1")
                stream = self._streams[name]
                cfg.set_stream(stream)
                stream.set_configuration(cfg)
                info = cfg.pixel_format.info
                assert info is not None
                painter = Painter(info, cfg.size.width, cfg.size.height, cfg.stride, cfg.frame_size)
                plans.append(_StreamPlan(stream, cfg.copy(), info, painter))
            self._active = plans
            self._orientation = config.orientation.name
            self._mode = self._configured_mode = mode
            main = outs[0].size if outs else self._lib.Size(*mode.size)
            self._crop = _default_crop(mode, (main.width, main.height))
            self._controls = self._control_table(mode)
            self._state = CONFIGURED
            logger.info(
                "%s configured: %s (sensor mode %s %dx%d)",
                self.camera_id, ", ".join(str(c) for c in configs), mode.format, *mode.size,
            )  # fmt: skip
            return 0

    def active_streams(self) -> list[Stream]:
        with self._cond:
            return [plan.stream for plan in self._active]

    # ------------------------------------------------------------------------------- controls and properties

    def _control_table(self, mode: Optional[SensorMode]) -> dict[str, tuple[Any, Any, Any, tuple[Any, ...]]]:
        """The ControlInfoMap the Raspberry Pi IPA advertises (``ipa_base.cpp``), with the mode's limits."""
        sensor = self.sensor

        def values(*items: int, default: Any = None) -> tuple[Any, Any, Any, tuple[Any, ...]]:
            return (items[0], items[-1], default, items)

        table: dict[str, tuple[Any, Any, Any, tuple[Any, ...]]] = {
            "AeEnable": (False, True, True, ()),
            "ExposureTimeMode": values(0, 1, default=0),
            "ExposureTime": (1, 66666, DEFAULT_EXPOSURE_US, ()),
            "AnalogueGainMode": values(0, 1, default=0),
            "AnalogueGain": (1.0, 16.0, 1.0, ()),
            "AeMeteringMode": values(0, 1, 2, 3),
            "AeConstraintMode": values(0, 1, 2, 3),
            "AeExposureMode": values(0, 1, 2, 3),
            "ExposureValue": (-8.0, 8.0, 0.0, ()),
            "AeFlickerMode": values(0, 1, default=0),
            "AeFlickerPeriod": (100, 1000000, None, ()),
            "Brightness": (-1.0, 1.0, 0.0, ()),
            "Contrast": (0.0, 32.0, 1.0, ()),
            "HdrMode": values(0, 1, 2, 3, 4),
            "Sharpness": (0.0, 16.0, 1.0, ()),
            "ScalerCrop": ((0, 0, 0, 0), _FULL, (0, 0, 0, 0), ()),
            "FrameDurationLimits": (
                DEFAULT_MIN_FRAME_DURATION_US,
                DEFAULT_MAX_FRAME_DURATION_US,
                (DEFAULT_MIN_FRAME_DURATION_US, DEFAULT_MIN_FRAME_DURATION_US),
                (),
            ),
            "NoiseReductionMode": values(0, 1, 2, 3, 4),
            "StatsOutputEnable": (False, True, False, ()),
            "CnnEnableInputTensor": (False, True, False, ()),
            "SyncMode": values(0, 2, default=0),
            "SyncFrames": (100, 100000, 1000, ()),
        }
        if self.platform == "pisp":
            table["ScalerCrops"] = ((0, 0, 0, 0), _FULL, (0, 0, 0, 0), ())
        if sensor.bayer_order != "MONO":
            table.update(
                {
                    "AwbEnable": (False, True, None, ()),
                    "AwbMode": values(0, 1, 2, 3, 4, 5, 6, 7),
                    "ColourGains": (0.0, 32.0, None, ()),
                    "ColourCorrectionMatrix": (0.0, 8.0, None, ()),
                    "ColourTemperature": (100, 100000, None, ()),
                    "Saturation": (0.0, 32.0, 1.0, ()),
                }
            )
        if sensor.has_autofocus:
            table.update(
                {
                    "AfMode": values(0, 1, 2),
                    "AfRange": values(0, 1, 2),
                    "AfSpeed": values(0, 1),
                    "AfMetering": values(0, 1),
                    "AfWindows": ((0, 0, 0, 0), _FULL, ((0, 0, 0, 0),), ()),
                    "AfTrigger": values(0, 1),
                    "AfPause": values(0, 1, 2),
                    "LensPosition": (sensor.lens_limits[0], sensor.lens_limits[1], 1.0, ()),
                }
            )
        if mode is not None:
            table["FrameDurationLimits"] = (
                mode.min_frame_duration_us,
                mode.max_frame_duration_us,
                (DEFAULT_MIN_FRAME_DURATION_US, DEFAULT_MIN_FRAME_DURATION_US),
                (),
            )
            table["AnalogueGain"] = (sensor.analogue_gain_limits[0], sensor.analogue_gain_limits[1], 1.0, ())
            table["ExposureTime"] = (mode.exposure_limits[0], mode.exposure_limits[1], DEFAULT_EXPOSURE_US, ())
            smallest = (0, 0, max(64, mode.crop[2] // mode.size[0] * 64), max(64, mode.crop[3] // mode.size[1] * 64))
            table["ScalerCrop"] = (smallest, mode.crop, self._crop, ())
        return table

    def control_is_valid(self, name: str) -> bool:
        with self._cond:
            return name in self._controls

    def control_infos(self) -> dict[Any, ControlInfo]:
        lib = self._lib
        with self._cond:
            table = dict(self._controls)
        return {
            lib.control_ids[name]: lib.ControlInfo(lib.control_ids[name], low, high, default, options)
            for name, (low, high, default, options) in table.items()
        }

    def properties(self) -> dict[str, Any]:
        sensor = self.sensor
        cfa = {"RGGB": 0, "GRBG": 1, "GBRG": 2, "BGGR": 3, "MONO": 5}[sensor.bayer_order]
        with self._cond:
            crop = self._configured_mode.crop if self._configured_mode is not None else (0, 0, 0, 0)
        base = 20737 + 16 * self.index
        return {
            "Model": sensor.model,
            "UnitCellSize": sensor.unit_cell_size,
            "Location": 2,
            "Rotation": sensor.rotation,
            "PixelArraySize": sensor.pixel_array_size,
            "PixelArrayActiveAreas": (sensor.active_area,),
            "ScalerCropMaximum": crop,
            "SystemDevices": (base + 12, base, base + 1, base + 2, base + 3),
            "SensorSensitivity": sensor.sensitivity,
            "ColorFilterArrangement": cfa,
            "PipelineHandler": f"rpi/{self.platform}",
        }

    # ------------------------------------------------------------------------------------------- requests

    def create_request(self, cookie: int) -> Optional[Request]:
        with self._cond:
            if self._allowed(CONFIGURED, RUNNING, "createRequest"):
                return None
            return self._lib.Request(self, cookie)

    def queue_request(self, request: Request) -> int:
        with self._cond:
            code = self._allowed(RUNNING, RUNNING, "queueRequest")
            if code:
                return code
            if request.camera is not self:
                logger.error("Request was not created by this camera")
                return errno.EXDEV
            if request.status_value != self._lib.Request.Status.Pending or request.queued:
                logger.error("%s is not valid", request)
                return errno.EINVAL
            if not request.buffer_map:
                logger.error("Request contains no buffers")
                return errno.EINVAL
            active = {id(plan.stream): plan for plan in self._active}
            if any(id(stream) not in active for stream in request.buffer_map):
                logger.error("Invalid request")
                return errno.EINVAL
            request.sequence_value = self._request_sequence
            self._request_sequence += 1
            request.queued = True
            # The pipeline handler imports the buffers when it queues them to the device: one that is too small
            # or has no valid descriptor makes the V4L2 QBUF fail, and the request is cancelled.
            for stream, buffer in request.buffer_map.items():
                planes = buffer.planes
                plan = active[id(stream)]
                if not planes or planes[0].fd < 0 or buffer.total_length < plan.cfg.frame_size:
                    logger.error("Failed to queue buffer for %s: invalid or too small buffer", stream.device_name)
                    session = self._session
                    self._cancel(request)
                    manager = session.manager() if session is not None else None
                    if manager is not None:
                        manager.push_completed(request)
                    return 0
            self._queue.append(request)
            self._cond.notify_all()
            return 0

    def _cancel(self, request: Request) -> None:
        lib = self._lib
        for buffer in request.buffer_map.values():
            buffer.metadata.fill(lib.FrameMetadata.Status.Cancelled, 0, 0, [0] * len(buffer.planes))
        request.status_value = lib.Request.Status.Cancelled
        request.pending_buffers = 0
        request.queued = False
        self._cancelled += 1

    # ---------------------------------------------------------------------------------------- start / stop

    def start(self, controls: dict[str, Any], manager: CameraManager) -> int:
        with self._cond:
            code = self._allowed(CONFIGURED, CONFIGURED, "start")
            if code:
                return code
            mode = self._configured_mode
            assert mode is not None
            ipa = _Ipa(self.sensor, mode, self.platform, self._crop)
            ipa.apply(controls, 0)
            startup = 0
            if self._first_start:
                agc = 0 if (ipa.exposure_manual and ipa.gain_manual) else AGC_STARTUP_FRAMES
                awb = AWB_STARTUP_FRAMES if ipa.awb_auto else 0
                startup = max(agc, awb)
                self._first_start = False
            period = mode.min_frame_duration_us
            self._ipa = ipa
            self._session = _Session(weakref.ref(manager), boottime_ns() + period * 1000, startup)
            self._start_controls.append(dict(controls))
            self._request_sequence = 0
            self._starts += 1
            self._state = RUNNING
            thread = threading.Thread(
                target=self._run, args=(self._session,), name=f"fake-libcamera-{self.sensor.model}-{self.index}",
                daemon=True,
            )  # fmt: skip
            self._thread = thread
            thread.start()
            return 0

    def stop(self) -> int:
        with self._cond:
            if self._state != RUNNING:
                return 0
            self._state = STOPPING
            session, thread = self._session, self._thread
            assert session is not None
            session.stop = True
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._cond:
            manager = session.manager()
            while self._queue:
                request = self._queue.popleft()
                self._cancel(request)
                if manager is not None:
                    manager.push_completed(request)
            self._thread = None
            self._session = None
            self._state = CONFIGURED
            self._cond.notify_all()
        return 0

    def shutdown(self) -> None:
        """Fake kernel teardown: stop the sensor, drop the queued requests, refuse further use."""
        self.stop()
        with self._cond:
            if self._state != AVAILABLE:
                logger.warning("%s still %s when the fake kernel shut down", self.camera_id, self.state)
            self._dead = True
            self._queue.clear()
            self._active = []

    # ---------------------------------------------------------------------------------------- the sensor

    def _run(self, session: _Session) -> None:
        try:
            while self._frame(session):
                pass
        except Exception:
            logger.exception("fake sensor thread of %s failed", self.camera_id)
            raise

    def _frame(self, session: _Session) -> bool:
        with self._cond:
            while not session.stop:
                delay = session.next_time_ns - boottime_ns()
                if delay <= 0:
                    break
                self._cond.wait(delay / 1e9)
            if session.stop:
                return False
            when = session.next_time_ns
            if self._stall_until_ns > when:
                session.next_time_ns = self._stall_until_ns
                return True
            sequence = session.sequence
            session.sequence += 1
            request: Optional[Request] = None
            if self._queue and self._hold_until_ns <= when:
                request = self._queue.popleft()
            controls = dict(request.control_values) if request is not None else {}
            ipa = self._ipa
            assert ipa is not None
            while session.pending and session.pending[0][0] <= sequence:
                ipa.apply(session.pending.popleft()[1], sequence)
            immediate = {k: v for k, v in controls.items() if k not in SENSOR_CONTROLS}
            delayed = {k: v for k, v in controls.items() if k in SENSOR_CONTROLS}
            ipa.apply(immediate, sequence)
            if delayed:
                session.pending.append((sequence + SENSOR_CONTROL_DELAY, delayed))
            metadata, duration_us = ipa.frame(sequence)
            metadata["SensorTimestamp"] = when
            metadata["FrameWallClock"] = time.time_ns() - (boottime_ns() - when)
            session.next_time_ns = when + duration_us * 1000
            plans = list(self._active)
            startup = sequence < session.startup_frames
        if request is None:
            self._record(FrameRecord(sequence, when, "lost", MappingProxyType({}), MappingProxyType(metadata)))
            return True
        lib = self._lib
        status = lib.FrameMetadata.Status.Startup if startup else lib.FrameMetadata.Status.Success
        by_stream = {id(plan.stream): plan for plan in plans}
        for stream, buffer in request.buffer_map.items():
            plan = by_stream[id(stream)]
            self._paint(plan, buffer, sequence)
            buffer.metadata.fill(status, sequence, when, [min(p.length, plan.cfg.frame_size) for p in buffer.planes])
        request.metadata_values = dict(metadata)
        request.status_value = lib.Request.Status.Complete
        request.pending_buffers = 0
        request.queued = False
        outcome = "startup" if startup else "delivered"
        self._record(FrameRecord(sequence, when, outcome, MappingProxyType(controls), MappingProxyType(metadata)))
        manager = session.manager()
        if manager is not None:
            manager.push_completed(request)
        return True

    def _paint(self, plan: _StreamPlan, buffer: Any, sequence: int) -> None:
        plane = buffer.planes[0]
        try:
            length = plane.offset + plan.cfg.frame_size
            with mmap.mmap(plane.fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as mm:
                view = memoryview(mm)[plane.offset : length]
                try:
                    plan.painter.paint(view, sequence)
                finally:
                    view.release()
        except (OSError, ValueError) as exc:
            logger.error("cannot write frame %d of %s into fd %d: %s", sequence, self.camera_id, plane.fd, exc)

    def _record(self, record: FrameRecord) -> None:
        with self._cond:
            self._records.append(record)
            self._cond.notify_all()

    # ------------------------------------------------------------------------------------- assertion helpers

    @property
    def state(self) -> str:
        """libcamera's camera state: ``"Available"``, ``"Acquired"``, ``"Configured"``, ``"Running"``..."""
        with self._cond:
            return STATE_NAMES[self._state]

    @property
    def acquired(self) -> bool:
        """Whether an application holds the camera (acquired and not released)."""
        with self._cond:
            return self._state != AVAILABLE

    @property
    def started(self) -> bool:
        """Whether the camera is streaming."""
        with self._cond:
            return self._state == RUNNING

    @property
    def sensor_thread_alive(self) -> bool:
        """Whether this camera's sensor thread is running."""
        with self._cond:
            return self._thread is not None and self._thread.is_alive()

    @property
    def configuration(self) -> list[dict[str, Any]]:
        """The configured streams: ``stream`` (isp0/isp1/raw), ``format``, ``size``, ``stride``, ``frame_size``,
        ``buffer_count``, ``color_space``."""
        with self._cond:
            plans = list(self._active)
        return [
            {
                "stream": plan.stream.device_name,
                "format": str(plan.cfg.pixel_format),
                "size": (plan.cfg.size.width, plan.cfg.size.height),
                "stride": plan.cfg.stride,
                "frame_size": plan.cfg.frame_size,
                "buffer_count": plan.cfg.buffer_count,
                "color_space": plan.cfg.color_space.to_string() if plan.cfg.color_space is not None else None,
            }
            for plan in plans
        ]

    @property
    def orientation(self) -> str:
        """The ``Orientation`` of the last configuration, by libcamera's name (``"Rotate0"``, ``"Rotate0Mirror"``
        for a horizontal flip, ``"Rotate180Mirror"`` for a vertical flip, ``"Rotate180"`` for both)."""
        with self._cond:
            return self._orientation

    @property
    def transform(self) -> str:
        """The same as a libcamera transform name: ``"identity"``, ``"hflip"``, ``"vflip"`` or ``"rot180"``."""
        names = {0: "identity", 1: "hflip", 2: "vflip", 3: "rot180"}
        return names.get(ORIENTATION_BITS[self.orientation], "transpose")

    @property
    def sensor_mode(self) -> Optional[SensorMode]:
        """The sensor mode chosen by the last successful ``configure()``."""
        with self._cond:
            return self._configured_mode

    @property
    def frames(self) -> list[FrameRecord]:
        """Every frame the sensor produced, in order (all starts)."""
        with self._cond:
            return list(self._records)

    @property
    def frames_captured(self) -> int:
        """Frames the sensor produced (delivered, startup and lost)."""
        with self._cond:
            return len(self._records)

    @property
    def frames_lost(self) -> int:
        """Frames that found no queued request (dropped by the camera)."""
        with self._cond:
            return sum(1 for r in self._records if r.outcome == "lost")

    @property
    def frames_delivered(self) -> int:
        """Frames completed with status Success (what picamera2 hands to the application)."""
        with self._cond:
            return sum(1 for r in self._records if r.outcome == "delivered")

    @property
    def sequence_numbers_delivered(self) -> list[int]:
        """Sequence numbers of the frames completed with status Success."""
        with self._cond:
            return [r.sequence for r in self._records if r.outcome == "delivered"]

    @property
    def startup_sequence_numbers(self) -> list[int]:
        """Sequence numbers of the frames completed with the FrameStartup status (dropped by picamera2)."""
        with self._cond:
            return [r.sequence for r in self._records if r.outcome == "startup"]

    @property
    def timestamps_ns(self) -> list[int]:
        """``SensorTimestamp`` of the frames completed with status Success."""
        with self._cond:
            return [r.timestamp_ns for r in self._records if r.outcome == "delivered"]

    @property
    def controls_history(self) -> list[tuple[int, dict[str, Any]]]:
        """(sequence, controls) for every frame whose request carried controls, in order."""
        with self._cond:
            return [(r.sequence, dict(r.controls)) for r in self._records if r.controls]

    @property
    def start_controls(self) -> list[dict[str, Any]]:
        """The controls given to each ``start()``."""
        with self._cond:
            return [dict(c) for c in self._start_controls]

    @property
    def starts(self) -> int:
        """How many times the camera was started."""
        with self._cond:
            return self._starts

    @property
    def requests_queued(self) -> int:
        """Requests waiting in the camera for a frame."""
        with self._cond:
            return len(self._queue)

    @property
    def requests_cancelled(self) -> int:
        """Requests completed with status Cancelled (stop() or a bad buffer)."""
        with self._cond:
            return self._cancelled

    def record(self, sequence: int) -> FrameRecord:
        """The record of the frame with this sequence number (of the latest start)."""
        with self._cond:
            for record in reversed(self._records):
                if record.sequence == sequence:
                    return record
        raise KeyError(sequence)

    def hold_buffers(self, seconds: float) -> None:
        """Fault: for ``seconds`` from now the sensor finds no buffer (as if the kernel held them): every frame
        in that window is lost, sequence numbers keep counting, so the application sees a gap."""
        with self._cond:
            self._hold_until_ns = boottime_ns() + int(seconds * 1e9)
            self._cond.notify_all()

    def stall(self, seconds: float) -> None:
        """Fault: the sensor stops streaming for ``seconds`` from now (no frames at all, sequence numbers do not
        advance) and resumes: a gap in the timestamps only."""
        with self._cond:
            self._stall_until_ns = boottime_ns() + int(seconds * 1e9)
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[FakeCamera], bool], timeout: float = 5.0) -> bool:
        """Wait (on the camera's condition, no polling) until ``predicate(camera)`` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_for_frames(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` frames have been delivered (status Success) in total."""
        return self.wait_until(lambda cam: cam.frames_delivered >= count, timeout)

    def __repr__(self) -> str:
        return f"<FakeCamera {self.index} {self.sensor.model} {self.camera_id!r} {self.state}>"


def _csi2_name(mode_format: str) -> str:
    return mode_format if mode_format.endswith("_CSI2P") or mode_format.endswith("8") else f"{mode_format}_CSI2P"


def _is_raw(cfg: StreamConfiguration) -> bool:
    info = cfg.pixel_format.info
    return info is not None and info.kind == "raw"


def _default_crop(mode: SensorMode, output: tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest centred part of the mode's crop with the output's aspect ratio."""
    x, y, width, height = mode.crop
    if output[0] <= 0 or output[1] <= 0:
        return mode.crop
    if width * output[1] > height * output[0]:
        new_width = height * output[0] // output[1] & ~1
        return (x + (width - new_width) // 2, y, new_width, height)
    new_height = width * output[1] // output[0] & ~1
    return (x, y + (height - new_height) // 2, width, new_height)


def _camera_id(platform: str, index: int, sensor: FakeSensor) -> str:
    """libcamera's id of a Raspberry Pi CSI-2 camera: its device tree path."""
    node = f"{sensor.driver}@{sensor.i2c_address:x}"
    if platform == "pisp":
        bus = ("i2c@88000", "i2c@80000")[index] if index < 2 else f"i2c@{0x88000 + 0x4000 * index:x}"
        return f"/base/axi/pcie@1000120000/rp1/{bus}/{node}"
    bus = ("i2c@1", "i2c@0")[index] if index < 2 else f"i2c@{index}"
    return f"/base/soc/i2c0mux/{bus}/{node}"


__all__ = ["FakeCamera", "FrameRecord", "boottime_ns"]
