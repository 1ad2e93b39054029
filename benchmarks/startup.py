"""Startup time and dropped frames of a simulated colony on this machine.

1. Time from ``Conductor(...)`` to every camera confirmed recording (its first frame written), for N cameras.
2. Dropped frames for 4 cameras at 640x480 @ 90 fps over a long recording.

    python benchmarks/startup.py                       # N = 1, 4, 8, 16; 3 repeats; 60 s drop test
    python benchmarks/startup.py --cameras 8 --repeats 5 --drop-seconds 0
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.testing import write_simulated_config


def time_startup(cameras: int, repeats: int, workdir: Path) -> list[float]:
    times = []
    for repeat in range(repeats):
        data = workdir / f"startup_{cameras}_{repeat}"
        config = write_simulated_config(
            workdir / f"startup_{cameras}.config",
            data_path=data,
            cameras=cameras,
            framerate=90,
            resolution=(640, 480),
            log={"log_to_file": False},
        )
        started = time.perf_counter()
        with Conductor(config_file=config) as conductor:
            conductor.start_acquisition()
            times.append(time.perf_counter() - started)
            conductor.stop_acquisition()
    return times


def drop_test(seconds: float, workdir: Path) -> dict[str, dict[str, float]]:
    config = write_simulated_config(
        workdir / "drops.config",
        data_path=workdir / "drops",
        cameras=4,
        framerate=90,
        resolution=(640, 480),
        log={"log_to_file": False},
    )
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="rcc-bench-") as tmp:
        workdir = Path(tmp)
        print("startup: Conductor(...) -> all cameras confirmed recording (first frame written)")
        print(f"{'cameras':>7} {'median s':>9} {'min s':>7} {'max s':>7}")
        for count in (int(c) for c in args.cameras.split(",")):
            times = time_startup(count, args.repeats, workdir)
            print(f"{count:>7} {statistics.median(times):>9.3f} {min(times):>7.3f} {max(times):>7.3f}", flush=True)
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
