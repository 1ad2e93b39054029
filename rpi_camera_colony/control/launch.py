"""Launchers start an acquisition agent for one camera.

- ``local``: a subprocess on this machine (default for local addresses: simulated colonies, tests, the demo).
- ``none``: the agent is already running (e.g. a systemd service on the Pi) and connects by itself.
- ``ssh``: over OpenSSH to a Pi (default for other addresses; see :mod:`rpi_camera_colony.control.ssh`).

A launched agent is an :class:`AgentProcess`: stopped by its own pid, never by name.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rpi_camera_colony.config.settings import ControllerSettings, GeneralSettings, is_local_address
from rpi_camera_colony.exc import ConfigError, LaunchError

logger = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20
#: ``on_exit(instance, returncode, detail, started)``: the agent ended (``started``) or could never be started.
ExitCallback = Callable[[str, Optional[int], str, bool], None]


@dataclass(frozen=True)
class AgentArguments:
    """What an agent needs to find the conductor."""

    instance: str
    control_host: str
    control_port: int
    log_host: str
    log_port: int
    log_level: str
    data_path: str
    heartbeat_interval: float
    max_acquisition_time: float
    parent_pid: Optional[int] = None  #: local agents: the conductor's pid (an idle orphan exits)
    curve_keys: Optional[str] = None  #: CURVE: the key folder on the agent's machine ('~' is the agent's home)

    def argv(self) -> list[str]:
        return [
            "--instance-name", self.instance,
            "--control-stream-ip", self.control_host,
            "--control-stream-port", str(self.control_port),
            "--log-ip", self.log_host,
            "--log-port", str(self.log_port),
            "--log-level", self.log_level,
            "--data-path", self.data_path,
            "--heartbeat-interval", str(self.heartbeat_interval),
            "--max-acquisition-time", str(self.max_acquisition_time),
            *(["--parent-pid", str(self.parent_pid)] if self.parent_pid is not None else []),
            *(["--curve-keys", self.curve_keys] if self.curve_keys is not None else []),
        ]  # fmt: skip


def agent_argv(controller: ControllerSettings, arguments: AgentArguments) -> list[str]:
    """The agent's command-line arguments for one camera. Its backends are chosen from the settings it receives in
    ``configure`` (so its log says the config chose them); it loads their libraries before its hello."""
    return [*arguments.argv(), "--preload-backends", controller.camera_backend, controller.ttl_backend]


class AgentProcess(abc.ABC):
    """A running agent that this conductor started."""

    instance: str
    pid: int

    @abc.abstractmethod
    def poll(self) -> Optional[int]:
        """Exit code, or None while running."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> Optional[int]:
        """Wait up to ``timeout`` s for the process to end; its exit code, or None if it still runs."""

    @abc.abstractmethod
    def terminate(self, grace: float = 3.0) -> Optional[int]:
        """SIGTERM (the agent finishes its files), then SIGKILL after ``grace`` s; returns the exit code."""

    @abc.abstractmethod
    def output_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        """The last lines the agent printed (for error messages)."""


#: How a local agent is started: in a process group of its own, so that a terminal's Ctrl-C (SIGINT to the whole
#: foreground process group) reaches the conductor only, which then stops every camera and finishes its files. In the
#: conductor's session, though, not one of its own: where the kernel groups processes by session for scheduling
#: (autogroup, on in most desktop Linux), N agents in N sessions would get N shares of the processor to the
#: conductor's one, and under load the conductor, which sends the starts, would wait behind them. (Python 3.9 and
#: 3.10 have no process_group: there a session of its own.)
OWN_PROCESS_GROUP: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}


class LocalAgentProcess(AgentProcess):
    """An agent in a subprocess; a watcher thread reports its exit at once through ``on_exit``."""

    def __init__(self, instance: str, argv: list[str], output_file: Path, on_exit: ExitCallback) -> None:
        self.instance = instance
        self.output_file = output_file
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(output_file, "wb") as out:
            try:
                self._popen = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, **OWN_PROCESS_GROUP
                )
            except OSError as err:
                raise LaunchError(f"{instance}: cannot start {argv[0]}: {err.strerror}") from None
        self.pid = self._popen.pid
        self._on_exit = on_exit
        self._watcher = threading.Thread(target=self._watch, name=f"rcc-watch-{instance}", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        code = self._popen.wait()
        self._on_exit(self.instance, code, self.output_tail(), True)

    def poll(self) -> Optional[int]:
        return self._popen.poll()

    def wait(self, timeout: float) -> Optional[int]:
        try:
            return self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def terminate(self, grace: float = 3.0) -> Optional[int]:
        if self._popen.poll() is None:
            self._popen.terminate()
            if self.wait(grace) is None:
                logger.warning("%s: agent (pid %d) did not stop on SIGTERM; killing it", self.instance, self.pid)
                self._popen.kill()
                self.wait(grace)
        self._watcher.join(timeout=grace)
        return self._popen.poll()

    def output_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        try:
            text = self.output_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Launcher(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    def launch(
        self, controller: ControllerSettings, arguments: AgentArguments, on_exit: ExitCallback
    ) -> Optional[AgentProcess]:
        """Start the agent of ``controller`` (None when it is started some other way).

        Raises:
            LaunchError: if it cannot be started.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most launchers hold nothing
        """Release what the launcher holds. Safe to call twice."""


class LocalLauncher(Launcher):
    """Start agents as subprocesses of this Python (``remote_python_entrypoint`` is the module run with -m)."""

    name = "local"

    def __init__(self, general: GeneralSettings, *, python: str = sys.executable) -> None:
        self._python = python
        self._module = general.remote_python_entrypoint
        self._runtime = Path(tempfile.mkdtemp(prefix="rcc-agents-"))

    def close(self) -> None:
        shutil.rmtree(self._runtime, ignore_errors=True)

    def launch(self, controller: ControllerSettings, arguments: AgentArguments, on_exit: ExitCallback) -> AgentProcess:
        local = dataclasses.replace(arguments, parent_pid=os.getpid())
        argv = [self._python, "-m", self._module, *agent_argv(controller, local)]
        process = LocalAgentProcess(controller.name, argv, self._runtime / f"{controller.name}.log", on_exit)
        logger.debug("%s: started local agent pid %d", controller.name, process.pid)
        return process


class ExternalLauncher(Launcher):
    """``launcher = none``: the agent is started elsewhere (systemd, by hand) and connects to the conductor."""

    name = "none"

    def launch(self, controller: ControllerSettings, arguments: AgentArguments, on_exit: ExitCallback) -> None:
        logger.info(
            "%s: launcher = none, waiting for its agent to connect to %s:%d",
            controller.name,
            arguments.control_host,
            arguments.control_port,
        )
        return None


def launcher_name(controller: ControllerSettings) -> str:
    """The launcher a controller uses (``auto``: local for this machine's addresses, else ssh)."""
    if controller.launcher != "auto":
        return controller.launcher
    return "local" if controller.is_local else "ssh"


def check_launchers(controllers: dict[str, ControllerSettings], control_address: str) -> dict[str, str]:
    """Resolve every controller's launcher before anything starts.

    Raises:
        ConfigError: if agents on other machines could not find this conductor.
    """
    chosen = {name: launcher_name(c) for name, c in controllers.items()}
    elsewhere = [name for name, how in chosen.items() if how != "local" and not controllers[name].is_local]
    if elsewhere and (control_address in ("*", "0.0.0.0", "::") or is_local_address(control_address)):
        raise ConfigError(
            [
                f"control.address = {control_address or '(empty)'}: cameras on other machines "
                f"({', '.join(elsewhere)}) need this machine's address on the camera network, e.g. 192.168.100.10"
            ]
        )
    return chosen
