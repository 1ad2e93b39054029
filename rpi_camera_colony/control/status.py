"""Status objects for remote commands: wait for one camera's reply, or for a whole group at once.

As ophyd's ``StatusBase`` and ``concurrent.futures``: a command finishes when its reply (or a failure) arrives, or
fails with :class:`~rpi_camera_colony.exc.AckTimeout` at its own deadline (the conductor's network thread expires
it then); a caller's shorter ``wait(timeout)`` raises :class:`~rpi_camera_colony.exc.WaitTimeout` and leaves the
command running. Callbacks run when the status finishes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from rpi_camera_colony.exc import AckTimeout, CameraError, ColonyCommandError, WaitTimeout
from rpi_camera_colony.protocol import Reply

logger = logging.getLogger(__name__)


class CommandStatus:
    """The outcome of one command sent to one camera; set by the conductor's network thread."""

    def __init__(self, camera: str, command: str, request_id: str, timeout: float) -> None:
        self.camera = camera
        self.command = command
        self.request_id = request_id
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._reply: Optional[Reply] = None
        self._error: Optional[CameraError] = None
        self._callbacks: list[Callable[[CommandStatus], None]] = []

    @property
    def done(self) -> bool:
        return self._event.is_set()

    @property
    def error(self) -> Optional[CameraError]:
        """Why the command failed (None while it runs or when it succeeded)."""
        return self._error

    def _finish(self, reply: Optional[Reply], error: Optional[CameraError]) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._reply, self._error = reply, error
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._run(callback)

    def _run(self, callback: Callable[[CommandStatus], None]) -> None:
        try:
            callback(self)
        except Exception:  # a caller's callback must not break the thread that finished the command
            logger.exception("a callback of %r failed", self)

    def add_callback(self, callback: Callable[[CommandStatus], None]) -> None:
        """Call ``callback(status)`` when the command finishes (at once if it already has), on the finishing thread."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        self._run(callback)

    def set_reply(self, reply: Reply) -> None:
        error = None
        if not reply.ok:
            error = CameraError(self.camera, reply.error or f"'{self.command}' refused in state {reply.state}")
        self._finish(reply, error)

    def set_error(self, error: CameraError) -> None:
        self._finish(None, error)

    def expire(self, now: float) -> bool:
        """Fail the command if its own deadline has passed; True if it did."""
        if now < self.deadline or self.done:
            return False
        self.set_error(AckTimeout(self.camera, f"no reply to '{self.command}' within {self.timeout:g} s"))
        return True

    def wait(self, timeout: Optional[float] = None) -> Reply:
        """Block until the command finishes, at most ``timeout`` seconds (default: until its own deadline).

        Raises:
            WaitTimeout: if ``timeout`` ended first; the command goes on and can be waited for again.
            AckTimeout: if no reply came by the command's own deadline.
            CameraError: (or a subclass) if the camera refused or failed the command, or its agent is gone.
        """
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            until = self.deadline if end is None else min(end, self.deadline)
            if self._event.wait(max(0.0, until - time.monotonic())) or self.expire(time.monotonic()):
                break
            if end is not None and time.monotonic() >= end:
                raise WaitTimeout(f"{self.camera}: '{self.command}' still running after {timeout:g} s of waiting")
        if self._error is not None:
            raise self._error
        assert self._reply is not None
        return self._reply

    def __and__(self, other: CommandStatus | StatusGroup) -> StatusGroup:
        return StatusGroup(self.command, {self.camera: self}) & other

    def __repr__(self) -> str:
        outcome = "pending" if not self.done else ("failed" if self._error else "ok")
        return f"<CommandStatus {self.command} {self.camera}: {outcome}>"


@dataclass
class StatusGroup:
    """Several cameras' statuses for one command; :meth:`wait` raises one error naming every failed camera."""

    command: str
    statuses: Mapping[str, CommandStatus] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return all(s.done for s in self.statuses.values())

    def wait(self, timeout: Optional[float] = None) -> dict[str, Reply]:
        """Wait for every camera (each up to its own deadline, or ``timeout`` overall).

        Raises:
            ColonyCommandError: listing every camera that failed, timed out or is gone; ``failures`` maps them.
        """
        end = None if timeout is None else time.monotonic() + timeout
        replies: dict[str, Reply] = {}
        failures: dict[str, BaseException] = {}
        for name, status in self.statuses.items():
            try:
                replies[name] = status.wait(None if end is None else max(0.0, end - time.monotonic()))
            except CameraError as err:
                failures[name] = err
        if failures:
            raise ColonyCommandError(self.command, failures)
        return replies

    def failures(self) -> dict[str, Any]:
        """Failed cameras so far (without waiting)."""
        return {name: status.error for name, status in self.statuses.items() if status.error is not None}

    def __and__(self, other: CommandStatus | StatusGroup) -> StatusGroup:
        extra = {other.camera: other} if isinstance(other, CommandStatus) else dict(other.statuses)
        return StatusGroup(self.command, {**self.statuses, **extra})
