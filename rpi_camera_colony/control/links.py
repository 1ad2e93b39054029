"""The conductor's links to its agents: commands out, and everything that comes back, routed to the right camera.

:class:`AgentLinks` keeps the commands awaiting replies, resolves them from replies, errors, undeliverable sends and
agent exits, records hellos and heartbeats on each camera's
:class:`~rpi_camera_colony.control.camera.CameraLink`, shows agents' log records under the
camera's name, and lets the conductor wait for every hello. Its ``on_*`` methods run on the thread that read the
message: the network thread, or a caller waiting for replies, which reads them itself (``on_agent_exit`` on a
launcher's watcher thread, ``on_undeliverable`` on the thread that sent the command); the rest on the caller's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Optional

from rpi_camera_colony import __version__, protocol
from rpi_camera_colony.control.camera import CameraLink
from rpi_camera_colony.control.control_server import ControlServer
from rpi_camera_colony.control.status import CommandStatus
from rpi_camera_colony.exc import CameraError, CameraNotConnected, ColonyCommandError, HandshakeTimeout
from rpi_camera_colony.protocol import Reply

logger = logging.getLogger(__name__)
remote_logger = logging.getLogger("rpi_camera_colony.remote")

REMOTE_LOG_KEEP = 2000


class AgentLinks:
    """Routing between the conductor's network thread and its cameras.

    Args:
        require_same_version: refuse agents that run another rpi_camera_colony version.
    """

    def __init__(
        self, *, require_same_version: bool = True, log_callback: Optional[Callable[[str], None]] = None
    ) -> None:
        self.require_same_version = require_same_version
        self.log_callback = log_callback  #: called with every remote log line (the original's logging_stream_callback)
        self.controllers: dict[str, CameraLink] = {}
        self.server: Optional[ControlServer] = None
        self.closing = False
        self._lock = threading.Condition()
        self._pending_lock = threading.Lock()  # a plain lock: taken twice for every command
        self._pending: dict[str, tuple[str, CommandStatus]] = {}
        self._remote_logs: dict[str, deque[dict[str, Any]]] = {}
        self._preview_listeners: list[Callable[[protocol.PreviewFrame], None]] = []

    def add(self, controller: CameraLink) -> None:
        self.controllers[controller.name] = controller
        self._remote_logs[controller.name] = deque(maxlen=REMOTE_LOG_KEEP)

    # -- commands ---------------------------------------------------------------------------------------------

    def submit(self, camera: str, command: str, args: dict[str, Any], timeout: float) -> CommandStatus:
        """Send a command to a camera's agent; its status is resolved when the reply (or a failure) arrives."""
        message = protocol.command(command, args)
        status = CommandStatus(camera, command, message["id"], timeout)
        rc = self.controllers[camera]
        if rc.exit_code is not None:
            status.set_error(rc.exit_error())
            return status
        if self.server is None or (self.closing and command != "close"):
            status.set_error(CameraNotConnected(camera, "the conductor is not connected"))
            return status
        status.reader = self.server.read_replies
        with self._pending_lock:
            self._pending[message["id"]] = (camera, status)
        self.server.send(camera, message)
        return status

    def _take(self, request_id: str, camera: str) -> Optional[CommandStatus]:
        """The command ``request_id`` awaiting an answer from ``camera``, no longer pending; None if there is none
        (only the camera a command went to can answer it or fail it)."""
        with self._pending_lock:
            entry = self._pending.get(request_id)
            if entry is None or entry[0] != camera:
                return None
            del self._pending[request_id]
        return entry[1]

    def _resolve(self, request_id: str, camera: str, error: CameraError) -> None:
        """Fail a command sent to ``camera`` (a message naming another camera's command changes nothing)."""
        status = self._take(request_id, camera)
        if status is not None:
            status.set_error(error)

    def wait_for_hellos(self, timeout: float, explain_missing: Callable[[str, float], str]) -> None:
        """Return when every camera said hello.

        Raises:
            ColonyCommandError: naming cameras whose agent exited, could not start or runs another version.
            HandshakeTimeout: naming, in addition, the cameras not heard from within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                failures: dict[str, BaseException] = {
                    n: rc.exit_error() for n, rc in self.controllers.items() if rc.exit_code is not None
                }
                failures.update(
                    {n: CameraError(n, rc.version_error) for n, rc in self.controllers.items() if rc.version_error}
                )
                missing = [n for n, rc in self.controllers.items() if not rc.connected and n not in failures]
                if failures and not missing:
                    raise ColonyCommandError("connect", failures)
                if not missing:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    failures.update({n: CameraNotConnected(n, explain_missing(n, timeout)) for n in missing})
                    raise HandshakeTimeout("connect", failures)
                self._lock.wait(remaining)

    def remote_log_records(self, camera: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._remote_logs.get(camera, ()))

    # -- from the thread that reads the messages ----------------------------------------------------------------

    def on_message(self, instance: str, message: dict[str, Any]) -> None:
        rc = self.controllers.get(instance)
        kind = message.get("type")
        if rc is None:
            logger.warning("message from unknown camera %r ignored (not in this conductor's config)", instance)
            if kind != "error" and self.server is not None:
                refusal = protocol.error(
                    message.get("id"), f"unknown camera {instance!r}: not in this conductor's config"
                )
                self.server.send(instance, refusal)
            return
        now = time.monotonic()
        if kind == "hello":
            rc.version_error = self.version_problem(message)
            if rc.on_hello(message, now):
                logger.warning("%s: re-attached", instance)
            with self._lock:
                self._lock.notify_all()
        elif kind == "heartbeat":
            if not rc.connected and self.server is not None:
                self.server.send(instance, {"type": "hello_request", "id": protocol.new_id()})
            # a malformed status is refused as a whole (the network thread answers with an error)
            if rc.on_heartbeat(protocol.AgentStatus.from_message(message), now):
                logger.warning("%s: re-attached", instance)
        elif kind == "reply":
            status = self._take(message["id"], instance)
            if status is not None:
                reply = Reply.from_message(instance, status.command, message)
                try:
                    rc.on_reply(reply.state, reply.data)
                finally:  # the command is answered whatever the camera's record of it makes of the reply
                    status.set_reply(reply)
        elif kind == "error":
            request_id = message.get("in_reply_to")
            if isinstance(request_id, str) and request_id:
                refused = CameraError(instance, f"agent refused the message: {message.get('error')}")
                self._resolve(request_id, instance, refused)
            else:
                logger.warning("%s refused a message: %s", instance, message.get("error"))
        else:
            logger.warning("%s sent an unexpected %r message", instance, kind)

    def on_undeliverable(self, instance: str, request_id: Optional[str], reason: str) -> None:
        if request_id:
            self._resolve(request_id, instance, CameraNotConnected(instance, f"agent not connected ({reason})"))

    def version_problem(self, hello: dict[str, Any]) -> Optional[str]:
        """A message when the agent runs another rpi_camera_colony version than this conductor."""
        theirs = (hello.get("versions") or {}).get("rpi_camera_colony")
        if theirs == __version__:
            return None
        host = (hello.get("host") or {}).get("hostname", "?")
        problem = (
            f"runs rpi_camera_colony {theirs} on {host}, this conductor runs {__version__}: install the same "
            "version on both (rcc_deploy -c CONFIG), or set [control] require_same_version = False"
        )
        if not self.require_same_version:
            logger.warning("%s", problem)
            return None
        return problem

    def on_log(self, record: dict[str, Any]) -> None:
        instance = record["instance"]
        with self._lock:
            if instance in self._remote_logs:
                self._remote_logs[instance].append(record)
        levelno = record.get("levelno")
        named = logging.getLevelName(record["level"])
        level = levelno if isinstance(levelno, int) else named if isinstance(named, int) else logging.INFO
        extra = {"camera": instance, "remote_created": record.get("created")}
        remote_logger.getChild(instance).log(level, "[%s] %s", instance, record["msg"], extra=extra)
        if self.log_callback is not None:
            try:
                self.log_callback(f"{instance} {record['level']} {record['msg']}")
            except Exception:  # the caller's callback must not break the network thread
                logger.exception("logging_stream_callback failed")

    def add_preview_listener(self, listener: Callable[[protocol.PreviewFrame], None]) -> None:
        """Call ``listener(frame)`` on the network thread with every preview image (it must be quick)."""
        self._preview_listeners.append(listener)

    def remove_preview_listener(self, listener: Callable[[protocol.PreviewFrame], None]) -> None:
        if listener in self._preview_listeners:
            self._preview_listeners.remove(listener)

    def on_preview(self, frame: protocol.PreviewFrame) -> None:
        rc = self.controllers.get(frame.instance)
        if rc is None:
            return  # a camera not in this conductor's config: nothing to show it in
        rc.on_preview(frame, time.time())
        for listener in list(self._preview_listeners):
            try:
                listener(frame)
            except Exception:  # a viewer's callback must not break the network thread
                logger.exception("a preview listener failed")

    def on_agent_exit(self, instance: str, code: Optional[int], detail: str, started: bool) -> None:
        rc = self.controllers[instance]
        rc.on_exit(code, detail, started)
        if not started:
            logger.error("%s: %s", instance, detail)
        elif not self.closing or code not in (0, None):
            log = logger.info if code == 0 else logger.error
            log("%s: agent process exited with code %s", instance, code)
        with self._pending_lock:
            pending = [rid for rid, (cam, _status) in self._pending.items() if cam == instance]
        with self._lock:
            self._lock.notify_all()
        for rid in pending:
            self._resolve(rid, instance, rc.exit_error())

    def on_tick(self, now: float) -> None:
        for rc in self.controllers.values():
            problem = rc.check(now)
            if problem:
                logger.error("%s: %s", rc.name, problem)
        with self._pending_lock:
            overdue = [rid for rid, (_cam, status) in self._pending.items() if now >= status.deadline]
            expired = [self._pending.pop(rid)[1] for rid in overdue]
        for status in expired:  # each fails with AckTimeout at its own deadline, waited for or not
            status.expire(now)
