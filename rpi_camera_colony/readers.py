"""The original's module for reading sessions (``from rpi_camera_colony.readers import read_session_data``); the
readers live in :mod:`rpi_camera_colony.session`."""

from rpi_camera_colony.session.readers import read_frames, read_session_data, recordings, session_files

__all__ = ["read_frames", "read_session_data", "recordings", "session_files"]
