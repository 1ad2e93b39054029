"""A simulated camera that behaves like a real one: paced frames, real H.264, honest drops.

Frames are produced on a monotonic schedule at the configured framerate and stamped with their capture time. Each
frame carries its sensor frame number as a 32-bit barcode across the top of the picture (see
:func:`draw_frame_index` / :func:`read_frame_index`), so a test can decode the video and check every frame, and
below it the camera's own number (:func:`camera_id` of its name, :func:`read_camera_id`), so no two cameras'
videos are alike.

Like a real camera, the sensor fills a small pool of buffers (:data:`BUFFER_COUNT`, picamera2's default for video)
that the encoder drains: a short hiccup of the encoder is absorbed, but when it falls more than the pool behind,
the frames that found no free buffer are lost and show as gaps in the frame numbers and timestamps, exactly as
dropped frames do on a Pi. Nothing is ever faked to fill a gap.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import zlib
from collections import deque
from fractions import Fraction
from typing import Any, Optional

import numpy as np

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

INDEX_BITS = 32
#: Frames the sensor can hold while the encoder is busy (picamera2 video configurations use 6).
BUFFER_COUNT = 6
#: ``sim_fault = stall``: after this frame the encoder freezes once for STALL_FRAMES frame periods.
STALL_AT_FRAME = 30
STALL_FRAMES = 20
_DARK, _LIGHT = 16, 235

#: Seed settings the simulation renders; every other camera setting has no effect on synthetic pixels.
SIMULATED_SETTINGS = ("framerate", "resolution", "vflip", "hflip", "brightness", "contrast", "color_effects")
NO_EFFECT_IN_SIMULATION = (
    "image_denoise",
    "iso",
    "led",
    "preview_alpha",
    "saturation",
    "sharpness",
    "still_stats",
    "video_denoise",
    "video_stabilization",
    "zoom",
    "sync_mode",
    "lock_exposure_after",
)


def _band_height(height: int) -> int:
    return max(8, height // 16)


def _draw_code(luma: np.ndarray, value: int, band_number: int) -> None:
    height, width = luma.shape
    block = width // INDEX_BITS
    band = _band_height(height)
    top = band * band_number
    for bit in range(INDEX_BITS):
        shade = _LIGHT if (value >> (INDEX_BITS - 1 - bit)) & 1 else _DARK
        luma[top : top + band, bit * block : (bit + 1) * block] = shade


def _read_code(luma: np.ndarray, band_number: int) -> int:
    height, width = luma.shape
    block = width // INDEX_BITS
    band = _band_height(height)
    top = band * band_number
    rows = luma[top + band // 4 : top + band - band // 4]
    value = 0
    for bit in range(INDEX_BITS):
        cells = rows[:, bit * block + block // 4 : (bit + 1) * block - block // 4]
        value = (value << 1) | int(float(cells.mean()) > 128)
    return value


def draw_frame_index(luma: np.ndarray, index: int) -> None:
    """Draw ``index`` as a 32-block barcode across the top band of a luma (Y) plane, in place."""
    _draw_code(luma, index, 0)


def read_frame_index(luma: np.ndarray) -> int:
    """Read back the frame number drawn by :func:`draw_frame_index` from a decoded luma plane."""
    return _read_code(luma, 0)


def camera_id(name: str) -> int:
    """The 32-bit number a simulated camera named ``name`` draws into every frame (below the frame number)."""
    return zlib.crc32(name.encode("utf-8"))


def read_camera_id(luma: np.ndarray) -> int:
    """Read back the camera's :func:`camera_id` from a decoded luma plane of a simulated camera's frame."""
    return _read_code(luma, 1)


class SimulatedCamera(CameraBackend):
    """Synthetic camera; see the module docstring.

    Args:
        clock: the camera clock that stamps frames.
        encoder_preset: libx264 preset (``ultrafast`` keeps several cameras real-time on a laptop).
    """

    name = "simulated"

    def __init__(self, *, clock: Optional[CameraClock] = None, encoder_preset: str = "ultrafast") -> None:
        super().__init__(clock=clock)
        self._encoder_preset = encoder_preset
        self._settings: Optional[ControllerSettings] = None
        self._base: Optional[np.ndarray] = None
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._armed_encoder: Any = None  #: opened by arm(), used by the next start()
        # The first frame's time (time.monotonic()) and whether it was taken; reschedule() may move it until then.
        self._schedule = threading.Condition()
        self._first = 0.0
        self._begun = False

    def configure(self, settings: ControllerSettings) -> list[str]:
        width, height = settings.resolution
        if width < INDEX_BITS * 2:
            raise BackendError(
                f"resolution {width}x{height}: the simulated camera needs a width of at least {INDEX_BITS * 2}"
            )
        self._settings = settings
        self._base = self._make_base_image(settings)
        changed = [
            name
            for name in NO_EFFECT_IN_SIMULATION
            if getattr(settings, name) != getattr(ControllerSettings(name=""), name)
        ]
        return changed + [name for name, _ in settings.camera_extras]

    @staticmethod
    def _make_base_image(settings: ControllerSettings) -> np.ndarray:
        width, height = settings.resolution
        y, x = np.mgrid[0:height, 0:width]
        luma = 64.0 + 96.0 * (x / max(1, width - 1)) + 32.0 * (y / max(1, height - 1))
        luma = (luma - 128.0) * (1.0 + settings.contrast / 100.0) + 128.0 + (settings.brightness - 50) * 2.0
        if settings.hflip:
            luma = luma[:, ::-1]
        if settings.vflip:
            luma = luma[::-1, :]
        frame = np.empty((height * 3 // 2, width), dtype=np.uint8)
        frame[:height] = np.clip(luma, _DARK, _LIGHT).astype(np.uint8)
        # which camera this is, so that the videos of two cameras at the same settings differ and a mix-up shows
        _draw_code(frame[:height], camera_id(settings.name), 1)
        quarter = height // 4  # yuv420p: U then V, each width*height/4 bytes = height/4 rows of this array
        if settings.color_effects is None:  # colour: a gentle blue-yellow gradient
            frame[height : height + quarter] = (96 + 64 * x[:quarter] / max(1, width - 1)).astype(np.uint8)
            frame[height + quarter :] = 150
        else:  # picamera's color_effects=(u, v): fixed chroma, (128, 128) is black and white
            u, v = settings.color_effects
            frame[height : height + quarter] = u
            frame[height + quarter :] = v
        return frame

    def start(
        self,
        output: Optional[VideoOutput],
        on_frame: FrameCallback,
        on_error: ErrorCallback,
        *,
        start_at_us: Optional[int] = None,
        settle_exposure: bool = True,
    ) -> None:
        if self._settings is None or self._base is None:
            raise BackendError("camera is not configured: send 'configure' before 'start'")
        if self._thread is not None and self._thread.is_alive():
            raise BackendError("camera is already running")
        fault = self._settings.sim_fault
        if fault == "fail_at_start":
            raise BackendError("simulated camera failure at start (sim_fault = fail_at_start)")
        if fault == "crash_at_start":
            logger.critical("simulated hard crash at start (sim_fault = crash_at_start)")
            logging.shutdown()
            os._exit(70)
        encoder, self._armed_encoder = self._armed_encoder, None
        if output is None:
            encoder = None
        elif encoder is None:
            encoder = self._open_encoder(self._settings)
        first = time.monotonic() + 1.0 / self._settings.framerate
        if start_at_us is not None:
            scheduled = self.clock.to_monotonic(start_at_us)
            if scheduled < time.monotonic():
                logger.warning("start time passed %.1f ms ago: starting now", (time.monotonic() - scheduled) * 1e3)
            else:
                first = scheduled
        self._stop.clear()
        with self._schedule:
            self._first, self._begun = first, False
        self._thread = threading.Thread(
            target=self._run,
            args=(self._settings, self._base, encoder, output, on_frame, on_error),
            name=f"rcc-sim-camera-{self._settings.name}",
            daemon=True,
        )
        self._thread.start()

    @classmethod
    def preload(cls) -> None:
        import av

        encoder = av.CodecContext.create("libx264", "w")  # x264's one-time set-up (its CPU detection and tables)
        encoder.width, encoder.height, encoder.pix_fmt = 64, 64, "yuv420p"
        encoder.time_base = Fraction(1, 30)
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
        encoder.open()

    def arm(self) -> None:
        if self._settings is None:
            raise BackendError("camera is not configured: send 'configure' before 'arm'")
        if self._settings.sim_fault == "fail_at_arm":
            raise BackendError("simulated camera failure while arming (sim_fault = fail_at_arm)")
        if self._armed_encoder is None:
            self._armed_encoder = self._open_encoder(self._settings)

    def reschedule(self, start_at_us: int) -> None:
        first = self.clock.to_monotonic(start_at_us)
        with self._schedule:
            if self._thread is None or self._begun:
                raise BackendError("the camera has taken its first frame: too late to move its start")
            if first <= time.monotonic():
                raise BackendError("the new start time has passed")
            self._first = first
            self._schedule.notify_all()

    def _wait_for_start(self) -> Optional[float]:
        """Wait for the first frame's time, which :meth:`reschedule` may move meanwhile; it (None: stopped first)."""
        with self._schedule:
            while not self._stop.is_set():
                wait = self._first - time.monotonic()
                if wait <= 0:
                    self._begun = True
                    return self._first
                self._schedule.wait(wait)  # pacing to the start time; a reschedule or a stop wakes it
            return None

    def _open_encoder(self, settings: ControllerSettings) -> Any:
        try:
            import av
        except ImportError as err:  # pragma: no cover - av is a hard dependency
            raise BackendError(f"PyAV is needed to encode simulated video: {err}") from None
        width, height = settings.resolution
        try:
            encoder = av.CodecContext.create("libx264", "w")
            encoder.width = width
            encoder.height = height
            encoder.pix_fmt = "yuv420p"
            encoder.time_base = Fraction(1, settings.framerate)
            encoder.framerate = Fraction(settings.framerate, 1)
            encoder.gop_size = settings.framerate
            encoder.max_b_frames = 0
            encoder.thread_count = 1
            encoder.options = {"preset": self._encoder_preset, "tune": "zerolatency"}
            encoder.open()
        except Exception as err:
            raise BackendError(f"cannot open the H.264 encoder: {err}") from err
        return encoder

    def _run(
        self,
        settings: ControllerSettings,
        base: np.ndarray,
        encoder: Any,
        output: Optional[VideoOutput],
        on_frame: FrameCallback,
        on_error: ErrorCallback,
    ) -> None:
        import av

        start = self._wait_for_start()
        if start is None:
            return
        period = 1.0 / settings.framerate
        height = settings.resolution[1]
        frame = base.copy()
        luma = frame[:height]
        band = 2 * _band_height(height)  # below the frame number and the camera id
        bar = max(4, settings.resolution[0] // 80)
        pending: deque[FrameInfo] = deque()
        slot = 0
        try:
            while True:
                due = start + slot * period
                wait = due - time.monotonic()
                if wait > 0 and self._stop.wait(wait):  # pacing to the frame schedule; a stop ends it at once
                    break
                if self._stop.is_set():
                    break
                behind = int((time.monotonic() - due) / period)  # frames captured since, waiting in buffers
                if behind >= BUFFER_COUNT:  # the pool overflowed: the oldest frames had no buffer and are lost
                    slot += behind - BUFFER_COUNT + 1  # lost: they show as a gap in the timestamps
                    continue
                if settings.sim_fault == "stall" and slot == STALL_AT_FRAME:
                    logger.warning(
                        "simulated encoder stall of %d frame periods (sim_fault = stall): the frames beyond the %d "
                        "buffers are lost",
                        STALL_FRAMES,
                        BUFFER_COUNT,
                    )
                    time.sleep(STALL_FRAMES * period)  # the fault being simulated: a busy encoder
                info = FrameInfo(slot, self.clock.from_monotonic(due), time.time(), 0, slot % settings.framerate == 0)
                np.copyto(frame, base)
                x = (slot * bar) % max(1, settings.resolution[0] - bar)
                luma[band:, x : x + bar] = _LIGHT
                draw_frame_index(luma, slot)
                preview = self.preview
                if preview is not None and preview.wants():
                    preview.offer(luma, info.index, info.timestamp_us, info.sys_time, encoder is not None)
                if encoder is None:
                    on_frame(info)
                else:
                    video_frame = av.VideoFrame.from_ndarray(frame, format="yuv420p")
                    video_frame.pts = slot
                    pending.append(info)
                    self._write_packets(encoder.encode(video_frame), pending, output, on_frame)
                slot += 1
            if encoder is not None:
                self._write_packets(encoder.encode(None), pending, output, on_frame)
        except OSError as err:  # writing the video failed (e.g. a full disk): reported by the agent, no traceback
            on_error(err)
        except Exception as err:  # a defect: its traceback is logged
            logger.exception("simulated camera failed")
            on_error(err)

    @staticmethod
    def _write_packets(
        packets: Any, pending: deque[FrameInfo], output: Optional[VideoOutput], on_frame: FrameCallback
    ) -> None:
        for packet in packets:
            data = bytes(packet)
            if output is not None:
                output.write(data)
            info = pending.popleft()
            on_frame(FrameInfo(info.index, info.timestamp_us, info.sys_time, len(data), bool(packet.is_keyframe)))

    def stop(self) -> None:
        self._stop.set()
        self._armed_encoder = None
        with self._schedule:
            self._schedule.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._thread = None

    def close(self) -> None:
        self.stop()
        self._base = None
