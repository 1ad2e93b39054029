"""The exposure warm-up shared by the hardware camera backends (the original's ``preview_static``).

When an agent's camera is configured, and again on ``reset``, the camera runs for ``exposure_warmup`` seconds without
recording while automatic exposure and white balance settle; then the values they reached are fixed, so every
recording of that agent shares one exposure, gain and colour balance. :class:`WarmUp` runs that on its own thread so
the agent's loop keeps answering (heartbeats, ``stop``) meanwhile; the agent acknowledges ``configure`` when it ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Optional

from rpi_camera_colony.exc import BackendError, SettleCancelled

logger = logging.getLogger(__name__)

#: How long a cancel waits for the warm-up's thread (the camera's start or stop) before giving up on it.
CANCEL_TIMEOUT = 10.0

#: ``on_done(fixed, None)`` with the values fixed, or ``on_done(None, error)``; called from the warm-up's thread.
SettleCallback = Callable[[Optional[dict[str, Any]], Optional[BaseException]], None]


class WarmUp:
    """One warm-up: ``begin()`` (the camera runs, exposure automatic), ``seconds`` pass, then ``finish()`` fixes and
    returns the values reached; ``abort()`` undoes ``begin`` after a failure or :meth:`cancel`.

    Exactly one ``on_done`` call follows :meth:`start`, whatever happens.
    """

    def __init__(
        self,
        seconds: float,
        *,
        begin: Callable[[], None],
        finish: Callable[[], dict[str, Any]],
        abort: Callable[[], None],
        on_done: SettleCallback,
    ) -> None:
        self.seconds = seconds
        self._begin, self._finish, self._abort, self._on_done = begin, finish, abort, on_done
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rcc-exposure-warmup", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """End the warm-up now (exposure stays automatic); returns after ``on_done`` was called, or after
        :data:`CANCEL_TIMEOUT` if the camera hangs (logged). Safe to repeat."""
        self._cancelled.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(CANCEL_TIMEOUT)
            if self._thread.is_alive():
                logger.error("the exposure warm-up did not end within %.0f s: the camera hangs", CANCEL_TIMEOUT)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._begin()
        except Exception as err:
            self._done(None, err if isinstance(err, BackendError) else BackendError(f"exposure warm-up: {err}"))
            return
        # The warm-up is a span of camera time, not a wait for another process: nothing to be notified of.
        if self._cancelled.wait(self.seconds):
            self._abort_quietly()
            self._done(None, SettleCancelled("stopped before exposure and white balance had settled"))
            return
        try:
            fixed = self._finish()
        except Exception as err:
            self._abort_quietly()
            self._done(None, err if isinstance(err, BackendError) else BackendError(f"exposure warm-up: {err}"))
            return
        logger.info("exposure and white balance fixed after a %.1f s warm-up: %s", self.seconds, fixed)
        self._done(fixed, None)

    def _abort_quietly(self) -> None:
        try:
            self._abort()
        except Exception:
            logger.exception("stopping the camera after the exposure warm-up failed")

    def _done(self, fixed: Optional[dict[str, Any]], error: Optional[BaseException]) -> None:
        try:
            self._on_done(fixed, error)
        except Exception:  # the callback is the agent's: never let it kill this thread silently
            logger.exception("the exposure warm-up's callback failed")
