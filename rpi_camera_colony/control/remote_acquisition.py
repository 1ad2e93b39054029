"""``RemoteAcquisitionControl``: one camera of a config, run on its own from the central machine (the original's class
of that name, with its arguments and methods)::

    camera = RemoteAcquisitionControl(instance_name="cam1", config_data="colony.config")
    camera.initialise()                     # start its agent (locally or over SSH), wait for its hello, send settings
    camera.start_acquisition("mouse1__day1")   # returns once the first frame is written
    ...
    summary = camera.stop_acquisition()     # returns once its files are complete
    camera.cleanup()                        # close the agent and the sockets

Every method waits for the agent's acknowledgement, where the original sent and slept. It is a
:class:`~rpi_camera_colony.control.conductor.Conductor` limited to that camera, so the config's ports, launchers, log
file and every check behave the same. To run several cameras together use the Conductor: its ``controllers[name]``
are the per-camera links.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional, Union

from rpi_camera_colony.config.loading import load_config
from rpi_camera_colony.config.settings import ColonySettings
from rpi_camera_colony.control.camera import CameraStatus
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.control.status import CommandStatus, StatusGroup
from rpi_camera_colony.exc import ConfigError, ProtocolError
from rpi_camera_colony.protocol import COMMANDS, Reply

logger = logging.getLogger(__name__)

ConfigData = Union[str, Path, Mapping[str, Any], ColonySettings]

#: The original's wire commands (``{"type": "command", "status": ...}``) and what each is now.
ORIGINAL_STATUS_COMMANDS = {"start": "start", "stop": "stop", "close": "close", "reset": "reset"}


def _settings_from(config_data: Optional[ConfigData], config_file: Union[str, Path, None]) -> ColonySettings:
    source = config_data if config_data is not None else config_file
    if source is None:
        raise ConfigError(["RemoteAcquisitionControl needs config_data: a config file's path, or its settings"])
    if isinstance(source, ColonySettings):
        return source
    if isinstance(source, Mapping):
        return load_config(_plain(source))
    return load_config(Path(source).expanduser())


def _plain(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A read-only mapping (e.g. a conductor's ``config_data``) as nested plain dicts and lists, as a file reads."""
    plain: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            plain[key] = _plain(value)
        elif isinstance(value, tuple):
            plain[key] = list(value)
        else:
            plain[key] = value
    return plain


class RemoteAcquisitionControl:
    """One camera of a config, from the central machine.

    Args:
        instance_name: the camera's ``[[name]]`` in the config (may be left out when the config has one camera).
        config_data: the config: a file's path, the settings :func:`~rpi_camera_colony.config.load_config` returns,
            or a dict shaped like the file (e.g. a conductor's ``config_data``).
        control_socket_wrapper: the original conductor's shared socket. Not used any more (each instance opens
            its own acknowledged link); accepted with a warning.
        auto_init: :meth:`initialise` at once.
        config_file: the original's keyword for a config path, when ``config_data`` is not given.

    Raises:
        ConfigError: an invalid config, or a name not in it (the known names are listed).
    """

    def __init__(
        self,
        instance_name: Optional[str] = None,
        config_data: Optional[ConfigData] = None,
        control_socket_wrapper: Optional[object] = None,
        auto_init: bool = False,
        *,
        config_file: Union[str, Path, None] = None,
    ) -> None:
        if control_socket_wrapper is not None:
            warnings.warn(
                "RemoteAcquisitionControl(control_socket_wrapper=...) has no effect: each instance opens its own "
                "acknowledged link to its agent (to share one across cameras, use Conductor)",
                DeprecationWarning,
                stacklevel=2,
            )
        settings = _settings_from(config_data, config_file)
        if instance_name is None:
            if len(settings.controllers) != 1:
                known = ", ".join(settings.controllers) or "none"
                raise ConfigError([f"instance_name is needed: the config has {len(settings.controllers)} cameras "
                                   f"({known})"])  # fmt: skip
            instance_name = next(iter(settings.controllers))
        self.instance_name = instance_name
        self.auto_init = auto_init
        self._config = settings
        self.conductor = self._new_conductor()
        if auto_init:
            self.initialise()

    # -- the original's properties ---------------------------------------------------------------------------

    @property
    def config_data(self) -> Mapping[str, Any]:
        """The whole config (every camera) in the original dict's shape, read-only."""
        return self._config.as_mapping()

    @property
    def connected(self) -> bool:
        """True while the agent is connected and answering (after :meth:`initialise`, before :meth:`cleanup`)."""
        link = self.conductor.controllers[self.instance_name]
        return link.connected and not link.lost and link.exit_code is None

    @property
    def acquiring(self) -> bool:
        return self.conductor.acquiring

    @property
    def active(self) -> bool:
        """As the Conductor's: False once the recording ended (e.g. at max_acquisition_time) or after cleanup."""
        return self.conductor.active

    # -- the original's methods --------------------------------------------------------------------------------

    def initialise(self) -> None:
        """Start the camera's agent (local process or SSH, as the config says), wait for its hello and send its
        settings (acknowledged once exposure has settled). Nothing happens if it is running already.

        Raises:
            HandshakeTimeout, ColonyCommandError: the agent did not start, connect or accept its settings.
        """
        if self.connected:
            logger.debug("%s: already initialised", self.instance_name)
            return
        if self.conductor.connected or self.conductor.cleaned_up:  # its agent is gone (ended, or cleaned up)
            self.conductor.cleanup()
            self.conductor = self._new_conductor()
        self.conductor.connect()

    def _new_conductor(self) -> Conductor:
        return Conductor(settings=self._config, cameras=[self.instance_name], connect=False)

    def transmit_settings(self) -> Optional[Reply]:
        """Send the camera its settings again (the config's, with the general ones patched in) and wait for the
        acknowledgement; None before :meth:`initialise` (as the original, which sent nothing then).

        Raises:
            ColonyCommandError: the agent refused them.
        """
        if not self.connected:
            logger.debug("%s: not initialised: no settings sent", self.instance_name)
            return None
        general = self.conductor.settings.general
        link = self.conductor.controllers[self.instance_name]
        status = link.configure(
            data_path=general.remote_data_path,
            max_acquisition_time=general.max_acquisition_time,
            disk_space_check=general.disk_space_check,
            clock_sync_interval=self.conductor.settings.control.clock_sync_interval,
        )
        return self._settle("configure", status)

    def start_acquisition(self, acquisition_name: Optional[str] = None) -> Reply:
        """Start recording (initialising first if needed); returns the agent's reply once the first frame is
        written (``reply.data["first_frame"]``).

        Raises:
            ColonyCommandError: the camera did not start (why is in the message).
        """
        self.initialise()
        return self.conductor.start_acquisition(acquisition_name)[self.instance_name]

    def stop_acquisition(self) -> dict[str, Any]:
        """Stop recording; returns the recording's summary once its files are complete ({} if not recording)."""
        return self.conductor.stop_acquisition().get(self.instance_name, {})

    def cleanup(self) -> None:
        """Stop any recording, close the agent (its process ends) and the sockets. Safe to call twice."""
        self.conductor.cleanup()

    def send_command(self, cmd_type: str = "command", message_dict: Optional[Mapping[str, Any]] = None) -> Reply:
        """Send one command and wait for its acknowledgement.

        The original's messages work: ``("command", {"status": "start"})`` (also ``stop``, ``close``, ``reset``)
        and ``("config", settings)`` (sends the config's settings; changed settings belong in the config).
        Otherwise ``cmd_type`` is a command of this package's protocol (``ping``, ``status``, ``preview``, ...)
        and ``message_dict`` its arguments. ``start``, ``stop`` and ``close`` go through the same steps as
        :meth:`start_acquisition`, :meth:`stop_acquisition` and :meth:`cleanup` (a stop's reply carries the
        summary in ``data["summary"]``).

        Raises:
            ProtocolError: an unknown command, said with the known ones.
            ColonyCommandError: the agent refused or did not answer.
        """
        message = dict(message_dict or {})
        if cmd_type == "config":
            reply = self.transmit_settings()
            if reply is None:
                raise ProtocolError("config: the camera is not initialised; call initialise() first")
            return reply
        if cmd_type == "command" and "status" in message:
            command = ORIGINAL_STATUS_COMMANDS.get(str(message["status"]))
            if command is None:
                known = ", ".join(sorted(ORIGINAL_STATUS_COMMANDS))
                raise ProtocolError(f"command status {message['status']!r}: not a command; use one of {known}")
            cmd_type, message = command, {}
        if cmd_type == "start":
            return self.start_acquisition()
        if cmd_type == "stop":
            summary = self.stop_acquisition()
            return Reply(self.instance_name, "stop", ok=True, state=self.status().state, data={"summary": summary})
        if cmd_type == "close":
            self.cleanup()
            return Reply(self.instance_name, "close", ok=True, state="closed")
        if cmd_type not in COMMANDS:
            known = ", ".join(sorted(COMMANDS | {"config"}))
            raise ProtocolError(f"unknown command {cmd_type!r}: use one of {known}")
        link = self.conductor.controllers[self.instance_name]
        warmup = link.settings.exposure_warmup if cmd_type in ("configure", "reset") else 0.0
        return self._settle(cmd_type, link.send(cmd_type, message, link.command_timeout + warmup))

    def pkill_remote(self) -> Optional[int]:
        """End this camera's agent process, by its pid (never ``pkill python``, which ended every Python program on
        the Pi): its recording's files are finished first. Returns its exit code (None if this instance started
        no process for it)."""
        return self.conductor.terminate_agent(self.instance_name)

    # -- more ------------------------------------------------------------------------------------------------

    def status(self) -> CameraStatus:
        """The camera's live status (state, frames, dropped, free disk, problem, ...)."""
        return self.conductor.status()[self.instance_name]

    def _settle(self, command: str, status: CommandStatus) -> Reply:
        return StatusGroup(command, {self.instance_name: status}).settled()[self.instance_name]

    def close(self) -> None:
        """Same as :meth:`cleanup`."""
        self.cleanup()

    def __enter__(self) -> RemoteAcquisitionControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"<RemoteAcquisitionControl {self.instance_name!r}: connected={self.connected}>"
