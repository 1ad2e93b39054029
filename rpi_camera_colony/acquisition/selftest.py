"""``rcc_acquisition --selftest``: what a lab runs on each Pi after setting it up.

It reports the board, OS, Python and library versions, the backends the agent would choose (and why), the cameras
libcamera finds with their sensor modes, the H.264 encoder that will be used, whether the TTL pins can be claimed,
free disk (and how many hours of recording it holds at the measured rate), whether the system clock is
synchronised, then records a few seconds to a temporary folder on the data disk through the agent's own code path
and verifies frames, timestamps, TTL pulses and the decoded video. Every line is ``ok``, ``warn`` or ``FAIL``; a
line that is not ok says what to do. The exit code is 0 only when no line failed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import logging
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rpi_camera_colony import __version__
from rpi_camera_colony import backend_registry as registry
from rpi_camera_colony.acquisition import backends, disk
from rpi_camera_colony.config.settings import ControllerSettings
from rpi_camera_colony.exc import ColonyError
from rpi_camera_colony.files import get_datestr

logger = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "FAIL"
MODEL_FILE = Path("/proc/device-tree/model")
OS_RELEASE = Path("/etc/os-release")
LIBRARIES = ("picamera2", "gpiozero", "lgpio", "RPi.GPIO", "picamera", "av", "numpy", "pyzmq")
#: The data disk must hold at least this much recording at the measured rate, else the selftest fails.
MIN_RECORDING_MINUTES = 10
#: Below this much free space the test recording is not even attempted.
MIN_FREE_BYTES = 50_000_000
#: Measured frame periods may differ from 1/framerate by this fraction (median) before the line fails.
PERIOD_TOLERANCE = 0.05


@dataclass(frozen=True)
class Check:
    """One line of the selftest: ``status`` is ok, warn or FAIL; ``fix`` says what to do when not ok."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def format(self) -> str:
        line = f"  {self.status:<5} {self.name:<12} {self.detail}"
        return line + (f"\n        -> {self.fix}" if self.fix and self.status != OK else "")


@dataclass(frozen=True)
class SelftestOptions:
    """What the selftest records with: one camera's settings, where, how long, which backends."""

    settings: ControllerSettings
    data_path: str
    seconds: float = 3.0
    keep: bool = False  #: keep the test recording's folder (its path is reported)
    camera_backend: Optional[str] = None
    ttl_backend: Optional[str] = None
    max_acquisition_time: float = 7200.0


def board() -> Check:
    try:
        model = MODEL_FILE.read_bytes().decode(errors="replace").strip("\x00\n ")
    except OSError:
        model = ""
    if "Raspberry Pi" in model:
        return Check("board", OK, model)
    return Check(
        "board", WARN, f"not a Raspberry Pi ({platform.machine()} {platform.system()})", "simulated backends only here"
    )


def operating_system() -> Check:
    name = platform.system()
    with contextlib.suppress(OSError):
        for line in OS_RELEASE.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("PRETTY_NAME="):
                name = line.split("=", 1)[1].strip().strip('"')
    return Check("os", OK, f"{name}, kernel {platform.release()}")


def python() -> Check:
    return Check("python", OK, f"{platform.python_version()} ({platform.python_implementation()})")


def _version(distribution: str) -> str:
    names = {"RPi.GPIO": "RPi.GPIO", "av": "av", "pyzmq": "pyzmq"}
    try:
        return importlib.metadata.version(names.get(distribution, distribution))
    except importlib.metadata.PackageNotFoundError:
        return ""


def libraries() -> Check:
    found = [f"rpi_camera_colony {__version__}"]
    missing: list[str] = []
    for name in LIBRARIES:
        version = _version(name)
        (found if version else missing).append(f"{name} {version}".strip())
    detail = ", ".join(found) + (f"; not installed: {', '.join(missing)}" if missing else "")
    return Check("libraries", OK, detail)


def _install_hint(kind: str, name: str) -> str:
    return registry.get(kind, name).install_hint


def chosen_backends(options: SelftestOptions) -> tuple[Check, Optional[str], Optional[str]]:
    settings = options.settings
    try:
        camera, camera_reason = backends.resolve("camera", options.camera_backend, settings.camera_backend)
        ttl, ttl_reason = backends.resolve("ttl", options.ttl_backend, settings.ttl_backend)
    except ColonyError as err:
        return Check("backends", FAIL, str(err), "choose a backend this machine has (see the README)"), None, None
    return Check("backends", OK, f"{camera_reason}; {ttl_reason}"), camera, ttl


def cameras(camera_backend: str, settings: ControllerSettings) -> list[Check]:
    """The cameras libcamera finds, their modes, and the encoder picamera2 will use."""
    if camera_backend == "simulated":
        import av

        return [
            Check("camera", OK, "simulated camera: any resolution, frames paced in software"),
            Check("encoder", OK, f"libx264 through PyAV {av.__version__} (software)"),
        ]
    usable, why = backends.usable("camera", camera_backend)
    if not usable:
        return [Check("camera", FAIL, f"{camera_backend}: {why}", _install_hint("camera", camera_backend))]
    if camera_backend == "picamera":
        return [Check("camera", OK, "legacy picamera (MMAL); modes are not listed by picamera")]
    try:
        from picamera2 import Picamera2
    except ImportError as err:
        return [Check("camera", FAIL, f"picamera2 cannot be imported: {err}", _install_hint("camera", "picamera2"))]
    found = Picamera2.global_camera_info()
    if not found:
        return [
            Check(
                "camera",
                FAIL,
                "libcamera finds no camera",
                "check the ribbon cable and its orientation, then `rpicam-hello --list-cameras`",
            )
        ]
    lines = []
    for info in found:
        lines.append(Check("camera", OK, f"{info.get('Num')}: {info.get('Model')} ({info.get('Id')})"))
    modes = _sensor_modes(Picamera2)
    width, height = settings.resolution
    fitting = [m for m in modes if m["size"][0] >= width and m["size"][1] >= height]
    if modes:
        text = ", ".join(f"{m['size'][0]}x{m['size'][1]}@{m['fps']:g}" for m in modes)
        if not fitting or max(m["fps"] for m in fitting) < settings.framerate:
            lines.append(
                Check(
                    "modes",
                    FAIL,
                    f"{text}: none gives {width}x{height} at {settings.framerate} fps",
                    "choose a resolution and frame rate within one of these sensor modes",
                )
            )
        else:
            lines.append(Check("modes", OK, text))
    from picamera2 import encoders

    from rpi_camera_colony.acquisition.cameras.picamera2_backend import h264_encoder_name

    name = h264_encoder_name()
    if name == "LibavH264Encoder":
        lines.append(
            Check(
                "encoder",
                OK,
                "picamera2 LibavH264Encoder (libx264 in software: this board has no H.264 hardware encoder)",
            )
        )
    elif not Path("/dev/video11").exists():
        lines.append(
            Check(
                "encoder",
                FAIL,
                f"picamera2 {encoders.H264Encoder.__name__} (V4L2 hardware) but /dev/video11 is missing",
                "enable the camera stack (camera_auto_detect=1 in /boot/firmware/config.txt) and reboot",
            )
        )
    else:
        lines.append(Check("encoder", OK, f"picamera2 {name} (V4L2 hardware encoder, /dev/video11)"))
    return lines


def _sensor_modes(picamera2_class: Any) -> list[dict[str, Any]]:
    try:
        with picamera2_class(0) as camera:
            return [
                {"size": tuple(mode["size"]), "fps": float(mode["fps"])}
                for mode in camera.sensor_modes
                if "size" in mode and "fps" in mode
            ]
    except (RuntimeError, OSError) as err:
        logger.warning("sensor modes could not be read: %s", err)
        return []


def ttl_pins(ttl_backend: str, settings: ControllerSettings, factory: backends.BackendFactory) -> Check:
    from rpi_camera_colony.clock import CameraClock

    pins = f"out {settings.ttl_out_pin} / in {settings.ttl_in_pin} (board numbering)"
    try:
        ttl = factory.create_ttl(ttl_backend, clock=CameraClock())
    except ColonyError as err:
        return Check("ttl pins", FAIL, f"{ttl_backend}: {err}", _install_hint("ttl", ttl_backend))
    try:
        ttl.setup(out_pin=settings.ttl_out_pin, in_pin=settings.ttl_in_pin, out_duration=settings.ttl_out_duration)
    except ColonyError as err:
        return Check(
            "ttl pins",
            FAIL,
            f"{ttl_backend}: {err}",
            "free the pins (another program or device tree overlay holds them: `pinctrl get` shows what) or set "
            "ttl_out_pin / ttl_in_pin to free ones (-1 switches a line off)",
        )
    finally:
        ttl.close()
    return Check("ttl pins", OK, f"{ttl_backend}: {pins} free and claimed")


def data_folder(path: str) -> Check:
    """Whether the data path is a folder this user can write to (made now if missing)."""
    folder = Path(path).expanduser()
    fix = "choose a data path on a writable disk (--data-path, or remote_data_path in the config)"
    if folder.exists() and not folder.is_dir():
        return Check("data path", FAIL, f"{folder} is not a folder", fix)
    existed = folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return Check("data path", FAIL, f"cannot write in {folder}: {err.strerror or err}", fix)
    if not existed:
        return Check("data path", WARN, f"{folder} did not exist: made it (recordings will go there)", "check the path")
    return Check("data path", OK, f"{folder} is writable")


def free_disk(path: str) -> tuple[Check, int]:
    folder = Path(path).expanduser()
    free = disk.free_bytes(path) or 0
    if free < MIN_FREE_BYTES:
        return Check(
            "disk",
            FAIL,
            f"only {_size(free)} free at {folder} (at least {_size(MIN_FREE_BYTES)} needed)",
            "free space on the data disk (collect and delete old recordings) or choose another data path",
        ), free
    return Check("disk", OK, f"{_size(free)} free at {folder}"), free


def _size(count: float) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def clock_synchronised() -> Check:
    fix = (
        "sync the Pis to the central machine (chrony/systemd-timesyncd; `timedatectl set-ntp true`); frame times "
        "on the conductor's clock do not depend on it, file names and sys_time columns do"
    )
    if shutil.which("timedatectl"):
        result = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True, text=True, check=False
        )
        answer = result.stdout.strip().lower()
        if result.returncode == 0 and answer in ("yes", "no"):
            if answer == "yes":
                return Check("clock", OK, "system clock synchronised (timedatectl)")
            return Check("clock", WARN, "system clock NOT synchronised (timedatectl)", fix)
    if shutil.which("chronyc"):
        result = subprocess.run(["chronyc", "tracking"], capture_output=True, text=True, check=False)
        for line in result.stdout.splitlines():
            if line.startswith("Leap status"):
                status = line.split(":", 1)[1].strip()
                if status == "Normal":
                    return Check("clock", OK, "system clock synchronised (chrony)")
                return Check("clock", WARN, f"chrony: {status}", fix)
    return Check("clock", WARN, "cannot tell whether the system clock is synchronised (no timedatectl/chronyc)", fix)


@contextlib.contextmanager
def _scratch_folder(data_path: str, keep: bool) -> Iterator[Path]:
    base = Path(data_path).expanduser()
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="rcc_selftest_", dir=base))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def record_and_verify(
    options: SelftestOptions, camera_backend: str, ttl_backend: str, factory: backends.BackendFactory, free: int
) -> list[Check]:
    """Record ``options.seconds`` through the agent's own camera state machine and verify what was written."""
    from rpi_camera_colony.acquisition.camera_agent import CameraAgent

    settings = options.settings
    checks: list[Check] = []
    with contextlib.ExitStack() as stack:
        try:
            folder = stack.enter_context(_scratch_folder(options.data_path, options.keep))
        except OSError as err:
            return [
                Check(
                    "recording",
                    FAIL,
                    f"cannot create a folder in {options.data_path}: {err}",
                    "check the data path and its permissions",
                )
            ]
        agent = CameraAgent(
            instance_name=settings.name,
            data_path=str(folder),
            disk_space_check="off",  # the disk lines of the selftest say it with figures
            camera_backend=camera_backend,
            ttl_backend=ttl_backend,
            backend_factory=factory,
        )
        stack.callback(agent.close)
        name = "selftest"
        try:
            agent.configure(settings)
            recording = agent.start(acquisition_name=name, acquisition_time=get_datestr())
            time.sleep(options.seconds)  # the length of the test recording
            summary = agent.stop()
            del recording
        except ColonyError as err:
            return [Check("recording", FAIL, f"{type(err).__name__}: {err}", "see the message; fix it, then retry")]
        if summary.get("error"):
            return [Check("recording", FAIL, str(summary["error"]), "see the message; fix it, then retry")]
        checks.extend(_verify(folder / name, settings, summary))
        seconds = max(1e-3, float(summary.get("recording_s") or options.seconds))
        measured = sum(f.stat().st_size for f in (folder / name).iterdir() if f.is_file()) / seconds
        target = agent.camera.target_bitrate if agent.camera is not None else None
        checks.append(_disk_time(free, measured, target, options.max_acquisition_time))
        if options.keep:
            checks.append(Check("kept", OK, str(folder / name)))
    return checks


def _disk_time(free: int, measured: float, target_bitrate: Optional[int], max_acquisition_time: float) -> Check:
    """How long the free space lasts: at the encoder's target bit rate when it has one and that is more than what
    the test scene gave (a busy scene fills the disk faster than a still one), else at the measured rate."""
    rate = max(measured, (target_bitrate or 0) / 8)
    hours = free / rate / 3600 if rate > 0 else float("inf")
    source = "measured" if rate == measured else f"encoder target; measured {measured / 1e6:.2f} MB/s"
    detail = f"{_size(free)} free holds {hours:.1f} h at {rate / 1e6:.2f} MB/s ({source})"
    if hours * 60 < MIN_RECORDING_MINUTES:
        return Check("disk time", FAIL, detail, "free space on the data disk (collect and delete old recordings)")
    if max_acquisition_time > 0 and hours * 3600 < max_acquisition_time:
        return Check(
            "disk time",
            WARN,
            detail + f", less than max_acquisition_time ({max_acquisition_time / 3600:.1f} h)",
            "free space on the data disk before long recordings",
        )
    return Check("disk time", OK, detail)


def _verify(folder: Path, settings: ControllerSettings, summary: dict[str, Any]) -> list[Check]:
    import av
    import numpy as np

    from rpi_camera_colony.session.readers import read_session_data

    checks = []
    frames, dropped = int(summary["frames"]), int(summary["dropped"])
    expected = int(summary.get("expected") or frames)
    if frames < 2:
        return [Check("frames", FAIL, f"only {frames} frame(s) written", "check the camera lines above")]
    status = OK if dropped == 0 else FAIL
    checks.append(
        Check(
            "frames",
            status,
            f"{frames} written of {expected} expected, {dropped} dropped",
            "lower the frame rate or resolution, or free CPU (another program is busy)",
        )
    )
    session = read_session_data(folder)[settings.name]
    stamps = np.asarray(session["timestamps.ttl.out"]["timestamp_frame"], dtype=float)
    periods = np.diff(stamps)
    median = float(np.median(periods)) if len(periods) else 0.0
    nominal = 1e6 / settings.framerate
    ok = bool(np.all(periods > 0)) and abs(median - nominal) <= PERIOD_TOLERANCE * nominal
    checks.append(
        Check(
            "timestamps",
            OK if ok else FAIL,
            f"{len(stamps)} rows, increasing: {bool(np.all(periods > 0))}, median period {median / 1e3:.2f} ms "
            f"(nominal {nominal / 1e3:.2f} ms)",
            "the camera does not run at the set frame rate: check the modes",
        )
    )
    pulses = int(summary["ttl_out"])
    if settings.ttl_out_pin >= 0:
        checks.append(
            Check(
                "ttl out",
                OK if pulses == frames else FAIL,
                f"{pulses} pulses for {frames} frames",
                "a pulse per frame is missing: check the TTL backend lines above",
            )
        )
    video = folder / session["video_file_h264"]
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            decoded = sum(1 for _ in container.decode(stream))
            size = (stream.codec_context.width, stream.codec_context.height)
    except (av.error.FFmpegError, IndexError, OSError) as err:  # type: ignore[attr-defined]
        return [*checks, Check("decode", FAIL, f"{video.name} cannot be decoded: {err}", "see the encoder line")]
    good = decoded == len(stamps) and size == tuple(settings.resolution)
    checks.append(
        Check(
            "decode",
            OK if good else FAIL,
            f"{decoded} frames of {size[0]}x{size[1]} decoded, {len(stamps)} timestamp rows",
            "video and timestamps disagree: run again with --keep and report the kept folder",
        )
    )
    return checks


def run_selftest(options: SelftestOptions, *, backend_factory: Optional[backends.BackendFactory] = None) -> list[Check]:
    """Every check, in order; the recording runs only when the checks before it leave it a chance."""
    factory = backend_factory or backends.BackendFactory()
    checks = [board(), operating_system(), python(), libraries()]
    folder = Path(options.data_path).expanduser()
    if not folder.exists() and not folder.parent.exists():
        scratch = tempfile.gettempdir()
        checks.append(
            Check(
                "data path",
                WARN,
                f"neither {folder} nor {folder.parent} exists: testing in {scratch}",
                "pass --data-path (or -c CONFIG) with this Pi's data folder",
            )
        )
        options = dataclasses.replace(options, data_path=scratch)
    chosen, camera, ttl = chosen_backends(options)
    checks.append(chosen)
    if camera is None or ttl is None:
        return checks
    try:
        checks.extend(cameras(camera, options.settings))
    except Exception as err:  # a broken camera stack must still produce a report
        checks.append(Check("camera", FAIL, f"{type(err).__name__}: {err}", "check `rpicam-hello --list-cameras`"))
    checks.append(ttl_pins(ttl, options.settings, factory))
    folder_check = data_folder(options.data_path)
    checks.append(folder_check)
    if folder_check.status == FAIL:
        checks.append(Check("recording", FAIL, "not attempted", "fix the FAIL lines above first"))
        return checks
    disk, free = free_disk(options.data_path)
    checks.append(disk)
    checks.append(clock_synchronised())
    if any(check.status == FAIL for check in checks):
        checks.append(Check("recording", FAIL, "not attempted", "fix the FAIL lines above first"))
        return checks
    checks.extend(record_and_verify(options, camera, ttl, factory, free))
    return checks


def report(checks: list[Check], *, options: Optional[SelftestOptions] = None, host: Optional[str] = None) -> str:
    failed = sum(check.status == FAIL for check in checks)
    warned = sum(check.status == WARN for check in checks)
    lines = [f"RPi Camera Colony {__version__} selftest on {host or platform.node()}"]
    if options is not None:
        settings = options.settings
        width, height = settings.resolution
        lines.append(
            f"  camera {settings.name!r}: {width}x{height} @ {settings.framerate} fps, TTL out {settings.ttl_out_pin} "
            f"/ in {settings.ttl_in_pin}, {options.seconds:g} s test recording in {options.data_path}"
        )
    lines += [check.format() for check in checks]
    verdict = "PASSED" if not failed else f"FAILED ({failed} line{'s' if failed != 1 else ''})"
    lines.append(f"selftest {verdict}" + (f", {warned} warning{'s' if warned != 1 else ''}" if warned else ""))
    return "\n".join(lines)


def exit_code(checks: list[Check]) -> int:
    return 1 if any(check.status == FAIL for check in checks) else 0
