"""Every camera starts at one time: the conductor's two-phase start.

1. **Arm.** Every camera does what precedes its first frame (files created, metadata written, TTL pins set up,
   encoder opened) and says so, with its *start lead*: how long before the start time it must be told (its start
   path's own time once armed). A camera that cannot arm fails the start before anything records; the others are
   disarmed (their empty files removed).
2. **Measure.** The conductor pings every camera at once, as it will send the start, and takes the slowest round
   trip.
3. **Start.** The start time is ``now + max(start_delay, ROUND_TRIPS x slowest round trip + largest start lead,
   MIN_LEAD_S)`` on the conductor's clock; each camera converts it to its own clock and takes its first frame then.
   A camera that gets it nearer than its start lead (plus :data:`NOTICE_ROUND_TRIPS` round trips: the notice the
   conductor needs) says so at once, before the time, and the conductor moves the start later for every camera
   (each waiting camera answers its earlier start "rescheduled") rather than let that one start late. When that
   word comes too late to move every camera (or after :data:`MAX_RESCHEDULES` moves), that camera starts at once
   instead: late, and said, but recording.

Every camera's ``start`` is answered when its first frame is written, with that frame's time on the conductor's
clock: a first frame more than :data:`LATE_US` after the start time is a late start, and is said.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from rpi_camera_colony.clock import conductor_now_us
from rpi_camera_colony.control.camera import CameraLink
from rpi_camera_colony.control.status import CommandStatus, StatusGroup
from rpi_camera_colony.exc import CameraError, ColonyCommandError
from rpi_camera_colony.protocol import FIRST_FRAME_TIMEOUT, Reply

logger = logging.getLogger(__name__)

#: The shortest time (seconds) between sending the start and the start time. Round trips measured just before are
#: short, but a busy machine or network now and then holds one message for some milliseconds (seen: 4 ms on a
#: 2-core machine running 8 encoders, which a 10 ms lead could not absorb); 50 ms costs a start little.
MIN_LEAD_S = 0.05
#: The lead is this many of the slowest round trips measured, plus the largest start lead a camera reported (a
#: start reaches the last of 32 cameras on a busy 2-core machine up to 5 ping round trips after it was sent).
ROUND_TRIPS = 10
#: A camera says a start time is too near this many slowest round trips before its own start lead runs out, so
#: that the conductor can still move the start for every camera.
NOTICE_ROUND_TRIPS = 3
#: How often the start is moved later when a camera says it is too near, before the start fails.
MAX_RESCHEDULES = 3
#: A first frame this long after the start time (µs) makes a late start.
LATE_US = 1000


@dataclass(frozen=True)
class StartOutcome:
    """How the cameras started."""

    start_at_us: int  #: the start time, conductor clock (µs since the epoch)
    replies: dict[str, Reply]  #: each camera's start reply (its first frame)
    lead_s: float  #: time between sending the start and the start time
    round_trip_s: float  #: the slowest round trip measured before the start
    reschedules: int  #: how often the start was moved later (a camera said it was too near)
    #: when each camera began: its frame 0, conductor clock (the first frame written, less the frames the camera
    #: took but lost before it, e.g. on a machine too busy to encode them)
    began_us: dict[str, int] = field(default_factory=dict)
    #: frames each camera took but lost before its first written frame (only cameras that lost some)
    lost_at_start: dict[str, int] = field(default_factory=dict)
    late_us: dict[str, int] = field(default_factory=dict)  #: cameras that began late, and by how much
    #: how long before the start time (µs) each camera had the start (its readiness margin; armed cameras only)
    margins_us: dict[str, int] = field(default_factory=dict)

    @property
    def skew_us(self) -> Optional[int]:
        """Latest minus earliest beginning (frame 0; None without any on the conductor's clock)."""
        firsts = self.began_us.values()
        return (max(firsts) - min(firsts)) if firsts else None


class ColonyStart:
    """One start of every camera in ``links`` (see the module).

    Args:
        links: the cameras.
        command_timeout: seconds a camera has to answer ``arm`` and a ping.
        start_delay: the shortest lead (seconds) the config asks for (0: as measured).
    """

    def __init__(self, links: Mapping[str, CameraLink], *, command_timeout: float, start_delay: float = 0.0) -> None:
        self.links = dict(links)
        self.command_timeout = command_timeout
        self.start_delay = start_delay

    def arm(self, names: Mapping[str, dict[str, Any]]) -> dict[str, Reply]:
        """Arm every camera (``names``: each camera's acquisition names); their replies.

        Raises:
            ColonyCommandError: naming each camera that could not arm; the others are disarmed first.
        """
        statuses = {name: link.send("arm", dict(names[name])) for name, link in self.links.items()}
        replies, failures = StatusGroup("arm", statuses).settle()
        if failures:
            self.cancel(sorted(replies))
            raise ColonyCommandError("arm", failures)
        return replies

    def cancel(self, names: list[str]) -> None:
        """Disarm (or stop) these cameras; failures are logged."""
        if not names:
            return
        _, failures = StatusGroup("stop", {name: self.links[name].stop() for name in names}).settle()
        for name, error in failures.items():
            logger.error("%s: could not be disarmed: %s", name, error)

    def round_trip(self) -> float:
        """The slowest round trip (seconds) of a ping sent to every camera at once, as the start will be.

        Raises:
            ColonyCommandError: naming each camera that did not answer.
        """
        statuses = {name: link.send("ping", timeout=self.command_timeout) for name, link in self.links.items()}
        StatusGroup("ping", statuses).settled()
        return max((status.round_trip or 0.0) for status in statuses.values())

    def start(self, armed: Mapping[str, Reply]) -> StartOutcome:
        """Start the armed cameras at one time, chosen from what was measured; see the module.

        Raises:
            ColonyCommandError: naming each camera that failed to start (the others may be recording: the caller
                stops them).
        """
        camera_lead = max((_start_lead_s(reply) for reply in armed.values()), default=0.0)
        worst = self.round_trip()
        lead = max(self.start_delay, ROUND_TRIPS * worst + camera_lead, MIN_LEAD_S)
        notice = {"notice_us": round(NOTICE_ROUND_TRIPS * worst * 1e6)}
        start_at, statuses = self._send_start(lead, notice)
        earlier: list[dict[str, CommandStatus]] = []  # the starts a move or a late start replaced
        moves = 0
        while True:
            try:
                replies = StatusGroup("start", statuses).wait()
            except ColonyCommandError:
                too_near = self._too_near(statuses)
                if not too_near:
                    replies, failures = StatusGroup("start", statuses).settle()  # the error names all that failed
                    raise ColonyCommandError("start", _first_causes(failures, earlier)) from None
                needed = max(too_near.values())
                time_left = (start_at - conductor_now_us()) / 1e6
                # Moving the start must reach every camera before the time: with half the lead (and two round
                # trips) left, it does.
                if moves < MAX_RESCHEDULES and time_left > max(2 * worst, lead / 2):
                    moves += 1
                    lead = 2 * lead + needed
                    logger.warning(
                        "%s cannot make the start time (needs %.1f ms): moving the start %.0f ms ahead for every "
                        "camera", ", ".join(sorted(too_near)), needed * 1e3, lead * 1e3,
                    )  # fmt: skip
                    earlier.append(statuses)
                    start_at, statuses = self._send_start(lead, notice)
                    continue
                # Too late to move every camera (some may have begun): these start at once, late, and it is said.
                logger.warning(
                    "%s cannot make the start time and it is too late to move it: starting %s at once (late)",
                    ", ".join(sorted(too_near)),
                    "it" if len(too_near) == 1 else "them",
                )
                timeout = self.command_timeout + FIRST_FRAME_TIMEOUT
                earlier.append(dict(statuses))
                for name in too_near:
                    statuses[name] = self.links[name].send("start", {}, timeout)
                continue
            return _outcome(start_at, replies, lead, worst, moves, self._periods_us())

    def _send_start(self, lead: float, notice: dict[str, int]) -> tuple[int, dict[str, CommandStatus]]:
        """Send every camera the start time ``lead`` seconds from now; (that time, each camera's status)."""
        start_at = conductor_now_us() + round(lead * 1e6)
        timeout = self.command_timeout + FIRST_FRAME_TIMEOUT + lead
        args = {"start_at_us": start_at, **notice}
        return start_at, {name: link.send("start", args, timeout) for name, link in self.links.items()}

    def _periods_us(self) -> dict[str, float]:
        return {name: 1e6 / link.settings.framerate for name, link in self.links.items()}

    @staticmethod
    def _too_near(statuses: Mapping[str, CommandStatus]) -> dict[str, float]:
        """Cameras that said the start time was too near, and the lead each needs (s); empty if any failed
        otherwise (that is an error, not a matter of time)."""
        failed = {name: status for name, status in statuses.items() if status.error is not None}
        near = {
            name: float(status.reply.data.get("needed_us") or 0) / 1e6
            for name, status in failed.items()
            if status.reply is not None and status.reply.data.get("too_near")
        }
        return near if len(near) == len(failed) else {}


def _first_causes(failures: dict[str, CameraError], earlier: list[dict[str, CommandStatus]]) -> dict[str, CameraError]:
    """Each failed camera's first real error: a camera whose start failed while the start was being moved (its
    answer still on the way) fails the later start only because it is no longer armed, which says less."""
    causes = dict(failures)
    for name in failures:
        for statuses in earlier:
            status = statuses.get(name)
            reply = None if status is None else status.reply
            moved = reply is not None and (reply.data.get("too_near") or reply.data.get("rescheduled"))
            if status is not None and status.error is not None and not moved:
                causes[name] = status.error
                break
    return causes


def _start_lead_s(reply: Reply) -> float:
    value = reply.data.get("start_lead_us")
    return float(value) / 1e6 if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _outcome(
    start_at: int, replies: dict[str, Reply], lead: float, worst: float, reschedules: int, periods: dict[str, float]
) -> StartOutcome:
    firsts: dict[str, int] = {}
    lost: dict[str, int] = {}
    for name, reply in replies.items():
        first = reply.data.get("first_frame")
        if not isinstance(first, dict):
            continue
        value, index = first.get("conductor_us"), first.get("index")
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        index = index if isinstance(index, int) and not isinstance(index, bool) and index > 0 else 0
        firsts[name] = round(value - index * periods.get(name, 0.0))
        if index:
            lost[name] = index
    late = {name: t - start_at for name, t in firsts.items() if t - start_at > LATE_US}
    margins = {
        name: reply.data["margin_us"] for name, reply in replies.items() if isinstance(reply.data.get("margin_us"), int)
    }
    return StartOutcome(start_at, replies, lead, worst, reschedules, firsts, lost, late, margins)
