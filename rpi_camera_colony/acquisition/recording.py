"""One recording on one camera: camera + TTL + files, per-frame bookkeeping, metadata.

Metadata file (``*.rcc.metadata.json``, keys sorted, indent 4), schema version 2. Written atomically when the
recording starts (so it exists even if the Pi dies mid-recording) and again, complete, when it stops.

The original package's keys, with its meanings: ``instance_name``, ``data_path``, ``acquisition_name``,
``acquisition_group``, ``acquisition_time`` (as given, else the part of the name after ``__``, else the date stamp),
``acquisition_settings`` (every setting the conductor sent, general ones patched in, plus ``type``),
``acquisition_file_base`` (absolute path without date and kind), ``acquisition_files`` (absolute paths under
``video``, ``ttl.out``, ``ttl.in``, ``metadata``), ``control_stream_ip``, ``control_stream_port``, ``framerate``,
``resolution``, ``save_data``, ``mac_address``.

This package's: ``rcc_metadata_version`` (2; 1 lacked the original's keys and held the date stamp in
``acquisition_time``), ``instance``, ``file_time`` (the date stamp in the file names),
``status`` ("recording" while running, then "stopped" or "failed"), ``stop_reason`` ("requested",
"max_acquisition_time", "error: ...", "agent shutdown"), ``host`` (hostname, platform, machine), ``versions``
(rpi_camera_colony, python, numpy, pyzmq, av), ``backend`` (camera, ttl and why each was chosen), ``settings``
(every camera setting), ``files`` (file names by kind), ``start`` / ``stop`` (``sys_time`` in seconds since the
epoch, ``iso`` text, ``camera_time_us``), ``frames`` (``written``, ``dropped``, ``dropped_at`` (frame indices after
which frames were missing, first 1000), ``ttl_out_pulses``, ``ttl_in_edges``, ``first_index``, ``last_index``),
``video_bytes``, ``duration_s``, ``unsupported_settings``, ``exposure`` (``warmup_s``, and ``fixed``: the exposure
and white balance values the warm-up or ``lock_exposure_after`` fixed, null while automatic), ``clock`` (offset_us,
drift_ppm, rtt_us, samples, model, sync_mode), ``timing`` (start_at_us on the conductor's clock, first_frame,
start_skew_us and the first frames of all cameras as the conductor measured them).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import platform
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Optional

from rpi_camera_colony import __version__
from rpi_camera_colony.acquisition.cameras.base import CameraBackend, FrameInfo
from rpi_camera_colony.acquisition.clock_sync import ClockSync
from rpi_camera_colony.acquisition.ttl.base import TTLBackend
from rpi_camera_colony.acquisition.writers import (
    CLOCK_COLUMNS,
    TTL_IN_COLUMNS,
    TTL_OUT_COLUMNS,
    CsvFile,
    DataSyncer,
    RecordingFiles,
    SyncedFile,
    write_json_atomic,
)
from rpi_camera_colony.clock import ClockSample
from rpi_camera_colony.config.settings import ControllerSettings
from rpi_camera_colony.exc import BackendError, RecordingError

logger = logging.getLogger(__name__)

METADATA_VERSION = 2
MAX_DROP_POSITIONS = 1000


def versions() -> dict[str, str]:
    found = {"rpi_camera_colony": __version__, "python": platform.python_version()}
    for module in ("numpy", "zmq", "av"):
        mod = sys.modules.get(module)
        if mod is not None:
            found["pyzmq" if module == "zmq" else module] = str(getattr(mod, "__version__", "?"))
    return found


def host_info() -> dict[str, str]:
    return {"hostname": socket.gethostname(), "platform": platform.platform(), "machine": platform.machine()}


@dataclass(frozen=True)
class AcquisitionInfo:
    name: str
    group: str
    time: str  #: acquisition_time as the original defined it (given, the name's part after '__', or the stamp)
    file_time: str  #: the date stamp in the file names


@dataclass(frozen=True)
class AgentInfo:
    """What the agent knows about itself that the original's metadata carried."""

    data_path: str = ""
    control_stream_ip: Optional[str] = None
    control_stream_port: Optional[int] = None


def mac_address() -> str:
    """This machine's hardware address, as ``aa:bb:cc:dd:ee:ff``."""
    node = uuid.getnode()
    return ":".join(f"{(node >> shift) & 0xFF:02x}" for shift in range(40, -8, -8))


@dataclass(frozen=True)
class BackendInfo:
    camera: str
    ttl: str
    camera_reason: str
    ttl_reason: str


class Recording:
    """Record from ``camera`` to the files of ``files`` (None: run the camera but write nothing, as save_data=False).

    ``on_event(name, details)`` is called from the camera thread for "first_frame" and "error".
    """

    def __init__(
        self,
        *,
        settings: ControllerSettings,
        camera: CameraBackend,
        ttl: TTLBackend,
        acquisition: AcquisitionInfo,
        files: Optional[RecordingFiles],
        backends: BackendInfo,
        unsupported: list[str],
        on_event: Callable[[str, dict[str, Any]], None],
        clock_sync: ClockSync,
        start_at_us: Optional[int] = None,
        sync_interval: float = 1.0,
        agent: AgentInfo = AgentInfo(),
    ) -> None:
        self.settings = settings
        self.agent = agent
        self.camera = camera
        self.ttl = ttl
        self.acquisition = acquisition
        self.files = files
        self.backends = backends
        self.unsupported = unsupported
        self._on_event = on_event
        self.clock_sync = clock_sync
        self.start_at_us = start_at_us  # conductor clock
        self.timing: dict[str, Any] = {}  # added by the conductor (start skew, ...)
        self._clock_csv: Optional[CsvFile] = None
        self._syncer = DataSyncer(sync_interval, on_error=self._on_error)
        self._video: Optional[SyncedFile] = None
        self._ttl_out: Optional[CsvFile] = None
        self._ttl_in: Optional[CsvFile] = None
        self._lock = threading.Lock()
        self._period_us = 1e6 / settings.framerate
        self.frames_written = 0
        self.frames_dropped = 0
        self.dropped_at: list[int] = []
        self.ttl_out_pulses = 0
        self.ttl_in_edges = 0
        self.first_index: Optional[int] = None
        self.last_index: Optional[int] = None
        self._last_timestamp_us: Optional[int] = None
        self._first_timestamp_us: Optional[int] = None
        self.video_bytes = 0
        self.error: Optional[str] = None
        self.first_frame: dict[str, Any] = {}
        self.started_monotonic: Optional[float] = None
        self.start_time: dict[str, Any] = {}
        self.stop_time: dict[str, Any] = {}
        self.status = "created"
        self.stop_reason = ""

    # -- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """:meth:`arm` and :meth:`begin` at once (at :attr:`start_at_us`, if set).

        Raises:
            RecordingError: see :meth:`arm` and :meth:`begin`.
        """
        self.arm()
        self.begin(self.start_at_us)

    def arm(self) -> None:
        """Do everything that precedes the first frame: create the files (and write the metadata), set up the TTL
        pins, prepare the camera (e.g. open its encoder). :meth:`begin` then only starts the camera.

        Raises:
            RecordingError: if the folder or files cannot be created or the camera cannot be prepared; nothing is
                left running and files already created are closed.
        """
        if self.status != "created":
            raise RecordingError(f"already {self.status}: a recording is armed once")
        try:
            if self.files is not None:
                self._open_files(self.files)
            self.ttl.setup(
                out_pin=self.settings.ttl_out_pin,
                in_pin=self.settings.ttl_in_pin,
                out_duration=self.settings.ttl_out_duration,
            )
            self.camera.arm()
            self.status = "armed"
            if self.files is not None:
                self._write_metadata()
        except (OSError, BackendError) as err:
            self._failed_to_start(err, began=False)

    def begin(self, start_at_us: Optional[int] = None) -> None:
        """Start the armed camera; its first frame is taken at ``start_at_us`` (conductor clock), or at once.

        Raises:
            RecordingError: if not armed, or the camera does not start (the files are closed, the metadata says so).
        """
        if self.status != "armed":
            raise RecordingError(f"not armed ({self.status}): arm a recording before it begins")
        self.start_at_us = start_at_us
        try:
            self.status = "recording"
            camera_start = self._schedule(start_at_us)
            # The camera first (its first frame waits for the start time on its own thread): on a machine busy with
            # many cameras' starts, what follows must not make it late.
            self.camera.start(self._video, self._on_frame, self._on_error, start_at_us=camera_start)
            self.ttl.watch(self._on_edge if self.settings.ttl_in_pin >= 0 else None)
            self._write_metadata(durable=False)  # the start is still ahead: not held up by the disk
        except (OSError, BackendError) as err:
            self._failed_to_start(err, began=True)

    def _schedule(self, start_at_us: Optional[int]) -> Optional[int]:
        """Note when the recording begins (max_acquisition_time counts from its first frame); the start time on the
        camera's clock (None: at once)."""
        model = self.clock_sync.estimator.model
        camera_start = None if start_at_us is None or model is None else model.to_camera(start_at_us)
        if start_at_us is not None and model is None:
            logger.warning("no clock synchronisation with the conductor yet: starting now, not at the set time")
        self.started_monotonic = time.monotonic()
        if camera_start is not None:
            self.started_monotonic = max(time.monotonic(), self.camera.clock.to_monotonic(camera_start))
        self.start_time = self._now(self.started_monotonic - time.monotonic())
        return camera_start

    def reschedule(self, start_at_us: int) -> None:
        """Move the start time (conductor clock) of a recording whose first frame has not been taken yet.

        Raises:
            RecordingError: the camera cannot move it (it has begun, or the time has passed), or no clock mapping.
        """
        if self.status != "recording" or self.frames_written:
            raise RecordingError("the recording has begun: too late to move its start")
        model = self.clock_sync.estimator.model
        if model is None:
            raise RecordingError("no clock synchronisation with the conductor: cannot schedule a start")
        try:
            self.camera.reschedule(model.to_camera(start_at_us))
        except BackendError as err:
            raise RecordingError(str(err)) from None
        self.start_at_us = start_at_us
        self._schedule(start_at_us)

    def disarm(self) -> None:
        """Undo :meth:`arm` for a recording that never began: the camera released, its files closed and removed (they
        hold no frame; the folder too, when nothing else is in it). Safe to call twice."""
        if self.status != "armed":
            return
        self.camera.stop()
        self._close_files()
        self.status = "cancelled"
        self.stop_reason = "cancelled before it began"
        self._remove_files()

    def _remove_files(self) -> None:
        """Remove the files of a recording that never began (and its folder, when nothing else is in it)."""
        if self.files is None:
            return
        for path in (self.files.video, self.files.ttl_out, self.files.ttl_in, self.files.clock, self.files.metadata):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        with contextlib.suppress(OSError):  # not empty: other cameras' files are in it
            self.files.folder.rmdir()

    def _failed_to_start(self, err: BaseException, *, began: bool) -> NoReturn:
        """Stop the camera and close the files after a failed arm or begin; a recording that never began leaves no
        file, one that began keeps its metadata saying why it failed."""
        self.camera.stop()
        self.status = "failed"
        self.stop_reason = f"error: {err}"
        self._close_files()
        if not began:
            self._remove_files()
        elif self.files is not None and self.files.metadata.parent.is_dir():
            self._write_metadata()
        raise RecordingError(str(err)) from err

    def _open_files(self, files: RecordingFiles) -> None:
        try:
            files.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OSError(f"cannot create the data folder {files.folder}: {err.strerror}") from None
        try:
            # Every frame and then its row reach the OS at once: after a crash or on a full disk they agree to a frame.
            self._video = SyncedFile(files.video, buffered=False, whole_writes=True)
            self._ttl_out = CsvFile(files.ttl_out, TTL_OUT_COLUMNS, flush_rows=True)
            self._ttl_in = CsvFile(files.ttl_in, TTL_IN_COLUMNS)
            self._clock_csv = CsvFile(files.clock, CLOCK_COLUMNS)
        except FileExistsError as err:
            raise OSError(f"{err.filename} already exists: refusing to overwrite a recording") from None
        for file in (self._video, self._ttl_out, self._ttl_in, self._clock_csv):
            self._syncer.add(file)
        for sample, best in list(self.clock_sync.recent)[-200:]:  # the synchronisation that led up to the start
            self._write_clock_sample(sample, best)
        self.clock_sync.listener = self._write_clock_sample

    def _write_clock_sample(self, sample: ClockSample, best: bool) -> None:
        if self._clock_csv is not None and not self._clock_csv.closed:
            self._clock_csv.write_row(
                round(sample.camera_us), sample.conductor_us, sample.rtt_us, round(sample.offset_us, 1), int(best)
            )

    def stop(self, reason: str = "requested") -> dict[str, Any]:
        """Stop the camera, close and sync every file, write the final metadata; return the summary.

        Safe to call twice (the second call returns the same summary).
        """
        if self.status in ("stopped", "failed", "cancelled"):
            return self.summary()
        if self.status in ("created", "armed"):
            self.disarm()
            return self.summary()
        self.camera.stop()
        self.ttl.drain()  # the last frames' pulses are on the wire before the summary counts them
        self.ttl.watch(None)
        self._close_files()
        self.stop_time = self._now()
        self.status = "failed" if self.error else "stopped"
        self.stop_reason = f"error: {self.error}" if self.error else reason
        if self.files is not None:
            self._write_metadata()
        return self.summary()

    def _close_files(self) -> None:
        if self.clock_sync.listener == self._write_clock_sample:
            self.clock_sync.listener = None
        self._syncer.close()
        for file in (self._video, self._ttl_out, self._ttl_in, self._clock_csv):
            if file is not None:
                try:
                    file.close()
                except OSError as err:
                    logger.error("could not close %s: %s", file.path, err)

    # -- camera thread callbacks ------------------------------------------------------------------------------

    def _on_frame(self, frame: FrameInfo) -> None:
        """A frame whose encoded data is in the video file: raise its TTL pulse, write its row, count it.

        The row is written (and handed to the OS) before the frame is counted: if it cannot be (a full disk), the
        error stops the recording and the counts match the rows on disk.
        """
        ttl_time = self.ttl.pulse() if self.settings.ttl_out_pin >= 0 else None
        conductor_us = self.to_conductor(frame.timestamp_us)
        if self._ttl_out is not None:
            self._ttl_out.write_row(
                frame.timestamp_us,
                ttl_time,
                f"{frame.sys_time:.6f}",
                frame.index,
                frame.size,
                int(frame.keyframe),
                conductor_us,
            )
        with self._lock:
            if self._last_timestamp_us is not None:
                gap = frame.timestamp_us - self._last_timestamp_us
                if gap > 1.5 * self._period_us:
                    missing = max(1, round(gap / self._period_us) - 1)
                    self.frames_dropped += missing
                    if len(self.dropped_at) < MAX_DROP_POSITIONS:
                        self.dropped_at.append(self.last_index if self.last_index is not None else -1)
            self._last_timestamp_us = frame.timestamp_us
            if self.first_index is None:
                self.first_index = frame.index
                self._first_timestamp_us = frame.timestamp_us
            self.last_index = frame.index
            self.frames_written += 1
            self.video_bytes += frame.size
            if ttl_time is not None:
                self.ttl_out_pulses += 1
            first = self.frames_written == 1
        if first:
            self.first_frame = {
                "index": frame.index,
                "timestamp_us": frame.timestamp_us,
                "sys_time": frame.sys_time,
                "conductor_us": conductor_us,
            }
            self._on_event("first_frame", dict(self.first_frame))

    def to_conductor(self, camera_us: int) -> Optional[int]:
        """A camera-clock time on the conductor's clock (None before the first synchronisation)."""
        model = self.clock_sync.estimator.model
        return None if model is None else model.to_conductor(camera_us)

    def _on_edge(self, level: int, timestamp_us: int) -> None:
        wanted = self.settings.ttl_in_edges
        if wanted != "both" and (level == 1) != (wanted == "rising"):
            return  # not an edge this camera records (the original recorded rising edges only)
        with self._lock:
            self.ttl_in_edges += 1
            index = self.last_index
        if self._ttl_in is not None:
            self._ttl_in.write_row(
                timestamp_us,
                f"{time.time():.6f}",
                level,
                "" if index is None else index,
                self.to_conductor(timestamp_us),
            )

    def _on_error(self, err: BaseException) -> None:
        self.error = f"{type(err).__name__}: {err}"
        self._on_event("error", {"error": self.error})

    # -- reporting --------------------------------------------------------------------------------------------

    @staticmethod
    def _now(ahead_s: float = 0.0) -> dict[str, Any]:
        now = time.time() + ahead_s
        return {"sys_time": now, "iso": dt.datetime.fromtimestamp(now).astimezone().isoformat(timespec="milliseconds")}

    @property
    def duration_s(self) -> float:
        if self.started_monotonic is None:
            return 0.0
        if self.stop_time:
            return float(self.stop_time["sys_time"] - self.start_time["sys_time"])
        return time.monotonic() - self.started_monotonic

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "frames": self.frames_written,
                "dropped": self.frames_dropped,
                "dropped_at": list(self.dropped_at[:20]),
                "bytes": self._video.bytes_written if self._video is not None else 0,
                "ttl_out": self.ttl_out_pulses,
                "ttl_in": self.ttl_in_edges,
                "recording_s": round(self.duration_s, 3),
                "fps": round(self.measured_fps(), 3),
                "expected": self.expected_frames(),
            }

    def expected_frames(self) -> int:
        """Frames the sensor produced between the first and the last frame written (written + dropped)."""
        if self._first_timestamp_us is None or self._last_timestamp_us is None:
            return 0
        return round((self._last_timestamp_us - self._first_timestamp_us) / self._period_us) + 1

    def measured_fps(self) -> float:
        """Frames per second from the first and last frame timestamps (0 before two frames)."""
        if self._first_timestamp_us is None or self._last_timestamp_us is None or self.frames_written < 2:
            return 0.0
        span = self._last_timestamp_us - self._first_timestamp_us
        return (self.frames_written - 1) * 1e6 / span if span > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        files = {}
        if self.files is not None:
            files = {
                "folder": str(self.files.folder),
                "video": str(self.files.video),
                "metadata": str(self.files.metadata),
            }
        return {
            **self.stats(),
            "status": self.status,
            "stop_reason": self.stop_reason,
            "error": self.error,
            "files": files,
        }

    def original_metadata(self) -> dict[str, Any]:
        """The original's top-level keys, with the original's meanings (its users' analysis code reads them)."""
        files = self.files
        base = None if files is None else str(files.folder / files.stem.rsplit(".", 1)[0])  # name.instance
        paths = {} if files is None else {
            "video": str(files.video), "ttl.out": str(files.ttl_out), "ttl.in": str(files.ttl_in),
            "metadata": str(files.metadata),
        }  # fmt: skip
        return {
            "instance_name": self.settings.name,
            "data_path": self.agent.data_path,
            "acquisition_settings": {"type": "config", **self.settings.to_dict()},
            "acquisition_file_base": base,
            "acquisition_files": paths,
            "control_stream_ip": self.agent.control_stream_ip,
            "control_stream_port": self.agent.control_stream_port,
            "framerate": self.settings.framerate,
            "resolution": list(self.settings.resolution),
            "save_data": self.settings.save_data,
            "mac_address": mac_address(),
        }

    def metadata(self) -> dict[str, Any]:
        files = self.files
        return {
            **self.original_metadata(),
            "rcc_metadata_version": METADATA_VERSION,
            "instance": self.settings.name,
            "acquisition_name": self.acquisition.name,
            "acquisition_group": self.acquisition.group,
            "acquisition_time": self.acquisition.time,
            "file_time": self.acquisition.file_time,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "host": host_info(),
            "versions": versions(),
            "backend": {
                "camera": self.backends.camera,
                "ttl": self.backends.ttl,
                "camera_reason": self.backends.camera_reason,
                "ttl_reason": self.backends.ttl_reason,
            },
            "settings": self.settings.to_dict(),
            "unsupported_settings": self.unsupported,
            "exposure": {"warmup_s": self.settings.exposure_warmup, "fixed": self.camera.fixed_exposure},
            "files": {}
            if files is None
            else {
                kind: files.path(kind).name
                for kind in ("video.h264", "timestamps.ttl.out.csv", "timestamps.ttl.in.csv")
            },
            "start": self.start_time,
            "stop": self.stop_time,
            "duration_s": round(self.duration_s, 6),
            "frames": {
                "written": self.frames_written,
                "dropped": self.frames_dropped,
                "dropped_at": list(self.dropped_at),
                "ttl_out_pulses": self.ttl_out_pulses,
                "ttl_in_edges": self.ttl_in_edges,
                "first_index": self.first_index,
                "last_index": self.last_index,
            },
            "video_bytes": self._video.bytes_written if self._video is not None else 0,
            "clock": {
                **self.clock_sync.estimator.summary(),
                "model": None
                if (m := self.clock_sync.estimator.model) is None
                else {"reference_us": m.reference_us, "offset_us": m.offset_us, "drift": m.drift},
                "sync_mode": self.settings.sync_mode,
            },
            "timing": {"start_at_us": self.start_at_us, "first_frame": self.first_frame, **self.timing},
        }

    def _write_metadata(self, *, durable: bool = True) -> None:
        if self.files is None:
            return
        try:
            write_json_atomic(self.files.metadata, self.metadata(), durable=durable)
        except OSError as err:
            logger.error("could not write metadata %s: %s", self.files.metadata, err)
