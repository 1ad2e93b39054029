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


class SyncedFile:
    """A file written by one thread and flushed + fsync'ed by a :class:`DataSyncer` from another.

    ``buffered=False`` (binary only) hands every write to the operating system at once: what a killed process
    wrote is in the file. The video is written so, and its frames' rows are flushed row by row
    (``CsvFile(flush_rows=True)``) right after each frame: the two files then differ by at most one frame after a
    SIGKILL or on a full disk (with Python's buffers they differed by up to a second).
    """

    def __init__(self, path: Path, *, binary: bool, buffered: bool = True) -> None:
        self.path = path
        # Kept open for the whole recording and closed in close(), so no context manager here.
        if binary:
            self._raw: Any = open(path, "xb", buffering=-1 if buffered else 0)  # noqa: SIM115
        else:
            self._raw = open(path, "x", newline="", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()
        self.bytes_written = 0
        self.closed = False

    def write(self, data: Any) -> None:
        """Write all of ``data``.

        Raises:
            OSError: e.g. a full disk; ``bytes_written`` counts only what was written.
        """
        with self._lock:
            view = memoryview(data) if isinstance(data, (bytes, bytearray, memoryview)) else None
            if view is None or not isinstance(self._raw, io.RawIOBase):
                self._raw.write(data)
                self.bytes_written += len(data)
                return
            while view:  # an unbuffered file may take part of it (a disk filling up)
                done = self._raw.write(view)
                if not done:
                    raise OSError(errno.ENOSPC, "no space left on device (write took nothing)", str(self.path))
                self.bytes_written += done
                view = view[done:]

    def sync(self) -> None:
        """Flush Python's buffer (under the lock) and fsync (outside it, so writers are not held up by the disk)."""
        with self._lock:
            if self.closed:
                return
            self._raw.flush()
            fd = self._raw.fileno()
        try:
            os.fsync(fd)
        except OSError as err:
            if err.errno != errno.EBADF:  # EBADF: closed in between, and close() synced it; anything else counts
                raise
            logger.debug("fsync of %s skipped: closed meanwhile", self.path)

    def close(self) -> None:
        """Flush, fsync and close; the file is closed even when the flush fails (e.g. a full disk), then it raises."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._raw.flush()
                os.fsync(self._raw.fileno())
            finally:
                with contextlib.suppress(OSError):  # the flush error above is the one to report
                    self._raw.close()


class CsvFile(SyncedFile):
    """A CSV file with a header row; ``flush_rows`` hands each row to the operating system as it is written."""

    def __init__(self, path: Path, columns: Iterable[str], *, flush_rows: bool = False) -> None:
        super().__init__(path, binary=False)
        self.flush_rows = flush_rows
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self.rows = 0
        self._write_line(list(columns))

    def _write_line(self, values: list[Any]) -> None:
        self._writer.writerow(values)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        self.write(text)

    def write_row(self, *values: Any) -> None:
        """Write one row.

        Raises:
            OSError: when ``flush_rows`` and the row cannot be handed to the operating system (e.g. a full disk).
        """
        self._write_line(["" if v is None else v for v in values])
        if self.flush_rows:
            with self._lock:
                if not self.closed:
                    self._raw.flush()


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


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so that readers only ever see the old or the new complete file.

    On a full disk the new file cannot be made beside the old one: then the old file is overwritten in place (its
    own blocks are freed first, so a file of about its size fits), and no temporary file is left behind.

    Raises:
        OSError: if neither way works.
    """
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
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
