"""The dashboard's web app (Starlette, ASGI): one page, a JSON API, server-sent status events, MJPEG relays.

Routes:

- ``GET /``: the page (HTML, CSS and a little JavaScript shipped in the package).
- ``GET /api/status``: the colony's view (:meth:`DashboardSession.view`).
- ``GET /api/events``: the same view as server-sent events, sent when it changes.
- ``POST /api/start`` with ``{"acquisition_name": ...}``; ``POST /api/stop`` (returns the summaries).
- ``GET /cameras/{name}/preview.mjpg``: the camera's live view (multipart/x-mixed-replace, boundary ``FRAME``,
  as the original's stream), relayed by the conductor so a browser needs to reach this machine only.
- ``GET /cameras/{name}/snapshot.jpg``: the latest preview image.

Errors come back as ``{"error": message, "kind": exception class, "failures": {camera: message}}`` with the message
the Python API raises. With a token, every request must carry it (``?token=``, which also sets a cookie, or
``Authorization: Bearer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Optional

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from rpi_camera_colony.dashboard.session import DashboardSession
from rpi_camera_colony.exc import ColonyCommandError, ColonyError, ConfigError, RecordingError
from rpi_camera_colony.files import check_name_part
from rpi_camera_colony.mjpeg import MEDIA_TYPE, FrameHub, frame_headers
from rpi_camera_colony.protocol import PreviewFrame

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
#: How often the server looks for changes to send as events (seconds): the page is told, it does not poll.
EVENT_CHECK_S = 0.25
#: A comment line this often keeps proxies from closing a quiet event stream (seconds).
EVENT_KEEPALIVE_S = 15.0
TOKEN_COOKIE = "rcc_token"


def error_response(err: BaseException) -> JSONResponse:
    """An exception as the API's JSON error, with a status code that fits it."""
    body: dict[str, Any] = {"error": str(err), "kind": type(err).__name__}
    if isinstance(err, ColonyCommandError):
        body["failures"] = {name: str(failure) for name, failure in err.failures.items()}
        status = 502
    elif isinstance(err, (ConfigError, ValueError)):
        status = 400
    elif isinstance(err, RecordingError):
        status = 409
    elif isinstance(err, ColonyError):
        status = 500
    else:
        logger.error("dashboard request failed", exc_info=err)
        status = 500
    return JSONResponse(body, status_code=status)


def create_app(session: DashboardSession, *, token: Optional[str] = None) -> Starlette:
    """The dashboard app over ``session`` (its conductor connected, live view on)."""
    conductor = session.conductor
    hub = FrameHub()
    shutting_down = hub.closed

    def camera_or_404(request: Request) -> str:
        name = str(request.path_params["name"])
        if name not in conductor.controllers:
            known = ", ".join(conductor.controllers)
            raise LookupError(f"no camera {name!r} in this colony (cameras: {known})")
        return name

    async def page(request: Request) -> Response:
        response: Response = FileResponse(STATIC / "index.html", media_type="text/html")
        given = request.query_params.get("token")
        if token is not None and given is not None:
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
        return response

    @_api
    async def status(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(session.view))

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            last, quiet = "", 0.0
            while not shutting_down.is_set():
                try:
                    text = json.dumps(await run_in_threadpool(session.view), separators=(",", ":"))
                except ColonyError as err:
                    text = json.dumps({"error": str(err)})
                if text != last:
                    last, quiet = text, 0.0
                    yield f"data: {text}\n\n"
                elif quiet >= EVENT_KEEPALIVE_S:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(shutting_down.wait(), EVENT_CHECK_S)
                quiet += EVENT_CHECK_S

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @_api
    async def start(request: Request) -> Response:
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return error_response(ValueError('the body must be JSON, e.g. {"acquisition_name": "mouse1__day1"}'))
        if not isinstance(body, dict) or not isinstance(body.get("acquisition_name", ""), (str, type(None))):
            return error_response(ValueError('the body must be {"acquisition_name": "NAME"}'))
        name = body.get("acquisition_name") or None
        if name is not None:
            try:
                check_name_part("acquisition_name", name)
            except RecordingError as err:  # bad input, not a conflict
                return error_response(ValueError(str(err)))
        return JSONResponse(await run_in_threadpool(session.start, name))

    @_api
    async def stop(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(session.stop))

    @_api
    async def snapshot(request: Request) -> Response:
        frame = conductor.preview_frame(camera_or_404(request))
        if frame is None:
            return JSONResponse({"error": "no preview image from this camera yet", "kind": "NoPreview"}, 503)
        return Response(frame.jpeg, media_type="image/jpeg", headers=frame_headers(frame))

    @_api
    async def mjpeg(request: Request) -> Response:
        name = camera_or_404(request)
        stream = hub.stream(name, lambda: conductor.preview_frame(name))
        return StreamingResponse(stream, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-cache"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.attach(asyncio.get_running_loop())
        conductor.add_preview_listener(on_preview)
        watcher = asyncio.create_task(_collect_ended(session, shutting_down))
        try:
            yield
        finally:
            shutting_down.set()
            conductor.remove_preview_listener(on_preview)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    def on_preview(frame: PreviewFrame) -> None:  # on the conductor's network thread
        hub.arrived(frame.instance)

    routes = [
        Route("/", page),
        Route("/api/status", status),
        Route("/api/events", events),
        Route("/api/start", start, methods=["POST"]),
        Route("/api/stop", stop, methods=["POST"]),
        Route("/cameras/{name}/preview.mjpg", mjpeg),
        Route("/cameras/{name}/snapshot.jpg", snapshot),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [] if token is None else [Middleware(TokenCheck, token=token)]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},  # an unknown path or method: JSON too
    )
    app.state.close_streams = hub.close  # ends every stream (events, MJPEG) at once: the server can stop
    return app


Endpoint = Callable[[Request], Awaitable[Response]]


async def _http_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, HTTPException)
    return JSONResponse({"error": err.detail, "kind": "HTTPException"}, status_code=err.status_code)


def _api(endpoint: Endpoint) -> Endpoint:
    """Errors as the API's JSON (see :func:`error_response`); an unknown camera is a 404."""

    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except LookupError as err:
            return JSONResponse({"error": str(err).strip("'\""), "kind": "NotFound"}, status_code=404)
        except Exception as err:
            return error_response(err)

    return wrapped


async def _collect_ended(session: DashboardSession, stop: asyncio.Event) -> None:
    """Collect recordings that end by themselves (max_acquisition_time), so the page shows their summaries."""
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if not stop.is_set():
            await run_in_threadpool(session.stop_if_ended)


class TokenCheck:
    """ASGI middleware: every HTTP request carries the token (query ``token``, the cookie, or a Bearer header)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            bearer = request.headers.get("authorization", "")
            given = (
                request.query_params.get("token")
                or request.cookies.get(TOKEN_COOKIE)
                or (bearer[len("Bearer ") :].strip() if bearer.startswith("Bearer ") else "")
            )
            if not given or not secrets.compare_digest(given.encode(), self.token.encode()):
                refusal = JSONResponse(
                    {"error": "this dashboard needs its token: open the address it printed (.../?token=...)",
                     "kind": "Auth"},
                    status_code=401,
                )  # fmt: skip
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
