"""The live view's cost, on this machine, with simulated cameras and the dashboard's relay on loopback.

1. Dropped recorded frames with the live view off and on: 4 cameras at 640x480 @ 90 fps record ``--seconds`` each
   way (target: 0 both ways; the run with it off is the baseline).
2. Latency of a preview image, from the frame's capture (the agent's clock) to an HTTP client of the dashboard's
   MJPEG relay receiving it (same machine, same clock): median and 95th percentile.
3. CPU per previewed camera: the agents' CPU time (user + system, from /proc) with the live view on minus with the
   cameras running (``preview`` command) but no live view, per camera, as % of one core; next to it, the bare
   library: simplejpeg encoding a 320x240 image at the same rate, in this process.

    python benchmarks/preview.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import simplejpeg  # type: ignore[import-untyped]

from rpi_camera_colony.cli_help import positive_float
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.dashboard.session import DashboardSession
from rpi_camera_colony.mjpeg import read_parts
from rpi_camera_colony.testing import write_simulated_config
from rpi_camera_colony.testing.dashboard import ServedDashboard

CAMERAS = 4
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def config(workdir: Path, name: str, framerate: int, resolution: tuple[int, int]) -> Path:
    return write_simulated_config(
        workdir / f"{name}.config",
        data_path=workdir / name,
        cameras=CAMERAS,
        framerate=framerate,
        resolution=resolution,
        log={"log_to_file": False},
    )


def dropped(workdir: Path, seconds: float, preview: bool) -> tuple[int, int]:
    """(dropped, recorded) frames of 4 cameras at 640x480 @ 90 fps for ``seconds``."""
    with Conductor(config_file=config(workdir, f"drops_{preview}", 90, (640, 480))) as conductor:
        if preview:
            conductor.stream_preview(True)
            threading.Event().wait(1.0)  # the live view running before the recording, as on the dashboard
        conductor.start_acquisition()
        threading.Event().wait(seconds)  # the recording under test
        summaries = conductor.stop_acquisition()
    return sum(s["dropped"] for s in summaries.values()), sum(s["frames"] for s in summaries.values())


def latency_and_cpu(workdir: Path, seconds: float) -> tuple[list[float], float, int]:
    """Relay latencies (s), the agents' CPU % of a core per previewed camera, and the preview rate."""
    with Conductor(config_file=config(workdir, "latency", 30, (640, 480))) as conductor:
        pids = [s.pid for s in conductor.status().values() if s.pid is not None]
        for link in conductor.controllers.values():
            link.preview().wait()  # the cameras run, nothing is streamed
        before, start = cpu_seconds(pids), time.monotonic()
        threading.Event().wait(seconds / 2)  # the measurement's span
        running = (cpu_seconds(pids) - before) / (time.monotonic() - start)
        conductor.stream_preview(True)
        rate = conductor.settings.controllers["cam0"].stream_framerate
        latencies: list[float] = []
        with ServedDashboard(DashboardSession(conductor)) as served:
            before, start = cpu_seconds(pids), time.monotonic()
            with urllib.request.urlopen(f"{served.url}/cameras/cam0/preview.mjpg", timeout=10) as response:
                end = time.monotonic() + seconds
                for headers, _image in read_parts(response):
                    latencies.append(time.time() - float(headers["x-sys-time"]))
                    if time.monotonic() >= end:
                        break
            busy = (cpu_seconds(pids) - before) / (time.monotonic() - start)
    per_camera = (busy - running) / len(pids) * 100
    return latencies[1:], per_camera, rate


def bare_jpeg_cpu(rate: int, seconds: float = 3.0) -> float:
    """simplejpeg alone: % of a core to encode a 320x240 grey image ``rate`` times a second."""
    image = (np.arange(320 * 240, dtype=np.uint32).reshape(240, 320, 1) % 251).astype(np.uint8)
    count = int(rate * seconds)
    start = time.process_time()
    for _ in range(count):
        simplejpeg.encode_jpeg(image, quality=75, colorspace="GRAY")
    return (time.process_time() - start) / seconds * 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--seconds", type=positive_float, default=10.0, help="seconds of each recording and measurement"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        off = dropped(workdir, args.seconds, preview=False)
        on = dropped(workdir, args.seconds, preview=True)
        latencies, per_camera, rate = latency_and_cpu(workdir, args.seconds)
    bare = bare_jpeg_cpu(rate)
    q95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 20 else max(latencies)
    print(f"machine: {os.cpu_count()} cores; {CAMERAS} simulated cameras")
    print(f"dropped recorded frames, 640x480 @ 90 fps, {args.seconds:g} s: live view off {off[0]} of {off[1]} "
          f"(baseline), on {on[0]} of {on[1]}")  # fmt: skip
    print(f"preview latency capture -> HTTP client of the relay: median {statistics.median(latencies) * 1e3:.1f} ms, "
          f"95th percentile {q95 * 1e3:.1f} ms ({len(latencies)} images at {rate} fps)")  # fmt: skip
    print(f"CPU per previewed camera (agents, 640x480 @ 30 fps, preview 320x240 @ {rate} fps): {per_camera:.1f} % "
          f"of a core; bare simplejpeg encoding at that rate: {bare:.1f} %")  # fmt: skip
    return 0 if on[0] == off[0] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
