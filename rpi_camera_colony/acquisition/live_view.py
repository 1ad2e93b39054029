"""The agent's live view: while it is on, the camera runs and sends preview images, recording or not.

Switched by the conductor's ``stream`` command (and on at configure with ``stream_video = True``). When the camera is
configured but not recording, the live view keeps it previewing (without settling exposure again, so the recordings
keep sharing one exposure); a ``start`` switches it from previewing to recording and a stop back. Preview images come
from :class:`~rpi_camera_colony.acquisition.preview.PreviewStream`, which never holds up the camera.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Optional, Protocol

from rpi_camera_colony.acquisition.camera_agent import CameraAgent
from rpi_camera_colony.acquisition.preview import PreviewSink, PreviewStream
from rpi_camera_colony.config.settings import ControllerSettings
from rpi_camera_colony.exc import ColonyError, RecordingError

logger = logging.getLogger(__name__)


class ClosableSink(Protocol):
    def __call__(self, frame: Any, /) -> None: ...

    def close(self) -> None: ...


#: Makes the sinks of a new preview stream for these settings (e.g. the sender to the conductor).
SinkFactory = Callable[[ControllerSettings], list[ClosableSink]]


class LiveView:
    """The live view of one agent's camera (see the module). Used from the agent loop's thread only."""

    def __init__(self, agent: CameraAgent, make_sinks: SinkFactory) -> None:
        self.agent = agent
        self._make_sinks = make_sinks
        self._stream: Optional[PreviewStream] = None
        self._sinks: list[ClosableSink] = []
        self._failed_start: Optional[str] = None

    @property
    def on(self) -> bool:
        return self._stream is not None

    def switch(self, on: bool) -> dict[str, Any]:
        """Turn the live view on or off; what it is now.

        Raises:
            RecordingError: when turned on before the camera is configured.
        """
        if on and not self.on:
            settings = self.agent.settings
            if settings is None:
                raise RecordingError("not configured: send 'configure' before 'stream'")
            self._open(settings)
        elif not on and self.on:
            self._close_stream()
            if self.agent.state == "previewing":
                self.agent.stop("live view off")
        return self.describe()

    def describe(self) -> dict[str, Any]:
        stream = self._stream
        if stream is None:
            return {"streaming": False}
        return {
            "streaming": True,
            "size": list(stream.size),
            "framerate": round(1 / stream.period),
            "sent": stream.sent,
            "skipped": stream.skipped,
        }

    def reconfigured(self) -> None:
        """After a configure: start the stream with the new settings (size, rate), or with ``stream_video``."""
        settings = self.agent.settings
        if settings is None:
            return
        if self.on or settings.stream_video:
            self._close_stream()
            self._open(settings)

    def keep_running(self) -> None:
        """While on, run the camera when it is configured and idle (call once per loop turn; cheap)."""
        if not self.on or self.agent.state not in ("configured", "stopped"):
            return
        try:
            self.agent.preview(settle_exposure=False)
            self._failed_start = None
        except ColonyError as err:
            if str(err) != self._failed_start:  # said once, not once per loop turn
                logger.error("live view: the camera does not run: %s", err)
            self._failed_start = str(err)

    def _open(self, settings: ControllerSettings) -> None:
        self._sinks = self._make_sinks(settings)
        sinks: list[PreviewSink] = list(self._sinks)
        self._stream = PreviewStream(
            settings.name, size=settings.stream_resolution, framerate=settings.stream_framerate, sinks=sinks
        )
        self.agent.set_preview(self._stream)
        logger.info("live view on: %dx%d at up to %d fps", *settings.stream_resolution, settings.stream_framerate)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        self.agent.set_preview(None)
        if stream is not None:
            stream.close()
            logger.info("live view off (%d images sent, %d skipped)", stream.sent, stream.skipped)
        for sink in self._sinks:
            sink.close()
        self._sinks = []

    def close(self) -> None:
        """Stop the stream (the camera is the agent's to stop). Safe to call twice."""
        self._close_stream()
