"""The original's logging helpers (``rpi_camera_colony.log``). The package logs through ``logging.getLogger(__name__)``
of each module; only command lines (and a conductor in a program that set up no logging) add handlers."""

from __future__ import annotations

import logging
from typing import Any, Optional


def log_level_name_to_value(name: Any = None, default: int = logging.INFO) -> int:
    """The number of a level name ("DEBUG" -> 10); ``default`` for an unknown name."""
    value = logging.getLevelName(str(name).upper())
    return value if isinstance(value, int) else default


def setup_logging_control(level: Optional[str] = None) -> None:
    """Show log records on stderr at ``level`` (default DEBUG), unless the program set up logging already."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(log_level_name_to_value(level or "DEBUG"))
