"""The camera state machine of one agent: configure, preview, start, stop and close, with the recording and its files.

It opens no socket: the agent's network loop (:mod:`~rpi_camera_colony.acquisition.acquisition_control`) feeds it
the conductor's commands, and a test or a script drives it in-process::

    with CameraAgent(instance_name="cam0", data_path="/tmp/data", camera_backend="simulated") as agent:
        agent.configure(controller_from_dict({"name": "cam0", "framerate": 30}))
        recording = agent.start(acquisition_name="test")
        ...
        summary = agent.stop()

States: ``idle`` -> (``settling`` ->) ``configured`` -> ``recording`` or ``previewing`` -> ``stopped`` (or
``error``) -> ... -> ``closed``. ``settling`` is the exposure warm-up after configure (and :meth:`settle_exposure`):
``exposure_warmup`` seconds of automatic exposure and white balance, then both fixed for every recording after.
Every method is called from one thread (the loop's, or the caller's); the camera reports its first frame, its
failures and the end of a warm-up from its own thread through ``on_event``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from rpi_camera_colony.acquisition import backends, disk
from rpi_camera_colony.acquisition.cameras.base import CameraBackend, PreviewTap
from rpi_camera_colony.acquisition.clock_sync import ClockSync
from rpi_camera_colony.acquisition.recording import AcquisitionInfo, AgentInfo, BackendInfo, Recording
from rpi_camera_colony.acquisition.ttl.base import TTLBackend
from rpi_camera_colony.acquisition.warmups import Outcome, WarmUps
from rpi_camera_colony.clock import CameraClock
from rpi_camera_colony.config.settings import ControllerSettings, GeneralSettings
from rpi_camera_colony.exc import BackendError, ConfigError, RecordingError, SettleCancelled
from rpi_camera_colony.files import RecordingFiles, check_name_part, get_datestr
from rpi_camera_colony.protocol import AgentStatus

logger = logging.getLogger(__name__)

#: ``on_event(name, details)``: "first_frame", "error" and "settled", called from the camera's thread.
EventCallback = Callable[[str, dict[str, Any]], None]

#: Seconds a warm-up may overrun ``exposure_warmup`` (the camera's start and stop) before it counts as failed.
SETTLE_MARGIN = 10.0

#: The agent's defaults are the config's (the conductor's ``configure`` sends the values in force).
DEFAULT_DATA_PATH = GeneralSettings.remote_data_path
DEFAULT_MAX_ACQUISITION_TIME = float(GeneralSettings.max_acquisition_time)
DEFAULT_DISK_SPACE_CHECK = GeneralSettings.disk_space_check


def _log_event(name: str, details: dict[str, Any]) -> None:
    if name == "error":
        logger.error("camera failed: %s", details.get("error"))


def _unsent(message: dict[str, Any]) -> None:
    """Where clock requests go without a conductor: nowhere (the recording then has no clock mapping)."""


class CameraAgent:
    """The camera side of one agent, without any network.

    Args:
        instance_name: the camera's name (its ``[[name]]`` in the config), part of every file name.
        data_path: where recordings go (``remote_data_path``; :meth:`configure` may change it).
        max_acquisition_time: seconds after which :meth:`check_time` stops a recording (0: no limit).
        disk_space_check: before a recording: "refuse" it, "warn" or do nothing ("off") when the disk may not hold
            it to ``max_acquisition_time``.
        camera_backend, ttl_backend: force a backend (else the config key, ``RCC_*_BACKEND``, then ``auto``).
        clock: the camera clock (simulated backends only).
        backend_factory: builds the backends (gives the hardware libraries what a test injects, e.g. gpiozero's
            MockFactory); default: :class:`~.backends.BackendFactory`.
        clock_sync: the clock synchronisation with a conductor (the network loop's); none: recordings have no
            mapping to a conductor's clock.
        on_event: called from the camera's thread with "first_frame" and "error"; default: errors are logged.
        control_endpoint: the conductor's address and port, for the metadata (the original's control_stream_*).
    """

    def __init__(
        self,
        *,
        instance_name: str,
        data_path: str = DEFAULT_DATA_PATH,
        max_acquisition_time: float = DEFAULT_MAX_ACQUISITION_TIME,
        disk_space_check: str = DEFAULT_DISK_SPACE_CHECK,
        camera_backend: Optional[str] = None,
        ttl_backend: Optional[str] = None,
        clock: Optional[CameraClock] = None,
        backend_factory: Optional[backends.BackendFactory] = None,
        clock_sync: Optional[ClockSync] = None,
        on_event: Optional[EventCallback] = None,
        control_endpoint: Optional[tuple[str, int]] = None,
    ) -> None:
        self.instance_name = check_name_part("instance name", instance_name)
        self.data_path = data_path
        self.max_acquisition_time = float(max_acquisition_time)
        self.disk_space_check = self._checked_disk_check(disk_space_check)
        self._camera_override = camera_backend
        self._ttl_override = ttl_backend
        self._factory = backend_factory or backends.BackendFactory()
        self.clock = clock or CameraClock()
        self.clock_sync = clock_sync or ClockSync(clock=self.clock, send=_unsent)
        self._on_event = on_event or _log_event
        self._control_endpoint = control_endpoint
        self.state = "idle"
        self.settings: Optional[ControllerSettings] = None
        self.camera: Optional[CameraBackend] = None
        self.ttl: Optional[TTLBackend] = None
        self.backend_info: Optional[BackendInfo] = None
        self._unsupported: list[str] = []
        self.recording: Optional[Recording] = None
        self.last_summary: dict[str, Any] = {}
        self.error: Optional[str] = None
        self._preview_tap: Optional[PreviewTap] = None
        self.warmups = WarmUps(self._on_event)
        #: how the last warm-up ended (values fixed, or the error), once taken by :meth:`finish_settling`
        self.settle_result: Optional[Outcome] = None

    def preload(self, camera_backend: str = "auto", ttl_backend: str = "auto") -> list[str]:
        """Load the libraries of the backends ``configure`` will choose (given the config's keys), before the hello;
        what was loaded. See :func:`~.backends.preload`."""
        return [
            backends.preload("camera", camera_backend, self._camera_override),
            backends.preload("ttl", ttl_backend, self._ttl_override),
        ]

    @staticmethod
    def _checked_disk_check(value: str) -> str:
        if value not in disk.CHECKS:
            raise ConfigError([f"disk_space_check = {value!r}: must be one of {', '.join(disk.CHECKS)}"])
        return value

    @property
    def busy(self) -> bool:
        """Recording (or armed for it), previewing or settling exposure: the camera is taken."""
        return self.state in ("recording", "armed", "previewing", "settling")

    def configure(
        self,
        settings: ControllerSettings,
        *,
        data_path: Optional[str] = None,
        max_acquisition_time: Optional[float] = None,
        disk_space_check: Optional[str] = None,
        wait: bool = True,
    ) -> list[str]:
        """Choose and configure the backends for ``settings``, then settle exposure (:meth:`settle_exposure`); return
        the settings the camera cannot honour.

        Raises:
            RecordingError: while recording, previewing or settling.
            ConfigError: for settings of another camera, or an unknown ``disk_space_check``.
            BackendError: if a backend is not available, rejects a setting, or fails its warm-up.
        """
        if self.busy:
            raise RecordingError(f"cannot configure while {self.state}: stop first")
        if settings.name != self.instance_name:
            raise ConfigError([f"settings are for camera {settings.name!r}, but this agent is {self.instance_name!r}"])
        check = self.disk_space_check if disk_space_check is None else self._checked_disk_check(disk_space_check)
        camera_name, camera_reason = backends.resolve("camera", self._camera_override, settings.camera_backend)
        ttl_name, ttl_reason = backends.resolve("ttl", self._ttl_override, settings.ttl_backend)
        self._release_backends()
        clock = self.clock
        if camera_name == "simulated":
            clock = CameraClock(offset_s=settings.sim_clock_offset, drift_ppm=settings.sim_clock_drift_ppm)
        try:
            self.camera = self._factory.create_camera(camera_name, clock=clock)
        except BackendError as err:
            raise BackendError(f"{err} ({camera_reason})") from None
        logger.info("%s; %s", camera_reason, ttl_reason)
        self._unsupported = self.camera.configure(settings)
        self.camera.preview = self._preview_tap
        # Frames, TTL edges and clock sync all use the camera's clock (e.g. the GPU clock of legacy picamera).
        clock = self.camera.clock
        if (clock.offset_s, clock.drift_ppm) != (self.clock.offset_s, self.clock.drift_ppm):
            self.clock_sync.use_clock(clock)
        self.clock = clock
        try:
            self.ttl = self._factory.create_ttl(ttl_name, clock=clock)
        except BackendError as err:
            raise BackendError(f"{err} ({ttl_reason})") from None
        if self._unsupported:
            logger.warning("settings without effect on the %s camera: %s", camera_name, ", ".join(self._unsupported))
        self.backend_info = BackendInfo(camera_name, ttl_name, camera_reason, ttl_reason)
        self.settings = settings
        if data_path is not None:
            self.data_path = data_path
        if max_acquisition_time is not None:
            self.max_acquisition_time = float(max_acquisition_time)
        self.disk_space_check = check
        self.state = "configured"
        self.error = None
        self.settle_exposure(wait=wait)
        return list(self._unsupported)

    def settle_exposure(self, *, wait: bool = True) -> bool:
        """Let automatic exposure and white balance settle for ``exposure_warmup`` seconds with the camera running
        but nothing recorded, then fix them for every recording after (the original's ``preview_static``).

        Returns False when there is nothing to settle: ``exposure_warmup = 0``, a camera without automatic exposure
        (simulated), or exposure and white balance both set by hand. With ``wait=False`` it returns at once in the
        ``settling`` state: call :meth:`finish_settling` after the ``"settled"`` event.

        Raises:
            RecordingError: if not configured, or busy.
            BackendError: if the warm-up failed (``wait=True``).
        """
        if self.camera is None or self.settings is None:
            raise RecordingError("not configured: send 'configure' before 'reset'")
        if self.busy:
            raise RecordingError(f"cannot settle exposure while {self.state}: stop first")
        seconds = self.settings.exposure_warmup
        if seconds <= 0:
            return False
        if not self.warmups.begin(self.camera, seconds):
            return False
        self.state = "settling"
        logger.info("letting exposure and white balance settle for %.1f s", seconds)
        if wait:
            if not self.warmups.wait(seconds + SETTLE_MARGIN):
                self.timed_out_settling()
            self.finish_settling()
        return True

    def timed_out_settling(self) -> None:
        """The warm-up did not end in time: stop it; :meth:`finish_settling` then raises a BackendError."""
        if self.state != "settling" or self.camera is None or self.settings is None:
            return
        self.camera.stop()
        self.warmups.fail(BackendError(f"the exposure warm-up did not end after {self.settings.exposure_warmup:g} s"))

    def finish_settling(self) -> Optional[dict[str, Any]]:
        """Take the warm-up's outcome (after the ``"settled"`` event); return the values fixed. A no-op (None) when no
        warm-up has ended to be taken. The outcome is also kept in :attr:`settle_result`.

        Raises:
            SettleCancelled: it was stopped first (the state is ``configured``, exposure automatic).
            BackendError: it failed (the state is ``error``).
        """
        outcome = self.warmups.take() if self.state == "settling" else None
        if outcome is None:
            return None
        self.settle_result = outcome
        fixed, error = outcome
        if isinstance(error, SettleCancelled):
            self.state = "configured"
            raise error
        if error is not None:
            self.state, self.error = "error", str(error)
            raise error if isinstance(error, BackendError) else BackendError(str(error))
        self.state = "configured"
        return fixed

    def arm(
        self,
        *,
        acquisition_name: str,
        acquisition_time: Optional[str] = None,
        acquisition_group: str = "",
        file_time: Optional[str] = None,
    ) -> Recording:
        """Prepare a recording so that :meth:`start` only has to begin it: the files created (and the metadata
        written), the TTL pins set up, the camera's encoder opened. State ``armed`` until it starts, or a
        :meth:`stop` cancels it (its files are removed: they hold no frame).

        ``file_time`` is the date stamp in the file names (``YYYYmmdd_HHMMSS``; default: now, on this machine's
        clock); ``acquisition_time`` the metadata's, in the original's meaning (default: the part of the name after
        ``__``, else that stamp).

        Raises:
            RecordingError: if not configured, already busy, a name is unusable, the disk is too full (with
                ``disk_space_check = refuse``), or the camera cannot be prepared.
        """
        if self.settings is None or self.camera is None or self.ttl is None or self.backend_info is None:
            raise RecordingError("not configured: send 'configure' before 'start'")
        if self.state == "settling":
            raise RecordingError("exposure is still settling: start after the configure (or reset) reply")
        if self.state == "previewing":  # the camera switches from aiming to recording
            self.camera.stop()
            self.state = "configured"
        if self.busy:
            raise RecordingError(f"already {self.state}: stop first")
        name = check_name_part("acquisition_name", acquisition_name)
        stamp = check_name_part("file_time", file_time) if file_time else get_datestr()
        if acquisition_time is None:
            acquisition_time = GeneralSettings(acquisition_name=name).name_time or stamp
        when = check_name_part("acquisition_time", acquisition_time)
        group = check_name_part("acquisition_group", acquisition_group) if acquisition_group else ""
        files = None
        if self.settings.save_data:
            self._check_room(self.settings)
            files = RecordingFiles.create(
                data_path=self.data_path, group=group, name=name, instance=self.instance_name, acquisition_time=stamp
            )
        recording = Recording(
            settings=self.settings,
            camera=self.camera,
            ttl=self.ttl,
            acquisition=AcquisitionInfo(name, group, when, stamp),
            files=files,
            backends=self.backend_info,
            unsupported=self._unsupported,
            on_event=self._on_event,
            clock_sync=self.clock_sync,
            agent=AgentInfo(
                data_path=self.data_path,
                control_stream_ip=None if self._control_endpoint is None else self._control_endpoint[0],
                control_stream_port=None if self._control_endpoint is None else self._control_endpoint[1],
            ),
        )
        try:
            recording.arm()
        except RecordingError as err:
            self.state, self.error = "error", str(err)
            raise
        self.recording = recording
        self.state = "armed"
        self.error = None
        return recording

    @property
    def start_lead_s(self) -> float:
        """How long before its start time an armed camera must be told to start (its start path's own time)."""
        return self.camera.start_lead_s if self.camera is not None else 0.0

    def start(
        self,
        *,
        acquisition_name: Optional[str] = None,
        acquisition_time: Optional[str] = None,
        acquisition_group: str = "",
        start_at_us: Optional[int] = None,
        file_time: Optional[str] = None,
    ) -> Recording:
        """Start recording (returns once the camera runs; the first frame follows at ``start_at_us``, a time on the
        conductor's clock, or within a frame period). An armed recording begins (the names were given to
        :meth:`arm`); otherwise it is armed first with these names (see :meth:`arm`).

        Raises:
            RecordingError: see :meth:`arm`; or the camera fails to start.
        """
        if self.state != "armed":
            if acquisition_name is None:  # a start for an armed recording (e.g. a start moved later) finds none
                why = f" ({self.error})" if self.state == "error" and self.error else ""
                raise RecordingError(f"not armed: {self.state}{why}; a start needs an arm or an acquisition_name")
            self.arm(
                acquisition_name=acquisition_name,
                acquisition_time=acquisition_time,
                acquisition_group=acquisition_group,
                file_time=file_time,
            )
        recording = self.recording
        assert recording is not None and self.settings is not None
        try:
            recording.begin(start_at_us)
        except RecordingError as err:
            self.state, self.error = "error", str(err)
            raise
        self.state = "recording"
        logger.info(
            "recording %s at %dx%d@%dfps to %s",
            recording.acquisition.name,
            *self.settings.resolution,
            self.settings.framerate,
            recording.files.folder if recording.files else "nowhere (save_data = False)",
        )
        return recording

    def reschedule(self, start_at_us: int) -> None:
        """Move the start time (conductor clock) of a recording whose first frame has not been taken yet.

        Raises:
            RecordingError: not recording, or too late to move it.
        """
        if self.state != "recording" or self.recording is None:
            raise RecordingError(f"nothing to reschedule: {self.state}")
        self.recording.reschedule(start_at_us)

    def _check_room(self, settings: ControllerSettings) -> None:
        """Refuse (or warn about) a recording the data disk may not hold to max_acquisition_time.

        Raises:
            RecordingError: with the figures, when ``disk_space_check`` is "refuse" and there is not enough room.
        """
        if self.disk_space_check == "off":
            return
        free = self.free_disk()
        if free is None:
            return
        seconds = self.max_acquisition_time if self.max_acquisition_time > 0 else disk.UNLIMITED_SECONDS
        need = disk.space_needed(settings, free=free, max_seconds=seconds)
        if need.enough:
            return
        message = need.describe(str(Path(self.data_path).expanduser()))
        if self.disk_space_check == "refuse":
            raise RecordingError(message)
        logger.warning("%s", message)

    def set_preview(self, tap: Optional[PreviewTap]) -> None:
        """Send live preview images to ``tap`` whenever the camera runs (recording, previewing, settling); None stops
        them. It does not start the camera: see :meth:`preview`."""
        self._preview_tap = tap
        if self.camera is not None:
            self.camera.preview = tap

    def preview(self, *, settle_exposure: bool = True) -> None:
        """Run the camera without recording (to aim it); :meth:`stop` ends it. With ``settle_exposure`` exposure
        and white balance settle again (``exposure_warmup`` into the preview) and stay fixed there after.

        Raises:
            RecordingError: if not configured or busy, or the camera fails to start.
        """
        if self.camera is None:
            raise RecordingError("not configured: send 'configure' before 'preview'")
        if self.state == "settling":
            raise RecordingError("exposure is still settling: preview after the configure (or reset) reply")
        if self.busy:
            raise RecordingError(f"already {self.state}")
        try:
            self.camera.start(
                None,
                lambda frame: None,
                lambda err: self._on_event("error", {"error": str(err)}),
                settle_exposure=settle_exposure,
            )
        except BackendError as err:
            raise RecordingError(str(err)) from err
        self.state = "previewing"

    def stop(self, reason: str = "requested") -> dict[str, Any]:
        """Stop recording, preview or a warm-up and finish every file; return the recording's summary (the last one if
        idle). A warm-up stopped before its end leaves exposure automatic (:attr:`settle_result` says how it
        ended)."""
        if self.state == "settling" and self.camera is not None:
            self.camera.stop()  # the warm-up ends now; its outcome is in (fixed, if it had just finished)
            try:
                self.finish_settling()
            except SettleCancelled:
                logger.warning("stopped before exposure and white balance had settled: they stay automatic")
            except BackendError as err:
                logger.error("exposure warm-up failed: %s", err)
            if self.state == "settling":  # no outcome (the warm-up's thread did not end)
                self.settle_result = (None, SettleCancelled("stopped during the exposure warm-up"))
                self.state = "configured"
            return {}
        if self.state == "previewing" and self.camera is not None:
            self.camera.stop()
            self.state = "configured"
            return {}
        recording = self.recording
        if self.state == "armed" and recording is not None:
            recording.disarm()  # it never began: nothing to keep
            self.recording = None
            self.state = "configured"
            logger.info("armed recording cancelled (%s): its files are removed", reason)
            return {}
        if recording is None or self.state != "recording":
            return dict(self.last_summary)
        summary = recording.stop(reason)
        self.last_summary = summary
        self.state = "error" if recording.error else "stopped"
        if recording.error:
            self.error = recording.error
        logger.info(
            "stopped (%s): %d frames, %d dropped, %d TTL pulses out, %d TTL edges in",
            summary["stop_reason"],
            summary["frames"],
            summary["dropped"],
            summary["ttl_out"],
            summary["ttl_in"],
        )
        return summary

    def camera_failed(self, error: str) -> None:
        """The camera reported a failure (on its thread; called here from the agent's): stop and keep what was
        recorded, and stay in the ``error`` state until configured again."""
        self.error = error
        logger.error("camera failed: %s", error)
        self.stop(f"error: {error}")
        self.state = "error"

    # -- time -------------------------------------------------------------------------------------------------

    def time_limit(self) -> Optional[float]:
        """When (``time.monotonic()``) the running recording reaches max_acquisition_time; None without a limit."""
        recording = self.recording
        if self.state != "recording" or recording is None or not recording.started_monotonic:
            return None
        if self.max_acquisition_time <= 0:
            return None
        return recording.started_monotonic + self.max_acquisition_time

    def check_time(self, now: float) -> bool:
        """Stop the recording when max_acquisition_time is reached; True if it was stopped now."""
        limit = self.time_limit()
        if limit is None or now < limit:
            return False
        logger.info("max_acquisition_time of %g s reached: stopping", self.max_acquisition_time)
        self.stop("max_acquisition_time")
        return True

    # -- status -----------------------------------------------------------------------------------------------

    def free_disk(self) -> Optional[int]:
        """Bytes free on the data disk (None if it cannot be read)."""
        return disk.free_bytes(self.data_path)

    def recording_info(self) -> Optional[dict[str, Any]]:
        """What is being recorded, so that a conductor that connects later can take the recording over."""
        recording = self.recording
        if recording is None or self.state != "recording":
            return None
        return {
            "acquisition_name": recording.acquisition.name,
            "acquisition_group": recording.acquisition.group,
            "acquisition_time": recording.acquisition.time,
            "file_time": recording.acquisition.file_time,
            "start_sys_time": recording.start_time.get("sys_time"),
        }

    def status(self) -> AgentStatus:
        recording = self.recording
        return AgentStatus(
            state=self.state,
            recording=self.recording_info(),
            stats=recording.stats() if recording is not None and self.state == "recording" else {},
            clock=self.clock_sync.estimator.summary(),
            free_disk=self.free_disk(),
            error=self.error,
            last_summary=self.last_summary,
            time=time.time(),
        )

    # -- shutdown ---------------------------------------------------------------------------------------------

    def _release_backends(self) -> None:
        for backend in (self.camera, self.ttl):
            if backend is not None:
                try:
                    backend.close()
                except Exception:  # closing must go on for the other backend
                    logger.exception("closing the %s backend failed", backend.name)
        self.camera = None
        self.ttl = None

    def close(self) -> None:
        """Stop any recording and release the backends. Safe to call twice."""
        if self.state == "closed":
            return
        self.set_preview(None)
        if self.busy:
            self.stop("agent closed")
        self._release_backends()
        self.state = "closed"

    def __enter__(self) -> CameraAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
