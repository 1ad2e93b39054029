"""The Conductor: one object on the central machine that runs every camera of a config.

    with Conductor(config_file="colony.config") as conductor:   # agents started, hello'd and configured
        conductor.start_acquisition()                            # returns when every camera wrote its first frame
        ...
        summaries = conductor.stop_acquisition()                 # returns when every camera finished its files

Each call returns when every camera has acknowledged, or raises one
:class:`~rpi_camera_colony.exc.ColonyCommandError` naming each camera that failed and why. There are no fixed sleeps:
the conductor waits for hellos, replies and process exits, each with a deadline.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, Optional, Union

from rpi_camera_colony.clock import conductor_now_us
from rpi_camera_colony.config.loading import load_config
from rpi_camera_colony.config.settings import ColonySettings
from rpi_camera_colony.control.camera import CameraLink, CameraStatus
from rpi_camera_colony.control.control_server import ControlServer
from rpi_camera_colony.control.launch import (
    AgentArguments,
    AgentProcess,
    ExternalLauncher,
    Launcher,
    LocalLauncher,
    check_launchers,
)
from rpi_camera_colony.control.links import AgentLinks
from rpi_camera_colony.control.logfile import log_file_path, open_private_log
from rpi_camera_colony.control.start import ColonyStart, StartOutcome
from rpi_camera_colony.control.status import CommandStatus, StatusGroup
from rpi_camera_colony.curve import CurveServer, ensure_keys
from rpi_camera_colony.exc import (
    ColonyCommandError,
    ColonyError,
    ConfigError,
    RecordingError,
)
from rpi_camera_colony.files import check_name_part, session_folder
from rpi_camera_colony.files import get_datestr as datestr
from rpi_camera_colony.network_communication import connect_host
from rpi_camera_colony.protocol import PreviewFrame, Reply

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0


class Conductor:
    """Start, configure, start/stop and clean up every camera of one config.

    Args:
        config_file: path of the config file (``settings_file`` is the original README's spelling of the same).
        acquisition_name: overrides ``[general] acquisition_name``; its part before ``__`` is the group if no
            ``acquisition_group`` is given.
        acquisition_group: overrides the group folder.
        settings: already loaded settings instead of a file.
        cameras: only these cameras of the config (default: all).
        connect: start the agents, wait for their hellos and configure them now (default). With False, call
            :meth:`connect` yourself.
        attach: start no agent: connect to the agents already running for this config (e.g. after the conductor
            that started them crashed; the config's ports must be fixed, not 0). Whether attached or not, agents
            that are recording when they connect are not reconfigured: their recording is taken over
            (:attr:`acquiring` is True, :meth:`status` is live and :meth:`stop_acquisition` stops it).

    Raises:
        ConfigError: the config is invalid (every problem listed).
        HandshakeTimeout, ColonyCommandError: cameras that did not start, connect or accept their settings, each named;
            agents already started are stopped again.
    """

    def __init__(
        self,
        config_file: Union[str, Path, None] = None,
        *,
        settings_file: Union[str, Path, None] = None,
        acquisition_name: Optional[str] = None,
        acquisition_group: Optional[str] = None,
        settings: Optional[ColonySettings] = None,
        cameras: Optional[Iterable[str]] = None,
        connect: bool = True,
        attach: bool = False,
        acquisition_time: Optional[str] = None,
        acquisition_group_divider: str = "__",
        run_for_calibration: bool = False,
        logging_stream_callback: Optional[Callable[[str], None]] = None,
        debug: bool = False,
        auto_init: bool = False,
        auto_init_remote: bool = True,
        delay_for_networking: Optional[float] = None,
        delay_for_remote_instance: Optional[float] = None,
    ) -> None:
        source = config_file if config_file is not None else settings_file
        if settings is None:
            if source is None:
                raise ConfigError(["no configuration: pass config_file=PATH (or settings=...)"])
            settings = load_config(source)
        if cameras is not None:
            settings = settings.only(list(cameras))
        changes: dict[str, Any] = {"acquisition_group_divider": acquisition_group_divider}
        if acquisition_name:
            changes["acquisition_name"] = acquisition_name
        if acquisition_group is not None:
            changes["acquisition_group"] = acquisition_group
        if acquisition_time is not None:
            changes["acquisition_time"] = check_name_part("acquisition_time", acquisition_time)
        settings = settings.replace_general(**changes)
        if run_for_calibration:
            settings = settings.for_calibration()
        for name, value in (("delay_for_networking", delay_for_networking),
                            ("delay_for_remote_instance", delay_for_remote_instance)):  # fmt: skip
            if value is not None:
                warnings.warn(
                    f"Conductor({name}=...) is no longer needed and has no effect: the conductor waits for each "
                    "agent's hello and acknowledgements instead of sleeping",
                    DeprecationWarning,
                    stacklevel=2,
                )
        if debug:
            logging.getLogger("rpi_camera_colony").setLevel(logging.DEBUG)
        self.auto_init = auto_init  #: stored as the original did (it had no effect there either)
        self.run_for_calibration = run_for_calibration
        connect = connect and auto_init_remote
        check_name_part("acquisition_name", settings.general.acquisition_name)
        if settings.general.group:
            check_name_part("acquisition_group", settings.general.group)
        self.settings = settings
        self.attach = attach
        if attach and settings.control.port == 0:
            raise ConfigError(
                ["control.port = 0: attaching needs the fixed port the running agents connect to; set it in the config"]
            )
        self._launcher_names = check_launchers(dict(settings.controllers), settings.control.address)
        self.taken_over: dict[str, dict[str, Any]] = {}  #: cameras whose running recording this conductor adopted

        self.links = AgentLinks(
            require_same_version=settings.control.require_same_version, log_callback=logging_stream_callback
        )
        self._processes: dict[str, AgentProcess] = {}
        self._launchers: dict[str, Launcher] = {}
        self._log_handlers: list[logging.Handler] = []  #: the handlers this conductor added (removed at cleanup)
        self._log_file_stream: Optional[IO[str]] = None
        self.log_file: Optional[Path] = None  #: the conductor's log file (None with log_to_file = False)
        self._server: Optional[ControlServer] = None
        self._connected = False
        self._cleaned_up = False
        self.acquiring = False
        #: the last start's acquisition_time as the original defined it (see start_acquisition)
        self.acquisition_time: Optional[str] = None
        self.file_time: Optional[str] = None  #: the last start's date stamp in its file names (YYYYmmdd_HHMMSS)
        self.last_summaries: dict[str, dict[str, Any]] = {}
        self.start_replies: dict[str, Reply] = {}
        self.start_at_us: Optional[int] = None
        self.start_skew_us: Optional[int] = None
        #: how the last start went: its time, lead, first frames and late starts (None before the first)
        self.start_outcome: Optional[StartOutcome] = None
        self.controllers: dict[str, CameraLink] = {
            name: CameraLink(
                c,
                submit=self.links.submit,
                command_timeout=settings.control.command_timeout,
                heartbeat_interval=settings.control.heartbeat_interval,
            )
            for name, c in settings.controllers.items()
        }
        for controller in self.controllers.values():
            self.links.add(controller)
        if connect:
            self.connect()

    # -- seed-compatible names ------------------------------------------------------------------------------

    @property
    def acquisition_name(self) -> str:
        return self.settings.general.acquisition_name

    @property
    def acquisition_group(self) -> str:
        return self.settings.general.group

    @property
    def config_data(self) -> Mapping[str, Any]:
        """The settings in the original's shape, read-only: ``config_data["general"]["acquisition_name"]``,
        ``config_data["controllers"][name]["framerate"]``, ... (the typed settings are :attr:`settings`)."""
        return self.settings.as_mapping()

    @property
    def connected(self) -> bool:
        """True between a successful :meth:`connect` and :meth:`cleanup`."""
        return self._connected and not self._cleaned_up

    @property
    def cleaned_up(self) -> bool:
        return self._cleaned_up

    def initialise_acquisition_conductors(self) -> None:
        """The original's name for :meth:`connect` (with ``auto_init_remote=False`` nothing is started before it)."""
        self.connect()

    @property
    def active(self) -> bool:
        """True until cleaned up, and while acquiring, until every camera has stopped (e.g. max time reached)."""
        if self._cleaned_up:
            return False
        if not self.acquiring:
            return True
        return any(s.state == "recording" for s in self.status().values())

    # -- connecting -----------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Bind the sockets, start every agent, wait for their hellos, send their settings.

        Raises:
            HandshakeTimeout, ColonyCommandError: see the class; everything started is cleaned up first.
        """
        if self._connected:
            return
        try:
            self._open_console_log()
            self._open_log_file()
            control, log = self.settings.control, self.settings.log
            curve = None
            if control.curve:
                curve = CurveServer(ensure_keys(control.key_folder, self.controllers))
            self._server = ControlServer(
                curve=curve,
                control_address=control.address,
                control_port=control.port,
                log_address=log.address,
                log_port=log.port,
                on_message=self.links.on_message,
                on_log=self.links.on_log,
                on_tick=self.links.on_tick,
                on_undeliverable=self.links.on_undeliverable,
                on_preview=self.links.on_preview,
                # agents this conductor starts are told its ports; agents started elsewhere know only the config's
                port_fallback=not self.attach and "none" not in self._launcher_names.values(),
            )
            self.links.server = self._server
            logger.info(
                "conductor listening: control %s:%d, logs %s:%d",
                control.address,
                self._server.control_port,
                log.address,
                self._server.log_port,
            )
            if not self.attach:
                self._launch_all()
            self._wait_for_hellos()
            recording = {
                name: rc.hello["recording"]
                for name, rc in self.controllers.items()
                if rc.hello.get("state") == "recording" and isinstance(rc.hello.get("recording"), dict)
            }
            self._settle(
                "configure",
                {
                    name: rc.configure(
                        data_path=self.settings.general.remote_data_path,
                        max_acquisition_time=self.settings.general.max_acquisition_time,
                        disk_space_check=self.settings.general.disk_space_check,
                        clock_sync_interval=self.settings.control.clock_sync_interval,
                    )
                    for name, rc in self.controllers.items()
                    if name not in recording
                },
            )
            self._connected = True
            if recording:
                self._take_over(recording)
        except BaseException:
            self.cleanup()
            raise

    def _add_log_handler(self, handler: logging.Handler, level: str) -> None:
        handler.setLevel(level)
        package = logging.getLogger("rpi_camera_colony")
        package.addHandler(handler)
        if package.getEffectiveLevel() > handler.level:
            package.setLevel(handler.level)
        self._log_handlers.append(handler)

    def _open_console_log(self) -> None:
        """``log_to_console``: when the application configured no logging (a script, a notebook), show this package's
        records on stderr at the config's level; an application's own logging set-up is left alone."""
        if not self.settings.log.log_to_console or logging.getLogger().handlers:
            return
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
        self._add_log_handler(handler, self.settings.log.level)

    def _open_log_file(self) -> None:
        log = self.settings.log
        if not log.log_to_file:
            return
        path = log_file_path(log.log_file, datestr())
        try:
            handler, path = open_private_log(path)
        except OSError as err:
            logger.warning("cannot write the log file %s (%s); logging to the console only", path, err.strerror or err)
            return
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._add_log_handler(handler, log.level)
        self._log_file_stream = handler.stream
        self.log_file = path
        logger.info("log file: %s", path)

    def _agent_arguments(self, name: str) -> AgentArguments:
        assert self._server is not None
        general, log = self.settings.general, self.settings.log
        return AgentArguments(
            instance=name,
            control_host=connect_host(self.settings.control.address),
            control_port=self._server.control_port,
            log_host=connect_host(log.address),
            log_port=self._server.log_port,
            log_level=log.level,
            data_path=general.remote_data_path,
            heartbeat_interval=self.settings.control.heartbeat_interval,
            max_acquisition_time=general.max_acquisition_time,
            curve_keys=self.settings.control.key_folder if self.settings.control.curve else None,
        )

    def _launch_all(self) -> None:
        failures: dict[str, BaseException] = {}
        for name, launcher_name in self._launcher_names.items():
            if launcher_name not in self._launchers:
                self._launchers[launcher_name] = self._make_launcher(launcher_name)
            try:
                process = self._launchers[launcher_name].launch(
                    self.settings.controllers[name], self._agent_arguments(name), self.links.on_agent_exit
                )
            except ColonyError as err:
                failures[name] = err
                continue
            if process is not None:
                self._processes[name] = process
        if failures:
            raise ColonyCommandError("launch", failures)

    def _make_launcher(self, name: str) -> Launcher:
        if name == "local":
            return LocalLauncher(self.settings.general)
        if name == "ssh":
            from rpi_camera_colony.control.ssh import SshLauncher

            return SshLauncher(self.settings.general)
        return ExternalLauncher()

    def _wait_for_hellos(self) -> None:
        self.links.wait_for_hellos(self.settings.control.hello_timeout, self._no_hello_reason)

    def _take_over(self, recording: dict[str, dict[str, Any]]) -> None:
        """Adopt the recording the agents are doing (they were started by another conductor)."""
        names = {(info.get("acquisition_name"), info.get("acquisition_group")) for info in recording.values()}
        first = next(iter(recording.values()))
        if len(names) > 1:
            logger.warning("the cameras record different acquisitions: %s", sorted(map(str, names)))
        self.settings = self.settings.replace_general(
            acquisition_name=str(first.get("acquisition_name")), acquisition_group=str(first.get("acquisition_group"))
        )
        self.acquisition_time = str(first.get("acquisition_time"))
        self.file_time = str(first.get("file_time") or first.get("acquisition_time"))
        self.taken_over = dict(recording)
        self.acquiring = True
        idle = sorted(set(self.controllers) - set(recording))
        logger.warning(
            "took over the recording %s of %s%s",
            self.acquisition_name,
            ", ".join(sorted(recording)),
            f"; not recording: {', '.join(idle)}" if idle else "",
        )

    def _no_hello_reason(self, name: str, timeout: float) -> str:
        process = self._processes.get(name)
        reason = f"no hello within {timeout:g} s"
        if self.attach:
            return reason + " (attaching: no agent of this camera is running and connected to this conductor's port)"
        if process is None:
            return reason + " (launcher = none: is its agent running and pointed at this conductor's address and port?)"
        tail = process.output_tail()
        return reason + (f"; agent output:\n{tail}" if tail else "")

    # -- acquisition ----------------------------------------------------------------------------------------

    def start_acquisition(self, acquisition_name: Optional[str] = None) -> dict[str, Reply]:
        """Start every camera; returns when each has written its first frame (replies by camera).

        Raises:
            ColonyCommandError: naming each camera that failed to start and why; the others are stopped again so
                that no camera is left recording on its own.
        """
        self._require_connected()
        if self.acquiring:
            raise RecordingError("already acquiring: call stop_acquisition() first")
        if acquisition_name:
            self.settings = self.settings.replace_general(
                acquisition_name=check_name_part("acquisition_name", acquisition_name)
            )
        general = self.settings.general
        # The files of this start are stamped with its date and time (so a folder can hold several starts); the
        # metadata's acquisition_time follows the original rule: given, else the part of the name after '__',
        # else that stamp.
        stamp = datestr()
        if stamp == self.file_time:  # a restart within the same second: its files would collide with the last ones
            time.sleep(1.0 - time.time() % 1.0)  # pacing to the next second of the clock, not a wait for a process
            stamp = datestr()
        self.file_time = stamp
        configured_time = general.acquisition_time
        if configured_time not in ("", "dummy_time"):
            self.acquisition_time = configured_time
        else:
            self.acquisition_time = general.name_time or self.file_time
        names = {}
        for name in self.controllers:
            c = self.settings.controllers[name]
            patched = general.general_setting_has_priority
            group = general.group if patched or not c.acquisition_group else c.acquisition_group
            names[name] = {
                "acquisition_name": general.acquisition_name,
                "acquisition_time": self.acquisition_time,
                "file_time": self.file_time,
                "acquisition_group": group,
            }
        starter = ColonyStart(
            self.controllers,
            command_timeout=self.settings.control.command_timeout,
            start_delay=self.settings.control.start_delay,
        )
        armed = starter.arm(names)  # raises, with the armed cameras disarmed, if one cannot arm
        self.acquiring = True
        try:
            outcome = starter.start(armed)
        except ColonyCommandError as err:
            # Every camera's answer was awaited, even after one failed: those that started are stopped with
            # complete files, and the error names every camera that failed.
            started = sorted(set(self.controllers) - set(err.failures))
            logger.error(
                "start failed on %s; stopping %s",
                ", ".join(sorted(err.failures)),
                ", ".join(started) or "no other camera",
            )
            self._stop_cameras(started, raise_errors=False)
            self.acquiring = False
            raise
        self.start_at_us = outcome.start_at_us
        self.start_outcome = outcome
        self.start_replies = outcome.replies
        logger.info(
            "all %d camera(s) recording: %s (start %.0f ms after it was sent; slowest round trip %.1f ms%s)",
            len(outcome.replies), general.acquisition_name, outcome.lead_s * 1e3, outcome.round_trip_s * 1e3,
            f"; moved {outcome.reschedules} time(s)" if outcome.reschedules else "",
        )  # fmt: skip
        self._report_start_skew()
        return dict(self.start_replies)

    def _report_start_skew(self) -> None:
        """Say when each camera began (its frame 0) on this conductor's clock, which began late or lost frames at
        the start, and tell every camera (its metadata keeps it)."""
        outcome = self.start_outcome
        assert outcome is not None
        began = outcome.began_us
        self.start_skew_us = outcome.skew_us
        if began:
            logger.info(
                "start skew across %d camera(s): %.3f ms (cameras began %s ms after the set start)",
                len(began), (outcome.skew_us or 0) / 1e3,
                ", ".join(f"{n} {(t - outcome.start_at_us) / 1e3:+.3f}" for n, t in began.items()),
            )  # fmt: skip
        if outcome.late_us:
            logger.warning(
                "late start: %s",
                ", ".join(f"{n} {v / 1e3:.1f} ms after the start time" for n, v in outcome.late_us.items()),
            )
        if outcome.lost_at_start:
            logger.warning(
                "frames lost at the start (a machine too busy to encode them?): %s",
                ", ".join(f"{n} {count}" for n, count in outcome.lost_at_start.items()),
            )
        missing = sorted(set(outcome.replies) - set(began))
        if missing:
            logger.warning("no clock synchronisation yet for %s: their start time is not on the common clock", missing)
        written = {
            name: reply.data["first_frame"]["conductor_us"]
            for name, reply in outcome.replies.items()
            if isinstance(reply.data.get("first_frame"), dict)
            and isinstance(reply.data["first_frame"].get("conductor_us"), int)
        }
        timing = {
            "start_skew_us": self.start_skew_us,
            "first_frames_conductor_us": written,
            "start_at_us": outcome.start_at_us,
            "began_conductor_us": began,
            "lost_at_start": outcome.lost_at_start,
            "late_starts_us": outcome.late_us,
        }
        _, failures = self._group(
            "annotate", {n: rc.send("annotate", {"timing": timing}) for n, rc in self.controllers.items()}
        ).settle()
        if failures:
            logger.warning("%s", ColonyCommandError("annotate", failures))

    def sync_box(
        self, *, period_s: float = 0.5, pulse_s: float = 0.05, count: int = 10, start_delay_s: float = 0.3
    ) -> list[tuple[int, int]]:
        """Drive every simulated camera's TTL input from one simulated sync box (like an Arduino pulse train).

        Returns the edges sent, as ``(conductor_us, level)``: the truth to compare recordings with. Works with the
        simulated TTL backend on this machine only.

        Raises:
            ColonyCommandError: naming cameras that cannot take the pulses.
        """
        if not (0 < pulse_s < period_s) or count < 1:
            raise ValueError("sync_box needs 0 < pulse_s < period_s and count >= 1")
        first = conductor_now_us() + round(start_delay_s * 1e6)
        edges: list[tuple[int, int]] = []
        for k in range(count):
            rise = first + round(k * period_s * 1e6)
            edges += [(rise, 1), (rise + round(pulse_s * 1e6), 0)]
        payload = {"edges": [list(edge) for edge in edges]}
        self._group("sync_box", {n: rc.send("sync_box", payload) for n, rc in self.controllers.items()}).wait()
        return edges

    def stop_acquisition(self) -> dict[str, dict[str, Any]]:
        """Stop every camera; returns each camera's summary once its files are complete.

        Raises:
            ColonyCommandError: naming cameras that could not confirm; the others' summaries are in
                :attr:`last_summaries`.
        """
        if not self.acquiring:
            logger.info("acquisition was not running")
            return {}
        try:
            return self._stop_cameras(list(self.controllers), raise_errors=True)
        finally:
            self.acquiring = False

    def _stop_cameras(self, names: list[str], *, raise_errors: bool) -> dict[str, dict[str, Any]]:
        replies, failures = self._group("stop", {n: self.controllers[n].stop() for n in names}).settle()
        self.last_summaries = {n: r.data.get("summary", {}) for n, r in replies.items()}
        if failures:
            err = ColonyCommandError("stop", failures)
            if raise_errors:
                raise err
            logger.error("%s", err)
            return self.last_summaries
        return dict(self.last_summaries)

    @property
    def control_port(self) -> Optional[int]:
        """The port the control socket listens on (the chosen one with ``port = 0``); None before connect()."""
        return None if self._server is None else self._server.control_port

    @property
    def log_port(self) -> Optional[int]:
        """The port the log socket listens on; None before connect()."""
        return None if self._server is None else self._server.log_port

    def status(self) -> dict[str, CameraStatus]:
        """Every camera's live status (from heartbeats; no round trip).

        Raises:
            ColonyError: if the conductor's network thread has died (the status would no longer be live).
        """
        if self._server is not None:
            self._server.check()
        return {name: rc.status() for name, rc in self.controllers.items()}

    def session_folder(self) -> Path:
        """Where this acquisition's files go on each camera's machine (``remote_data_path/group/name``): an absolute
        path when the cameras are on this machine (as in their summaries); else as the Pis see it (a relative
        ``remote_data_path`` is relative to the SSH user's home there)."""
        general = self.settings.general
        folder = session_folder(general.remote_data_path, general.group, general.acquisition_name)
        if all(self.settings.controllers[name].is_local for name in self.controllers):
            return folder.absolute()
        return folder

    def remote_log_records(self, camera: str) -> list[dict[str, Any]]:
        """The latest log records received from one camera's agent."""
        return self.links.remote_log_records(camera)

    def _require_connected(self) -> None:
        if self._cleaned_up:
            raise ColonyError("this conductor was cleaned up; create a new one")
        if not self._connected:
            raise ColonyError("not connected: call connect() first")
        if self._server is not None:
            self._server.check()

    # -- live view ------------------------------------------------------------------------------------------

    def stream_preview(self, on: bool = True) -> dict[str, Reply]:
        """Live view of every camera on or off: each sends preview images (``stream_resolution`` at
        ``stream_framerate``) while it runs, and previews when not recording. Recording is never held up for it.

        Raises:
            ColonyCommandError: naming cameras that could not switch.
        """
        self._require_connected()
        return self._settle("stream", {n: rc.stream(on) for n, rc in self.controllers.items()})

    def preview_frame(self, name: str) -> Optional[PreviewFrame]:
        """The latest live preview image of a camera (a JPEG with its frame index and times), or None.

        Raises:
            KeyError: for a camera not in this conductor (the message lists them).
        """
        if name not in self.controllers:
            raise KeyError(f"no camera {name!r} in this colony (cameras: {', '.join(self.controllers)})")
        return self.controllers[name].preview_image

    def add_preview_listener(self, listener: Callable[[PreviewFrame], None]) -> None:
        """Call ``listener(frame)`` with every preview image as it arrives (on the network thread: be quick)."""
        self.links.add_preview_listener(listener)

    def remove_preview_listener(self, listener: Callable[[PreviewFrame], None]) -> None:
        self.links.remove_preview_listener(listener)

    def terminate_agent(self, name: str) -> Optional[int]:
        """End the agent process of one camera that this conductor started, by its pid (SIGTERM: a recording's files
        are finished first; SIGKILL if it does not end). Returns its exit code; None when this conductor started no
        process for that camera (launcher = none, attached) or it did not end."""
        process = self._processes.get(name)
        if process is None:
            logger.warning("%s: no agent process of this conductor to end", name)
            return None
        logger.info("%s: ending agent pid %d", name, process.pid)
        return process.terminate()

    # -- clean-up -------------------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Stop recording if needed, close every agent, end their processes, close sockets. Safe to call twice."""
        if self._cleaned_up:
            return
        self._cleaned_up = True
        try:
            if self.acquiring:
                try:
                    self._stop_cameras(list(self.controllers), raise_errors=False)
                finally:
                    self.acquiring = False
            self.links.closing = True  # from here on only 'close' is sent
            if self._server is not None:
                # Agents this conductor started are closed; agents started elsewhere (launcher = none, e.g. a
                # systemd service) stay up, idle, for the next conductor.
                reachable = {
                    n: rc
                    for n, rc in self.controllers.items()
                    if rc.connected and not rc.lost and self._launcher_names[n] != "none"
                }
                _, failures = self._group(
                    "close", {n: rc.close(timeout=CLOSE_TIMEOUT) for n, rc in reachable.items()}
                ).settle()
                if failures:
                    logger.warning("%s", ColonyCommandError("close", failures))
            for name, process in self._processes.items():
                if process.wait(CLOSE_TIMEOUT) is None:
                    logger.warning("%s: agent pid %d still running after close; terminating it", name, process.pid)
                    process.terminate()
        finally:
            if self._server is not None:
                self._server.close()
            for launcher in self._launchers.values():
                launcher.close()
            for handler in self._log_handlers:
                logging.getLogger("rpi_camera_colony").removeHandler(handler)
                handler.close()
            self._log_handlers = []
            if self._log_file_stream is not None:
                self._log_file_stream.close()  # a StreamHandler leaves its stream open (stderr must stay open)
                self._log_file_stream = None
            logger.debug("conductor cleaned up")

    def close(self) -> None:
        """Same as :meth:`cleanup`."""
        self.cleanup()

    def __enter__(self) -> Conductor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- network thread -------------------------------------------------------------------------------------

    def _group(self, command: str, statuses: Mapping[str, CommandStatus]) -> StatusGroup:
        return StatusGroup(command, statuses)

    def _settle(self, command: str, statuses: Mapping[str, CommandStatus]) -> dict[str, Reply]:
        """Wait for every camera's reply, so that the error names every camera that failed.

        Raises:
            ColonyCommandError: naming each failed camera.
        """
        return self._group(command, statuses).settled()

    def __repr__(self) -> str:
        return f"<Conductor {self.acquisition_name!r}: {len(self.controllers)} camera(s), acquiring={self.acquiring}>"
