"""The original package's import path for ``RemoteAcquisitionControl`` (now
:mod:`rpi_camera_colony.control.remote_acquisition`, the central side), and a command line for one camera of a config:

``python -m rpi_camera_colony.acquisition.remote_control -c CONFIG --instance-name NAME`` records from that one
camera (the same as ``rcc_conductor --camera NAME``).
"""

from __future__ import annotations

import sys
from typing import Optional

from rpi_camera_colony.control.camera import MISSED_HEARTBEATS, STALL_SECONDS, CameraStatus
from rpi_camera_colony.control.remote_acquisition import RemoteAcquisitionControl

__all__ = ["MISSED_HEARTBEATS", "STALL_SECONDS", "CameraStatus", "RemoteAcquisitionControl", "main"]


def main(argv: Optional[list[str]] = None) -> int:
    """Record from one camera of a config: ``-c CONFIG --instance-name NAME [-n NAME] [-t SECONDS]`` and every other
    ``rcc_conductor`` option (the original's ``--config_data-file`` / ``-f`` name the config too)."""
    from rpi_camera_colony.control.main import build_parser, run

    parser = build_parser(
        prog="python -m rpi_camera_colony.acquisition.remote_control",
        description="RPi Camera Colony: record from one camera of a config (rcc_conductor --camera NAME).",
        config_flags=("--config-file", "--config-data-file", "--config_data-file", "-c", "-f"),
    )
    parser.add_argument("--instance-name", "-id", required=True, help="the camera's [[name]] in the config")
    args = parser.parse_args(argv)
    args.camera = [args.instance_name, *(args.camera or [])]
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
