"""The acquisition agent's network loop (runs on each Pi, or as a local process with simulated cameras).

One thread runs :meth:`PiAcquisitionControl.run`: it owns the DEALER socket to the conductor (identity = instance
name) and the log socket, feeds each command to the camera state machine
(:class:`~rpi_camera_colony.acquisition.camera_agent.CameraAgent`) and answers it, sends ``hello`` on connect and a
``heartbeat`` with the agent's status about twice a second, and forwards this package's log records to the
conductor. The camera runs on its own thread; its events reach the loop through a queue and a
:class:`~rpi_camera_colony.network_communication.Waker`.

``start`` is acknowledged only after the first frame was encoded and written, so "recording" is a fact, not a hope;
``configure`` and ``reset`` only after exposure and white balance have settled (the ``exposure_warmup``), while
heartbeats go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import select
import threading
import time
from typing import Any, NamedTuple, Optional

import zmq

from rpi_camera_colony import protocol
from rpi_camera_colony.acquisition import backends, command_args
from rpi_camera_colony.acquisition.camera_agent import (
    DEFAULT_DATA_PATH,
    DEFAULT_MAX_ACQUISITION_TIME,
    SETTLE_MARGIN,
    CameraAgent,
)
from rpi_camera_colony.acquisition.clock_sync import ClockSync
from rpi_camera_colony.acquisition.live_view import ClosableSink, LiveView
from rpi_camera_colony.acquisition.recording import Recording, host_info, versions
from rpi_camera_colony.acquisition.stream_server import StreamServer
from rpi_camera_colony.acquisition.ttl.simulated import SimulatedTTL
from rpi_camera_colony.clock import CameraClock, conductor_now_us
from rpi_camera_colony.config.loading import controller_from_dict
from rpi_camera_colony.config.settings import CAMERA_EXTRA_ATTRIBUTES, ControllerSettings
from rpi_camera_colony.curve import CurveClient
from rpi_camera_colony.exc import BackendError, ColonyError, ConfigError, ProtocolError, RecordingError
from rpi_camera_colony.files import default_instance_name
from rpi_camera_colony.network_communication import (
    LogForwarder,
    LogLimiter,
    PreviewSender,
    Waker,
    configure_socket,
    endpoint,
    message_waiting,
    socket_fd,
)
from rpi_camera_colony.protocol import FIRST_FRAME_TIMEOUT

logger = logging.getLogger(__name__)

_NOBLOCK = int(zmq.NOBLOCK)

#: The shortest silence of the conductor (seconds) after which the agent rebuilds its control connection.
LINK_SILENCE_S = 6.0
#: Commands answered once their effect is real: the first frame written, or exposure settled.
_ANSWERED_LATER = frozenset({"arm", "start", "configure", "reset"})
#: Commands that change nothing the loop waits for (no deadline, no camera state): answered, and the turn ends.
_QUIET = frozenset({"ping", "status"})
#: How long (seconds) an ``arm`` waits for a clock synchronisation good enough for a start before it is answered
#: without one.
ARM_SYNC_TIMEOUT = 5.0
#: Good enough: the best round trip of the clock mapping (µs), twice its uncertainty.
ARM_MAX_RTT_US = 2000


class _HeldStart(NamedTuple):
    """A scheduled start held until the clock mapping exists (or its time is near)."""

    request_id: str
    args: dict[str, Any]
    start_at: Optional[int]
    deadline: float  #: time.monotonic() at which it begins even without the mapping


def _until(start_at: Optional[int]) -> float:
    """Seconds until a start time (conductor clock, µs; this machine's wall clock stands in for it), 0 if passed."""
    return 0.0 if start_at is None else max(0.0, (start_at - conductor_now_us()) / 1e6)


def _held_until(start_at: int) -> float:
    """How long (``time.monotonic()``) a start is held for the clock mapping: until just before its time."""
    return time.monotonic() + max(0.0, _until(start_at) - 0.05)


def _first_frame_due(start_at: Optional[int]) -> float:
    """When (``time.monotonic()``) a start that has no first frame yet has failed."""
    return time.monotonic() + _until(start_at) + FIRST_FRAME_TIMEOUT


class PiAcquisitionControl:
    """The agent of one camera: a camera state machine (:attr:`agent`) served over the network.

    Args:
        instance_name: the camera's name (its ``[[name]]`` in the config); its identity on the control socket.
        control_address, control_port: the conductor's control (ROUTER) socket to connect to.
        log_address, log_port: the conductor's log socket (None: do not forward log records).
        log_level: level of the records forwarded.
        data_path: default ``remote_data_path`` (the conductor's ``configure`` overrides it).
        max_acquisition_time: seconds after which a recording stops itself (0: no limit); ``configure`` overrides it.
        heartbeat_interval: seconds between heartbeats.
        camera_backend, ttl_backend: force a backend (else the config key, ``RCC_*_BACKEND``, then ``auto``).
        clock: the camera clock (simulated backends only).
        curve_keys: a key folder: encrypt and authenticate both connections with CURVE, using this camera's key pair
            (``NAME.key_secret``) and the conductor's public key (``conductor.key``) found there.
        backend_factory: builds the camera and TTL backends (gives the hardware libraries what a test or a special
            set-up injects, e.g. gpiozero's MockFactory); default: :class:`~.backends.BackendFactory`.
        control_stream_ip, control_stream_port: the original's names of control_address and control_port.
        acquisition_name, acquisition_group: the original's arguments, kept as attributes (the conductor names each
            recording).
        camera_settings: camera settings as keywords, as the original took them (``framerate=90``, ...): the agent
            is configured with them at once; a keyword that is no camera setting is an error.
        preload_backends: the config's camera_backend and ttl_backend: :meth:`run` loads their libraries before it
            says hello (the conductor passes them), so that configure and the first start do not pay for them.
        parent_pid: the conductor's pid when it started this agent as a local process. If that process is gone,
            a recording goes on until it is stopped or reaches max_acquisition_time (nothing is lost), and an idle
            agent exits instead of lingering.
    """

    def __init__(
        self,
        *,
        instance_name: Optional[str] = None,
        control_address: Optional[str] = None,
        control_port: Optional[int] = None,
        data_path: str = DEFAULT_DATA_PATH,
        acquisition_group: Optional[str] = None,
        acquisition_name: Optional[str] = None,
        control_stream_ip: Optional[str] = None,
        control_stream_port: Optional[int] = None,
        log_address: Optional[str] = None,
        log_port: Optional[int] = None,
        log_level: str = "INFO",
        max_acquisition_time: float = DEFAULT_MAX_ACQUISITION_TIME,
        heartbeat_interval: float = 0.5,
        camera_backend: Optional[str] = None,
        ttl_backend: Optional[str] = None,
        clock: Optional[CameraClock] = None,
        parent_pid: Optional[int] = None,
        backend_factory: Optional[backends.BackendFactory] = None,
        curve_keys: Optional[str] = None,
        preload_backends: tuple[str, str] = ("auto", "auto"),
        **camera_settings: Any,
    ) -> None:
        # The original's spellings: control_stream_ip/port for the conductor's address, camera settings as keywords
        # (each checked: an unknown one is an error, never swallowed), acquisition_name/group kept for its users.
        control_address = control_address or control_stream_ip or "127.0.0.1"
        port = control_port if control_port is not None else control_stream_port
        if port is None:
            raise ConfigError(["PiAcquisitionControl needs control_port (or control_stream_port): the conductor's"])
        control_port = port
        instance_name = instance_name or default_instance_name()
        self.acquisition_name = acquisition_name
        self.acquisition_group = acquisition_group
        known = {f.name for f in dataclasses.fields(ControllerSettings)} | set(CAMERA_EXTRA_ATTRIBUTES)
        unknown = sorted(set(camera_settings) - known)
        if unknown:
            raise ConfigError([f"PiAcquisitionControl({key}=...): not a camera setting" for key in unknown])
        initial = None if not camera_settings else controller_from_dict({"name": instance_name, **camera_settings})
        clock = clock or CameraClock()
        self.clock_sync = ClockSync(clock=clock, send=self._send)
        self.agent = CameraAgent(
            instance_name=instance_name,
            data_path=data_path,
            max_acquisition_time=max_acquisition_time,
            camera_backend=camera_backend,
            ttl_backend=ttl_backend,
            clock=clock,
            backend_factory=backend_factory,
            clock_sync=self.clock_sync,
            on_event=self._camera_event,
            control_endpoint=(control_address, control_port),
        )
        self.instance_name = self.agent.instance_name
        self.heartbeat_interval = heartbeat_interval
        self._preload = preload_backends
        self._pending_start: Optional[tuple[str, float]] = None  # request id, deadline for the first frame
        self._deferred_start: Optional[_HeldStart] = None  # waiting for the clock mapping
        self._pending_arm: Optional[tuple[str, float]] = None  # request id, deadline: waiting for the clock mapping
        #: how long before its start time (µs) the last start arrived (None: not scheduled, or not armed)
        self._start_margin_us: Optional[int] = None
        #: a configure or reset waiting for its warm-up: request id, reply data, deadline (time.monotonic())
        self._pending_settle: Optional[tuple[str, dict[str, Any], float]] = None
        self._shutdown_requested = False
        self._parent_pid = parent_pid
        self._orphaned = False
        self._closed = False
        self._done = False
        self._limiter = LogLimiter(logger)

        self._context: zmq.Context[Any] = zmq.Context()
        self._events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._waker = Waker()
        self._curve = None if curve_keys is None else CurveClient(curve_keys, instance_name)
        self._control_endpoint = endpoint(control_address, control_port)
        self._control_address = control_address
        self._dealer = self._new_dealer()
        self._dealer_fd: int = socket_fd(self._dealer)
        self._sent_unchecked = True  # something was sent since the socket was last looked at (see run())
        self._poller: Optional[select.poll] = None
        self._last_heard = time.monotonic()
        self._thread: Optional[threading.Thread] = None
        self._logs: Optional[LogForwarder] = None
        self._log_endpoint = None if log_address is None or log_port is None else (log_address, log_port)
        self.live_view = LiveView(self.agent, self._preview_sinks)
        if log_address is not None and log_port is not None:
            self._logs = LogForwarder(
                self._context,
                self._waker,
                instance=instance_name,
                address=log_address,
                port=log_port,
                level=log_level,
                curve=self._curve,
            )
        if initial is not None:
            try:
                self.agent.configure(initial)
                self.live_view.reconfigured()
            except BaseException:
                self.close()
                raise

    # -- the camera state machine, in-process (from the thread that runs the loop, or before run()) -----------

    @property
    def state(self) -> str:
        return self.agent.state

    @property
    def recording(self) -> Optional[Recording]:
        return self.agent.recording

    def configure(self, settings: ControllerSettings, **options: Any) -> list[str]:
        """:meth:`CameraAgent.configure <rpi_camera_colony.acquisition.camera_agent.CameraAgent.configure>`."""
        return self.agent.configure(settings, **options)

    def start(self, **names: Any) -> Recording:
        """:meth:`CameraAgent.start <rpi_camera_colony.acquisition.camera_agent.CameraAgent.start>`."""
        return self.agent.start(**names)

    def stop(self, reason: str = "requested") -> dict[str, Any]:
        """Stop recording, preview or an exposure warm-up (answering a start still waiting for its first frame, or a
        configure waiting for exposure to settle); return the summary."""
        self._cancel_start(f"stopped ({reason}) before the first frame")
        self._answer_arm(cancelled=f"stopped ({reason}) while armed")
        settling = self.agent.state == "settling"
        summary = self.agent.stop(reason)
        if settling:  # how the warm-up ended: fixed (it had just finished), or stopped before
            self._answer_settle(self.agent.settle_result)
        return summary

    def request_shutdown(self) -> None:
        """Ask the loop to stop recording and exit (safe from signal handlers and other threads)."""
        self._shutdown_requested = True
        if not self._closed:
            self._waker.wake()

    # -- the connection ---------------------------------------------------------------------------------------

    def _new_dealer(self) -> zmq.Socket[bytes]:
        dealer: zmq.Socket[bytes] = self._context.socket(zmq.DEALER)
        configure_socket(dealer, address=self._control_address, heartbeat=True)
        if self._curve is not None:
            self._curve.apply(dealer)
        dealer.setsockopt(zmq.IDENTITY, self.instance_name.encode())
        dealer.connect(self._control_endpoint)
        return dealer

    def _silence_limit(self) -> float:
        """How long the conductor may be silent before the link is rebuilt (it answers clock requests every
        ``clock_sync_interval``)."""
        return max(LINK_SILENCE_S, 2.5 * self.clock_sync.interval)

    def _check_link(self, now: float) -> None:
        """Rebuild the control connection when the conductor has been silent too long.

        ZeroMQ reconnects by itself after a network outage, but not after a protocol error (e.g. a message over the
        size limit): then the connection is gone for good, and only a new socket brings the agent back.
        """
        if now - self._last_heard < self._silence_limit():
            return
        logger.warning("no word from the conductor for %.0f s: reconnecting", now - self._last_heard)
        self._last_heard = now
        if self._poller is not None:
            self._poller.unregister(self._dealer_fd)
        self._dealer.close(0)
        self._dealer = self._new_dealer()
        self._dealer_fd = socket_fd(self._dealer)
        if self._poller is not None:
            self._poller.register(self._dealer_fd, select.POLLIN)
        self._send(self._hello())

    # -- the loop ---------------------------------------------------------------------------------------------

    def run(self, *, exit_after_recording: bool = False) -> None:
        """Serve the conductor until told to close or :meth:`request_shutdown` is called; then close.

        Args:
            exit_after_recording: also end when the recording running now ends (stopped, failed or at
                max_acquisition_time): an agent recording on its own (``rcc_acquisition --auto-start``).
        """
        # The socket is polled by its descriptor, which signals a change only: a message waiting is seen in the
        # socket's EVENTS, looked at before a wait when something was sent since the last look (a send may have taken
        # the signal of a message that came meanwhile).
        poller = self._poller = select.poll()
        poller.register(self._dealer_fd, select.POLLIN)
        poller.register(self._waker.fd, select.POLLIN)
        waker_fd = self._waker.fd
        logger.debug("loaded before the hello: %s", "; ".join(self.agent.preload(*self._preload)))
        self._send(self._hello())
        next_heartbeat = self._last_heard = time.monotonic()
        deadline = next_heartbeat
        try:
            while not self._done:
                # What is due by time (heartbeat, clock requests, a start's or warm-up's deadline, the time limit,
                # the link's silence limit) is checked when its time comes; what a command or a camera event may
                # have changed, after it. A ping or a status request changes nothing: its turn is short.
                woken = False
                if self._sent_unchecked and self._message_waiting():
                    commands = True
                else:
                    commands = False
                    for fd, _ in poller.poll(max(0, int((deadline - time.monotonic()) * 1000))):
                        if fd == waker_fd:
                            woken = True
                        else:
                            commands = True
                if woken:
                    self._waker.drain()
                    self._handle_camera_events()
                changed = woken
                if commands:
                    changed = self._receive_commands() or changed
                now = time.monotonic()
                if now >= deadline:
                    changed = True
                    self._check_deadlines()
                    self.clock_sync.tick(now)
                    self._check_link(now)
                    if now >= next_heartbeat:
                        self._check_parent()
                        self._send_heartbeat()
                        next_heartbeat = now + self.heartbeat_interval
                if changed:
                    self._after_change(exit_after_recording)
                    deadline = min([next_heartbeat, self.clock_sync.due(), self._link_deadline(), *self._deadlines()])
            self._send_heartbeat()  # the last one: the conductor sees the state the agent ends in
        finally:
            self.close()

    def _after_change(self, exit_after_recording: bool) -> None:
        """What a command, a camera event or the time may have made due: an arm or a held start to answer, the live
        view to run, the end of the loop, log records to forward."""
        self._answer_arm()
        self._run_deferred_start()
        self.live_view.keep_running()
        if self._shutdown_requested:
            self._finish("agent shutdown")
        if exit_after_recording and not self.agent.busy:
            self._done = True
        if self._logs is not None:
            self._logs.forward()

    def _link_deadline(self) -> float:
        """When the conductor's silence would be long enough to rebuild the link (``time.monotonic()``)."""
        return self._last_heard + self._silence_limit()

    def _deadlines(self) -> list[float]:
        found = [] if self._deferred_start is None else [self._deferred_start.deadline]
        if self._pending_arm is not None:
            found.append(self._pending_arm[1])
        if self._pending_start is not None:
            found.append(self._pending_start[1])
        if self._pending_settle is not None:
            found.append(self._pending_settle[2])
        limit = self.agent.time_limit()
        if limit is not None:
            found.append(limit)
        return found

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        if self._pending_settle is not None and now >= self._pending_settle[2]:
            self.agent.timed_out_settling()  # the camera hangs: the warm-up is stopped and fails
            with contextlib.suppress(ColonyError):
                self.agent.finish_settling()
            self._answer_settle(self.agent.settle_result)
        if self._pending_start is not None and now >= self._pending_start[1]:
            request_id, _ = self._pending_start
            self._pending_start = None
            self.agent.stop("error: no frame arrived after start")
            self._reply(
                request_id, ok=False, error=f"the camera delivered no frame within {FIRST_FRAME_TIMEOUT:.0f} s of start"
            )
        if self.agent.check_time(now):
            self._send_heartbeat()

    def _check_parent(self) -> None:
        if self._parent_pid is None or os.getppid() == self._parent_pid:
            return
        if not self._orphaned:
            self._orphaned = True
            logger.warning("the conductor (pid %d) is gone", self._parent_pid)
        if self.agent.state == "recording":
            return  # keep recording: it ends with a stop command (if a conductor re-attaches) or max time
        logger.warning("exiting: no conductor and no recording")
        self._finish("conductor gone")

    def _finish(self, reason: str) -> None:
        if self.agent.busy:
            self.stop(reason)
        self._done = True

    def _camera_event(self, name: str, details: dict[str, Any]) -> None:
        """Called from the camera thread."""
        self._events.put((name, details))
        self._waker.wake()

    def _handle_camera_events(self) -> None:
        while True:
            try:
                name, details = self._events.get_nowait()
            except queue.Empty:
                return
            if name == "settled":
                self._settled(details)
            elif name == "first_frame" and self._pending_start is not None:
                request_id, _ = self._pending_start
                self._pending_start = None
                data = {"first_frame": details, "margin_us": self._start_margin_us, **self.agent.status().fields()}
                self._reply(request_id, ok=True, data=data)
            elif name == "error":
                error = str(details.get("error") or "camera error")
                was_recording = self.agent.state == "recording"
                self.agent.camera_failed(error)
                self._cancel_start(f"camera failed: {error}")
                if was_recording:
                    self._send_heartbeat()

    def _settled(self, details: dict[str, Any]) -> None:
        """A warm-up ended: if it is the current one, answer the configure (or reset) that waits for it."""
        if details.get("generation") != self.agent.warmups.generation or self.agent.state != "settling":
            return  # an earlier warm-up's end (e.g. one a stop ended; the stop answered for it)
        try:
            self.agent.finish_settling()
        except ColonyError as err:
            logger.error("exposure warm-up failed: %s", err)
        self._answer_settle(self.agent.settle_result)

    def _answer_settle(self, outcome: Optional[tuple[Optional[dict[str, Any]], Optional[BaseException]]]) -> None:
        pending, self._pending_settle = self._pending_settle, None
        if pending is None or outcome is None:
            return
        fixed, error = outcome
        if error is None:
            self._reply(pending[0], ok=True, data={**pending[1], "exposure": fixed})
        else:
            self._reply(pending[0], ok=False, error=str(error))

    def _cancel_settle(self, why: str) -> None:
        """Answer a configure (or reset) that waits for its exposure warm-up: it will not end."""
        if self._pending_settle is not None:
            self._reply(self._pending_settle[0], ok=False, error=why)
        self._pending_settle = None

    def _cancel_start(self, why: str) -> None:
        """Answer a start that waits for its first frame or its start time: it will not come."""
        for pending in (self._pending_start, self._deferred_start):
            if pending is not None:
                self._reply(pending[0], ok=False, error=why)
        self._pending_start = self._deferred_start = None

    # -- commands ---------------------------------------------------------------------------------------------

    def _message_waiting(self) -> bool:
        self._sent_unchecked = False
        return message_waiting(self._dealer)

    def _receive_commands(self) -> bool:
        """Read and handle the messages waiting: called when the socket's descriptor signalled or a message was seen
        waiting. One look at the socket after each message (a system call) tells whether another waits, and also
        covers the reply just sent (a send may take the descriptor's signal of a message that came meanwhile).
        True if one of them may have changed what the loop waits for (any but a ping or a status request)."""
        dealer, clock, changed = self._dealer, self.agent.clock, False
        while True:
            try:
                # One frame at a time: the conductor sends one per message (a peer that sends more gets each one
                # read, and refused, as a message of its own).
                data = dealer.recv(_NOBLOCK)
            except zmq.Again:
                return changed
            now = self._last_heard = time.monotonic()
            try:
                message = protocol.decode(data)
            except ProtocolError as err:
                if self._limiter.allow("refused message"):
                    logger.warning("refused a message: %s", err)
                self._send(protocol.error(protocol.peek_id(data), str(err)))
            else:
                changed = self._handle(message, clock.from_monotonic(now)) or changed
            self._sent_unchecked = False
            if not message_waiting(dealer):
                return changed

    def _handle(self, message: dict[str, Any], received_us: int) -> bool:
        """Handle one message; True if it may have changed what the loop waits for."""
        kind = message["type"]
        if kind == "command":
            self._dispatch(message)
            return message["command"] not in _QUIET
        if kind == "time_reply":
            self.clock_sync.on_reply(message, received_us)
            return True
        if kind == "hello_request":
            self._send(self._hello())
        elif kind == "error":
            if self._limiter.allow("refused by the conductor"):
                logger.warning("the conductor refused a message: %s", str(message.get("error"))[:500])
        else:
            self._send(protocol.error(message["id"], f"an agent does not accept '{kind}' messages"))
        return False

    def _dispatch(self, message: dict[str, Any]) -> None:
        request_id, name, args = message["id"], message["command"], message.get("args", {})
        try:
            handler = getattr(self, f"_command_{name}")
            if name in _ANSWERED_LATER:  # replied to when the first frame is written, or exposure settled
                handler(request_id, args)
                return
            data = handler(args)
        except ColonyError as err:  # the command cannot be carried out: said in the reply
            logger.error("command %s failed: %s", name, err)
            self._reply(request_id, ok=False, error=str(err))
            return
        except Exception as err:  # a defect: logged with its traceback; the agent and its recording go on
            logger.exception("command %s failed unexpectedly", name)
            self._reply(request_id, ok=False, error=f"internal error in the agent ({type(err).__name__}: {err})")
            return
        self._reply(request_id, ok=True, data=data)
        if name == "close":
            self._done = True

    def _command_configure(self, request_id: str, args: dict[str, Any]) -> None:
        settings = controller_from_dict(args.get("settings", {}))
        interval = command_args.number(args, "clock_sync_interval", 0.1, 60, "seconds")
        options = command_args.configure_options(args)
        if self._pending_settle is not None:
            raise RecordingError("a configure or reset is already waiting for exposure to settle")
        unsupported = self.agent.configure(settings, **options, wait=False)
        if interval is not None:
            self.clock_sync.interval = interval
        info = self.agent.backend_info
        self.live_view.reconfigured()
        self._answer_after_settling(
            request_id, {"unsupported": unsupported, "backend": dataclasses.asdict(info) if info else {}}
        )

    def _command_reset(self, request_id: str, args: dict[str, Any]) -> None:
        """Settle exposure and white balance again (the original's ``reset``), then fix them."""
        if self._pending_settle is not None:
            raise RecordingError("a configure or reset is already waiting for exposure to settle")
        self.agent.settle_exposure(wait=False)
        self._answer_after_settling(request_id, {})

    def _answer_after_settling(self, request_id: str, data: dict[str, Any]) -> None:
        if self.agent.state == "settling" and self.agent.settings is not None:
            deadline = time.monotonic() + self.agent.settings.exposure_warmup + SETTLE_MARGIN
            self._pending_settle = (request_id, data, deadline)
        else:
            self._reply(request_id, ok=True, data={**data, "exposure": None})

    def _command_arm(self, request_id: str, args: dict[str, Any]) -> None:
        """Arm the recording; answered once the clock mapping exists too (a start time means nothing without it),
        or after :data:`ARM_SYNC_TIMEOUT` without one (the reply says ``synchronised: false``)."""
        if self._pending_arm is not None:
            raise RecordingError("an arm is already waiting for the clock synchronisation")
        self.agent.arm(**command_args.start_names(args))
        self._pending_arm = (request_id, time.monotonic() + ARM_SYNC_TIMEOUT)
        self._answer_arm()

    def _answer_arm(self, *, cancelled: Optional[str] = None) -> None:
        """Answer the arm waiting for the clock mapping, when it exists or its time is up (or it was cancelled)."""
        if self._pending_arm is None:
            return
        request_id, deadline = self._pending_arm
        model = self.clock_sync.estimator.model
        synchronised = model is not None and model.rtt_us <= ARM_MAX_RTT_US
        if cancelled is None and not synchronised and time.monotonic() < deadline:
            self.clock_sync.request_burst()  # another burst, rather than wait for the next one
            return
        self._pending_arm = None
        if cancelled is not None:
            self._reply(request_id, ok=False, error=cancelled)
            return
        if not synchronised:
            logger.warning(
                "armed, but the clock synchronisation with the conductor is %s after %g s: the start may not be on "
                "time", "missing" if model is None else f"uncertain by {model.rtt_us / 2e3:.1f} ms", ARM_SYNC_TIMEOUT,
            )  # fmt: skip
        data = {
            "armed": True,
            "start_lead_us": round(self.agent.start_lead_s * 1e6),
            "synchronised": synchronised,
            "clock_rtt_us": None if model is None else model.rtt_us,
        }
        self._reply(request_id, ok=True, data=data)

    def _command_start(self, request_id: str, args: dict[str, Any]) -> None:
        start_at = command_args.start_at(args)
        if self._deferred_start is not None or self._pending_start is not None:
            if start_at is None:
                raise RecordingError("a start is already waiting for its start time or first frame")
            self._reschedule(request_id, args, start_at)
            return
        if start_at is not None and self.clock_sync.estimator.model is None:
            # A scheduled start needs the clock mapping: hold it until the first burst is done (or time is up).
            self._deferred_start = _HeldStart(request_id, args, start_at, _held_until(start_at))
            return
        self._start_margin_us = None
        if start_at is not None and self.agent.state == "armed" and self._too_near(request_id, args, start_at):
            return
        self._begin(request_id, args, start_at)

    def _too_near(self, request_id: str, args: dict[str, Any], start_at: int) -> bool:
        """Refuse a start time nearer than this camera's start lead plus the notice the conductor asks for
        (``notice_us``: the time it needs to move the start for every camera), before it comes; True if refused."""
        model = self.clock_sync.estimator.model
        if model is None:
            return False
        remaining_us = model.to_camera(start_at) - self.agent.clock.now_us()
        needed_us = round(self.agent.start_lead_s * 1e6) + command_args.notice_us(args)
        self._start_margin_us = remaining_us
        if remaining_us >= needed_us:
            return False
        error = (
            f"start time too near: {remaining_us / 1e3:.1f} ms away when the start arrived, this camera needs "
            f"{needed_us / 1e3:.1f} ms"
        )
        logger.warning("%s", error)
        self._reply(request_id, ok=False, error=error, data={"too_near": True, "needed_us": needed_us})
        return True

    def _reschedule(self, request_id: str, args: dict[str, Any], start_at: int) -> None:
        """A new start time for the start waiting now: the waiting request is answered "rescheduled", this one
        takes its place (answered at the first frame)."""
        held = self._deferred_start
        if held is not None:
            self._deferred_start = _HeldStart(request_id, held.args, start_at, _held_until(start_at))
            previous = held.request_id
        else:
            assert self._pending_start is not None
            if self._too_near(request_id, args, start_at):
                return
            self.agent.reschedule(start_at)
            previous = self._pending_start[0]
            self._pending_start = (request_id, _first_frame_due(start_at))
        logger.info("start moved to %d (conductor clock, µs)", start_at)
        self._reply(
            previous, ok=False, error="rescheduled: a later start replaces this one", data={"rescheduled": True}
        )

    def _begin(self, request_id: str, args: dict[str, Any], start_at: Optional[int]) -> None:
        names = command_args.start_names(args)
        if "acquisition_name" not in args:  # a start for the armed recording: it was named when armed
            names["acquisition_name"] = None
        self.agent.start(**names, start_at_us=start_at)
        self._pending_start = (request_id, _first_frame_due(start_at))

    def _run_deferred_start(self) -> None:
        if self._deferred_start is None:
            return
        request_id, args, start_at, deadline = self._deferred_start
        if self.clock_sync.estimator.model is None and time.monotonic() < deadline:
            return
        self._deferred_start = None
        try:
            self._begin(request_id, args, start_at)
        except ColonyError as err:
            logger.error("command start failed: %s", err)
            self._reply(request_id, ok=False, error=str(err))

    def _command_stop(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"summary": self.stop(str(args.get("reason", "requested")))}

    def _command_preview(self, args: dict[str, Any]) -> dict[str, Any]:
        self.agent.preview()
        return {}

    def _command_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        """Live view on or off (``{"on": true}``): preview images to the conductor while the camera runs."""
        on = args.get("on", True)
        if not isinstance(on, bool):
            raise ProtocolError(f"stream: 'on' must be true or false, not {on!r}")
        view = self.live_view.switch(on)
        self.live_view.keep_running()  # the camera runs before the reply: its state says so
        return view

    def _preview_sinks(self, settings: ControllerSettings) -> list[ClosableSink]:
        """Where preview images go: the conductor (on the log link), and with ``stream_video`` this agent's own MJPEG
        server at ``stream_address:stream_port`` (the camera's address if not given)."""
        sinks: list[ClosableSink] = []
        if self._log_endpoint is not None:
            address, port = self._log_endpoint
            sinks.append(PreviewSender(self._context, address=address, port=port, curve=self._curve))
        if settings.stream_video:
            try:
                sinks.append(StreamServer(self.instance_name, settings.stream_address or settings.address,
                                          settings.stream_port))  # fmt: skip
            except RecordingError as err:  # the recording goes on without it; the conductor sees the log line
                logger.error("%s", err)
        if not sinks:
            raise RecordingError("no live view: no link to the conductor's log port and stream_video is off")
        return sinks

    def _command_close(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"summary": self.stop("agent closed")}

    def _command_status(self, args: dict[str, Any]) -> dict[str, Any]:
        return self.agent.status().fields()

    def _command_ping(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"agent_time": time.time(), "camera_time_us": self.agent.clock.now_us(), "echo": args.get("echo")}

    def _simulated_ttl(self, command: str) -> SimulatedTTL:
        """The TTL backend, for commands that only a simulated one can carry out.

        Raises:
            BackendError: naming the command, with any other backend.
        """
        if not isinstance(self.agent.ttl, SimulatedTTL):
            raise BackendError(f"{command} works only with the simulated TTL backend")
        return self.agent.ttl

    def _command_annotate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Add what the conductor measured (e.g. the start skew) to the recording's metadata."""
        timing = args.get("timing")
        if not isinstance(timing, dict):
            raise ProtocolError("annotate needs a 'timing' object")
        if self.agent.recording is None:
            raise RecordingError("nothing to annotate: no recording")
        self.agent.recording.timing.update(timing)
        return {}

    def _command_sync_box(self, args: dict[str, Any]) -> dict[str, Any]:
        """Drive the simulated TTL input like a sync box wired to every camera: edges at conductor-clock times."""
        ttl = self._simulated_ttl("sync_box")
        edges = command_args.sync_box_edges(args)
        ttl.schedule_edges(edges)
        return {"scheduled": len(edges)}

    def _command_inject_ttl_in(self, args: dict[str, Any]) -> dict[str, Any]:
        ttl = self._simulated_ttl("inject_ttl_in")
        count = command_args.edge_count(args)
        injected = sum(ttl.inject_edge(level=1 if i % 2 == 0 else 0) for i in range(count))
        return {"injected": injected}

    # -- messages ---------------------------------------------------------------------------------------------

    def _reply(
        self, request_id: str, *, ok: bool, error: Optional[str] = None, data: Optional[dict[str, Any]] = None
    ) -> None:
        self._send(protocol.reply(request_id, ok=ok, state=self.agent.state, error=error, data=data))

    def _send(self, message: dict[str, Any]) -> None:
        self._sent_unchecked = True
        try:
            self._dealer.send(protocol.encode(message), _NOBLOCK)
        except zmq.Again:
            logger.debug("conductor not reachable; %s not sent", message.get("type"))
        except ProtocolError as err:
            logger.error("could not send %s: %s", message.get("type"), err)

    def _send_heartbeat(self) -> None:
        self._send(protocol.heartbeat(self.agent.status()))

    def _hello(self) -> dict[str, Any]:
        info = self.agent.backend_info
        return {
            "type": "hello",
            "id": protocol.new_id(),
            "instance": self.instance_name,
            "protocol": protocol.PROTOCOL_VERSION,
            "versions": versions(),
            "host": host_info(),
            "pid": os.getpid(),
            "backend": info.camera if info else None,
            "free_disk": self.agent.free_disk(),
            "state": self.agent.state,
            "recording": self.agent.recording_info(),
        }

    # -- shutdown ---------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop any recording, release backends and sockets. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._cancel_start("agent closed")
        self._answer_arm(cancelled="agent closed")
        self._cancel_settle("agent closed")
        self.live_view.close()
        self.agent.close()
        if self._logs is not None:
            self._logs.close()
        self._dealer.close(linger=1000)  # let the last reply leave
        self._waker.close()
        self._context.term()

    # -- the original's use: ``with PiAcquisitionControl(...) as acq: while acq.active: ...`` --------------------

    @property
    def active(self) -> bool:
        """True while the agent serves its conductor (in a ``with`` block, its loop runs on a thread of its own)."""
        if self._thread is not None:
            return self._thread.is_alive()
        return not self._done and not self._closed

    def shutdown(self) -> None:
        """End the agent: stop any recording (files complete) and leave the loop; :attr:`active` becomes False."""
        self.request_shutdown()

    def __enter__(self) -> PiAcquisitionControl:
        """Serve the conductor on a thread of its own until :meth:`shutdown`, a ``close`` command, or the block
        ends."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self.run, name=f"rcc-agent-{self.instance_name}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self.request_shutdown()
            self._thread.join()
        self.close()
