"""The acquisition agent (runs on each Pi, or as a local process with simulated cameras).

One thread runs :meth:`PiAcquisitionControl.run`: it owns the DEALER socket to the conductor (identity = instance
name) and the log socket, answers every command, sends ``hello`` on connect and ``heartbeat`` with live status about
twice a second, and forwards this package's log records to the conductor. The camera runs on its own thread; its
events reach the loop through a queue and a :class:`~rpi_camera_colony.network_communication.Waker`.

``start`` is acknowledged only after the first frame was encoded and written, so "recording" is a fact, not a hope.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import time
from pathlib import Path
from typing import Any, Optional

import zmq

from rpi_camera_colony import protocol
from rpi_camera_colony.acquisition import backends, disk
from rpi_camera_colony.acquisition.cameras.base import CameraBackend
from rpi_camera_colony.acquisition.clock_sync import ClockSync
from rpi_camera_colony.acquisition.recording import AcquisitionInfo, BackendInfo, Recording, host_info, versions
from rpi_camera_colony.acquisition.ttl.base import TTLBackend
from rpi_camera_colony.acquisition.ttl.simulated import SimulatedTTL
from rpi_camera_colony.clock import CameraClock, conductor_now_us
from rpi_camera_colony.config.loading import controller_from_dict
from rpi_camera_colony.config.settings import ControllerSettings
from rpi_camera_colony.exc import BackendError, ColonyError, ConfigError, ProtocolError, RecordingError
from rpi_camera_colony.files import RecordingFiles, check_name_part
from rpi_camera_colony.network_communication import (
    CurveClient,
    LogForwarder,
    LogLimiter,
    Waker,
    configure_socket,
    endpoint,
)
from rpi_camera_colony.protocol import FIRST_FRAME_TIMEOUT

logger = logging.getLogger(__name__)

#: The shortest silence of the conductor (seconds) after which the agent rebuilds its control connection.
LINK_SILENCE_S = 6.0
#: A scheduled start (or sync-box edge) further than this from now is refused.
MAX_START_OFFSET_US = 3_600_000_000


class PiAcquisitionControl:
    """The agent of one camera.

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
        parent_pid: the conductor's pid when it started this agent as a local process. If that process is gone,
            a recording goes on until it is stopped or reaches max_acquisition_time (nothing is lost), and an idle
            agent exits instead of lingering.
    """

    def __init__(
        self,
        *,
        instance_name: str,
        control_address: str,
        control_port: int,
        log_address: Optional[str] = None,
        log_port: Optional[int] = None,
        log_level: str = "INFO",
        data_path: str = "/home/pi/data/",
        max_acquisition_time: float = 7200,
        heartbeat_interval: float = 0.5,
        camera_backend: Optional[str] = None,
        ttl_backend: Optional[str] = None,
        clock: Optional[CameraClock] = None,
        parent_pid: Optional[int] = None,
        backend_factory: Optional[backends.BackendFactory] = None,
        curve_keys: Optional[str] = None,
    ) -> None:
        self.instance_name = check_name_part("instance name", instance_name)
        self.data_path = data_path
        self.max_acquisition_time = float(max_acquisition_time)
        #: before a recording: "refuse" it (default), "warn" or do nothing ("off") when the disk may not hold it
        self.disk_space_check = "refuse"
        self.heartbeat_interval = heartbeat_interval
        self._camera_override = camera_backend
        self._ttl_override = ttl_backend
        self._factory = backend_factory or backends.BackendFactory()
        self.clock = clock or CameraClock()
        self.state = "idle"
        self.settings: Optional[ControllerSettings] = None
        self.camera: Optional[CameraBackend] = None
        self.ttl: Optional[TTLBackend] = None
        self._backend_info: Optional[BackendInfo] = None
        self._unsupported: list[str] = []
        self.recording: Optional[Recording] = None
        self.last_summary: dict[str, Any] = {}
        self.error: Optional[str] = None
        self._pending_start: Optional[tuple[str, float]] = None
        self._shutdown_requested = False
        self._parent_pid = parent_pid
        self._orphaned = False
        self._deferred_start: Optional[tuple[str, dict[str, Any], float]] = None
        self._closed = False
        self._done = False
        self._limiter = LogLimiter(logger)

        self._context: zmq.Context[Any] = zmq.Context()
        self._events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._waker = Waker(self._context)
        self._curve = None if curve_keys is None else CurveClient(curve_keys, instance_name)
        self._control_endpoint = endpoint(control_address, control_port)
        self._control_address = control_address
        self._dealer = self._new_dealer()
        self._poller: Optional[zmq.Poller] = None
        self._last_heard = time.monotonic()
        self.clock_sync = ClockSync(clock=self.clock, send=self._send)
        self._logs: Optional[LogForwarder] = None
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
            self._poller.unregister(self._dealer)
        self._dealer.close(0)
        self._dealer = self._new_dealer()
        if self._poller is not None:
            self._poller.register(self._dealer, zmq.POLLIN)
        self._send(self._hello())

    # -- public, in-process API (call from the thread that runs the agent, or before run()) --------------------

    def configure(
        self,
        settings: ControllerSettings,
        *,
        data_path: Optional[str] = None,
        max_acquisition_time: Optional[float] = None,
    ) -> list[str]:
        """Choose and configure the backends for ``settings``; return the settings the camera cannot honour.

        Raises:
            RecordingError: while recording.
            BackendError: if a backend is not available or rejects a setting.
        """
        if self.state in ("recording", "previewing"):
            raise RecordingError(f"cannot configure while {self.state}: stop first")
        camera_name, camera_reason = backends.resolve(
            "camera", self._camera_override, settings.camera_backend, backends.CAMERA_BACKENDS, backends.CAMERA_ENV
        )
        ttl_name, ttl_reason = backends.resolve(
            "ttl", self._ttl_override, settings.ttl_backend, backends.TTL_BACKENDS, backends.TTL_ENV
        )
        self._release_backends()
        clock = self.clock
        if camera_name == "simulated":
            clock = CameraClock(offset_s=settings.sim_clock_offset, drift_ppm=settings.sim_clock_drift_ppm)
        try:
            self.camera = self._factory.create_camera(camera_name, clock=clock)
        except BackendError as err:
            raise BackendError(f"{err} ({camera_reason})") from None
        logger.info("%s; %s", camera_reason, ttl_reason)
        self._unsupported = self.camera.configure(settings)
        # Frames, TTL edges and clock sync all use the camera's clock (e.g. the GPU clock of legacy picamera).
        clock = self.camera.clock
        if (clock.offset_s, clock.drift_ppm) != (self.clock.offset_s, self.clock.drift_ppm):
            self.clock_sync.use_clock(clock)
        self.clock = clock
        try:
            self.ttl = self._factory.create_ttl(ttl_name, clock=clock)
        except BackendError as err:
            raise BackendError(f"{err} ({ttl_reason})") from None
        if self._unsupported:
            logger.warning("settings without effect on the %s camera: %s", camera_name, ", ".join(self._unsupported))
        self._backend_info = BackendInfo(camera_name, ttl_name, camera_reason, ttl_reason)
        self.settings = settings
        if data_path is not None:
            self.data_path = data_path
        if max_acquisition_time is not None:
            self.max_acquisition_time = float(max_acquisition_time)
        self.state = "configured"
        self.error = None
        return list(self._unsupported)

    def start(
        self,
        *,
        acquisition_name: str,
        acquisition_time: str,
        acquisition_group: str = "",
        start_at_us: Optional[int] = None,
    ) -> Recording:
        """Start recording (returns once the camera runs; the first frame follows at ``start_at_us``, a time on the
        conductor's clock, or within a frame period).

        Raises:
            RecordingError: if not configured, already recording, a name is unusable, or the camera fails to start.
        """
        if self.settings is None or self.camera is None or self.ttl is None or self._backend_info is None:
            raise RecordingError("not configured: send 'configure' before 'start'")
        if self.state in ("recording", "previewing"):
            raise RecordingError(f"already {self.state}: stop first")
        name = check_name_part("acquisition_name", acquisition_name)
        when = check_name_part("acquisition_time", acquisition_time)
        group = check_name_part("acquisition_group", acquisition_group) if acquisition_group else ""
        files = None
        if self.settings.save_data:
            self._check_room(self.settings)
            files = RecordingFiles.create(
                data_path=self.data_path, group=group, name=name, instance=self.instance_name, acquisition_time=when
            )
        recording = Recording(
            settings=self.settings,
            camera=self.camera,
            ttl=self.ttl,
            acquisition=AcquisitionInfo(name, group, when),
            files=files,
            backends=self._backend_info,
            unsupported=self._unsupported,
            on_event=self._camera_event,
            clock_sync=self.clock_sync,
            start_at_us=start_at_us,
        )
        try:
            recording.start()
        except RecordingError as err:
            self.state, self.error = "error", str(err)
            raise
        self.recording = recording
        self.state = "recording"
        self.error = None
        logger.info(
            "recording %s at %dx%d@%dfps to %s",
            name,
            *self.settings.resolution,
            self.settings.framerate,
            files.folder if files else "nowhere (save_data = False)",
        )
        return recording

    def _check_room(self, settings: ControllerSettings) -> None:
        """Refuse (or warn about) a recording the data disk may not hold to max_acquisition_time.

        Raises:
            RecordingError: with the figures, when ``disk_space_check`` is "refuse" and there is not enough room.
        """
        if self.disk_space_check == "off":
            return
        free = self._free_disk()
        if free is None:
            return
        seconds = self.max_acquisition_time if self.max_acquisition_time > 0 else disk.UNLIMITED_SECONDS
        need = disk.space_needed(settings, free=free, max_seconds=seconds)
        if need.enough:
            return
        message = need.describe(str(Path(self.data_path).expanduser()))
        if self.disk_space_check == "refuse":
            raise RecordingError(message)
        logger.warning("%s", message)

    def preview(self) -> None:
        """Run the camera without recording (to aim it); ``stop`` ends it.

        Raises:
            RecordingError: if not configured or busy.
        """
        if self.camera is None:
            raise RecordingError("not configured: send 'configure' before 'preview'")
        if self.state in ("recording", "previewing"):
            raise RecordingError(f"already {self.state}")
        try:
            self.camera.start(None, lambda frame: None, lambda err: self._camera_event("error", {"error": str(err)}))
        except BackendError as err:
            raise RecordingError(str(err)) from err
        self.state = "previewing"

    def stop(self, reason: str = "requested") -> dict[str, Any]:
        """Stop recording or preview and finish every file; return the recording's summary (empty if idle)."""
        if self.state == "previewing" and self.camera is not None:
            self.camera.stop()
            self.state = "configured"
            return {}
        recording = self.recording
        if recording is None or self.state != "recording":
            return dict(self.last_summary)
        summary = recording.stop(reason)
        self.last_summary = summary
        self.state = "error" if recording.error else "stopped"
        if recording.error:
            self.error = recording.error
        logger.info(
            "stopped (%s): %d frames, %d dropped, %d TTL pulses out, %d TTL edges in",
            summary["stop_reason"],
            summary["frames"],
            summary["dropped"],
            summary["ttl_out"],
            summary["ttl_in"],
        )
        return summary

    def request_shutdown(self) -> None:
        """Ask the loop to stop recording and exit (safe from signal handlers and other threads)."""
        self._shutdown_requested = True
        self._waker.wake()

    # -- the loop ---------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve the conductor until told to close or :meth:`request_shutdown` is called; then close."""
        poller = self._poller = zmq.Poller()
        poller.register(self._dealer, zmq.POLLIN)
        poller.register(self._waker.socket, zmq.POLLIN)
        self._send(self._hello())
        next_heartbeat = self._last_heard = time.monotonic()
        try:
            while not self._done:
                now = time.monotonic()
                deadline = min([next_heartbeat, self.clock_sync.due(), *self._deadlines()])
                events = dict(poller.poll(max(0, int((deadline - now) * 1000))))
                if self._waker.socket in events:
                    self._waker.drain()
                self._handle_camera_events()
                if self._dealer in events:
                    self._receive_commands()
                self._check_deadlines()
                self.clock_sync.tick(time.monotonic())
                self._run_deferred_start()
                if self._shutdown_requested:
                    self._finish("agent shutdown")
                self._check_parent()
                self._check_link(time.monotonic())
                now = time.monotonic()
                if now >= next_heartbeat or self._done:
                    self._send(self._heartbeat())
                    next_heartbeat = now + self.heartbeat_interval
                if self._logs is not None:
                    self._logs.forward()
        finally:
            self.close()

    def _deadlines(self) -> list[float]:
        found = [] if self._deferred_start is None else [self._deferred_start[2]]
        if self._pending_start is not None:
            found.append(self._pending_start[1])
        recording = self.recording
        if (
            self.state == "recording"
            and recording is not None
            and recording.started_monotonic
            and self.max_acquisition_time > 0
        ):
            found.append(recording.started_monotonic + self.max_acquisition_time)
        return found

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        if self._pending_start is not None and now >= self._pending_start[1]:
            request_id, _ = self._pending_start
            self._pending_start = None
            self.stop("error: no frame arrived after start")
            self._reply(
                request_id, ok=False, error=f"the camera delivered no frame within {FIRST_FRAME_TIMEOUT:.0f} s of start"
            )
        recording = self.recording
        if (
            self.state == "recording"
            and recording is not None
            and recording.started_monotonic is not None
            and self.max_acquisition_time > 0
            and now - recording.started_monotonic >= self.max_acquisition_time
        ):
            logger.warning("max_acquisition_time of %g s reached: stopping", self.max_acquisition_time)
            self.stop("max_acquisition_time")
            self._send(self._heartbeat())

    def _check_parent(self) -> None:
        if self._parent_pid is None or os.getppid() == self._parent_pid:
            return
        if not self._orphaned:
            self._orphaned = True
            logger.warning("the conductor (pid %d) is gone", self._parent_pid)
        if self.state == "recording":
            return  # keep recording: it ends with a stop command (if a conductor re-attaches) or max time
        logger.warning("exiting: no conductor and no recording")
        self._finish("conductor gone")

    def _finish(self, reason: str) -> None:
        if self.state in ("recording", "previewing"):
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
            if name == "first_frame" and self._pending_start is not None:
                request_id, _ = self._pending_start
                self._pending_start = None
                self._reply(request_id, ok=True, data={"first_frame": details, **self._status()})
            elif name == "error":
                self.error = details.get("error", "camera error")
                logger.error("camera failed: %s", self.error)
                was_recording = self.state == "recording"
                self.stop(f"error: {self.error}")
                if self._pending_start is not None:
                    request_id, _ = self._pending_start
                    self._pending_start = None
                    self._reply(request_id, ok=False, error=f"camera failed: {self.error}")
                self.state = "error"
                if was_recording:
                    self._send(self._heartbeat())

    def _receive_commands(self) -> None:
        while True:
            try:
                frames = self._dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            received_us = self.clock.now_us()
            self._last_heard = time.monotonic()
            data = frames[-1]
            try:
                message = protocol.decode(data)
            except ProtocolError as err:
                if self._limiter.allow("refused message"):
                    logger.warning("refused a message: %s", err)
                self._send(protocol.error(protocol.peek_id(data), str(err)))
                continue
            try:
                self._handle(message, received_us)
            except Exception as err:  # one message must never end the agent (or its recording)
                if self._limiter.allow("message handling"):
                    logger.exception("a %s message could not be handled", message["type"])
                self._send(protocol.error(message["id"], f"message not understood: {err}"))

    def _handle(self, message: dict[str, Any], received_us: int) -> None:
        kind = message["type"]
        if kind == "time_reply":
            self.clock_sync.on_reply(message, received_us)
        elif kind == "hello_request":
            self._send(self._hello())
        elif kind == "command":
            self._dispatch(message)
        elif kind == "error":
            if self._limiter.allow("refused by the conductor"):
                logger.warning("the conductor refused a message: %s", str(message.get("error"))[:500])
        else:
            self._send(protocol.error(message["id"], f"an agent does not accept '{kind}' messages"))

    def _dispatch(self, message: dict[str, Any]) -> None:
        request_id, name, args = message["id"], message["command"], message.get("args", {})
        try:
            if name == "start":
                self._command_start(request_id, args)
                return
            data = getattr(self, f"_command_{name}")(args)
        except (ColonyError, ValueError) as err:  # the command cannot be carried out: said in the reply
            logger.error("command %s failed: %s", name, err)
            self._reply(request_id, ok=False, error=str(err))
            return
        except Exception as err:  # a defect here: logged with its traceback, the agent and its recording go on
            logger.exception("command %s failed unexpectedly", name)
            self._reply(request_id, ok=False, error=f"internal error in the agent ({type(err).__name__}: {err})")
            return
        self._reply(request_id, ok=True, data=data)
        if name == "close":
            self._done = True

    def _command_configure(self, args: dict[str, Any]) -> dict[str, Any]:
        settings = controller_from_dict(args.get("settings", {}))
        interval = args.get("clock_sync_interval")
        if interval is not None:
            if not isinstance(interval, (int, float)) or not 0.1 <= interval <= 60:
                raise ConfigError([f"clock_sync_interval = {interval!r}: must be 0.1..60 seconds"])
            self.clock_sync.interval = float(interval)
        if settings.name != self.instance_name:
            raise ConfigError([f"settings are for camera {settings.name!r}, but this agent is {self.instance_name!r}"])
        max_time = args.get("max_acquisition_time")
        if max_time is not None and (not isinstance(max_time, (int, float)) or max_time < 0):
            raise ConfigError([f"max_acquisition_time = {max_time!r}: must be a number of seconds >= 0"])
        data_path = args.get("data_path")
        if data_path is not None and (not isinstance(data_path, str) or not data_path):
            raise ConfigError([f"data_path = {data_path!r}: must be a non-empty path"])
        check = args.get("disk_space_check", self.disk_space_check)
        if check not in disk.CHECKS:
            raise ConfigError([f"disk_space_check = {check!r}: must be one of {', '.join(disk.CHECKS)}"])
        self.disk_space_check = check
        unsupported = self.configure(settings, data_path=data_path, max_acquisition_time=max_time)
        return {
            "unsupported": unsupported,
            "backend": dataclasses.asdict(self._backend_info) if self._backend_info else {},
        }

    def _command_start(self, request_id: str, args: dict[str, Any]) -> None:
        start_at = args.get("start_at_us")
        if start_at is not None and (not isinstance(start_at, int) or isinstance(start_at, bool)):
            raise ValueError(f"start_at_us = {start_at!r}: must be a whole number of microseconds")
        if start_at is not None and abs(start_at - conductor_now_us()) > MAX_START_OFFSET_US:
            raise ValueError(
                f"start_at_us = {start_at}: {(start_at - conductor_now_us()) / 1e6:.0f} s from now on the conductor's "
                f"clock; a start time must be within {MAX_START_OFFSET_US / 3.6e9:.0f} h of now"
            )
        if self._deferred_start is not None:
            raise RecordingError("a start is already waiting for its start time")
        if start_at is not None and self.clock_sync.estimator.model is None:
            # A scheduled start needs the clock mapping: hold it until the first burst is done (or time is up).
            deadline = time.monotonic() + max(0.0, (start_at - conductor_now_us()) / 1e6 - 0.05)
            self._deferred_start = (request_id, args, deadline)
            return
        self._begin(request_id, args)

    def _begin(self, request_id: str, args: dict[str, Any]) -> None:
        start_at = args.get("start_at_us")
        self.start(
            acquisition_name=args.get("acquisition_name", ""),
            acquisition_time=args.get("acquisition_time", ""),
            acquisition_group=args.get("acquisition_group", ""),
            start_at_us=start_at,
        )
        wait = 0.0 if start_at is None else max(0.0, (start_at - conductor_now_us()) / 1e6)
        self._pending_start = (request_id, time.monotonic() + wait + FIRST_FRAME_TIMEOUT)

    def _run_deferred_start(self) -> None:
        if self._deferred_start is None:
            return
        request_id, args, deadline = self._deferred_start
        if self.clock_sync.estimator.model is None and time.monotonic() < deadline:
            return
        self._deferred_start = None
        try:
            self._begin(request_id, args)
        except (ColonyError, ValueError, TypeError) as err:
            logger.error("command start failed: %s", err)
            self._reply(request_id, ok=False, error=str(err))

    def _command_stop(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"summary": self.stop(str(args.get("reason", "requested")))}

    def _command_preview(self, args: dict[str, Any]) -> dict[str, Any]:
        self.preview()
        return {}

    def _command_close(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"summary": self.stop("agent closed")}

    def _command_status(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._status()

    def _command_ping(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"agent_time": time.time(), "camera_time_us": self.clock.now_us(), "echo": args.get("echo")}

    def _simulated_ttl(self, command: str) -> SimulatedTTL:
        """The TTL backend, for commands that only a simulated one can carry out.

        Raises:
            BackendError: naming the command, with any other backend.
        """
        if not isinstance(self.ttl, SimulatedTTL):
            raise BackendError(f"{command} works only with the simulated TTL backend")
        return self.ttl

    def _command_annotate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Add what the conductor measured (e.g. the start skew) to the recording's metadata."""
        timing = args.get("timing")
        if not isinstance(timing, dict):
            raise ValueError("annotate needs a 'timing' object")
        if self.recording is None:
            raise RecordingError("nothing to annotate: no recording")
        self.recording.timing.update(timing)
        return {}

    def _command_sync_box(self, args: dict[str, Any]) -> dict[str, Any]:
        """Drive the simulated TTL input like a sync box wired to every camera: edges at conductor-clock times."""
        ttl = self._simulated_ttl("sync_box")
        edges = args.get("edges")
        if not isinstance(edges, list) or not all(
            isinstance(e, list) and len(e) == 2 and isinstance(e[0], int) and e[1] in (0, 1) for e in edges
        ):
            raise ValueError("sync_box needs 'edges': a list of [conductor_us, level]")
        if len(edges) > 100_000:
            raise ValueError(f"{len(edges)} edges: at most 100000")
        now = conductor_now_us()
        if any(abs(t - now) > MAX_START_OFFSET_US for t, _ in edges):
            raise ValueError("sync_box edges must be within an hour of now on the conductor's clock")
        # The box and this simulated camera share the machine, so the wall clock maps to monotonic time directly.
        wall_minus_monotonic = time.time() - time.monotonic()
        ttl.schedule_edges([(t / 1e6 - wall_minus_monotonic, level) for t, level in edges])
        return {"scheduled": len(edges)}

    def _command_inject_ttl_in(self, args: dict[str, Any]) -> dict[str, Any]:
        ttl = self._simulated_ttl("inject_ttl_in")
        count = args.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= 10_000:
            raise ValueError(f"count = {count!r}: must be a whole number in 1..10000")
        injected = sum(ttl.inject_edge(level=1 if i % 2 == 0 else 0) for i in range(count))
        return {"injected": injected}

    # -- messages ---------------------------------------------------------------------------------------------

    def _reply(
        self, request_id: str, *, ok: bool, error: Optional[str] = None, data: Optional[dict[str, Any]] = None
    ) -> None:
        self._send(protocol.reply(request_id, ok=ok, state=self.state, error=error, data=data))

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self._dealer.send(protocol.encode(message), zmq.NOBLOCK)
        except zmq.Again:
            logger.debug("conductor not reachable; %s not sent", message.get("type"))
        except ProtocolError as err:
            logger.error("could not send %s: %s", message.get("type"), err)

    def _free_disk(self) -> Optional[int]:
        return disk.free_bytes(self.data_path)

    def _recording_info(self) -> Optional[dict[str, Any]]:
        """What is being recorded, so that a conductor that connects later can take the recording over."""
        recording = self.recording
        if recording is None or self.state != "recording":
            return None
        return {
            "acquisition_name": recording.acquisition.name,
            "acquisition_group": recording.acquisition.group,
            "acquisition_time": recording.acquisition.time,
            "start_sys_time": recording.start_time.get("sys_time"),
        }

    def _status(self) -> dict[str, Any]:
        stats = self.recording.stats() if self.recording is not None and self.state == "recording" else {}
        return {
            "state": self.state,
            "recording": self._recording_info(),
            "clock": self.clock_sync.estimator.summary(),
            "stats": stats,
            "free_disk": self._free_disk(),
            "error": self.error,
            "last_summary": self.last_summary,
            "time": time.time(),
        }

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "id": protocol.new_id(),
            "instance": self.instance_name,
            "protocol": protocol.PROTOCOL_VERSION,
            "versions": versions(),
            "host": host_info(),
            "pid": os.getpid(),
            "backend": self._backend_info.camera if self._backend_info else None,
            "free_disk": self._free_disk(),
            "state": self.state,
            "recording": self._recording_info(),
        }

    def _heartbeat(self) -> dict[str, Any]:
        return {"type": "heartbeat", "id": protocol.new_id(), **self._status()}

    # -- shutdown ---------------------------------------------------------------------------------------------

    def _release_backends(self) -> None:
        for backend in (self.camera, self.ttl):
            if backend is not None:
                try:
                    backend.close()
                except Exception as err:  # closing must go on for the other backend
                    logger.error("closing %s failed: %s", backend.name, err)
        self.camera = None
        self.ttl = None

    def close(self) -> None:
        """Stop any recording, release backends and sockets. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.state in ("recording", "previewing"):
            self.stop("agent closed")
        self._release_backends()
        if self._logs is not None:
            self._logs.close()
        self._dealer.close(linger=1000)  # let the last reply leave
        self._waker.close()
        self._context.term()
        self.state = "closed"

    def __enter__(self) -> PiAcquisitionControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
