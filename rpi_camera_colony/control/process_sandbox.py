"""Run a Conductor in its own process (e.g. next to a behaviour task or a GUI that must not share its threads).

    sandbox = ConductorAsProcess(conductor_args={"config_file": "colony.config", "acquisition_name": "m1__s1"})
    sandbox.start()                      # spawns the process; it starts every camera
    sandbox.wait_started(timeout=30)     # returns once all cameras record, or raises naming the failures
    ...
    summaries = sandbox.stop()           # stops every camera and returns each camera's summary

The process is started with the "spawn" method, so it shares no threads or sockets with the caller.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from typing import Any, Optional

from rpi_camera_colony.exc import ColonyError

_SPAWN = multiprocessing.get_context("spawn")


class ConductorAsProcess(_SPAWN.Process):  # type: ignore[name-defined,misc]
    """A :class:`~rpi_camera_colony.control.conductor.Conductor` that records in a child process.

    Args:
        conductor_args: keyword arguments for ``Conductor`` (e.g. ``config_file``, ``acquisition_name``).
        kill_queue: put any value in it to stop the recording (as in the original); :meth:`stop` does this for you.
    """

    def __init__(self, conductor_args: Optional[dict[str, Any]] = None, kill_queue: Optional[Any] = None) -> None:
        super().__init__(daemon=True, name="rcc-conductor")
        self.conductor_args = dict(conductor_args or {})
        self.kill_queue = kill_queue if kill_queue is not None else _SPAWN.Queue()
        self._results = _SPAWN.Queue()
        self._started: Optional[dict[str, Any]] = None

    def run(self) -> None:  # in the child process
        from rpi_camera_colony.control.conductor import Conductor

        try:
            with Conductor(**self.conductor_args) as conductor:
                replies = conductor.start_acquisition()
                self._results.put(("started", {name: reply.data.get("first_frame") for name, reply in replies.items()}))
                self.kill_queue.get()  # blocks until the parent asks us to stop
                self._results.put(("stopped", conductor.stop_acquisition()))
        except Exception as err:  # handed to the parent, which raises it
            self._results.put(("error", _portable(err)))

    def _next(self, timeout: float) -> tuple[str, Any]:
        try:
            kind, value = self._results.get(timeout=timeout)
        except queue.Empty:
            raise ColonyError(f"the conductor process did not answer within {timeout:g} s") from None
        if kind == "error":
            raise value
        return str(kind), value

    def wait_started(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until every camera records; returns each camera's first-frame info.

        Raises:
            ColonyError: (the very exception the conductor raised in the child, e.g. a
                :class:`~rpi_camera_colony.exc.ColonyCommandError` naming the cameras, with the child's traceback as
                a note) if the conductor failed, or if it did not answer in time.
        """
        if self._started is None:
            _, self._started = self._next(timeout)
        return dict(self._started)

    def stop(self, timeout: float = 60.0) -> dict[str, Any]:
        """Stop recording, wait for the process to end, return each camera's summary.

        Raises:
            ColonyError: if the conductor failed or did not answer in time.
        """
        self.kill_queue.put(True)
        try:
            if self._started is None:
                self.wait_started(timeout)
            _, summaries = self._next(timeout)
            return dict(summaries)
        finally:
            self.join(timeout)
            if self.is_alive():
                self.terminate()
                self.join(5)


def _portable(err: Exception) -> Exception:
    """``err`` as it can cross to the parent process: itself, with the child's traceback as a note; a
    :class:`ColonyError` saying what it was if it cannot be pickled."""
    err.add_note("in the conductor process:\n" + "".join(traceback.format_exception(err)).rstrip())
    try:
        pickle.loads(pickle.dumps(err))
    except Exception as unpicklable:  # e.g. an exception holding a socket
        portable = ColonyError(f"conductor process failed: {type(err).__name__}: {err}")
        portable.add_note(f"(the original could not be passed on: {unpicklable})")
        portable.add_note(str(err.__notes__[-1]))
        return portable
    return err


class ConductorAsSubprocess:
    """``rcc_conductor`` in a subprocess (the original's class): ``conductor_args`` become its options
    (``{"config_file": "c.config", "acquisition_name": "m1__s1"}`` -> ``--config-file c.config --acquisition-name
    m1__s1``). It starts recording at once; :meth:`shutdown` stops it as Ctrl-C does (every camera stopped, files
    complete) and waits for it, where the original killed it.

    Args:
        conductor_args: the options, by their long names with ``_`` for ``-`` (True for a flag).
        python_path: the Python that runs it (default: this one).
    """

    def __init__(self, conductor_args: Optional[dict[str, Any]] = None, python_path: Optional[str] = None) -> None:
        self.conductor_args = dict(conductor_args or {})
        self.python_path = python_path or sys.executable
        self.command = [self.python_path, "-m", "rpi_camera_colony.control.main"]
        for key, value in self.conductor_args.items():
            option = "--" + str(key).replace("_", "-")
            if value is True:
                self.command.append(option)
            elif value not in (None, False):
                self.command += [option, str(value)]
        # its own session, as a shell's job: a Ctrl-C in the caller's terminal is the caller's to pass on
        self.conductor_process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        self.pid = self.conductor_process.pid
        self.stdout = ""
        self._stderr: list[str] = []
        self._recording = threading.Event()
        self._reader = threading.Thread(target=self._read_stderr, name="rcc-conductor-stderr", daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.conductor_process.stderr is not None
        for line in self.conductor_process.stderr:
            self._stderr.append(line)
            if "camera(s) recording" in line:
                self._recording.set()

    @property
    def stderr(self) -> str:
        """What the conductor has written to stderr so far (its log and progress lines)."""
        return "".join(self._stderr)

    @property
    def returncode(self) -> Optional[int]:
        return self.conductor_process.poll()

    def wait_started(self, timeout: float = 60.0) -> None:
        """Wait until every camera records (the conductor says so on its log).

        Raises:
            ColonyError: if the conductor ended first (with its last output) or did not say so in time.
        """
        end = time.monotonic() + timeout
        while not self._recording.wait(min(0.2, max(0.0, end - time.monotonic()))):  # also watching for its exit
            if self.conductor_process.poll() is not None:
                self._reader.join(5)
                raise ColonyError(
                    f"rcc_conductor ended with code {self.conductor_process.returncode} before recording:\n"
                    + self.stderr[-2000:]
                )
            if time.monotonic() >= end:
                raise ColonyError(f"rcc_conductor did not start recording within {timeout:g} s")

    def shutdown(self, timeout: float = 60.0) -> Optional[int]:
        """Stop every camera (SIGINT, as Ctrl-C), wait for the summary; the exit code. Safe to call twice.

        If it has not ended after ``timeout`` seconds it is killed (its agents still finish their files).
        """
        if self.conductor_process.poll() is None:
            self.conductor_process.send_signal(signal.SIGINT)
        try:
            self.conductor_process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.conductor_process.kill()
            self.conductor_process.wait()
        if self.conductor_process.stdout is not None and not self.conductor_process.stdout.closed:
            self.stdout += self.conductor_process.stdout.read()
            self.conductor_process.stdout.close()
        self._reader.join(5)
        return self.conductor_process.returncode

    def __enter__(self) -> ConductorAsSubprocess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
