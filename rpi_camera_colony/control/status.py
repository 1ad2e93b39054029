"""Status objects for remote commands: wait for one camera's reply, or for a whole group at once.

As ophyd's ``StatusBase`` and ``concurrent.futures``: a command finishes when its reply (or a failure) arrives, or
fails with :class:`~rpi_camera_colony.exc.AckTimeout` at its own deadline (the conductor's network thread expires
it then); a caller's shorter ``wait(timeout)`` raises :class:`~rpi_camera_colony.exc.WaitTimeout` and leaves the
command running. Callbacks run when the status finishes, on the thread that finished it.

A caller that waits reads the replies itself when no other thread is reading them (the status's :attr:`reader`, the
conductor's :meth:`~rpi_camera_colony.control.control_server.ControlServer.read_replies`): no hand-over from the
network thread on the command path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Optional

from rpi_camera_colony.exc import AckTimeout, CameraError, ColonyCommandError, WaitTimeout
from rpi_camera_colony.protocol import Reply

logger = logging.getLogger(__name__)

#: ``reader(finished, until)``: reads replies on the calling thread until ``finished()`` or ``time.monotonic()``
#: reaches ``until``; False at once if another thread is reading them.
Reader = Callable[[Callable[[], bool], float], bool]


def _wait(event: threading.Event, until: float, reader: Optional[Reader]) -> bool:
    """Wait until ``event`` is set or ``time.monotonic()`` reaches ``until``, reading the replies on this thread when
    no other thread reads them; whether the event is set."""
    if reader is not None and reader(event.is_set, until):
        return event.is_set()
    return event.wait(max(0.0, until - time.monotonic()))


class CommandStatus:
    """The outcome of one command sent to one camera; set by the thread that reads its reply (the conductor's network
    thread, or a caller waiting for it)."""

    def __init__(self, camera: str, command: str, request_id: str, timeout: float) -> None:
        self.camera = camera
        self.command = command
        self.request_id = request_id
        self.timeout = timeout
        self.sent_at = time.monotonic()  #: when the command was sent (time.monotonic())
        self.deadline = self.sent_at + timeout
        self.finished_at: Optional[float] = None  #: when its reply (or failure) came
        self._event: Optional[threading.Event] = None  # made for a caller that waits for this command alone
        self._lock = threading.Lock()
        self._reply: Optional[Reply] = None
        self._error: Optional[CameraError] = None
        self._callbacks: list[Callable[[CommandStatus], None]] = []
        self.reader: Optional[Reader] = None  #: reads the replies on a waiting thread (set by the conductor)

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    @property
    def reply(self) -> Optional[Reply]:
        """The camera's reply, also when it refused the command (None while it runs, or when none came)."""
        return self._reply

    @property
    def round_trip(self) -> Optional[float]:
        """Seconds from sending the command to its reply (None while it runs)."""
        return None if self.finished_at is None else self.finished_at - self.sent_at

    @property
    def error(self) -> Optional[CameraError]:
        """Why the command failed (None while it runs or when it succeeded)."""
        return self._error

    def _finish(self, reply: Optional[Reply], error: Optional[CameraError]) -> None:
        with self._lock:
            if self.finished_at is not None:
                return
            self._reply, self._error = reply, error
            self.finished_at = time.monotonic()
            event = self._event
            callbacks, self._callbacks = self._callbacks, []
        if event is not None:
            event.set()
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
            if self.finished_at is None:
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
        with self._lock:
            if self.finished_at is None and self._event is None:
                self._event = threading.Event()
            event = self._event
        while event is not None:
            until = self.deadline if end is None else min(end, self.deadline)
            if _wait(event, until, self.reader) or self.expire(time.monotonic()):
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


class StatusGroup:
    """Several cameras' statuses for one command, waited for as one (ophyd's ``AndStatus``).

    :meth:`wait` returns every reply once all succeeded, and raises as soon as one camera fails (the other commands
    go on); :meth:`settle` waits for every camera to finish, successfully or not, when each outcome matters (e.g.
    the summaries of a stop). Callbacks run once, when every member has finished.
    """

    def __init__(self, command: str, statuses: Optional[Mapping[str, CommandStatus]] = None) -> None:
        self.command = command
        self.statuses: dict[str, CommandStatus] = dict(statuses or {})
        self._changed = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[StatusGroup], None]] = []
        self._remaining = len(self.statuses)
        for status in self.statuses.values():
            status.add_callback(self._member_finished)

    def _member_finished(self, status: CommandStatus) -> None:
        with self._lock:
            self._remaining -= 1
            last = self._remaining == 0
            callbacks = self._callbacks if last else []
            if last:
                self._callbacks = []
        if last or status.error is not None:  # what a waiter waits for (not every reply: one wake-up per group)
            self._changed.set()
        for callback in callbacks:
            self._run(callback)

    def _run(self, callback: Callable[[StatusGroup], None]) -> None:
        try:
            callback(self)
        except Exception:  # a caller's callback must not break the thread that finished the command
            logger.exception("a callback of %r failed", self)

    def add_callback(self, callback: Callable[[StatusGroup], None]) -> None:
        """Call ``callback(group)`` once every member has finished (at once if all have)."""
        with self._lock:
            if self._remaining > 0:
                self._callbacks.append(callback)
                return
        self._run(callback)

    @property
    def done(self) -> bool:
        return all(s.done for s in self.statuses.values())

    def failures(self) -> dict[str, CameraError]:
        """Failed cameras so far (without waiting)."""
        return {name: status.error for name, status in self.statuses.items() if status.error is not None}

    def _block(self, timeout: Optional[float], *, until_all: bool) -> None:
        """Wait until every member finished (or, unless ``until_all``, one failed); expire members at their own
        deadlines.

        Raises:
            WaitTimeout: if ``timeout`` ended first.
        """
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            self._changed.clear()  # cleared before looking, so a member finishing meanwhile is not missed
            now = time.monotonic()
            pending = [s for s in self.statuses.values() if not s.done and not s.expire(now)]
            if not pending or (not until_all and self.failures()):
                return
            if end is not None and now >= end:
                raise WaitTimeout(
                    f"'{self.command}' still running on {', '.join(sorted(s.camera for s in pending))} after "
                    f"{timeout:g} s of waiting"
                )
            until = min(s.deadline for s in pending)
            _wait(self._changed, until if end is None else min(end, until), pending[0].reader)

    def wait(self, timeout: Optional[float] = None) -> dict[str, Reply]:
        """Wait until every camera replied (each up to its own deadline), at most ``timeout`` seconds overall.

        Raises:
            ColonyCommandError: as soon as a camera failed, timed out or is gone, naming every one that has by then
                (``failures`` maps them); the others' commands go on.
            WaitTimeout: if ``timeout`` ended first; the commands go on.
        """
        self._block(timeout, until_all=False)
        failures = self.failures()
        if failures:
            raise ColonyCommandError(self.command, failures)
        return {name: status.wait(0) for name, status in self.statuses.items()}

    def settle(self, timeout: Optional[float] = None) -> tuple[dict[str, Reply], dict[str, CameraError]]:
        """Wait until every camera has finished (each up to its own deadline); return ``(replies, failures)``.

        Raises:
            WaitTimeout: if ``timeout`` ended first; the commands go on.
        """
        self._block(timeout, until_all=True)
        failures = self.failures()
        replies = {name: status.wait(0) for name, status in self.statuses.items() if name not in failures}
        return replies, failures

    def settled(self, timeout: Optional[float] = None) -> dict[str, Reply]:
        """Wait until every camera has finished (each up to its own deadline); every reply.

        Raises:
            ColonyCommandError: naming each camera that failed.
            WaitTimeout: if ``timeout`` ended first; the commands go on.
        """
        replies, failures = self.settle(timeout)
        if failures:
            raise ColonyCommandError(self.command, failures)
        return replies

    def __and__(self, other: CommandStatus | StatusGroup) -> StatusGroup:
        extra = {other.camera: other} if isinstance(other, CommandStatus) else dict(other.statuses)
        return StatusGroup(self.command, {**self.statuses, **extra})

    def __repr__(self) -> str:
        return f"<StatusGroup {self.command}: {len(self.statuses)} camera(s), done={self.done}>"
