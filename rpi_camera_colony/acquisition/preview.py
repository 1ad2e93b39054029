"""The live preview of one camera: small JPEG images at a low rate, beside the recording, never at its cost.

The camera's thread asks :meth:`PreviewStream.wants` once per frame (a clock comparison) and, when a preview image is
due, hands over a downscaled copy of the frame's brightness (:meth:`offer`): one small copy, never a wait. A thread of
its own, at a lower scheduling priority than the camera's, JPEG-encodes the latest image offered (older ones not yet
taken are skipped: under CPU pressure the preview gives way first) and sends it to the conductor on the log link and
to the agent's own MJPEG server, if it runs. A conductor that is slow or away loses preview images, never frames.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from rpi_camera_colony import protocol

logger = logging.getLogger(__name__)

#: JPEG quality of preview images (libjpeg's 1..100).
JPEG_QUALITY = 75
#: How much lower than the camera's threads the encoder runs (a nice value, Linux).
NICE = 10

#: Where encoded images go: ``send(frame)``; called on the preview thread, must not block.
PreviewSink = Callable[[protocol.PreviewFrame], None]


def shrink(luma: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A copy of ``luma`` that fits in ``size`` (width, height) with the frame's proportions, nearest neighbour:
    cheap enough for the camera's thread."""
    height, width = luma.shape[:2]
    scale = min(size[0] / width, size[1] / height, 1.0)
    out_w, out_h = max(2, round(width * scale)), max(2, round(height * scale))
    rows = (np.arange(out_h) * height) // out_h
    cols = (np.arange(out_w) * width) // out_w
    return np.ascontiguousarray(luma[rows[:, None], cols[None, :]])


class PreviewStream:
    """Preview images of one camera, sent to every sink (see the module).

    Args:
        instance: the camera's name.
        size: the preview's (width, height) (``stream_resolution``).
        framerate: preview images per second at most (``stream_framerate``).
        sinks: where each encoded image goes.
    """

    def __init__(self, instance: str, *, size: tuple[int, int], framerate: int, sinks: list[PreviewSink]) -> None:
        self.instance = instance
        self.size = size
        self.period = 1.0 / framerate
        self.sinks = list(sinks)
        self._next_due = 0.0
        self._lock = threading.Condition()
        self._pending: Optional[tuple[np.ndarray, int, int, float, bool]] = None
        self._closed = False
        #: images offered by the camera, encoded and sent, and offered but replaced before they were encoded
        self.offered = self.sent = self.skipped = 0
        self._thread = threading.Thread(target=self._run, name=f"rcc-preview-{instance}", daemon=True)
        self._thread.start()

    def wants(self, now: Optional[float] = None) -> bool:
        """Whether a preview image is due (call from the camera's thread, once per frame)."""
        return (time.monotonic() if now is None else now) >= self._next_due and not self._closed

    def offer(self, luma: Any, index: int, timestamp_us: int, sys_time: float, recording: bool) -> None:
        """Take a preview image from a frame's brightness plane (copied and shrunk here; encoded elsewhere)."""
        self._next_due = max(self._next_due + self.period, time.monotonic())  # no catching up in bursts
        image = shrink(np.asarray(luma), self.size)
        with self._lock:
            if self._pending is not None:
                self.skipped += 1
            self._pending = (image, index, timestamp_us, sys_time, recording)
            self.offered += 1
            self._lock.notify()

    def _run(self) -> None:
        # below the camera and the agent's loop: under CPU pressure the preview waits, not the recording
        with contextlib.suppress(AttributeError, OSError):  # setpriority on a thread id: Linux only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        import simplejpeg  # type: ignore[import-untyped]

        while True:
            with self._lock:
                while self._pending is None and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                pending, self._pending = self._pending, None
            assert pending is not None
            image, index, timestamp_us, sys_time, recording = pending
            try:
                jpeg = simplejpeg.encode_jpeg(image[:, :, None], quality=JPEG_QUALITY, colorspace="GRAY")
            except Exception:
                logger.exception("a preview image could not be encoded")
                continue
            frame = protocol.PreviewFrame(
                instance=self.instance,
                index=index,
                timestamp_us=timestamp_us,
                sys_time=sys_time,
                width=int(image.shape[1]),
                height=int(image.shape[0]),
                jpeg=bytes(jpeg),
                recording=recording,
            )
            for sink in self.sinks:
                try:
                    sink(frame)
                except Exception:
                    logger.exception("a preview image could not be sent")
            self.sent += 1

    def close(self) -> None:
        """Stop; images not yet sent are dropped. Safe to call twice."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()
