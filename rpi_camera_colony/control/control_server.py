"""The conductor's sockets: the ROUTER (control) and PULL (log) sockets, one network thread that receives on both,
and senders on any thread (the ROUTER is used under a lock). A thread that waits for replies may read them itself
(:meth:`ControlServer.read_replies`) while the network thread leaves the ROUTER to it.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

import zmq

from rpi_camera_colony import protocol
from rpi_camera_colony.clock import conductor_now_us
from rpi_camera_colony.curve import CurveServer
from rpi_camera_colony.exc import ColonyError, ProtocolError
from rpi_camera_colony.network_communication import (
    LogLimiter,
    Waker,
    configure_socket,
    endpoint,
    message_waiting,
    receive_frames,
    send_frames,
    socket_fd,
)

logger = logging.getLogger(__name__)

MessageHandler = Callable[[str, dict[str, Any]], None]


LogHandler = Callable[[dict[str, Any]], None]
PreviewHandler = Callable[[protocol.PreviewFrame], None]
TickHandler = Callable[[float], None]
#: ``on_undeliverable(instance, request_id, reason)``: a message could not be handed to that agent.
UndeliverableHandler = Callable[[str, Optional[str], str], None]


#: How often (seconds) a caller reading its replies looks whether another thread has finished what it waits for.
READ_SLICE = 0.05
#: With port_fallback, how many ports after a busy one are tried (the original moved on to the next free port).
PORT_TRIES = 50


class ControlServer:
    """The conductor's sockets and the thread that receives on them (commands are sent on the caller's thread).

    Args:
        control_address, control_port: where the ROUTER binds (port 0 picks a free port).
        log_address, log_port: where the PULL socket for agents' log records binds (port 0 picks a free port).
        on_message: called as ``on_message(instance, message)`` for each valid message, on the thread that reads
            it: the network thread, or a caller waiting in :meth:`read_replies`.
        on_log: called on the I/O thread with each log record dict an agent published.
        on_preview: called on the I/O thread with each live preview image an agent sent (on the log socket).
        on_tick: called on the I/O thread at least every ``tick_interval`` seconds with ``time.monotonic()``.
        on_undeliverable: called on the sending thread when a message cannot be handed to an agent (not connected,
            or its queue full).
        curve: encrypt both sockets and admit only known keys, each peer under its own camera's name.

    Raises:
        ColonyError: if a socket cannot bind, saying which address and port and what to change.
    """

    def __init__(
        self,
        *,
        control_address: str,
        control_port: int,
        log_address: str,
        log_port: int,
        on_message: MessageHandler,
        on_log: LogHandler,
        on_tick: TickHandler,
        on_undeliverable: UndeliverableHandler,
        tick_interval: float = 0.1,
        curve: Optional[CurveServer] = None,
        port_fallback: bool = False,
        on_preview: Optional[PreviewHandler] = None,
    ) -> None:
        self._port_fallback = port_fallback
        self._on_preview = on_preview
        self._on_message = on_message
        self._on_log = on_log
        self._on_tick = on_tick
        self._on_undeliverable = on_undeliverable
        self._tick_interval = tick_interval
        self._context: zmq.Context[Any] = zmq.Context()
        self._router_lock = threading.Lock()  #: the ROUTER is used by the network thread and by senders
        #: held by the thread that reads the ROUTER: the network thread, or a caller waiting for replies (reentrant:
        #: a callback run for a reply may wait for another command, and read for it)
        self._reader = threading.RLock()
        self._leading = 0  #: how deep a caller is in read_replies (only the thread holding the reading changes it)
        self._leader_waker = Waker()  #: wakes that caller, as _waker wakes the network thread
        self._sockets_closed = False
        self._stop = threading.Event()
        self._error: Optional[BaseException] = None
        self._limiter = LogLimiter(logger)
        self._router: zmq.Socket[bytes] = self._context.socket(zmq.ROUTER)
        self._logs: zmq.Socket[bytes] = self._context.socket(zmq.PULL)
        self._waker = Waker()
        self._curve = curve
        try:
            if curve is not None:
                curve.start(self._context)
                curve.apply(self._router)
                curve.apply(self._logs)
            configure_socket(self._router, address=control_address, heartbeat=True)
            # No handover: while a camera's agent is connected, a second connection under its name is refused
            # (a stray or hostile peer cannot take the name over); a dead connection is dropped by the heartbeat.
            self._router.setsockopt(zmq.ROUTER_HANDOVER, 0)
            self._router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            configure_socket(self._logs, address=log_address)
            self.control_port = self._bind(self._router, control_address, control_port, "[control]")
            self.log_port = self._bind(self._logs, log_address, log_port, "[log]")
        except BaseException:
            self._close_sockets()
            raise
        self.control_address = control_address
        self.log_address = log_address
        self._router_fd = socket_fd(self._router)
        self._thread = threading.Thread(target=self._run, name="rcc-control-io", daemon=True)
        self._thread.start()

    def _bind(self, sock: zmq.Socket[bytes], address: str, port: int, section: str) -> int:
        """Bind ``sock``; with ``port_fallback`` a busy port gives way to the next free one (as in the original),
        which the agents this conductor starts are told.

        Raises:
            ColonyError: naming the address and port, and what to do.
        """
        try:
            if port == 0:
                return int(sock.bind_to_random_port(endpoint(address, 0).rsplit(":", 1)[0]))
            try:
                sock.bind(endpoint(address, port))
                return port
            except zmq.ZMQError as err:
                if err.errno != zmq.EADDRINUSE or not self._port_fallback:
                    raise
            taken = int(
                sock.bind_to_random_port(
                    endpoint(address, 0).rsplit(":", 1)[0], min_port=port + 1, max_port=port + PORT_TRIES
                )
            )
            logger.warning("%s port %d is in use: listening on port %d instead", section, port, taken)
            return taken
        except (zmq.ZMQError, zmq.ZMQBindError) as err:
            in_use = isinstance(err, zmq.ZMQBindError) or err.errno == zmq.EADDRINUSE
            hint = (
                "the port is in use (another conductor running?): choose another port or 0 for a free one"
                + ("" if not self._port_fallback else f", and the next {PORT_TRIES} ports are taken too")
                if in_use
                else "this machine has no such address: set it to this machine's IP on the camera network "
                "(or 127.0.0.1 for simulated cameras)"
            )
            reason = "Address already in use" if isinstance(err, zmq.ZMQBindError) else err.strerror
            raise ColonyError(f"cannot listen on {section} {address}:{port}: {reason}; {hint}") from None

    def send(self, instance: str, message: dict[str, Any]) -> None:
        """Send a message to an agent, from any thread: the ROUTER is used under a lock, so a command leaves at once
        (no hand-over to the network thread). A message that cannot be handed to the agent (not connected, or its
        queue full) is reported to ``on_undeliverable`` on the calling thread.

        Raises:
            ProtocolError: if the message cannot be encoded.
        """
        self._send_data(instance.encode(), protocol.encode(message), message.get("id"))

    def _send_data(self, identity: bytes, data: bytes, request_id: Optional[str]) -> None:
        """Send on the ROUTER from any thread; a message that cannot be handed over is reported to
        ``on_undeliverable`` when it has a ``request_id`` (a command), else logged."""
        failure: Optional[str] = None
        arrived = False
        with self._router_lock:
            if self._sockets_closed:
                failure = "the conductor has closed its connections"
            else:
                try:
                    send_frames(self._router, identity, data)
                except zmq.ZMQError as err:
                    # ROUTER_MANDATORY: the agent is not connected (EHOSTUNREACH) or its queue is full (EAGAIN).
                    failure = err.strerror
                # Any use of the socket may take the signal of a message that arrived meanwhile off its descriptor,
                # which the reading thread waits on: then that thread is woken to receive it.
                arrived = message_waiting(self._router)
        if arrived:  # also after a failed send, which may have taken the signal all the same
            # A caller reading its replies has set _leading before it reads the socket until empty: if this send saw
            # it unset, that reading comes after and finds the message; if set, the caller is woken.
            (self._leader_waker if self._leading else self._waker).wake()
        if failure is None:
            return
        if request_id is None:
            logger.debug("could not send to %r: %s", identity, failure)
        else:
            self._on_undeliverable(identity.decode("utf-8", "replace"), request_id, failure)

    def _run(self) -> None:
        # The ROUTER is polled by its descriptor (other threads send on it under the lock, which a poll of the socket
        # itself would not allow); the descriptor only signals a change, so the socket is read until it is empty.
        # While a caller reads the replies it waits for (read_replies), the descriptor is left to it: this thread
        # stops polling it until that caller wakes it.
        poller = zmq.Poller()
        poller.register(self._router_fd, zmq.POLLIN)
        poller.register(self._logs, zmq.POLLIN)
        poller.register(self._waker.fd, zmq.POLLIN)
        router_polled = True
        next_tick = time.monotonic()
        try:
            while not self._stop.is_set():
                timeout_ms = max(0, int((next_tick - time.monotonic()) * 1000))
                events = dict(poller.poll(timeout_ms))
                if self._waker.fd in events:
                    self._waker.drain()
                if self._reader.acquire(blocking=False):
                    try:
                        if not router_polled:
                            poller.register(self._router_fd, zmq.POLLIN)
                            router_polled = True
                        self._receive_control()
                    finally:
                        self._reader.release()
                elif router_polled:
                    poller.unregister(self._router_fd)
                    router_polled = False
                if self._logs in events:
                    self._receive_logs()
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + self._tick_interval
                    self._on_tick(now)
        except BaseException as err:  # surfaced to every caller by ControlServer.check()
            logger.exception("control I/O thread failed")
            self._error = err
        finally:
            self._close_sockets()

    def read_replies(self, finished: Callable[[], bool], until: float) -> bool:
        """Read and handle control messages on the calling thread until ``finished()`` or ``time.monotonic()`` reaches
        ``until``: a caller waiting for replies takes them off the socket itself, without a hand-over from the
        network thread. Every message is handled as the network thread would (other cameras' replies, heartbeats,
        clock requests); ``finished`` is looked at after each batch and at least every :data:`READ_SLICE` seconds,
        since other threads may finish what the caller waits for.

        Returns:
            False at once if another thread is reading (the caller then waits for it to deliver), else True.
        """
        if self._stop.is_set() or not self._reader.acquire(blocking=False):
            return False
        self._leading += 1
        try:
            poll = select.poll()
            poll.register(self._router_fd, select.POLLIN)
            poll.register(self._leader_waker.fd, select.POLLIN)
            while not finished() and not self._stop.is_set():
                self._receive_control()
                remaining = until - time.monotonic()
                if finished() or remaining <= 0:
                    break
                for fd, _ in poll.poll(max(1, int(min(remaining, READ_SLICE) * 1000))):
                    if fd == self._leader_waker.fd:
                        self._leader_waker.drain()
        finally:
            self._leading -= 1
            self._reader.release()
            self._waker.wake()  # the network thread polls the ROUTER again (and reads what came since)
        return True

    def _receive_control(self) -> None:
        while True:
            with self._router_lock:
                if self._sockets_closed:
                    return
                try:
                    frames, owner = self._receive(self._router)
                except zmq.Again:  # read until empty: the descriptor signals again only after that
                    return
            if not self._named_by_key(owner, frames[0].decode("utf-8", "replace")):
                continue
            if len(frames) != 2:
                if self._limiter.allow("bad control frames"):
                    logger.warning("ignored a control message of %d frames (identity + payload expected)", len(frames))
                continue
            identity, data = frames
            instance = identity.decode("utf-8", "replace")
            try:
                message = protocol.decode(data)
            except ProtocolError as err:
                if self._limiter.allow("bad message"):
                    logger.warning("bad message from %r: %s", instance[:64], err)
                self._router_send(identity, protocol.error(protocol.peek_id(data), str(err)))
                continue
            if message["type"] == "time_request":  # clock sync: answered at once on this thread, stamped last
                self._router_send(
                    identity, {"type": "time_reply", "id": message["id"], "conductor_us": conductor_now_us()}
                )
                continue
            try:
                self._on_message(instance, message)
            except Exception as err:  # one message must never end the network thread
                if self._limiter.allow("message handling"):
                    logger.exception("a %s message from %r could not be handled", message["type"], instance[:64])
                self._router_send(identity, protocol.error(message["id"], f"message not understood: {err}"))

    def _receive(self, sock: zmq.Socket[bytes]) -> tuple[list[bytes], Optional[str]]:
        """One message's frames and, with CURVE, the camera its sender's key belongs to (None without CURVE).

        Raises:
            zmq.Again: if no message is waiting.
        """
        parts = receive_frames(sock)
        if self._curve is None:
            return [part.bytes for part in parts], None
        try:
            owner = parts[-1].get("User-Id")
        except zmq.ZMQError:
            owner = ""
        return [part.bytes for part in parts], str(owner)

    def _named_by_key(self, owner: Optional[str], name: str) -> bool:
        """Whether the sender may speak as ``name``: always without CURVE, else only if its key is that camera's."""
        if owner is None or owner == name:
            return True
        if self._limiter.allow("name not matching key"):
            logger.warning("refused a message as %r from a peer whose key is %r's", name[:64], owner)
        return False

    def _router_send(self, identity: bytes, message: dict[str, Any]) -> None:
        """Answer a peer from the network thread (an error, a clock reply); an answer that cannot be written is
        logged (rate-limited), never raised into the thread."""
        try:
            data = protocol.encode(message)
        except ProtocolError as err:
            if self._limiter.allow("unsendable answer"):
                logger.warning("could not answer %r: %s", identity[:64], err)
            return
        self._send_data(identity, data, None)

    def _receive_logs(self) -> None:
        while True:
            try:
                frames, owner = self._receive(self._logs)
            except zmq.Again:
                return
            try:
                if frames[0] == protocol.PREVIEW_TOPIC:
                    self._received_preview(frames[1:], owner)
                    continue
                record = protocol.decode_log(frames[-1])
                if not self._named_by_key(owner, record["instance"]):
                    continue
                self._on_log(record)
            except ProtocolError as err:
                if self._limiter.allow("bad log record"):
                    logger.warning("ignored a bad log or preview message: %s", err)
            except Exception:  # one record must never end the network thread
                if self._limiter.allow("log record handling"):
                    logger.exception("a log record could not be handled")

    def _received_preview(self, frames: list[bytes], owner: Optional[str]) -> None:
        frame = protocol.decode_preview(frames)
        if self._on_preview is not None and self._named_by_key(owner, frame.instance):
            self._on_preview(frame)

    def check(self) -> None:
        """Raise the error that stopped the I/O thread, if any (with its traceback as the cause).

        Raises:
            ColonyError: if the network thread has died; nothing the conductor reports is live after that.
        """
        if self._error is not None:
            raise ColonyError(
                f"the conductor's network thread failed ({type(self._error).__name__}: {self._error}): camera status "
                "is no longer live; the agents keep recording to their max_acquisition_time"
            ) from self._error
        if not self._thread.is_alive() and not self._stop.is_set():
            raise ColonyError("the conductor's network thread is not running")

    def close(self) -> None:
        """Stop the I/O thread and close the sockets (safe to call twice)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._waker.wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _close_sockets(self) -> None:
        with self._reader, self._router_lock:  # no caller reads or sends meanwhile
            self._sockets_closed = True
            for sock in (self._router, self._logs):
                sock.close(0)
        self._waker.close()
        self._leader_waker.close()
        if self._curve is not None:
            self._curve.stop()
        self._context.term()
