"""Status objects for remote commands: wait for one camera's reply, or for a whole group at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from rpi_camera_colony.exc import AckTimeout, CameraError, ColonyCommandError
from rpi_camera_colony.protocol import Reply


class CommandStatus:
    """The outcome of one command sent to one camera; set by the conductor's network thread."""

    def __init__(self, camera: str, command: str, request_id: str, timeout: float) -> None:
        self.camera = camera
        self.command = command
        self.request_id = request_id
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._event = threading.Event()
        self._reply: Optional[Reply] = None
        self._error: Optional[CameraError] = None

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def set_reply(self, reply: Reply) -> None:
        if self.done:
            return
        self._reply = reply
        if not reply.ok:
            self._error = CameraError(self.camera, reply.error or f"'{self.command}' refused in state {reply.state}")
        self._event.set()

    def set_error(self, error: CameraError) -> None:
        if self.done:
            return
        self._error = error
        self._event.set()

    def wait(self, timeout: Optional[float] = None) -> Reply:
        """Block until the reply arrives (``timeout`` defaults to what is left of the command's own timeout).

        Raises:
            AckTimeout: if no reply came in time.
            CameraError: (or a subclass) if the camera refused or failed the command, or its agent is gone.
        """
        remaining = self.deadline - time.monotonic() if timeout is None else timeout
        if not self._event.wait(max(0.0, remaining)):
            self.set_error(AckTimeout(self.camera, f"no reply to '{self.command}' within {self.timeout:g} s"))
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
        found: dict[str, Any] = {}
        for name, status in self.statuses.items():
            if status.done:
                try:
                    status.wait(0)
                except CameraError as err:
                    found[name] = err
        return found

    def __and__(self, other: CommandStatus | StatusGroup) -> StatusGroup:
        extra = {other.camera: other} if isinstance(other, CommandStatus) else dict(other.statuses)
        return StatusGroup(self.command, {**self.statuses, **extra})
