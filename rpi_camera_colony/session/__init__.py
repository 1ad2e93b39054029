"""Read recorded sessions back: metadata, timestamps, video paths, clock samples, aligned frames, timing report.

The names load their module (and pandas) when first used, so that ``rcc_convert`` and other tools that do not
read tables start quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rpi_camera_colony.session.readers import read_frames, read_session_data, recordings, session_files
    from rpi_camera_colony.session.timing import (
        aligned_frames,
        clock_fit,
        read_clock,
        refit_conductor_times,
        timing_report,
    )

_WHERE = {
    "read_frames": "readers",
    "read_session_data": "readers",
    "recordings": "readers",
    "session_files": "readers",
    "aligned_frames": "timing",
    "clock_fit": "timing",
    "read_clock": "timing",
    "refit_conductor_times": "timing",
    "timing_report": "timing",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rpi_camera_colony.session' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rpi_camera_colony.session.{module}"), name)
