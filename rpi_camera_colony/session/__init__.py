"""Read recorded sessions back: metadata, timestamps, video paths, clock samples, aligned frames, timing report."""

from rpi_camera_colony.session.readers import read_frames, read_session_data, recordings, session_files
from rpi_camera_colony.session.timing import (
    aligned_frames,
    clock_fit,
    read_clock,
    refit_conductor_times,
    timing_report,
)

__all__ = [
    "aligned_frames",
    "clock_fit",
    "read_clock",
    "read_frames",
    "read_session_data",
    "recordings",
    "refit_conductor_times",
    "session_files",
    "timing_report",
]
