"""Read recorded sessions back (metadata, timestamps, video paths)."""

from rpi_camera_colony.session.readers import read_frames, read_session_data, session_files

__all__ = ["read_frames", "read_session_data", "session_files"]
