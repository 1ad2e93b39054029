"""The agent's bookkeeping of exposure warm-ups (see :mod:`~rpi_camera_colony.acquisition.cameras.settle`): which
warm-up is the current one, and its outcome once it ended.

Each warm-up gets a number. Its end is reported through ``on_event("settled", {"generation": n, ...})``; an end that
belongs to an earlier warm-up (e.g. one a stop cancelled, whose event is still queued when the next one begins) is
ignored, so it can never answer the next ``configure`` or ``reset``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Optional

from rpi_camera_colony.acquisition.cameras.base import CameraBackend

#: What a warm-up ended with: the values fixed, or the error.
Outcome = tuple[Optional[dict[str, Any]], Optional[BaseException]]


class WarmUps:
    """See the module. ``on_event`` is the agent's event callback (called from the warm-up's thread)."""

    def __init__(self, on_event: Callable[[str, dict[str, Any]], None]) -> None:
        self._on_event = on_event
        self.generation = 0  #: the number of the current (or last) warm-up
        self._outcome: Optional[Outcome] = None
        self._ended = threading.Event()

    def begin(self, camera: CameraBackend, seconds: float) -> bool:
        """Start a warm-up on ``camera``; False if it has nothing to settle."""
        self.generation += 1
        generation = self.generation
        self._outcome = None
        self._ended.clear()
        return camera.settle_exposure(seconds, lambda fixed, error: self._done(generation, fixed, error))

    def _done(self, generation: int, fixed: Optional[dict[str, Any]], error: Optional[BaseException]) -> None:
        if generation != self.generation:
            return  # an earlier warm-up's end
        self._outcome = (fixed, error)
        self._ended.set()
        self._on_event(
            "settled", {"generation": generation, "fixed": fixed, "error": None if error is None else str(error)}
        )

    def wait(self, timeout: float) -> bool:
        """Wait for the current warm-up to end; False after ``timeout`` seconds."""
        return self._ended.wait(timeout)

    def take(self) -> Optional[Outcome]:
        """The current warm-up's outcome, once (None before it ended)."""
        outcome, self._outcome = self._outcome, None
        return outcome

    def fail(self, error: BaseException) -> None:
        """Give the current warm-up this outcome (e.g. it did not end in time)."""
        self._outcome = (None, error)
