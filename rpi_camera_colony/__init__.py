"""RPi Camera Colony: record video in parallel from many Raspberry Pi cameras, controlled from one machine.

``read_session_data`` is imported lazily so that agents on a Pi do not pay for importing pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.5.0"

__all__ = ["__version__", "read_session_data"]

if TYPE_CHECKING:
    from rpi_camera_colony.session.readers import read_session_data


def __getattr__(name: str) -> Any:
    if name == "read_session_data":
        from rpi_camera_colony.session.readers import read_session_data

        return read_session_data
    raise AttributeError(f"module 'rpi_camera_colony' has no attribute {name!r}")
