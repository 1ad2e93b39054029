"""The agent's own live stream, as the original served it with ``stream_video = True``: MJPEG over HTTP at
``http://{stream_address}:{stream_port}/`` (``multipart/x-mixed-replace``, boundary ``FRAME``), and the latest image
at ``/snapshot.jpg``. It is one more sink of the live view's preview images (Starlette on uvicorn, on a thread)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator
from typing import Optional

from rpi_camera_colony.exc import RecordingError
from rpi_camera_colony.mjpeg import MEDIA_TYPE, FrameHub, frame_headers
from rpi_camera_colony.protocol import PreviewFrame

logger = logging.getLogger(__name__)


class StreamServer:
    """Serves one camera's preview images; call it with each image. ``close()`` ends it.

    Raises:
        RecordingError: the address and port cannot be listened on (said with what to change).
    """

    def __init__(self, instance: str, host: str, port: int) -> None:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response, StreamingResponse
        from starlette.routing import Route

        self.instance = instance
        self.latest: Optional[PreviewFrame] = None
        self.hub = FrameHub()
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
            self._sock.listen(16)
        except OSError as err:
            self._sock.close()
            raise RecordingError(
                f"cannot serve the live stream on {host}:{port}: {err.strerror}; set stream_address to this Pi's "
                "address and stream_port to a free port"
            ) from None
        self.port = int(self._sock.getsockname()[1])

        async def stream(request: Request) -> Response:
            frames = self.hub.stream(instance, lambda: self.latest)
            return StreamingResponse(frames, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-cache"})

        async def snapshot(request: Request) -> Response:
            frame = self.latest
            if frame is None:
                return JSONResponse({"error": "no preview image yet"}, status_code=503)
            return Response(frame.jpeg, media_type="image/jpeg", headers=frame_headers(frame))

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.hub.attach(asyncio.get_running_loop())
            yield

        app = Starlette(routes=[Route("/", stream), Route("/snapshot.jpg", snapshot)], lifespan=lifespan)
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, lifespan="on")
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"rcc-stream-{instance}", daemon=True
        )
        self._thread.start()
        logger.info("live stream at http://%s:%d/", host, self.port)

    def __call__(self, frame: PreviewFrame) -> None:
        self.latest = frame
        self.hub.arrived(self.instance)

    def close(self) -> None:
        """Stop serving. Safe to call twice."""
        self.hub.close()
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()
