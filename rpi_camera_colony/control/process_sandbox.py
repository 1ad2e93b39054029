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
