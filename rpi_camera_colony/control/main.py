"""``rcc_conductor``: record from every camera of a config, from the command line.

    rcc_conductor -c colony.config -n mouse1__session1 -t 60     # record 60 s (Ctrl-C stops earlier)
    rcc_conductor -c colony.config --check                       # validate the config and exit
    rcc_conductor -c colony.config --attach -t 600               # take over a recording in progress
    rcc_conductor -c colony.config --stop                        # stop a recording in progress

Exit codes: 0 success, 1 a camera failed, 2 bad config or arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from rpi_camera_colony import __version__
from rpi_camera_colony.cli_help import HelpFormatter

logger = logging.getLogger("rpi_camera_colony.control.main")
#: Without -t, the CLI waits this long past max_acquisition_time for cameras it cannot reach (they stop themselves).
GRACE_AFTER_MAX_TIME = 30.0
#: Seconds between progress lines when stderr is not a terminal (a pipe, a log file).
PLAIN_PROGRESS_INTERVAL = 10.0


def build_parser(
    prog: str = "rcc_conductor",
    description: str = "RPi Camera Colony: start, run and stop every camera of a config file together.",
    config_flags: tuple[str, ...] = ("--config-file", "--config-data-file", "-c"),
) -> argparse.ArgumentParser:
    """The conductor's options (``prog``, ``description`` and the config option's spellings for the commands that
    share them)."""
    parser = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(*config_flags, dest="config_file", required=True, help="the colony's config file")
    parser.add_argument(
        "--acquisition-name",
        "-n",
        default=None,
        help="name of this recording (default: [general] acquisition_name); 'group__name' sets the group folder",
    )
    parser.add_argument(
        "--max-acquisition-time",
        "--time",
        "-t",
        dest="seconds",
        type=float,
        default=None,
        help="record this many seconds, then stop (default: until Ctrl-C or [general] max_acquisition_time)",
    )
    parser.add_argument(
        "--check", action="store_true", help="only validate the config, print what it sets up, and exit"
    )
    parser.add_argument(
        "--camera", action="append", default=None, metavar="NAME", help="only this camera (repeat for several)"
    )
    parser.add_argument(
        "--attach",
        action="store_true",
        help="start no agent: take over the recording the running agents of this config are doing (e.g. after the "
        "conductor that started them crashed), follow it and stop it at -t or Ctrl-C",
    )
    parser.add_argument("--stop", action="store_true", help="like --attach, but stop the recording at once")
    parser.add_argument(
        "--calibration",
        action="store_true",
        help="calibration mode: every camera at [general] calibration_framerate (2 fps unless set), for checkerboard "
        "videos; files are named and stored as any recording",
    )
    parser.add_argument("--debug", "-d", action="store_true", help="show debug messages")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. when logging to a file)")
    return parser


def setup_logging(debug: bool, level_name: str) -> None:
    level = logging.DEBUG if debug else logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(
        min(level, logging.getLevelName(level_name) if isinstance(logging.getLevelName(level_name), int) else level)
    )


def _check(config_file: str, cameras: Optional[list[str]]) -> int:
    from rpi_camera_colony.config.loading import load_config
    from rpi_camera_colony.control.launch import check_launchers, launcher_name
    from rpi_camera_colony.exc import ConfigError

    try:
        settings = load_config(config_file)
        if cameras:
            settings = settings.only(cameras)
    except ConfigError as err:
        print(f"rcc_conductor: {err}", file=sys.stderr)
        return 2
    general = settings.general
    print(f"{config_file}: OK")
    print(f"  acquisition: {general.acquisition_name} (group: {general.group or '-'}) -> {general.remote_data_path}")
    print(
        f"  control {settings.control.address}:{settings.control.port}, logs {settings.log.address}:{settings.log.port}"
    )
    launchers = {name: launcher_name(c) for name, c in settings.controllers.items()}
    for name, c in settings.controllers.items():
        print(
            f"  {name}: {c.resolution[0]}x{c.resolution[1]}@{c.framerate}fps, camera {c.camera_backend}, "
            f"ttl {c.ttl_backend} (out pin {c.ttl_out_pin}, in pin {c.ttl_in_pin}), launcher {launchers[name]}, "
            f"address {c.address or 'local'}"
            + (f", live stream http://{c.stream_address or c.address}:{c.stream_port}/" if c.stream_video else "")
        )
    for warning in settings.warnings:
        print(f"  warning: {warning}")
    try:
        check_launchers(dict(settings.controllers), settings.control.address)
    except ConfigError as err:
        for problem in err.problems:
            print(f"  note: {problem}")
    return 0


def command_path(name: str) -> str:
    """How to run another of this package's commands from the shell that ran this one: its name when the PATH finds
    this installation's, else its path beside this interpreter (a virtual environment that is not activated, as after
    ``make demo``)."""
    beside = Path(sys.executable).parent / name
    found = shutil.which(name)
    if not beside.is_file() or (found is not None and Path(found).resolve() == beside.resolve()):
        return name
    return str(beside)


def format_summary(summaries: Mapping[str, Mapping[str, Any]], statuses: Mapping[str, Any]) -> str:
    """A per-camera table: state, frames, drops, TTL, duration, rate, video size; then the folders."""
    header = ("camera", "state", "expected", "frames", "dropped", "ttl out", "ttl in", "seconds", "fps", "video MB")
    lines = ["{:<20} {:<9} {:>8} {:>7} {:>7} {:>7} {:>6} {:>7} {:>6} {:>8}".format(*header)]
    folders = set()
    for name, status in statuses.items():
        summary = summaries.get(name) or {}
        frames = int(summary.get("frames", status.frames))
        seconds = float(summary.get("recording_s", status.recording_s))
        video = summary.get("files", {}).get("video")
        size = Path(video).stat().st_size / 1e6 if video and Path(video).exists() else summary.get("bytes", 0) / 1e6
        state = summary.get("status") or status.state
        fps = float(summary.get("fps", 0.0))
        lines.append(
            f"{name:<20} {state:<9} {int(summary.get('expected', frames)):>8} {frames:>7} "
            f"{int(summary.get('dropped', status.dropped)):>7} {int(summary.get('ttl_out', status.ttl_out)):>7} "
            f"{int(summary.get('ttl_in', status.ttl_in)):>6} {seconds:>7.2f} {fps:>6.1f} {size:>8.2f}"
        )
        if summary.get("files", {}).get("folder"):
            folders.add(summary["files"]["folder"])
        if status.problem:
            lines.append(f"{'':<20} problem: {status.problem}")
        if status.outages:
            times = "once" if status.outages == 1 else f"{status.outages} times"
            note = "; its recording went on on the Pi" if summary else ""
            lines.append(f"{'':<20} out of reach {times}, {status.unreachable_s:.1f} s in all{note}")
    for folder in sorted(folders):
        lines.append(f"files: {folder}")
        lines.append(f"timing report: {shlex.quote(command_path('rcc_report'))} {shlex.quote(str(folder))}")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    return run(build_parser().parse_args(argv))


def calibration_main(argv: Optional[list[str]] = None) -> int:
    """``rcc_calibration``: ``rcc_conductor --calibration`` (the original's entry point)."""
    parser = build_parser(prog="rcc_calibration", description="RPi Camera Colony: record a calibration video.")
    return run(parser.parse_args(["--calibration", *(sys.argv[1:] if argv is None else argv)]))


def run(args: argparse.Namespace) -> int:
    """Carry out parsed ``rcc_conductor`` arguments; the exit code."""
    if args.check:
        return _check(args.config_file, args.camera)

    from rpi_camera_colony.config.loading import load_config
    from rpi_camera_colony.control.conductor import Conductor
    from rpi_camera_colony.exc import ColonyError, ConfigError
    from rpi_camera_colony.files import check_name_part

    try:
        settings = load_config(args.config_file)
    except ConfigError as err:
        print(f"rcc_conductor: {err}", file=sys.stderr)
        return 2
    if args.seconds is not None and args.seconds <= 0:
        print("rcc_conductor: --max-acquisition-time must be > 0 seconds", file=sys.stderr)
        return 2
    if args.acquisition_name is not None:
        try:
            check_name_part("--acquisition-name", args.acquisition_name)
        except ColonyError as err:
            print(f"rcc_conductor: {err}", file=sys.stderr)
            return 2
    setup_logging(args.debug, settings.log.level if settings.log.log_to_console else "WARNING")
    limit = settings.general.max_acquisition_time
    if args.seconds is not None and limit and args.seconds > limit:
        logger.warning(
            "-t %g s is longer than max_acquisition_time = %d s: cameras stop themselves at %d s",
            args.seconds,
            limit,
            limit,
        )

    attach = args.attach or args.stop
    interrupt = Interrupt()
    try:
        conductor = Conductor(
            settings=settings,
            acquisition_name=args.acquisition_name,
            cameras=args.camera,
            attach=attach,
            run_for_calibration=args.calibration,
        )
    except ColonyError as err:
        print(f"rcc_conductor: {err}", file=sys.stderr)
        return 2 if isinstance(err, ConfigError) else 1
    if interrupt.requested and not conductor.acquiring:
        conductor.cleanup()
        print("Interrupted before recording: nothing was recorded", file=sys.stderr)
        return INTERRUPTED
    if attach and not conductor.acquiring:
        conductor.cleanup()
        print("rcc_conductor: no camera of this config is recording: nothing to take over", file=sys.stderr)
        return 0 if args.stop else 1
    failed = False
    try:
        if not conductor.acquiring and not interrupt.requested:
            conductor.start_acquisition()
        if not args.stop and not interrupt.requested:
            _record(conductor, args.seconds, show_progress=not args.no_progress, interrupt=interrupt)
        summaries = conductor.stop_acquisition() if conductor.acquiring else conductor.last_summaries
    except ColonyError as err:
        print(f"rcc_conductor: {err}", file=sys.stderr)
        summaries = conductor.last_summaries
        failed = True
    finally:
        statuses = conductor.status()
        conductor.cleanup()
    print(format_summary(summaries, statuses))
    failed = failed or any(s.get("status") == "failed" for s in summaries.values())
    return 1 if failed else 0


#: Exit code when interrupted before any recording started (128 + SIGINT, as shells report it).
INTERRUPTED = 130


class Interrupt:
    """Ctrl-C (SIGINT) and SIGTERM as a request, not an exception: raised at an arbitrary point, KeyboardInterrupt
    can leave a lock held that the conductor's network thread then waits on forever (found: stops that timed out
    after a Ctrl-C). The handler only sets a flag (taking no lock); the recording loop looks at it and the CLI then
    stops every camera."""

    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        # os.write: a print() here could re-enter a print the main thread is in the middle of
        if self.requested:
            os.write(2, b"\nstill stopping every camera and finishing its files: please wait\n")
        else:
            os.write(2, b"\nInterrupted: stopping every camera...\n")
        self.requested = True

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds`` (pacing), or less once interrupted; True if interrupted."""
        end = time.monotonic() + seconds
        while not self.requested and time.monotonic() < end:
            time.sleep(min(INTERRUPT_CHECK_S, max(0.0, end - time.monotonic())))
        return self.requested


#: How soon the recording loop notices a Ctrl-C.
INTERRUPT_CHECK_S = 0.05


def _record(conductor: Any, seconds: Optional[float], *, show_progress: bool, interrupt: Interrupt) -> None:
    """Wait until ``seconds`` pass, every camera stopped by itself, or Ctrl-C; show progress meanwhile.

    Cameras out of reach count as recording (their agents go on without the conductor); without ``seconds`` the
    wait ends a little after max_acquisition_time, when every agent has stopped by itself.
    """
    from tqdm import tqdm

    limit = conductor.settings.general.max_acquisition_time
    give_up = limit + GRACE_AFTER_MAX_TIME if limit else None
    start = time.monotonic()
    live = show_progress and sys.stderr.isatty()  # a line rewritten in place on a terminal only
    bar = tqdm(total=seconds, unit="s", disable=not live, bar_format="{desc}")
    next_line = start  # into a pipe or a log file: plain lines, one every PLAIN_PROGRESS_INTERVAL
    try:
        while True:
            elapsed = time.monotonic() - start
            statuses = conductor.status()
            shown = f"{min(elapsed, seconds):.1f}/{seconds:g} s" if seconds else f"{elapsed:.1f} s"
            frames = " ".join(f"{n}:{s.frames}" + (f"(!{s.problem})" if s.problem else "") for n, s in statuses.items())
            bar.set_description_str(f"recording {shown} | frames {frames}", refresh=True)
            if show_progress and not live and time.monotonic() >= next_line:
                print(f"recording {shown} | frames {frames}", file=sys.stderr, flush=True)
                next_line += PLAIN_PROGRESS_INTERVAL
            if seconds is not None and elapsed >= seconds:
                return
            # A camera out of reach ("lost") is not a stopped camera: its agent records on, so keep waiting for it.
            if not any(s.state in ("recording", "lost") for s in statuses.values()):
                logger.warning("no camera is recording any more")
                return
            if seconds is None and give_up is not None and elapsed > give_up:
                logger.warning("max_acquisition_time has passed: the cameras have stopped themselves")
                return
            # Pacing the display; the wait ends early at the requested duration, or at once on Ctrl-C.
            if interrupt.pause(0.5 if seconds is None else max(0.0, min(0.5, seconds - elapsed))):
                return
    finally:
        bar.close()


if __name__ == "__main__":
    sys.exit(main())
