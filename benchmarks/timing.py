"""Timing accuracy of a simulated colony against the injected truth.

1. Offset estimation error: 8 cameras with injected clock offsets (and drift on some), recording; every frame's
   conductor-clock time is compared with its true time (median and max of |error|).
2. Start skew: 8 cameras started together 20 times; the true conductor-clock times of each start's first frames
   (max - min), median and max over the starts.

Simulated camera clocks are ``monotonic_us * (1 + drift) + offset`` and the conductor's clock is the wall clock of
this machine, so the truth is known exactly.

    python benchmarks/timing.py [--starts 20] [--seconds 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from rpi_camera_colony.cli_help import positive_float, positive_int
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.session import read_frames, refit_conductor_times
from rpi_camera_colony.testing import true_conductor_us, wall_minus_monotonic_us, write_simulated_config

OFFSETS_S = [0.25, -3.0, 1.5, -0.7, 10.0, -20.0, 0.001, 0.0]
DRIFTS_PPM = [0.0, 50.0, -30.0, 0.0, 10.0, 0.0, -50.0, 20.0]


def true_us(camera_us: np.ndarray, camera: int, truth: float) -> np.ndarray:
    return np.asarray(
        true_conductor_us(camera_us, offset_s=OFFSETS_S[camera], drift_ppm=DRIFTS_PPM[camera], wall_minus_mono=truth)
    )


def make_config(workdir: Path, name: str) -> Path:
    per_camera = {f"cam{i}": {"sim_clock_offset": OFFSETS_S[i], "sim_clock_drift_ppm": DRIFTS_PPM[i]} for i in range(8)}
    return write_simulated_config(
        workdir / f"{name}.config",
        data_path=workdir / name,
        cameras=8,
        framerate=30,
        resolution=(320, 240),
        per_camera=per_camera,
        log={"log_to_file": False},
        control={"clock_sync_interval": 0.5},
    )


def offset_errors(workdir: Path, seconds: float) -> tuple[list[float], dict[str, float], list[float]]:
    config = make_config(workdir, "offsets")
    with Conductor(config_file=config) as conductor:
        conductor.start_acquisition()
        threading.Event().wait(seconds)  # the recording under test
        conductor.stop_acquisition()
        folder = conductor.session_folder()
    truth = wall_minus_monotonic_us(samples=5000)
    errors: list[float] = []
    refit_errors: list[float] = []
    worst = {}
    for i in range(8):
        frames = read_frames(folder, f"cam{i}")
        real = true_us(frames["timestamp_frame"].to_numpy(dtype=float), i, truth)
        error = np.abs(frames["timestamp_conductor"].to_numpy(dtype=float) - real)
        errors += error.tolist()
        worst[f"cam{i}"] = float(error.max())
        refit = refit_conductor_times(folder, f"cam{i}")["timestamp_conductor"].to_numpy(dtype=float)
        refit_errors += np.abs(refit - real).tolist()
    return errors, worst, refit_errors


def start_skews(workdir: Path, starts: int) -> list[float]:
    config = make_config(workdir, "skew")
    skews = []
    with Conductor(config_file=config) as conductor:
        for k in range(starts):
            conductor.start_acquisition(f"skew__start_{k:02d}")
            conductor.stop_acquisition()
            folder = conductor.session_folder()
            truth = wall_minus_monotonic_us(samples=5000)
            firsts = [
                float(
                    true_us(
                        np.array([read_frames(folder, f"cam{i}")["timestamp_frame"].iloc[0]], dtype=float), i, truth
                    )[0]
                )
                for i in range(8)
            ]
            skews.append(max(firsts) - min(firsts))
    return skews


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=positive_int, default=20)
    parser.add_argument("--seconds", type=positive_float, default=5.0, help="length of the offset-estimation recording")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="rcc-timing-") as tmp:
        workdir = Path(tmp)
        errors, worst, refit = offset_errors(workdir, args.seconds)
        print(f"offset estimation, 8 cameras, offsets {OFFSETS_S} s, drifts {DRIFTS_PPM} ppm, {args.seconds:g} s:")
        print(f"  every frame's conductor-clock time vs truth: median {statistics.median(errors):.1f} us, "
              f"max {max(errors):.1f} us over {len(errors)} frames")  # fmt: skip
        print("  worst per camera (us): " + ", ".join(f"{n} {v:.1f}" for n, v in worst.items()))
        print(
            f"  refitted afterwards from clock.csv: median {statistics.median(refit):.1f} us, max {max(refit):.1f} us"
        )
        skews = start_skews(workdir, args.starts)
        print(f"start skew, 8 cameras, {args.starts} starts (true first-frame times, max - min):")
        print(f"  median {statistics.median(skews):.1f} us, max {max(skews):.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
