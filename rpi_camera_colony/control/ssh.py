"""Start agents on Raspberry Pis over OpenSSH.

One ``ssh`` session per agent (non-interactive: BatchMode, the user's keys, ``~/.ssh/config`` and known_hosts, or
``[general] ssh_config_file``) runs a short POSIX shell script on the Pi that

1. ends a stale agent of the same camera left by an earlier crash (found by its pidfile, checked by its command
   line, stopped with SIGTERM so it finishes its files),
2. checks that the interpreter and the package are there (clear errors otherwise),
3. starts the agent with ``setsid`` (its output goes to a log file on the Pi), writes its pidfile, and
4. waits for it, then prints its exit code and the last lines of its log.

So the SSH session watches the agent, yet a dropped SSH connection does not stop a recording: the agent is in its
own session and writes nowhere near the connection. Agents are stopped by their own pid, never by name.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Optional

from rpi_camera_colony.config.settings import ControllerSettings, GeneralSettings
from rpi_camera_colony.control.launch import AgentArguments, AgentProcess, ExitCallback, Launcher, agent_argv
from rpi_camera_colony.exc import LaunchError

logger = logging.getLogger(__name__)

#: Where pidfiles and agent logs live on the Pi (``RCC_RUNTIME_DIR`` in the Pi's environment overrides it).
RUNTIME_DIR = "${RCC_RUNTIME_DIR:-$HOME/.cache/rpi_camera_colony/agents}"
#: Exit codes of the launch script for problems found before the agent runs.
EXIT_RUNTIME_DIR, EXIT_INTERPRETER, EXIT_PACKAGE = 90, 91, 92

_SCRIPT = r"""
set -u
RUN="{runtime}"
PIDFILE="$RUN/{instance}.pid"
LOG="$RUN/{instance}.log"
mkdir -p "$RUN" 2>/dev/null || {{ echo "RCC_ERROR cannot create $RUN on $(hostname)"; exit {exit_runtime}; }}
if [ -s "$PIDFILE" ]; then
    OLD=$(cat "$PIDFILE")
    if kill -0 "$OLD" 2>/dev/null &&
        tr '\0' ' ' < "/proc/$OLD/cmdline" 2>/dev/null | grep -q -- "--instance-name {instance} "; then
        echo "RCC_STALE $OLD"
        kill -TERM "$OLD"
        n=0
        while kill -0 "$OLD" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
        kill -0 "$OLD" 2>/dev/null && kill -KILL "$OLD"
    fi
    rm -f "$PIDFILE"
fi
if ! command -v {python} >/dev/null 2>&1; then
    echo "RCC_ERROR interpreter {python} not found on $(hostname)"; exit {exit_interpreter}
fi
VERSION=$({python} -c 'import rpi_camera_colony; print(rpi_camera_colony.__version__)' 2>&1) || {{
    echo "RCC_ERROR package missing on $(hostname): $(echo "$VERSION" | tail -n 1)"; exit {exit_package}; }}
echo "RCC_VERSION $VERSION"
{sudo}setsid {python} -m {module} {args} > "$LOG" 2>&1 < /dev/null &
PID=$!
echo "$PID" > "$PIDFILE"
echo "RCC_PID $PID"
wait "$PID"
CODE=$?
echo "RCC_EXIT $CODE"
tail -n 20 "$LOG" | sed 's/^/RCC_LOG /'
[ "$(cat "$PIDFILE" 2>/dev/null)" = "$PID" ] && rm -f "$PIDFILE"
exit 0
"""

_TERMINATE = r"""
P={pid}
kill -TERM "$P" 2>/dev/null || exit 0
n=0
while kill -0 "$P" 2>/dev/null && [ $n -lt {tenths} ]; do sleep 0.1; n=$((n+1)); done
if kill -0 "$P" 2>/dev/null; then kill -KILL "$P"; echo killed; else echo stopped; fi
"""

_WAIT = r"""
P={pid}
n=0
while kill -0 "$P" 2>/dev/null && [ $n -lt {tenths} ]; do sleep 0.1; n=$((n+1)); done
kill -0 "$P" 2>/dev/null && echo running || echo gone
"""


def explain_ssh_failure(target: str, code: int, stderr: str) -> str:
    """Turn ssh's exit and messages into a sentence that says what to fix."""
    text = stderr.strip()
    last = text.splitlines()[-1] if text else f"ssh exited with code {code}"
    lowered = text.lower()
    if "permission denied" in lowered:
        return f"SSH authentication refused for {target} ({last}): install your key with ssh-copy-id {target}"
    if "host key verification failed" in lowered or "host key for" in lowered:
        return f"SSH host key of {target} is unknown or changed ({last}): check and add it to known_hosts"
    if any(s in lowered for s in ("could not resolve", "name or service not known")):
        return f"host name of {target} cannot be resolved ({last}): check the address in the config"
    if any(s in lowered for s in ("no route to host", "connection refused", "timed out", "network is unreachable")):
        return f"host {target} unreachable ({last}): is the Pi on, on the network, and running sshd?"
    return f"SSH to {target} failed with code {code}: {last}"


class SshAgentProcess(AgentProcess):
    """An agent on a Pi, watched through the SSH session that started it."""

    def __init__(
        self, launcher: SshLauncher, controller: ControllerSettings, command: list[str], on_exit: ExitCallback
    ) -> None:
        self.instance = controller.name
        self.pid = -1
        self.target = launcher.target(controller)
        self._launcher = launcher
        self._controller = controller
        self._on_exit = on_exit
        self._lines: list[str] = []
        self._exit_code: Optional[int] = None
        self._exited = threading.Event()
        self._started = threading.Event()
        self.watch_lost = False
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the watcher thread
        try:
            # its own session: a terminal's Ctrl-C must not end the SSH session (the conductor stops the agent)
            self._popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                text=True,
                start_new_session=True,
            )
        except OSError as err:
            self._stderr.close()
            raise LaunchError(f"{self.instance}: cannot run ssh: {err.strerror}") from None
        self.ssh_pid = self._popen.pid
        self._watcher = threading.Thread(target=self._watch, name=f"rcc-ssh-{self.instance}", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        assert self._popen.stdout is not None
        log_tail: list[str] = []
        exit_code: Optional[int] = None
        error: Optional[str] = None
        for raw in self._popen.stdout:
            line = raw.rstrip("\n")
            self._lines.append(line)
            kind, _, value = line.partition(" ")
            if kind == "RCC_PID" and value.isdigit():
                self.pid = int(value)
                self._started.set()
                logger.debug("%s: agent pid %d on %s", self.instance, self.pid, self.target)
            elif kind == "RCC_STALE":
                logger.warning(
                    "%s: stopped a stale agent (pid %s) left on %s by an earlier run", self.instance, value, self.target
                )
            elif kind == "RCC_ERROR":
                error = value
            elif kind == "RCC_EXIT":
                exit_code = int(value) if value.lstrip("-").isdigit() else None
            elif kind == "RCC_LOG":
                log_tail.append(value)
        ssh_code = self._popen.wait()
        self._stderr.seek(0)
        stderr = self._stderr.read().decode(errors="replace")
        self._stderr.close()
        if exit_code is not None:
            self._finish(exit_code, "\n".join(log_tail), started=True)
        elif self._started.is_set():
            self.watch_lost = True
            logger.warning(
                "%s: the SSH session to %s ended (code %d); the agent (pid %d) keeps running and is stopped over "
                "the network or by its pid", self.instance, self.target, ssh_code, self.pid,
            )  # fmt: skip
        elif error is not None:
            self._finish(ssh_code, f"could not start the agent on {self.target}: {error}", started=False)
        else:
            self._finish(
                ssh_code,
                f"could not start the agent: {explain_ssh_failure(self.target, ssh_code, stderr)}",
                started=False,
            )

    def _finish(self, code: Optional[int], detail: str, *, started: bool) -> None:
        self._exit_code = code if code is not None else -1
        self._exited.set()
        self._on_exit(self.instance, self._exit_code, detail, started)

    def poll(self) -> Optional[int]:
        return self._exit_code

    def wait(self, timeout: float) -> Optional[int]:
        if self._exited.wait(timeout if not self.watch_lost else 0):
            return self._exit_code
        if self.watch_lost and self.pid > 0:
            answer = self._launcher.run_remote(
                self._controller, _WAIT.format(pid=self.pid, tenths=int(timeout * 10)), timeout + 10
            )
            if answer.strip().endswith("gone"):
                self._exit_code = 0
                self._exited.set()
                return 0
        return None

    def terminate(self, grace: float = 3.0) -> Optional[int]:
        if self._exited.is_set() or self.pid <= 0:
            return self._exit_code
        script = _TERMINATE.format(pid=self.pid, tenths=int(grace * 10))
        answer = self._launcher.run_remote(self._controller, script, grace + 15)
        logger.warning("%s: agent pid %d on %s %s", self.instance, self.pid, self.target, answer.strip() or "signalled")
        if not self._exited.wait(grace + 5):
            self._exit_code = -15
            self._exited.set()
        if self._popen.poll() is None:
            self._popen.kill()
        self._watcher.join(timeout=5)
        return self._exit_code

    def output_tail(self, lines: int = 20) -> str:
        return "\n".join(self._lines[-lines:])


class SshLauncher(Launcher):
    """Start agents as ``rpi_username@address``: ``remote_python_interpreter -m remote_python_entrypoint``."""

    name = "ssh"

    def __init__(self, general: GeneralSettings, *, ssh: str = "ssh") -> None:
        self._general = general
        self._ssh = ssh

    def target(self, controller: ControllerSettings) -> str:
        user = self._general.rpi_username
        return f"{user}@{controller.address}" if user else controller.address

    def ssh_prefix(self) -> list[str]:
        """ssh and its options, without the host (what rsync's ``-e`` takes)."""
        general = self._general
        command = [self._ssh, "-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(general.ssh_connect_timeout)}",
                   "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]  # fmt: skip
        if general.ssh_config_file:
            command += ["-F", str(Path(general.ssh_config_file).expanduser())]
        for option in general.ssh_options:
            command += ["-o", option]
        return command

    def ssh_command(self, controller: ControllerSettings, remote_script: str) -> list[str]:
        return [*self.ssh_prefix(), self.target(controller), "sh", "-c", shlex.quote(remote_script)]

    def launch(self, controller: ControllerSettings, arguments: AgentArguments, on_exit: ExitCallback) -> AgentProcess:
        general = self._general
        script = _SCRIPT.format(
            runtime=RUNTIME_DIR,
            instance=controller.name,
            python=shlex.quote(general.remote_python_interpreter),
            module=shlex.quote(general.remote_python_entrypoint),
            args=" ".join(shlex.quote(a) for a in agent_argv(controller, arguments)),
            sudo="sudo -n " if general.use_sudo else "",
            exit_runtime=EXIT_RUNTIME_DIR,
            exit_interpreter=EXIT_INTERPRETER,
            exit_package=EXIT_PACKAGE,
        )
        return SshAgentProcess(self, controller, self.ssh_command(controller, script), on_exit)

    def ssh_run(
        self, controller: ControllerSettings, script: str, timeout: float, *, stdin_path: Optional[Path] = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a script on the camera's host and return ssh's result (stdin from ``stdin_path`` if given).

        Raises:
            LaunchError: if ssh cannot run or times out.
        """
        command = self.ssh_command(controller, script)
        try:
            if stdin_path is None:
                return subprocess.run(
                    command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
                )
            with open(stdin_path, "rb") as source:
                done = subprocess.run(command, capture_output=True, timeout=timeout, stdin=source)
            return subprocess.CompletedProcess(
                done.args, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
            )
        except OSError as err:
            raise LaunchError(f"cannot run ssh: {err.strerror}") from None
        except subprocess.TimeoutExpired:
            raise LaunchError(f"ssh to {self.target(controller)} did not finish within {timeout:g} s") from None

    def run_remote(self, controller: ControllerSettings, script: str, timeout: float) -> str:
        """Run a short script on the camera's host; its output ('' if ssh failed, which is logged)."""
        try:
            result = self.ssh_run(controller, script, timeout)
        except LaunchError as err:
            logger.error("%s: %s", controller.name, err)
            return ""
        if result.returncode != 0:
            logger.error(
                "%s: %s",
                controller.name,
                explain_ssh_failure(self.target(controller), result.returncode, result.stderr),
            )
        return result.stdout
