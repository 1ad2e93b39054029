"""What a camera backend provides to the agent."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from rpi_camera_colony.acquisition.cameras.settle import SettleCallback, WarmUp
from rpi_camera_colony.clock import CameraClock
from rpi_camera_colony.config.settings import ControllerSettings
from rpi_camera_colony.exc import BackendError


@dataclass(frozen=True)
class FrameInfo:
    """One frame delivered by a camera (after it was encoded and written, when recording)."""

    index: int  #: sensor frame number (gaps mean frames the sensor produced but we did not get)
    timestamp_us: int  #: sensor timestamp on the camera clock, microseconds
    sys_time: float  #: time.time() when the frame was captured
    size: int  #: bytes of encoded video for this frame (0 in preview)
    keyframe: bool


class VideoOutput(Protocol):
    """Where encoded H.264 goes (a file opened by the agent, or any object with ``write``)."""

    def write(self, data: bytes, /) -> Any: ...


class PreviewTap(Protocol):
    """Where a camera hands live preview images (:class:`~rpi_camera_colony.acquisition.preview.PreviewStream`)."""

    def wants(self, now: Optional[float] = None) -> bool: ...

    def offer(self, luma: Any, index: int, timestamp_us: int, sys_time: float, recording: bool) -> None: ...


FrameCallback = Callable[[FrameInfo], None]
ErrorCallback = Callable[[BaseException], None]


class CameraBackend(abc.ABC):
    """A camera that records H.264 to a binary output and reports every frame.

    Callbacks run on the backend's own thread; they must be quick and must not raise. ``on_frame`` is called after
    the frame's encoded data was written to the output (in preview, when the frame arrived): the agent raises the
    frame's TTL pulse there, so that point is the same on every backend.

    :attr:`preview`, when set, receives live preview images while the camera runs (recording or not): the backend
    asks ``preview.wants()`` per frame and offers the frame's brightness plane when it says yes.
    """

    name: str = "abstract"

    def __init__(self, *, clock: Optional[CameraClock] = None) -> None:
        self.clock = clock or CameraClock()
        #: bits per second the H.264 encoder aimed at in the last recording (None: no target, e.g. constant quality)
        self.target_bitrate: Optional[int] = None
        #: where live preview images go (None: no preview); set by the agent at any time
        self.preview: Optional[PreviewTap] = None
        # Exposure fixing, for the backends with automatic exposure (see settle_exposure):
        self._automatic: tuple[str, ...] = ()  #: what the settings leave automatic: "exposure", "white balance"
        self._fixed: Optional[dict[str, Any]] = None  #: what the last warm-up or lock fixed (None: automatic)
        self._fixed_before: Optional[dict[str, Any]] = None  #: what a preview's settling released, until it locks
        self._warmup: Optional[WarmUp] = None

    @abc.abstractmethod
    def configure(self, settings: ControllerSettings) -> list[str]:
        """Apply settings; return the names of settings this backend cannot honour (they are logged by the caller).

        Raises:
            BackendError: if a setting is impossible for this camera.
        """

    @abc.abstractmethod
    def start(
        self,
        output: Optional[VideoOutput],
        on_frame: FrameCallback,
        on_error: ErrorCallback,
        *,
        start_at_us: Optional[int] = None,
        settle_exposure: bool = True,
    ) -> None:
        """Start capturing; encode to ``output`` (None: preview only, nothing is encoded or written).

        ``start_at_us``: when the first frame should be captured, on this camera's clock (as soon as possible if
        None or already past). ``settle_exposure``: in a preview, let exposure and white balance settle again for
        ``exposure_warmup`` seconds and fix them there (False: keep what is fixed, e.g. a live view between
        recordings).

        Raises:
            BackendError: if the camera cannot start.
        """

    #: How long before its start time (seconds) this camera must be told to start: what its start path takes once
    #: armed. A start that comes later is refused before the time (the conductor then chooses a later one for all).
    start_lead_s: float = 0.005

    @classmethod
    def preload(cls) -> None:
        """Import this backend's libraries and do their one-time set-up (nothing is opened): an agent calls it before
        its hello, so that configure and the first start do not pay for it. Default: the module's imports suffice."""
        return None

    def arm(self) -> None:
        """Do now what a recording's start would otherwise do before its first frame (e.g. open the H.264 encoder),
        so that :meth:`start` only begins. Undone by :meth:`stop`. Default: nothing to prepare.

        Raises:
            BackendError: if the camera cannot be prepared.
        """
        return None

    def reschedule(self, start_at_us: int) -> None:
        """Move the start time of a started camera whose first frame has not been taken yet (camera clock, µs).

        Raises:
            BackendError: if this camera cannot (the default), or its first frame was taken, or the time has passed.
        """
        raise BackendError(f"the {self.name} camera cannot change its start time once started")

    def settle_exposure(self, seconds: float, on_done: SettleCallback) -> bool:
        """Run the camera ``seconds`` without recording while automatic exposure and white balance settle, then fix
        what they reached for every later start (until the next settle or configure). Returns at once.

        Returns False when there is nothing to settle (``on_done`` is not called): a camera without automatic
        exposure (the simulated one), or exposure and white balance both set by hand. Else ``on_done(fixed, None)``
        follows from another thread, or ``on_done(None, error)``; :meth:`stop` cancels a warm-up in progress
        (``SettleCancelled``).
        """
        return False

    @property
    def fixed_exposure(self) -> Optional[dict[str, Any]]:
        """The exposure and white balance values fixed by the last warm-up (None: automatic), for the metadata."""
        return None if self._fixed is None else dict(self._fixed)

    def _start_warmup(
        self,
        seconds: float,
        on_done: SettleCallback,
        *,
        begin: Callable[[], None],
        finish: Callable[[], dict[str, Any]],
        abort: Callable[[], None],
    ) -> bool:
        """:meth:`settle_exposure` for a backend: a :class:`WarmUp` with its steps; False with nothing automatic."""
        if not self._automatic or seconds <= 0:
            return False
        self._warmup = WarmUp(seconds, begin=begin, finish=finish, abort=abort, on_done=on_done)
        self._warmup.start()
        return True

    def _cancel_warmup(self) -> None:
        """End a warm-up in progress (exposure stays automatic)."""
        if self._warmup is not None:
            self._warmup.cancel()

    def _warming_up(self) -> bool:
        return self._warmup is not None and self._warmup.running

    def _released_by_preview(self) -> Optional[dict[str, Any]]:
        """The values fixed before a preview that ended before it settled them again (to fix again), once; else
        None."""
        if self._fixed is not None or self._fixed_before is None:
            return None
        released, self._fixed_before = self._fixed_before, None
        return released

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop capturing (or a warm-up); returns after the last frame was delivered and the encoder flushed. Safe to
        call twice."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the camera. Safe to call twice."""
