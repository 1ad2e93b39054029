"""The original package's import path for ``RemoteAcquisitionControl`` (now :mod:`rpi_camera_colony.control.camera`,
the central side), and a command line for one camera of a config:

``python -m rpi_camera_colony.acquisition.remote_control -c CONFIG --instance-name NAME`` records from that one
camera (the same as ``rcc_conductor --camera NAME``).
"""

from __future__ import annotations

import sys
from typing import Optional

from rpi_camera_colony.control.camera import (
    MISSED_HEARTBEATS,
    STALL_SECONDS,
    CameraStatus,
    RemoteAcquisitionControl,
)

__all__ = ["MISSED_HEARTBEATS", "STALL_SECONDS", "CameraStatus", "RemoteAcquisitionControl", "main"]


def main(argv: Optional[list[str]] = None) -> int:
    """Record from one camera of a config: ``-c CONFIG --instance-name NAME [-n NAME] [-t SECONDS]``."""
    import argparse

    from rpi_camera_colony.control.main import main as conductor_main

    parser = argparse.ArgumentParser(
        prog="python -m rpi_camera_colony.acquisition.remote_control",
        description="RPi Camera Colony: control one camera of a config (other rcc_conductor options pass through).",
    )
    parser.add_argument("--instance-name", "-id", required=True, help="the camera's [[name]] in the config")
    known, rest = parser.parse_known_args(argv)
    return conductor_main([*rest, "--camera", known.instance_name])


if __name__ == "__main__":
    sys.exit(main())
