"""Startup time and dropped frames of a simulated colony on this machine.

1. Time from ``Conductor(...)`` to every camera confirmed recording (its first frame written), for N cameras.
2. Dropped frames for 4 cameras at 640x480 @ 90 fps over a long recording.

    python benchmarks/startup.py                       # N = 1, 4, 8, 16; 3 repeats; 60 s drop test
    python benchmarks/startup.py --cameras 8 --repeats 5 --drop-seconds 0
    python benchmarks/startup.py --launcher ssh        # N = 8 hosts over real SSH (needs root, sshd, iproute2)
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
from pathlib import Path
from typing import Any, Optional

from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.testing import write_simulated_config


def time_conductor(config: Path, repeats: int) -> list[float]:
    """Seconds from Conductor(...) to every camera confirmed recording, once per repeat."""
    times = []
    for repeat in range(repeats):
        started = time.perf_counter()
        with Conductor(config_file=config, acquisition_name=f"bench__startup_{repeat}") as conductor:
            conductor.start_acquisition()
            times.append(time.perf_counter() - started)
            conductor.stop_acquisition()
    return times


START_DELAY = 0.5  # [control] start_delay; set by --start-delay


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


def time_startup(cameras: int, repeats: int, workdir: Path) -> list[float]:
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


def print_times(label: str, times: list[float]) -> None:
    print(f"{label:>7} {statistics.median(times):>9.3f} {min(times):>7.3f} {max(times):>7.3f}", flush=True)


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
    parser.add_argument("--cameras", default="1,4,8,16", help="comma-separated camera counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--drop-seconds", type=float, default=60.0, help="0 skips the dropped-frames test")
    parser.add_argument("--launcher", choices=["local", "ssh"], default="local")
    parser.add_argument(
        "--start-delay", type=float, default=0.5, help="[control] start_delay: the start's lead time (s)"
    )
    parser.add_argument("--config", type=Path, default=None, help="time this config (used inside the SSH test bed)")
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    global START_DELAY
    START_DELAY = args.start_delay
    if args.config is not None:
        print_times(args.label or str(args.config.name), time_conductor(args.config, args.repeats))
        return 0

    with tempfile.TemporaryDirectory(prefix="rcc-bench-") as tmp:
        workdir = Path(tmp)
        counts = [int(c) for c in args.cameras.split(",")]
        print(
            f"startup ({args.launcher} launcher, start_delay {args.start_delay:g} s): Conductor(...) to all recording"
        )
        print(f"{'cameras':>7} {'median s':>9} {'min s':>7} {'max s':>7}")
        if args.launcher == "ssh":
            ssh_startup(counts, args.repeats, workdir)
        else:
            for count in counts:
                print_times(str(count), time_startup(count, args.repeats, workdir))
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
