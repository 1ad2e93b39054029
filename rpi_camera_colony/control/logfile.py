"""The conductor's log file: a new file only its user can read, in a private folder by default, never opened
through a symlink."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO

#: The original's default log file stem: a predictable name in a folder every user can write to. It now means
#: "the default", which lives in this user's private state folder instead.
SEED_LOG_FILE = "/tmp/rpi_camera_colony__logging"


def log_file_path(stem: str, stamp: str) -> Path:
    """Where the conductor logs: ``{stem}.{stamp}.log``; the original's default goes to a private folder
    (``$XDG_STATE_HOME/rpi_camera_colony``, else ``~/.local/state/rpi_camera_colony``)."""
    if stem == SEED_LOG_FILE:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        stem = str(base / "rpi_camera_colony" / "rcc_conductor")
    return Path(f"{stem}.{stamp}.log").expanduser()


def open_private_log(path: Path) -> tuple[logging.StreamHandler[IO[str]], Path]:
    """A log handler on a new file only this user can read, never opened through a symlink; returns it and its path
    (``name-2.log`` and so on when the name is taken, e.g. two conductors started in the same second).

    Raises:
        OSError: if the folder or a new file cannot be made.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    candidate = path
    for number in range(2, 100):
        try:
            fd = os.open(candidate, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
        except FileExistsError:  # taken, or a symlink someone planted: never written through
            candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
            continue
        return logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8")), candidate
    raise FileExistsError(f"no free log file name next to {path}")
