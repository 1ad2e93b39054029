"""The fake kernel's file descriptors (memfd buffers, eventfds, duplicates), tracked so that none survives."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from typing import Optional

logger = logging.getLogger(__name__)


class FdHandle:
    """One file descriptor of the fake kernel; ``close()`` is idempotent and safe from any thread."""

    def __init__(self, registry: FdRegistry, fd: int, label: str, kind: str) -> None:
        self._registry = registry
        self._fd = fd
        self.label = label
        self.kind = kind
        self._lock = threading.Lock()
        self._pipe_write = -1

    @property
    def fd(self) -> int:
        """The descriptor number, -1 once closed."""
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        with self._lock:
            fds = [fd for fd in (self._fd, self._pipe_write) if fd >= 0]
            self._fd = self._pipe_write = -1
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        if fds:
            self._registry.forget(self)

    def signal(self) -> None:
        """Make an event descriptor readable (eventfd: add 1)."""
        with self._lock:
            if self._fd < 0:
                return
            if self._pipe_write >= 0:
                with contextlib.suppress(BlockingIOError):
                    os.write(self._pipe_write, b"\x01")
            else:
                os.eventfd_write(self._fd, 1)

    def consume(self) -> int:
        """Read an event descriptor like libcamera's ``readFd()``: 0, or the errno (EAGAIN when nothing)."""
        with self._lock:
            if self._fd < 0:
                return errno.EBADF
            try:
                if self._pipe_write >= 0:
                    if not os.read(self._fd, 4096):
                        return errno.EIO
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._fd, 4096):
                            pass
                else:
                    os.eventfd_read(self._fd)
            except BlockingIOError:
                return errno.EAGAIN
            except OSError as exc:
                return exc.errno or errno.EIO
            return 0

    def __repr__(self) -> str:
        return f"<FdHandle {self.kind} {self.label!r} fd={self._fd}>"


class FdRegistry:
    """Every descriptor the fake kernel opened, so that none survives the context."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, FdHandle] = {}

    def _add(self, fd: int, label: str, kind: str) -> FdHandle:
        handle = FdHandle(self, fd, label, kind)
        with self._lock:
            self._open[id(handle)] = handle
        return handle

    def forget(self, handle: FdHandle) -> None:
        with self._lock:
            self._open.pop(id(handle), None)

    def dup(self, fd: int, label: str) -> Optional[FdHandle]:
        """Duplicate ``fd`` (libcamera's ``SharedFD(const int &)``); None (and an error logged) if it is invalid."""
        try:
            new = os.dup(fd)
        except OSError as exc:
            logger.error("Failed to duplicate fd %d: %s", fd, exc)
            return None
        return self._add(new, label, "dup")

    def memfd(self, label: str, size: int) -> FdHandle:
        """A memfd of ``size`` bytes: the fake's DMA buffer."""
        fd = os.memfd_create(label, os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
        except OSError:
            os.close(fd)
            raise
        return self._add(fd, label, "memfd")

    def eventfd(self, label: str) -> FdHandle:
        """A non-blocking eventfd (a pipe where eventfd is unavailable)."""
        if hasattr(os, "eventfd"):
            return self._add(os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK), label, "eventfd")
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        handle = self._add(read_fd, label, "pipe")
        handle._pipe_write = write_fd
        return handle

    def open_handles(self) -> list[FdHandle]:
        with self._lock:
            return list(self._open.values())

    def close_all(self) -> None:
        for handle in self.open_handles():
            handle.close()
