"""Startup time, start timing and dropped frames of a simulated colony on this machine.

1. For N cameras: time from ``Conductor(...)`` to every camera confirmed recording (its first frame written), next to
   the floor measured in the same run: N bare interpreters started at once that import what an agent loads before
   its hello. Then the start itself: cameras that started late (first frame more than 1 ms after the start time; the
   target is 0), the start skew (true first-frame times, latest minus earliest), the lead the conductor chose and how
   often it had to move the start.
2. Dropped frames for 4 cameras at 640x480 @ 90 fps over a long recording.

    python benchmarks/startup.py                       # N = 1, 4, 8, 16, 32; 3 repeats; 60 s drop test
    python benchmarks/startup.py --cameras 8 --repeats 5 --drop-seconds 0
    python benchmarks/startup.py --launcher ssh        # over real SSH (needs root, sshd, iproute2)
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from rpi_camera_colony.cli_help import non_negative_float, positive_int, positive_ints
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.testing import write_simulated_config


@dataclass
class Starts:
    """What the repeats of one colony size measured."""

    seconds: list[float] = field(default_factory=list)  #: Conductor(...) to all recording
    late: int = 0  #: cameras that began late, over all repeats
    lost: int = 0  #: frames lost at the start (taken, not written: a machine too busy to encode them), all repeats
    cameras: int = 0  #: camera starts, over all repeats
    skews_us: list[int] = field(default_factory=list)
    leads_s: list[float] = field(default_factory=list)
    reschedules: int = 0
    margins_us: list[int] = field(default_factory=list)  #: each start's smallest readiness margin
    round_trips_s: list[float] = field(default_factory=list)


def time_conductor(config: Path, repeats: int) -> Starts:
    """Seconds from Conductor(...) to every camera confirmed recording, and how each start went."""
    starts = Starts()
    for repeat in range(repeats):
        started = time.perf_counter()
        with Conductor(config_file=config, acquisition_name=f"bench__startup_{repeat}") as conductor:
            conductor.start_acquisition()
            starts.seconds.append(time.perf_counter() - started)
            outcome = conductor.start_outcome
            assert outcome is not None
            starts.late += len(outcome.late_us)
            starts.lost += sum(outcome.lost_at_start.values())
            starts.cameras += len(outcome.replies)
            if outcome.skew_us is not None:
                starts.skews_us.append(outcome.skew_us)
            starts.leads_s.append(outcome.lead_s)
            starts.reschedules += outcome.reschedules
            starts.round_trips_s.append(outcome.round_trip_s)
            if outcome.margins_us:
                starts.margins_us.append(min(outcome.margins_us.values()))
            conductor.stop_acquisition()
    return starts


#: What an agent loads before its hello (its loop, and the simulated backends' libraries): the floor's imports.
AGENT_IMPORTS = (
    "from rpi_camera_colony.acquisition import acquisition_control, backends; "
    "backends.preload('camera', 'simulated'); backends.preload('ttl', 'simulated')"
)


def floor(cameras: int, repeats: int) -> list[float]:
    """Seconds for ``cameras`` bare interpreters, started at once, to import what an agent loads before its hello."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        processes = [subprocess.Popen([sys.executable, "-c", AGENT_IMPORTS]) for _ in range(cameras)]
        for process in processes:
            process.wait()
        times.append(time.perf_counter() - started)
    return times


START_DELAY = 0.0  # [control] start_delay (0: as measured); set by --start-delay


def bench_config(
    workdir: Path,
    name: str,
    cameras: int,
    *,
    log: Optional[dict[str, Any]] = None,
    control: Optional[dict[str, Any]] = None,
    **options: Any,
) -> Path:
    """A simulated colony at the benchmark's settings: 640x480 @ 90 fps, no log file, the chosen start delay."""
    return write_simulated_config(
        workdir / f"{name}.config",
        data_path=workdir / name,
        cameras=cameras,
        framerate=90,
        resolution=(640, 480),
        log={"log_to_file": False, **(log or {})},
        control={"start_delay": START_DELAY, **(control or {})},
        **options,
    )


def time_startup(cameras: int, repeats: int, workdir: Path) -> Starts:
    return time_conductor(bench_config(workdir, f"startup_{cameras}", cameras), repeats)


def ssh_startup(counts: list[int], repeats: int, workdir: Path) -> None:
    """Startup over real SSH: one test-bed host per camera, the conductor in the bed's central namespace."""
    from rpi_camera_colony.testing.testbed import SshTestBed

    with SshTestBed(workdir / "bed", max(counts)) as bed:
        print(f"(test bed: {'network namespaces' if bed.use_namespaces else 'loopback'}, one sshd per host)")
        for count in counts:
            config = bench_config(
                workdir,
                f"ssh_{count}",
                count,
                general={"rpi_username": bed.user, "remote_python_interpreter": sys.executable,
                         "ssh_config_file": str(bed.ssh_config)},
                log={"address": bed.central_address},
                control={"address": bed.central_address},
                per_camera={f"cam{i}": {"address": bed.hosts[i].address, "launcher": "ssh"} for i in range(count)},
            )  # fmt: skip
            command = [
                sys.executable,
                __file__,
                "--config",
                str(config),
                "--repeats",
                str(repeats),
                "--label",
                str(count),
            ]
            subprocess.run(bed.command(command), check=True, timeout=600)


HEADER = (
    f"{'cameras':>7} {'median s':>9} {'min s':>7} {'max s':>7} {'floor s':>8} {'ratio':>6} {'late':>7} "
    f"{'skew µs med/max':>16} {'lead ms':>8} {'rtt ms':>7} {'margin ms':>9} {'moved':>5} {'lost':>5}"
)


def print_starts(label: str, starts: Starts, floor_s: Optional[float]) -> None:
    median = statistics.median(starts.seconds)
    skew = f"{statistics.median(starts.skews_us):.0f}/{max(starts.skews_us)}" if starts.skews_us else "-"
    ratio = f"{median / floor_s:.2f}x" if floor_s else "-"
    floor_text = f"{floor_s:.3f}" if floor_s else "-"
    print(
        f"{label:>7} {median:>9.3f} {min(starts.seconds):>7.3f} {max(starts.seconds):>7.3f} {floor_text:>8} "
        f"{ratio:>6} {f'{starts.late}/{starts.cameras}':>7} {skew:>16} "
        f"{statistics.median(starts.leads_s) * 1e3:>8.1f} {statistics.median(starts.round_trips_s) * 1e3:>7.1f} "
        f"{(min(starts.margins_us) / 1e3 if starts.margins_us else float('nan')):>9.1f} "
        f"{starts.reschedules:>5} {starts.lost:>5}",
        flush=True,
    )


def drop_test(seconds: float, workdir: Path) -> dict[str, dict[str, float]]:
    config = bench_config(workdir, "drops", 4)
    with Conductor(config_file=config) as conductor:
        conductor.start_acquisition()
        threading.Event().wait(seconds)  # the recording under test
        summaries = conductor.stop_acquisition()
    return {
        name: {"frames": s["frames"], "dropped": s["dropped"], "seconds": s["recording_s"], "fps": s["fps"]}
        for name, s in summaries.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=positive_ints, default="1,4,8,16,32", help="comma-separated camera counts")
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--drop-seconds", type=non_negative_float, default=60.0, help="0 skips the dropped-frames test")
    parser.add_argument("--launcher", choices=["local", "ssh"], default="local")
    parser.add_argument(
        "--start-delay",
        type=non_negative_float,
        default=0.0,
        help="[control] start_delay: the shortest lead (s); 0: as measured",
    )
    parser.add_argument("--config", type=Path, default=None, help="time this config (used inside the SSH test bed)")
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    global START_DELAY
    START_DELAY = args.start_delay
    if args.config is not None:
        print_starts(args.label or str(args.config.name), time_conductor(args.config, args.repeats), None)
        return 0

    with tempfile.TemporaryDirectory(prefix="rcc-bench-") as tmp:
        workdir = Path(tmp)
        counts = args.cameras
        delay = f"start_delay {args.start_delay:g} s" if args.start_delay else "start time as measured"
        print(f"startup ({args.launcher} launcher, {delay}): Conductor(...) to all recording, median of {args.repeats}")
        print("floor: as many bare interpreters started at once, importing what an agent loads before its hello")
        print(HEADER)
        if args.launcher == "ssh":
            ssh_startup(counts, args.repeats, workdir)
        else:
            for count in counts:
                floor_s = statistics.median(floor(count, args.repeats))
                print_starts(str(count), time_startup(count, args.repeats, workdir), floor_s)
        if args.drop_seconds > 0:
            print(f"\ndropped frames: 4 cameras, 640x480 @ 90 fps, {args.drop_seconds:g} s")
            results = drop_test(args.drop_seconds, workdir)
            print(f"{'camera':>7} {'frames':>7} {'dropped':>7} {'seconds':>8} {'fps':>7}")
            for name, r in results.items():
                print(f"{name:>7} {r['frames']:>7} {r['dropped']:>7} {r['seconds']:>8.2f} {r['fps']:>7.2f}")
            print(f"total dropped: {sum(int(r['dropped']) for r in results.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
