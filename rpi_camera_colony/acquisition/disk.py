"""Is there room for a recording? The check an agent makes before it starts one.

The video's rate is estimated as picamera2 sizes its H.264 bit rate for "medium" quality (7 Mbit/s for 1080p30,
scaled with the square root of pixels per second), plus the timestamp rows; a recording may last
``max_acquisition_time``. A real scene may compress better (the simulated camera's far better): the estimate errs
on the side of room.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rpi_camera_colony.config.settings import ControllerSettings

#: picamera2's Quality.MEDIUM bit rate for 1920x1080 at 30 fps, bits per second.
REFERENCE_BITRATE = 7_000_000
REFERENCE_PIXEL_RATE = 1920 * 1080 * 30
#: A timestamp row and a little of everything else, per frame.
BYTES_PER_FRAME_OVERHEAD = 160
#: Kept free beyond the estimate (metadata, clock samples, the file system's own needs).
MARGIN_BYTES = 50_000_000
CHECKS = ("refuse", "warn", "off")
#: A recording without max_acquisition_time is checked for this long (a day).
UNLIMITED_SECONDS = 86_400.0


def free_bytes(path: str) -> Optional[int]:
    """Free space on the disk that holds ``path`` (or would hold it: the nearest existing folder above it counts);
    None if it cannot be read."""
    folder = Path(path).expanduser()
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def estimated_bytes_per_second(settings: ControllerSettings) -> float:
    width, height = settings.resolution
    bitrate = REFERENCE_BITRATE * math.sqrt(width * height * settings.framerate / REFERENCE_PIXEL_RATE)
    return bitrate / 8 + BYTES_PER_FRAME_OVERHEAD * settings.framerate


@dataclass(frozen=True)
class SpaceNeeded:
    """How much a recording may need, and whether ``free`` bytes hold it."""

    free: int
    needed: int
    rate: float  # bytes per second
    seconds: float

    @property
    def enough(self) -> bool:
        return self.free >= self.needed

    def describe(self, path: str) -> str:
        return (
            f"only {self.free / 1e9:.2f} GB free at {path}; recording up to {self.seconds / 3600:.2f} h at about "
            f"{self.rate / 1e6:.2f} MB/s needs {self.needed / 1e9:.2f} GB: free space (collect and delete old "
            "recordings), shorten max_acquisition_time, or set [general] disk_space_check = warn"
        )


def space_needed(settings: ControllerSettings, *, free: int, max_seconds: float) -> SpaceNeeded:
    rate = estimated_bytes_per_second(settings)
    return SpaceNeeded(free=free, needed=round(rate * max_seconds + MARGIN_BYTES), rate=rate, seconds=max_seconds)
