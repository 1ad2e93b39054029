"""One output pulse per frame, each distinct on the wire, without holding up the frame's thread.

Frames can reach the TTL backend back to back (picamera2's event loop hands over every request that completed
while it was busy; an encoder flushes its last frames at stop). A pulse that started while the previous one is
still high, or before the line has been low for a pulse length, would merge with it on the wire and the DAQ would
count one frame too few. :class:`PulseTrain` therefore schedules each pulse at the earliest time the line is free
(``duration`` high, then at least ``duration`` low) and returns that time: the ``timestamp_ttl`` of the frame is
when its pulse really rose. The first pulse of a quiet line rises at once on the caller's thread; a worker thread
lowers it and raises any queued pulses at their times (their widths are pacing, not waiting on anyone).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Optional

logger = logging.getLogger(__name__)

#: Queue entries: (rise at, or None if already raised by the caller; fall at), both time.monotonic().
_Pulse = tuple[Optional[float], float]


class PulseTrain:
    """Drives one output line through ``set_level(1 | 0)``; ``pulse()`` returns the rising edge's monotonic time.

    Raises nothing from the worker: a ``set_level`` failure is logged once and handed to ``on_error``.
    """

    def __init__(
        self,
        set_level: Callable[[int], None],
        duration: float,
        *,
        name: str = "rcc-ttl-pulse",
        on_error: Optional[Callable[[BaseException], None]] = None,
    ) -> None:
        self._set_level = set_level
        self.duration = max(0.0, duration)
        self._on_error = on_error
        self._lock = threading.Lock()
        self._free_at = 0.0  # monotonic time from which a new pulse may rise
        self._pending: queue.Queue[Optional[_Pulse]] = queue.Queue()
        self.count = 0
        self.delayed = 0  #: pulses that had to wait for the previous one to end
        self._failed = False
        self._worker = threading.Thread(target=self._run, name=name, daemon=True)
        self._worker.start()

    def pulse(self) -> float:
        """Schedule one pulse; return when it rises (``time.monotonic()``; now unless the line is still busy)."""
        with self._lock:
            now = time.monotonic()
            rise = max(now, self._free_at)
            self._free_at = rise + 2 * self.duration
            self.count += 1
            if rise > now:
                self.delayed += 1
                self._pending.put((rise, rise + self.duration))
                return rise
        self._safe_set(1)
        self._pending.put((None, rise + self.duration))
        return rise

    def _safe_set(self, level: int) -> None:
        try:
            self._set_level(level)
        except Exception as err:  # a pin that fails must not kill the frame's thread or this worker
            if not self._failed:
                self._failed = True
                logger.error("TTL output failed: %s", err)
                if self._on_error is not None:
                    self._on_error(err)

    def _run(self) -> None:
        while True:
            item = self._pending.get()
            if item is None:
                self._pending.task_done()
                return
            try:
                self._play(*item)
            finally:
                self._pending.task_done()

    def _play(self, rise: Optional[float], fall: float) -> None:
        if rise is not None:
            wait = rise - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the scheduled start of a delayed pulse: pacing on the wire
            self._safe_set(1)
        wait = fall - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # the pulse's own length
        self._safe_set(0)

    def drain(self) -> None:
        """Return when every pulse scheduled so far has ended (the line is low again)."""
        if self._worker.is_alive():
            self._pending.join()

    def close(self) -> None:
        """Finish the pulses already scheduled, leave the line low, stop the worker. Safe to call twice."""
        if self._worker.is_alive():
            self._pending.put(None)
            self._worker.join()
