"""What the dashboard shows and does, over one :class:`~rpi_camera_colony.control.conductor.Conductor`: the colony's
view as JSON (every camera's tile, the acquisition, the last recordings) and start/stop, serialised.

Plain threads and blocking calls (the web app runs them in its thread pool), so this is usable and testable without
a web server.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from typing import Any, Optional

from rpi_camera_colony.control.camera import CameraStatus
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.exc import RecordingError

logger = logging.getLogger(__name__)

#: How many finished recordings the page lists, and what it shows of each camera's summary.
HISTORY = 10
SUMMARY_KEYS = ("frames", "dropped", "fps", "bytes", "status", "stop_reason")


def hours_left(status: CameraStatus) -> Optional[float]:
    """Hours of recording the camera's free disk holds at its current data rate (None when not recording)."""
    if status.free_disk is None or status.recording_s < 1 or status.bytes_written <= 0:
        return None
    rate = status.bytes_written / status.recording_s
    return round(status.free_disk / rate / 3600, 2)


class DashboardSession:
    """The colony as the dashboard sees it. Thread-safe; :meth:`start` and :meth:`stop` block until every camera
    answered, as the Conductor's methods do."""

    def __init__(self, conductor: Conductor) -> None:
        self.conductor = conductor
        self._command_lock = threading.Lock()  # one start or stop at a time
        self._lock = threading.Lock()
        self.started_at: Optional[float] = None  #: time.time() of the running acquisition's start
        self.recordings: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.busy: Optional[str] = None  #: "starting" or "stopping" while that command is under way

    # -- commands -------------------------------------------------------------------------------------------

    def start(self, acquisition_name: Optional[str] = None) -> dict[str, Any]:
        """Start every camera (the name as the Conductor takes it; default: the config's); what started.

        Raises:
            RecordingError: already recording.
            ConfigError: an unusable name.
            ColonyCommandError: cameras that did not start, each named.
        """
        with self._command_lock:
            if self.conductor.acquiring:
                raise RecordingError("already recording: stop first")
            self.busy = "starting"
            try:
                replies = self.conductor.start_acquisition(acquisition_name or None)
            finally:
                self.busy = None
            with self._lock:
                self.started_at = time.time()
            return {
                "acquisition_name": self.conductor.acquisition_name,
                "file_time": self.conductor.file_time,
                "start_skew_us": self.conductor.start_skew_us,
                "first_frames": {name: reply.data.get("first_frame", {}) for name, reply in replies.items()},
            }

    def stop(self) -> dict[str, Any]:
        """Stop every camera; each camera's summary once its files are complete ({} when not recording).

        Raises:
            ColonyCommandError: cameras that could not confirm, each named (the others' summaries are kept).
        """
        with self._command_lock:
            return self._stop()

    def _stop(self) -> dict[str, Any]:
        if not self.conductor.acquiring:
            return {"summaries": {}}
        self.busy = "stopping"
        try:
            summaries = self.conductor.stop_acquisition()
        finally:
            self.busy = None
            self._remember(dict(self.conductor.last_summaries))
        return {"summaries": summaries}

    def stop_if_ended(self) -> None:
        """Collect a recording that ended by itself (max_acquisition_time, every camera failed). Never while a start
        or stop is under way (a start's cameras are not "recording" until they answered)."""
        if not self._command_lock.acquire(blocking=False):
            return
        try:
            conductor = self.conductor
            if self.started_at is None or not conductor.acquiring:
                return
            if any(s.state == "recording" for s in conductor.status().values()):
                return
            logger.info("every camera has stopped recording: collecting the summaries")
            try:
                self._stop()
            except Exception as err:  # shown with the recording; the page must keep running
                logger.error("could not collect the stopped recording: %s", err)
        finally:
            self._command_lock.release()

    def _remember(self, summaries: dict[str, dict[str, Any]]) -> None:
        with self._lock:
            started, self.started_at = self.started_at, None
        self.recordings.appendleft(
            {
                "acquisition_name": self.conductor.acquisition_name,
                "file_time": self.conductor.file_time,
                "started": started,
                "stopped": time.time(),
                "cameras": {
                    name: {
                        key: summary.get(key) for key in ("frames", "dropped", "fps", "bytes", "status", "stop_reason")
                    }
                    for name, summary in summaries.items()
                },
            }
        )

    # -- the view -------------------------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-able data.

        Raises:
            ColonyError: the conductor's network thread died (nothing shown would be live).
        """
        conductor = self.conductor
        statuses = conductor.status()
        with self._lock:
            started = self.started_at
        cameras = []
        for name, status in statuses.items():
            settings = conductor.settings.controllers[name]
            tile = dataclasses.asdict(status)
            tile.update(
                description=settings.description,
                address=settings.address,
                resolution=list(settings.resolution),
                framerate=settings.framerate,
                hours_left=hours_left(status),
            )
            cameras.append(tile)
        return {
            "acquiring": conductor.acquiring,
            "busy": self.busy,
            "acquisition_name": conductor.acquisition_name,
            "elapsed_s": None if started is None else round(time.time() - started, 1),
            "cameras": cameras,
            "recordings": list(self.recordings),
        }
