"""Writing the files of one recording: periodically synced writers, atomic metadata (their names and folders are
the shared vocabulary of :mod:`rpi_camera_colony.files`).

Everything written is flushed to the operating system and fsync'ed at least every ``sync_interval`` seconds by one
background thread, so a crash loses at most the last second.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Optional

from rpi_camera_colony.files import (  # the names live in the shared vocabulary; re-exported for the writers' users
    CLOCK_COLUMNS,
    KIND_CLOCK,
    KIND_METADATA,
    KIND_MP4,
    KIND_TTL_IN,
    KIND_TTL_OUT,
    KIND_VIDEO,
    TTL_IN_COLUMNS,
    TTL_OUT_COLUMNS,
    RecordingFiles,
    session_folder,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CLOCK_COLUMNS", "KIND_CLOCK", "KIND_METADATA", "KIND_MP4", "KIND_TTL_IN", "KIND_TTL_OUT", "KIND_VIDEO",
    "TTL_IN_COLUMNS", "TTL_OUT_COLUMNS", "CsvFile", "DataSyncer", "RecordingFiles", "SyncedFile", "session_folder",
    "write_json_atomic",
]  # fmt: skip


#: Bytes a buffered file gathers before handing them to the operating system (the syncer hands them over sooner).
BUFFER_BYTES = 64 * 1024


class SyncedFile:
    """A file written by one thread and flushed + fsync'ed by a :class:`DataSyncer` from another.

    Writes go to the operating system through an unbuffered file: ``buffered=False`` hands each write over at once,
    so what a killed process wrote is in the file (the video is written so, and its frames' rows right after each
    frame: the two then differ by at most one frame after a SIGKILL or on a full disk); ``buffered=True`` gathers
    up to :data:`BUFFER_BYTES` first. With ``whole_writes`` a write that fails part way (a full disk) is cut back
    off the file, so that it never ends in half a row; nothing that failed is tried again later.
    """

    def __init__(self, path: Path, *, buffered: bool = True, whole_writes: bool = False) -> None:
        self.path = path
        # Kept open for the whole recording and closed in close(), so no context manager here.
        self._raw: Any = open(path, "xb", buffering=0)  # noqa: SIM115
        self._buffered = buffered
        self._whole_writes = whole_writes
        self._pending = bytearray()
        self._lock = threading.Lock()
        self.bytes_written = 0  #: bytes in the file
        self.closed = False
        self.failed: Optional[OSError] = None  #: the first write error: the file lacks what was written after it

    def write(self, data: bytes) -> None:
        """Write all of ``data`` (at once, or with the next flush when buffered).

        Raises:
            OSError: e.g. a full disk; ``bytes_written`` counts only what is in the file.
        """
        with self._lock:
            if self._buffered:
                self._pending += data
                if len(self._pending) >= BUFFER_BYTES:
                    self._flush_locked()
            else:
                self._write_locked(memoryview(data))

    def _write_locked(self, view: memoryview) -> None:
        start = self.bytes_written
        try:
            while view:  # an unbuffered file may take part of it (a disk filling up)
                done = self._raw.write(view)
                if not done:
                    raise OSError(errno.ENOSPC, "No space left on device (the write took nothing)", str(self.path))
                self.bytes_written += done
                view = view[done:]
        except OSError as err:
            self.failed = self.failed or err
            if self._whole_writes and self.bytes_written != start:
                with contextlib.suppress(OSError):  # the write's own error is the one to report
                    os.ftruncate(self._raw.fileno(), start)
                    self._raw.seek(start)
                    self.bytes_written = start
            raise

    def _flush_locked(self) -> None:
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()  # dropped even if it fails: never half again
            self._write_locked(memoryview(data))

    def sync(self) -> None:
        """Flush (under the lock) and fsync (outside it, so writers are not held up by the disk)."""
        with self._lock:
            if self.closed:
                return
            self._flush_locked()
            fd = self._raw.fileno()
        try:
            os.fsync(fd)
        except OSError as err:
            if err.errno != errno.EBADF:  # EBADF: closed in between, and close() synced it; anything else counts
                raise
            logger.debug("fsync of %s skipped: closed meanwhile", self.path)

    def close(self) -> None:
        """Flush, fsync and close; the file is closed even when this fails (e.g. a full disk).

        Raises:
            OSError: if the last flush failed, or an earlier write did (the file is incomplete).
        """
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._flush_locked()
                os.fsync(self._raw.fileno())
            finally:
                with contextlib.suppress(OSError):  # the flush error above is the one to report
                    self._raw.close()
            if self.failed is not None:
                raise self.failed


class CsvFile(SyncedFile):
    """A CSV file with a header row, written in whole rows only; ``flush_rows`` hands each row to the operating
    system as it is written."""

    def __init__(self, path: Path, columns: Iterable[str], *, flush_rows: bool = False) -> None:
        super().__init__(path, buffered=not flush_rows, whole_writes=True)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self._write_line(list(columns))

    def _write_line(self, values: list[Any]) -> None:
        self._writer.writerow(values)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        self.write(text.encode("utf-8"))

    def write_row(self, *values: Any) -> None:
        """Write one row.

        Raises:
            OSError: when the row cannot be handed to the operating system (e.g. a full disk); the file then holds
                the rows before it, whole.
        """
        self._write_line(["" if v is None else v for v in values])


class DataSyncer:
    """One thread that syncs every registered file at least every ``interval`` seconds.

    A write error (e.g. a full disk) is handed to ``on_error`` once per file, so it reaches the agent instead of
    dying with this thread.
    """

    def __init__(self, interval: float = 1.0, *, on_error: Optional[Callable[[BaseException], None]] = None) -> None:
        self.interval = interval
        self._on_error = on_error
        self._failed: set[int] = set()
        self._files: list[SyncedFile] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def add(self, file: SyncedFile) -> None:
        with self._lock:
            self._files.append(file)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rcc-data-syncer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):  # pacing: a sync every interval; close() ends it at once
            self.sync_all()

    def sync_all(self) -> None:
        with self._lock:
            files = list(self._files)
        for file in files:
            try:
                file.sync()
            except OSError as err:
                if id(file) not in self._failed:
                    self._failed.add(id(file))
                    logger.error("cannot write %s: %s", file.path, err)
                    if self._on_error is not None:
                        self._on_error(err)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._files.clear()


def write_json_atomic(path: Path, data: dict[str, Any], *, durable: bool = True) -> None:
    """Write JSON so that readers only ever see the old or the new complete file.

    On a full disk the new file cannot be made beside the old one: then the old file is overwritten in place (its
    own blocks are freed first, so a file of about its size fits), and no temporary file is left behind.
    ``durable=False`` leaves the new file to the operating system's write-back instead of waiting for the disk (for a
    write on a time-critical path; a later durable write makes it safe).

    Raises:
        OSError: if neither way works.
    """
    text = json.dumps(data, indent=4, sort_keys=True, default=str) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
        return
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if err.errno != errno.ENOSPC or not path.exists():
            raise
    with open(path, "r+", encoding="utf-8") as handle:
        handle.truncate(0)
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
