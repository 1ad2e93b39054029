"""``CameraLink``: the conductor's handle on one camera's agent.

It sends that camera's commands (each returns a :class:`~rpi_camera_colony.control.status.CommandStatus`) and keeps
what the agent last said: its hello, its heartbeats, whether it is lost or stalled, and its outages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from rpi_camera_colony.config.settings import ControllerSettings
from rpi_camera_colony.control.status import CommandStatus
from rpi_camera_colony.exc import AgentExited, CameraError, ProtocolError
from rpi_camera_colony.protocol import AgentStatus, PreviewFrame, RecordingCounts

logger = logging.getLogger(__name__)

#: Heartbeats that may be missed before a camera counts as lost.
MISSED_HEARTBEATS = 4
#: Seconds without a new frame while "recording" before a camera counts as stalled.
STALL_SECONDS = 2.0

Submit = Callable[[str, str, dict[str, Any], float], CommandStatus]


@dataclass(frozen=True)
class CameraStatus:
    """What the conductor knows about one camera right now (from its latest heartbeat)."""

    name: str
    #: the agent's state: idle, settling, configured, armed, previewing, recording, stopped, error, closed; or
    #: "lost"/"exited"
    state: str
    connected: bool
    frames: int = 0
    dropped: int = 0
    bytes_written: int = 0
    ttl_out: int = 0
    ttl_in: int = 0
    recording_s: float = 0.0
    free_disk: Optional[int] = None
    error: Optional[str] = None
    problem: Optional[str] = None  #: set when something is wrong: lost, exited, stalled, failed
    host: str = ""
    pid: Optional[int] = None
    seconds_since_heard: Optional[float] = None
    outages: int = 0  #: how many times the camera was out of reach (lost) since connect
    unreachable_s: float = 0.0  #: for how long in all (the current outage included)
    previews: int = 0  #: live preview images received from the camera
    preview_age_s: Optional[float] = None  #: seconds since the latest one arrived
    fps: float = 0.0  #: frames per second of the running recording
    #: the camera clock's offset from the conductor's (µs), its uncertainty (half the best round trip) and its drift
    #: (ppm), once the clock synchronisation has a fit; None before
    clock_offset_us: Optional[float] = None
    clock_uncertainty_us: Optional[float] = None
    clock_drift_ppm: Optional[float] = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _number(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _half(value: Any) -> Optional[float]:
    number = _number(value)
    return None if number is None else number / 2


class CameraLink:
    """One camera, seen from the conductor. Created by :class:`~rpi_camera_colony.control.conductor.Conductor`."""

    def __init__(
        self, settings: ControllerSettings, *, submit: Submit, command_timeout: float, heartbeat_interval: float
    ) -> None:
        self.name = settings.name
        self.settings = settings
        self._submit = submit
        self.command_timeout = command_timeout
        self.heartbeat_interval = heartbeat_interval
        self._lock = threading.Lock()
        self.hello: dict[str, Any] = {}
        #: the agent's status as of its latest hello, heartbeat or reply (None before it said hello)
        self.agent_status: Optional[AgentStatus] = None
        self.connected = False
        self.lost = False
        self.exit_code: Optional[int] = None
        self.exit_output = ""
        self.exit_started = True
        self.version_error: Optional[str] = None
        self._last_heard: Optional[float] = None
        self._last_frames = -1
        self._last_progress = 0.0
        self.stalled = False
        #: (monotonic time the camera was last heard before it was marked lost, when it was heard again or None)
        self.outages: list[tuple[float, Optional[float]]] = []
        #: the latest live preview image, when it arrived (time.time()), and how many arrived
        self.preview_image: Optional[PreviewFrame] = None
        self.preview_received = 0.0
        self.previews = 0

    # -- commands ---------------------------------------------------------------------------------------------

    def send(
        self, command: str, args: Optional[dict[str, Any]] = None, timeout: Optional[float] = None
    ) -> CommandStatus:
        """Send any protocol command; see :data:`rpi_camera_colony.protocol.COMMANDS`."""
        return self._submit(self.name, command, args or {}, self.command_timeout if timeout is None else timeout)

    def configure(
        self,
        *,
        data_path: str,
        max_acquisition_time: float,
        clock_sync_interval: Optional[float] = None,
        disk_space_check: str = "refuse",
    ) -> CommandStatus:
        args: dict[str, Any] = {
            "settings": self.settings.to_dict(),
            "data_path": data_path,
            "max_acquisition_time": max_acquisition_time,
            "disk_space_check": disk_space_check,
        }
        if clock_sync_interval is not None:
            args["clock_sync_interval"] = clock_sync_interval
        # acknowledged once exposure has settled: the warm-up adds to the command's deadline
        return self.send("configure", args, self.command_timeout + self.settings.exposure_warmup)

    def reset(self) -> CommandStatus:
        """Settle exposure and white balance again (``exposure_warmup`` seconds), then fix them."""
        return self.send("reset", timeout=self.command_timeout + self.settings.exposure_warmup)

    def start(
        self,
        *,
        acquisition_name: str,
        acquisition_time: str,
        acquisition_group: str,
        file_time: Optional[str] = None,
        start_at_us: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> CommandStatus:
        args: dict[str, Any] = {
            "acquisition_name": acquisition_name,
            "acquisition_time": acquisition_time,
            "acquisition_group": acquisition_group,
        }
        if file_time is not None:
            args["file_time"] = file_time
        if start_at_us is not None:
            args["start_at_us"] = start_at_us
        return self.send("start", args, timeout)

    def stop(self) -> CommandStatus:
        return self.send("stop")

    def preview(self) -> CommandStatus:
        return self.send("preview")

    def close(self, timeout: Optional[float] = None) -> CommandStatus:
        return self.send("close", timeout=timeout)

    def ping(self) -> CommandStatus:
        return self.send("ping")

    def request_status(self) -> CommandStatus:
        return self.send("status")

    def stream(self, on: bool = True) -> CommandStatus:
        """Live view on or off: preview images (``stream_resolution`` at ``stream_framerate``) while the camera
        runs; when it is not recording, the camera previews."""
        return self.send("stream", {"on": on})

    def inject_ttl_in(self, count: int = 1) -> CommandStatus:
        """Feed ``count`` alternating edges into a simulated TTL input."""
        return self.send("inject_ttl_in", {"count": count})

    # -- link state (called by the conductor's network thread) -----------------------------------------------

    def _end_outage(self, now: float) -> bool:
        """Call with the lock held when the camera is heard: True if that ends an outage."""
        if not self.lost:
            return False
        if self.outages and self.outages[-1][1] is None:
            self.outages[-1] = (self.outages[-1][0], now)
        return True

    def on_hello(self, message: dict[str, Any], now: float) -> bool:
        """Record a hello; True if this is a re-attach after the camera was lost.

        Raises:
            ProtocolError: if its status fields have the wrong types (nothing is recorded then).
        """
        status = AgentStatus.from_message(message)
        with self._lock:
            reattached = self._end_outage(now)
            self.hello = message
            self.agent_status = status
            self.connected = True
            self.lost = False
            self._last_heard = now
            return reattached

    def on_heartbeat(self, status: AgentStatus, now: float) -> bool:
        """Record a heartbeat's status; True if this is a re-attach after the camera was lost."""
        with self._lock:
            reattached = self._end_outage(now)
            self.agent_status = status
            self.lost = False
            self._last_heard = now
            self._note_progress(status, now)
            return reattached

    def _note_progress(self, status: AgentStatus, now: float) -> None:
        """Remember when the frame count last moved (or the camera was not recording); call with the lock held."""
        frames = int(status.stats.get("frames") or 0)
        if status.state != "recording" or frames != self._last_frames:
            self._last_frames = frames
            self._last_progress = now
            self.stalled = False

    def on_reply(self, state: str, data: dict[str, Any]) -> None:
        """A reply tells the agent's state as of now: fresher than the last heartbeat."""
        with self._lock:
            current = self.agent_status
            if current is not None and current.state == state and "stats" not in data and not data.get("summary"):
                return  # nothing new (e.g. a ping's reply): the command path stays short
            update: dict[str, Any] = {"state": state}
            if isinstance(data.get("stats"), dict):
                update["stats"] = data["stats"]
            if isinstance(data.get("summary"), dict) and data["summary"]:
                update["last_summary"] = data["summary"]
                update["stats"] = {}
            try:
                status = AgentStatus.from_message({**(self.agent_status or AgentStatus()).fields(), **update})
            except ProtocolError as err:  # a reply's figures of the wrong type: the last status stands
                logger.warning("%s: reply with an unreadable status ignored: %s", self.name, err)
                return
            self.agent_status = status
            self._note_progress(status, time.monotonic())

    def on_preview(self, frame: PreviewFrame, received: float) -> None:
        with self._lock:
            self.preview_image = frame
            self.preview_received = received
            self.previews += 1

    def on_exit(self, code: Optional[int], output: str, started: bool = True) -> None:
        with self._lock:
            self.exit_code = code
            self.exit_output = output
            self.exit_started = started
            self.connected = False

    def exit_error(self) -> CameraError:
        """The error that says why this camera's agent is gone (or never started)."""
        if not self.exit_started:
            return CameraError(self.name, self.exit_output)
        return AgentExited(self.name, self.exit_code, self.exit_output)

    def check(self, now: float) -> Optional[str]:
        """Update lost/stalled flags; return a message when one of them newly became true."""
        with self._lock:
            if not self.connected or self._last_heard is None or self.exit_code is not None:
                return None
            silent = now - self._last_heard
            if not self.lost and silent > MISSED_HEARTBEATS * self.heartbeat_interval + 0.5:
                self.lost = True
                self.outages.append((self._last_heard, None))
                return f"lost: no heartbeat for {silent:.1f} s (an agent out of reach keeps recording)"
            if (
                not self.stalled
                and not self.lost
                and self.agent_status is not None
                and self.agent_status.state == "recording"
                and now - self._last_progress > max(STALL_SECONDS, 4 * self.heartbeat_interval)
            ):
                self.stalled = True
                return f"stalled: recording, but no new frame for {now - self._last_progress:.1f} s"
            return None

    def status(self) -> CameraStatus:
        with self._lock:
            beat = self.agent_status
            state = beat.state if beat is not None else ("connecting" if not self.connected else "idle")
            problem = None
            if self.exit_code is not None and not self.exit_started:
                state, problem = "failed", self.exit_output.splitlines()[0] if self.exit_output else "not started"
            elif self.exit_code is not None:
                state, problem = "exited", f"agent exited with code {self.exit_code}"
            elif self.lost:
                state, problem = "lost", "out of reach: no heartbeat from the agent (it records on, if it was)"
            elif self.stalled:
                problem = "recording, but the frame count stopped growing"
            elif state == "error":
                problem = str(beat.error if beat is not None and beat.error else "camera error")
            counts = beat.counts if beat is not None else RecordingCounts()
            return CameraStatus(
                name=self.name,
                state=state,
                connected=self.connected and not self.lost,
                frames=counts.frames,
                dropped=counts.dropped,
                bytes_written=counts.bytes,
                ttl_out=counts.ttl_out,
                ttl_in=counts.ttl_in,
                recording_s=counts.recording_s,
                free_disk=beat.free_disk if beat is not None else None,
                error=beat.error if beat is not None else None,
                problem=problem,
                host=str((self.hello.get("host") or {}).get("hostname", "")),
                pid=self.hello.get("pid"),
                seconds_since_heard=None if self._last_heard is None else round(time.monotonic() - self._last_heard, 3),
                outages=len(self.outages),
                unreachable_s=round(
                    sum((time.monotonic() if back is None else back) - since for since, back in self.outages), 3
                ),
                fps=counts.fps,
                clock_offset_us=_number(beat.clock.get("offset_us")) if beat is not None else None,
                clock_uncertainty_us=_half(beat.clock.get("rtt_us")) if beat is not None else None,
                clock_drift_ppm=_number(beat.clock.get("drift_ppm")) if beat is not None else None,
                previews=self.previews,
                preview_age_s=None if self.preview_image is None else round(time.time() - self.preview_received, 3),
            )
