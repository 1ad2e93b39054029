"""ZeroMQ plumbing shared by the conductor and the agents.

- :class:`Waker`: lets any thread wake a poll loop that owns sockets (ZeroMQ sockets are not thread-safe).
- :class:`QueueLogHandler` / :class:`LogForwarder`: an agent's log records, queued from any thread, sent by its loop.
- Socket helpers (:func:`receive_frames`, :func:`send_frames`, :func:`message_waiting`) for loops that poll a
  socket's descriptor; the conductor's side of the sockets is
  :class:`~rpi_camera_colony.control.control_server.ControlServer`.
- CURVE encryption and authentication: :mod:`rpi_camera_colony.curve` (its names are also importable from here).

Log records travel PUSH -> PULL on the log port: unlike PUB/SUB, nothing sent before the connection is complete is
dropped, and a slow conductor applies back-pressure (bounded by the agent's buffer) instead of silent loss.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Optional

import zmq

from rpi_camera_colony import protocol
from rpi_camera_colony.curve import CONDUCTOR_KEY as CONDUCTOR_KEY
from rpi_camera_colony.curve import CurveClient as CurveClient
from rpi_camera_colony.curve import CurveServer as CurveServer
from rpi_camera_colony.curve import ensure_keys as ensure_keys

logger = logging.getLogger(__name__)


def endpoint(address: str, port: int) -> str:
    """A tcp endpoint for ``address`` (IPv6 in brackets; '' or '*' means every interface)."""
    host = address or "*"
    if host not in ("*", "localhost"):
        try:
            if ipaddress.ip_address(host).version == 6:
                host = f"[{host}]"
        except ValueError:
            pass
    return f"tcp://{host}:{port}"


def connect_host(address: str) -> str:
    """The address an agent on this machine should connect to for a socket bound at ``address``."""
    if address in ("", "*", "0.0.0.0"):
        return "127.0.0.1"
    if address == "::":
        return "::1"
    return address


def is_ipv6(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).version == 6
    except ValueError:
        return False


#: ZeroMQ's own heartbeats on control connections: a peer silent this long (ms) is dropped, so a dead connection
#: (a Pi that lost power, a cable pulled for long) frees its camera's name on the conductor's socket.
HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 5000


def configure_socket(sock: zmq.Socket[bytes], *, address: str = "", heartbeat: bool = False) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, protocol.SOCKET_MAX_MESSAGE_BYTES)
    if heartbeat:
        sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)
    if is_ipv6(address) or address == "::":
        sock.setsockopt(zmq.IPV6, 1)


_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def message_waiting(sock: zmq.Socket[bytes]) -> bool:
    """Whether a message waits on ``sock``: its EVENTS, read with plain numbers (pyzmq's flag enums cost more than
    the read itself on the command path). A socket polled by its descriptor is read while this is true."""
    return bool(sock.getsockopt(_EVENTS) & _POLLIN)  # type: ignore[operator]  # an int for EVENTS


def socket_fd(sock: zmq.Socket[bytes]) -> int:
    """The descriptor that signals a change on ``sock`` (for a poll beside other descriptors)."""
    return int(sock.getsockopt(zmq.FD))


_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE | zmq.NOBLOCK)


def receive_frames(sock: zmq.Socket[bytes]) -> list[zmq.Frame]:
    """The frames of the message waiting on ``sock`` (as pyzmq's ``recv_multipart(NOBLOCK, copy=False)``, with
    less work per frame).

    Raises:
        zmq.Again: if no message is waiting.
    """
    frame = sock.recv(_NOBLOCK, copy=False)
    frames = [frame]
    while frame.more:
        frame = sock.recv(_NOBLOCK, copy=False)
        frames.append(frame)
    return frames


def send_frames(sock: zmq.Socket[bytes], *frames: bytes) -> None:
    """Send one message of these frames without blocking (as ``send_multipart(frames, NOBLOCK)``, with less work).

    Raises:
        zmq.ZMQError: if it cannot be sent now (zmq.Again), or, on a ROUTER, the peer is not connected.
    """
    if len(frames) > 1:
        sock.send(frames[0], _MORE_NOBLOCK)  # if this fails, nothing was sent
        try:
            for frame in frames[1:-1]:
                sock.send(frame, _MORE_NOBLOCK)
        finally:  # once begun, the message is completed even if an exception (e.g. Ctrl-C) came meanwhile: else
            sock.send(frames[-1], _NOBLOCK)  # the next message's frames would be added to it (another camera's)
        return
    sock.send(frames[-1], _NOBLOCK)


class Waker:
    """Wake a poll loop from any thread: the loop polls :attr:`fd` (a zmq.Poller takes it beside its sockets), other
    threads call :meth:`wake`. A pipe, not a ZeroMQ socket: a poll over a plain descriptor costs no extra system
    calls, where each ZeroMQ socket polled costs several (that is most of a command's cost on the agent's side)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.fd = self._read
        self._lock = threading.Lock()
        self._closed = False

    def wake(self) -> None:
        with self._lock:  # never write to a descriptor closed (and perhaps reused) meanwhile
            if self._closed:
                return
            with contextlib.suppress(BlockingIOError):  # a full pipe: the loop has wake-ups to read already
                os.write(self._write, b"\0")

    def drain(self) -> None:
        """Read every pending wake-up (call from the loop thread)."""
        while True:
            try:
                if not os.read(self._read, 4096):
                    return
            except (BlockingIOError, OSError):
                return

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._write)
        os.close(self._read)


class LogLimiter:
    """Rate limit for log lines caused by peers (rejected input must not fill the disk with log).

    :meth:`allow` says whether to log one more line of a kind (a key such as "bad message"): at most ``burst`` per
    ``interval`` seconds per key. When a new interval starts, :meth:`allow` logs how many were suppressed.
    """

    def __init__(
        self,
        log: logging.Logger,
        *,
        burst: int = 10,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._burst = burst
        self._interval = interval
        self._clock = clock
        self._windows: dict[str, list[float]] = {}  # key -> [window start, lines logged, lines suppressed]
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self._interval:
                if window is not None and window[2]:
                    self._log.warning("%d more %r lines suppressed in the last %.0f s", window[2], key, now - window[0])
                if window is None and len(self._windows) >= 1000:  # bounded: many keys from many peers
                    self._windows.clear()
                window = self._windows[key] = [now, 0, 0]
            if window[1] < self._burst:
                window[1] += 1
                return True
            window[2] += 1
            return False


def record_to_dict(record: logging.LogRecord, instance: str) -> dict[str, Any]:
    message = record.getMessage()
    if record.exc_info:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
    return {
        "type": "log",
        "instance": instance,
        "level": record.levelname,
        "levelno": record.levelno,
        "name": record.name,
        "msg": message,
        "created": record.created,
        "thread": record.threadName,
    }


class QueueLogHandler(logging.Handler):
    """Put formatted log records on a queue and wake the loop that forwards them."""

    def __init__(self, instance: str, records: deque[dict[str, Any]], waker: Waker, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self._instance = instance
        self._records = records
        self._waker = waker

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._records.append(record_to_dict(record, self._instance))  # a deque: safe from any thread
            self._waker.wake()
        except Exception:  # logging must never raise into the code that logs
            self.handleError(record)


class LogForwarder:
    """An agent's log records to the conductor's log port.

    A :class:`QueueLogHandler` on the package logger queues records from any thread; :meth:`forward`, called by the
    agent's loop (the socket's only user), sends them. PUSH, not PUB: records queue from the moment the socket
    connects, so none is lost before the link is up; up to ``backlog`` records wait while the conductor is away.
    """

    def __init__(
        self,
        context: zmq.Context[Any],
        waker: Waker,
        *,
        instance: str,
        address: str,
        port: int,
        level: str = "INFO",
        backlog: int = 10_000,
        curve: Optional[CurveClient] = None,
    ) -> None:
        self._records: deque[dict[str, Any]] = deque(maxlen=backlog)
        self._backlog: deque[dict[str, Any]] = deque(maxlen=backlog)
        self._socket: zmq.Socket[bytes] = context.socket(zmq.PUSH)
        configure_socket(self._socket, address=address)
        if curve is not None:
            curve.apply(self._socket)
        self._socket.setsockopt(zmq.SNDHWM, backlog)
        self._socket.connect(endpoint(address, port))
        self._handler = QueueLogHandler(
            instance, self._records, waker, level=getattr(logging, level.upper(), logging.INFO)
        )
        self._logger = logging.getLogger("rpi_camera_colony")
        self._logger.addHandler(self._handler)
        if self._logger.getEffectiveLevel() > self._handler.level:
            self._logger.setLevel(self._handler.level)
        self._closed = False
        self.unsendable = 0  #: records dropped because they could not be written as JSON

    def forward(self) -> None:
        """Send what is queued (call from the thread that owns the socket)."""
        while self._records:
            self._backlog.append(self._records.popleft())
        while self._backlog:
            try:
                frames = protocol.encode_log(self._backlog[0])
            except (TypeError, ValueError, RecursionError) as err:  # never stops the loop that forwards
                self._backlog.popleft()
                self.unsendable += 1
                logger.debug("a log record could not be written as JSON: %s", err)
                continue
            try:
                send_frames(self._socket, *frames)
            except zmq.Again:
                return
            self._backlog.popleft()

    def close(self) -> None:
        """Stop collecting, send what is left (with a second's grace), close the socket. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._logger.removeHandler(self._handler)
        self.forward()
        self._socket.close(linger=1000)


class PreviewSender:
    """An agent's preview images to the conductor's log port, on a PUSH socket of their own.

    Used by the preview's thread only (the socket is made there, on the first image). At most two images wait for a
    slow conductor; further ones are dropped (a preview image that is late is worth nothing).
    """

    def __init__(
        self, context: zmq.Context[Any], *, address: str, port: int, curve: Optional[CurveClient] = None
    ) -> None:
        self._context = context
        self._address = address
        self._port = port
        self._curve = curve
        self._socket: Optional[zmq.Socket[bytes]] = None
        self.dropped = 0

    def __call__(self, frame: protocol.PreviewFrame) -> None:
        if self._socket is None:
            sock: zmq.Socket[bytes] = self._context.socket(zmq.PUSH)
            configure_socket(sock, address=self._address)
            if self._curve is not None:
                self._curve.apply(sock)
            sock.setsockopt(zmq.SNDHWM, 2)
            sock.setsockopt(zmq.IMMEDIATE, 1)  # no queueing for a conductor that is not connected
            sock.connect(endpoint(self._address, self._port))
            self._socket = sock
        try:
            send_frames(self._socket, *protocol.encode_preview(frame))
        except zmq.Again:
            self.dropped += 1

    def close(self) -> None:
        """Close the socket (call after the preview's thread has ended). Safe to call twice."""
        if self._socket is not None:
            self._socket.close(0)
            self._socket = None
