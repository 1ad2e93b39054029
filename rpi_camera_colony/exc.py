"""Exceptions raised by RPi Camera Colony.

Every error the package raises on purpose derives from :class:`ColonyError`, and also from the builtin that fits,
so ``except ValueError`` or ``except TimeoutError`` keep working::

    ColonyError (Exception)
    ├── ConfigError (ValueError)              a config file or settings dict is invalid; .problems lists each one
    ├── ProtocolError (ValueError)            a network message is malformed, too large or of another version
    ├── BackendError (RuntimeError)           a camera or TTL backend cannot be used or failed
    ├── RecordingError (RuntimeError)         an agent could not start, run or finish a recording
    │   └── SettleCancelled                    stopped while exposure and white balance were settling
    ├── LaunchError (RuntimeError)            an agent process could not be started
    ├── CameraError (RuntimeError)            one camera failed a command; .camera names it
    │   ├── CameraNotConnected (ConnectionError)   no link to that camera's agent
    │   ├── AgentExited (ChildProcessError)  the agent process ended; .returncode, .stderr_tail
    │   └── AckTimeout (TimeoutError)         no reply to a command within its timeout
    ├── WaitTimeout (TimeoutError)            a caller stopped waiting; the command itself goes on (not a failure)
    ├── ColonyCommandError (RuntimeError)     a command failed on one or more cameras; .failures maps name -> error
    │   └── HandshakeTimeout (TimeoutError)   some agents never said hello; .failures names them
    └── SessionDataError (ValueError)         files of a recorded session cannot be read
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ColonyError(Exception):
    """Root of all errors raised on purpose by rpi_camera_colony.

    Every one pickles with its fields (e.g. to cross from a :class:`~rpi_camera_colony.control.process_sandbox.
    ConductorAsProcess` child to its parent): a subclass whose ``__init__`` takes other arguments than the message
    keeps them in ``_init_args``.
    """

    _init_args: tuple[object, ...] = ()

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), self._init_args or self.args, self.__dict__)


class ConfigError(ColonyError, ValueError):
    """A configuration is invalid.

    ``problems`` holds one line per problem, each naming section, key, value and what is allowed.
    """

    def __init__(self, problems: Sequence[str], source: str = "") -> None:
        self._init_args = (problems, source)
        self.problems = tuple(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s){where}:\n{lines}")


class ProtocolError(ColonyError, ValueError):
    """A control message could not be decoded or is not allowed."""


class BackendError(ColonyError, RuntimeError):
    """A camera or TTL backend is not available, rejected a setting, or failed while running."""


class RecordingError(ColonyError, RuntimeError):
    """An agent could not start, continue or finish a recording."""


class SettleCancelled(RecordingError):
    """A stop (or close) came while exposure and white balance were settling: they stay automatic."""


class LaunchError(ColonyError, RuntimeError):
    """An acquisition agent could not be started."""


class CameraError(ColonyError, RuntimeError):
    """One camera failed a command."""

    def __init__(self, camera: str, message: str) -> None:
        self._init_args = (camera, message)
        self.camera = camera
        self.reason = message
        super().__init__(f"{camera}: {message}")


class CameraNotConnected(CameraError, ConnectionError):
    """The camera's agent is not connected to the conductor."""


class AgentExited(CameraError, ChildProcessError):
    """The camera's agent process ended."""

    def __init__(self, camera: str, returncode: int | None, stderr_tail: str = "") -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        message = f"agent process exited with code {returncode}"
        if stderr_tail.strip():
            message += "; last lines of its output:\n" + _indent(stderr_tail.rstrip())
        super().__init__(camera, message)
        self._init_args = (camera, returncode, stderr_tail)


class AckTimeout(CameraError, TimeoutError):
    """A camera did not acknowledge a command in time."""


class WaitTimeout(ColonyError, TimeoutError):
    """A caller's wait ended before the command finished; the command itself has not failed and may still finish
    (its own deadline is what makes it fail: :class:`AckTimeout`)."""


class ColonyCommandError(ColonyError, RuntimeError):
    """A command failed on one or more cameras.

    ``failures`` maps each failed camera's name to its error; the message lists all of them.
    """

    def __init__(self, command: str, failures: Mapping[str, BaseException]) -> None:
        self._init_args = (command, failures)
        self.command = command
        self.failures = dict(failures)
        lines = "\n".join(f"  - {name}: {_reason(err)}" for name, err in sorted(self.failures.items()))
        super().__init__(f"'{command}' failed on {len(self.failures)} camera(s):\n{lines}")


class HandshakeTimeout(ColonyCommandError, TimeoutError):
    """Some agents did not say hello before the deadline."""


class SessionDataError(ColonyError, ValueError):
    """A recorded session's files cannot be read."""


def _reason(err: BaseException) -> str:
    if isinstance(err, CameraError):
        return err.reason
    return str(err) or type(err).__name__


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())
