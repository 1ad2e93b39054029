"""The agent's side of clock synchronisation: bursts of time requests to the conductor over the control channel.

One request is in flight at a time (so replies never queue behind each other); a burst of ``burst`` exchanges runs
every ``interval`` seconds (a longer first burst right after connecting), and the estimator keeps each burst's
lowest-round-trip sample. The agent's loop calls :meth:`ClockSync.tick` and passes replies to
:meth:`ClockSync.on_reply`; both run on the loop thread.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Optional

from rpi_camera_colony import protocol
from rpi_camera_colony.clock import CameraClock, ClockSample, OffsetEstimator

logger = logging.getLogger(__name__)

REPLY_TIMEOUT = 0.5
#: (sample, whether it won its burst): what clock.csv records
SampleListener = Callable[[ClockSample, bool], None]


class ClockSync:
    def __init__(
        self,
        *,
        clock: CameraClock,
        send: Callable[[dict[str, Any]], None],
        interval: float = 1.0,
        burst: int = 16,
        first_burst: int = 32,
        keep_samples: int = 2000,
    ) -> None:
        self.clock = clock
        self.estimator = OffsetEstimator()
        self.interval = interval
        self._send = send
        self._burst = burst
        self._left = first_burst
        self._pending: Optional[tuple[str, int, float]] = None  # id, sent_us, deadline (monotonic)
        self._next_burst = time.monotonic()
        self.recent: deque[tuple[ClockSample, bool]] = deque(maxlen=keep_samples)
        self._burst_samples: list[ClockSample] = []
        self.listener: Optional[SampleListener] = None

    def use_clock(self, clock: CameraClock) -> None:
        """Switch to another camera clock (after configure): earlier samples no longer apply."""
        self.clock = clock
        self.estimator = OffsetEstimator()
        self.recent.clear()
        self._burst_samples = []
        self._pending = None
        self._left = self._burst * 3
        self._next_burst = time.monotonic()

    def request_burst(self) -> None:
        """Begin a burst now, unless one is running (e.g. when the mapping is not yet good enough for a start)."""
        if self._left <= 0:
            self._left = self._burst
            self._next_burst = time.monotonic()

    def due(self) -> float:
        """When :meth:`tick` next has something to do (``time.monotonic()`` value)."""
        return self._pending[2] if self._pending is not None else self._next_burst

    def tick(self, now: float) -> None:
        if self._pending is not None:
            if now < self._pending[2]:
                return
            logger.debug("clock sync request %s got no reply within %g s", self._pending[0], REPLY_TIMEOUT)
            self._pending = None
            self._left -= 1
        if self._left <= 0 and now >= self._next_burst:
            self._left = self._burst
        if self._left > 0:
            self._request()

    def _request(self) -> None:
        request_id = protocol.new_id()
        sent_us = self.clock.now_us()
        self._pending = (request_id, sent_us, time.monotonic() + REPLY_TIMEOUT)
        self._send({"type": "time_request", "id": request_id})

    def on_reply(self, message: dict[str, Any], received_us: int) -> None:
        pending = self._pending
        conductor_us = message.get("conductor_us")
        if pending is None or message.get("id") != pending[0] or not isinstance(conductor_us, int):
            return  # late or foreign: a reply whose request timed out says nothing reliable
        self._pending = None
        sample = ClockSample(pending[1], received_us, conductor_us)
        self.estimator.add(sample)
        self._burst_samples.append(sample)
        self._left -= 1
        if self._left > 0:
            self._request()
            return
        best = self.estimator.end_burst()
        for each in self._burst_samples:
            self.recent.append((each, each is best))
            if self.listener is not None:
                self.listener(each, each is best)
        self._burst_samples = []
        self._next_burst = time.monotonic() + self.interval
