"""Helpers for testing code that uses RPi Camera Colony (and for this package's own tests).

- :func:`write_simulated_config`: a config file for N simulated cameras on this machine, on free ports.
- :func:`read_frame_indices`: decode a recorded H.264 file and read each frame's number drawn by the simulated camera.
- :func:`assert_session_complete`: check a recorded session folder the way a careful user would.
- :func:`agent_children` / :func:`process_running`: agent processes still running (Linux).
- :func:`wait_for`: poll a condition with a deadline.
- :func:`wall_minus_monotonic_us` / :func:`true_conductor_us`: the true conductor-clock time of a simulated
  camera's timestamps, to check timing results against.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Optional, Union

from rpi_camera_colony.acquisition.cameras.simulated import read_camera_id, read_frame_index
from rpi_camera_colony.clock import CameraClock


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def write_simulated_config(
    path: Union[str, Path],
    *,
    data_path: Union[str, Path],
    cameras: int = 4,
    framerate: int = 90,
    resolution: tuple[int, int] = (320, 240),
    acquisition_name: str = "test__session",
    general: Optional[Mapping[str, Any]] = None,
    log: Optional[Mapping[str, Any]] = None,
    control: Optional[Mapping[str, Any]] = None,
    per_camera: Optional[Mapping[str, Mapping[str, Any]]] = None,
    names: Optional[list[str]] = None,
) -> Path:
    """Write a config for ``cameras`` simulated cameras named ``cam0``... (or ``names``) and return its path.

    Ports are 0 (free ports), addresses 127.0.0.1, the log file goes next to the data.
    ``per_camera`` adds or overrides keys of single cameras by name.
    """
    path = Path(path)
    names = names or [f"cam{i}" for i in range(cameras)]
    sections: dict[str, dict[str, Any]] = {
        "general": {
            "acquisition_name": acquisition_name,
            "remote_data_path": str(data_path),
            "max_acquisition_time": 600,
        },
        "log": {
            "address": "127.0.0.1",
            "port": 0,
            "level": "INFO",
            "log_to_file": True,
            "log_file": str(Path(data_path) / "rcc_conductor"),
        },
        "control": {"address": "127.0.0.1", "port": 0, "hello_timeout": 30.0, "command_timeout": 10.0},
    }
    sections["general"].update(general or {})
    sections["log"].update(log or {})
    sections["control"].update(control or {})
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"    {key} = {_format(value)}" for key, value in values.items()]
    lines.append("[controllers]")
    for name in names:
        camera: dict[str, Any] = {
            "address": "127.0.0.1",
            "camera_backend": "simulated",
            "ttl_backend": "simulated",
            "framerate": framerate,
            "resolution": f"{resolution[0]}x{resolution[1]}",
        }
        camera.update((per_camera or {}).get(name, {}))
        lines.append(f"    [[{name}]]")
        lines += [
            f"        {key} = {value if key == 'resolution' else _format(value)}" for key, value in camera.items()
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_frame_indices(video_file: Union[str, Path]) -> list[int]:
    """Decode every frame of a raw H.264 file and return the frame numbers drawn into them."""
    import av

    indices = []
    with av.open(str(video_file), format="h264") as container:
        for frame in container.decode(video=0):
            luma = frame.to_ndarray(format="gray")
            indices.append(read_frame_index(luma))
    return indices


def read_camera_ids(video_file: Union[str, Path]) -> set[int]:
    """Decode a simulated camera's raw H.264 file and return the camera ids drawn into its frames (one, for a file
    of one camera: :func:`rpi_camera_colony.acquisition.cameras.simulated.camera_id` of its name)."""
    import av

    with av.open(str(video_file), format="h264") as container:
        return {read_camera_id(frame.to_ndarray(format="gray")) for frame in container.decode(video=0)}


def assert_session_complete(session: Mapping[str, Mapping[str, Any]], cameras: list[str], session_dir: Path) -> None:
    """Assert what every good recording has: all cameras, a video, frames = rows = TTL pulses, no reader errors."""
    missing = [c for c in cameras if c not in session]
    assert not missing, f"cameras missing from the session: {missing}"
    for camera in cameras:
        entry = session[camera]
        assert not entry["errors"], f"{camera}: {entry['errors']}"
        assert entry["has_h264"], f"{camera}: no video file"
        assert (session_dir / entry["video_file_h264"]).stat().st_size > 0, f"{camera}: empty video"
        meta = entry["metadata"]
        rows = len(entry["timestamps.ttl.out"])
        assert meta["status"] == "stopped", f"{camera}: status {meta['status']} ({meta['stop_reason']})"
        assert meta["frames"]["written"] == rows, (
            f"{camera}: metadata says {meta['frames']['written']} frames, CSV {rows}"
        )
        assert meta["frames"]["ttl_out_pulses"] == rows, (
            f"{camera}: {meta['frames']['ttl_out_pulses']} pulses for {rows}"
        )


def _proc_stat(pid: Path) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state first, then the parent pid)."""
    return (pid / "stat").read_text().rsplit(")", 1)[-1].split()


def process_running(pid: int) -> bool:
    """True while the process exists and is not a zombie. Linux only."""
    try:
        return _proc_stat(Path(f"/proc/{pid}"))[0] != "Z"
    except (OSError, IndexError):
        return False


def agent_children(parent: Optional[int] = None) -> list[int]:
    """PIDs of running acquisition agents whose parent is ``parent`` (default: this process). Linux only."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _proc_stat(entry)
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if (
            len(fields) > 1
            and int(fields[1]) == parent
            and fields[0] != "Z"
            and "rpi_camera_colony.acquisition" in cmdline
        ):
            found.append(int(entry.name))
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for a test that needs a fixed port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)  # pacing: the condition is polled, nothing signals it
    return predicate()


def wall_minus_monotonic_us(samples: int = 2000) -> float:
    """This machine's wall clock minus its monotonic clock (µs), from the tightest of many back-to-back readings."""
    best = (float("inf"), 0.0)
    for _ in range(samples):
        before = time.monotonic_ns()
        wall = time.time_ns()
        after = time.monotonic_ns()
        if after - before < best[0]:
            best = (after - before, wall - (before + after) / 2)
    return best[1] / 1e3


def true_conductor_us(camera_us: Any, *, offset_s: float, drift_ppm: float, wall_minus_mono: float) -> Any:
    """The true conductor-clock time (µs) of simulated-camera timestamps (numbers or numpy arrays).

    A simulated camera with ``sim_clock_offset``/``sim_clock_drift_ppm`` runs a :class:`CameraClock`; the conductor's
    clock is this machine's wall clock, ``wall_minus_mono`` (:func:`wall_minus_monotonic_us`) ahead of monotonic.
    """
    return CameraClock(offset_s=offset_s, drift_ppm=drift_ppm).to_monotonic(camera_us) * 1e6 + wall_minus_mono
