"""MJPEG over HTTP, as the original's ``stream_video`` served it (``multipart/x-mixed-replace``, boundary ``FRAME``):
the framing of each part, and the asyncio side of waiting for the next preview image. Used by the agent's own
stream server and by the dashboard's relay."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import BinaryIO, Optional

from rpi_camera_colony.exc import ProtocolError
from rpi_camera_colony.protocol import PreviewFrame

BOUNDARY = "FRAME"
MEDIA_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"


def frame_headers(frame: PreviewFrame) -> dict[str, str]:
    """A preview image's HTTP headers: its type and size, and which camera frame it shows."""
    return {
        "Content-Type": "image/jpeg",
        "Content-Length": str(len(frame.jpeg)),
        "X-Frame-Index": str(frame.index),
        "X-Timestamp-Us": str(frame.timestamp_us),
        "X-Sys-Time": f"{frame.sys_time:.6f}",
    }


def part(frame: PreviewFrame) -> bytes:
    """One part of the multipart stream."""
    head = "".join(f"{key}: {value}\r\n" for key, value in frame_headers(frame).items())
    return f"--{BOUNDARY}\r\n{head}\r\n".encode() + frame.jpeg + b"\r\n"


def read_parts(stream: BinaryIO) -> Iterator[tuple[dict[str, str], bytes]]:
    """The parts of such a stream as they arrive: (headers by lower-case name, JPEG); ends with the stream.

    Raises:
        ProtocolError: where the stream does not follow this framing.
    """
    boundary = f"--{BOUNDARY}\r\n".encode()
    while line := stream.readline():
        if line != boundary:
            raise ProtocolError(f"expected the boundary {boundary!r}, got {line[:40]!r}")
        headers = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode(errors="replace").partition(":")
            headers[key.strip().lower()] = value.strip()
        if not headers.get("content-length", "").isdigit():
            raise ProtocolError(f"a part without a Content-Length: {headers}")
        image = stream.read(int(headers["content-length"]))
        if stream.read(2) != b"\r\n":
            raise ProtocolError("a part does not end with CRLF after its Content-Length")
        yield headers, image


class FrameHub:
    """Wakes the streams of a name when its next image arrives; :meth:`arrived` may be called from any thread."""

    def __init__(self) -> None:
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.closed = asyncio.Event()
        self._events: dict[str, asyncio.Event] = {}

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def event(self, name: str) -> asyncio.Event:
        """An event set by the next image of ``name`` (take it before looking at the current image)."""
        return self._events.setdefault(name, asyncio.Event())

    def arrived(self, name: str) -> None:
        self._call(self._wake, name)

    def close(self) -> None:
        """End every stream now (from any thread)."""
        self._call(self._close)

    def _call(self, function: Callable[..., None], *args: str) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(function, *args)

    def _wake(self, name: str) -> None:
        event = self._events.pop(name, None)
        if event is not None:
            event.set()

    def _close(self) -> None:
        self.closed.set()
        for name in list(self._events):
            self._wake(name)

    async def stream(self, name: str, latest: Callable[[], Optional[PreviewFrame]]) -> AsyncIterator[bytes]:
        """The multipart stream of ``name``: each new image ``latest()`` gives, until :meth:`close`."""
        last: Optional[PreviewFrame] = None
        while not self.closed.is_set():
            arrived = self.event(name)
            frame = latest()
            if frame is not None and frame is not last:
                last = frame
                yield part(frame)
            if not self.closed.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(arrived.wait(), 1.0)
