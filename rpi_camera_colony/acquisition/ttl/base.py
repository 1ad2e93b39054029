"""What a TTL backend provides: a pulse out per frame and timestamped edges in."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Optional

from rpi_camera_colony.clock import CameraClock

#: ``on_edge(level, timestamp_us)``, called on the backend's thread for every input edge.
EdgeCallback = Callable[[int, int], None]


class TTLBackend(abc.ABC):
    """TTL lines of one camera, on board-numbered pins (as the original config: out 8, in 16; -1 disables a line)."""

    name: str = "abstract"

    def __init__(self, *, clock: Optional[CameraClock] = None) -> None:
        self.clock = clock or CameraClock()

    @abc.abstractmethod
    def setup(self, *, out_pin: int, in_pin: int, out_duration: float) -> None:
        """Claim the pins.

        Raises:
            BackendError: if a pin cannot be used.
        """

    @abc.abstractmethod
    def pulse(self) -> int:
        """Start one output pulse of ``out_duration`` without blocking; return its start time (µs, camera clock)."""

    def drain(self) -> None:
        """Return when every pulse started so far has ended on the wire (a no-op where pulses are not scheduled)."""
        return None

    @abc.abstractmethod
    def watch(self, on_edge: Optional[EdgeCallback]) -> None:
        """Report input edges to ``on_edge`` (None stops reporting)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the pins. Safe to call twice."""
