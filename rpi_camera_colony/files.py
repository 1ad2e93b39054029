"""File and folder names of a recording, their kinds and CSV columns, and the check on names (shared vocabulary:
the agent writes these files, the conductor names their folder, the readers find them).

Layout (the original package's contract)::

    {remote_data_path}/{acquisition_group}/{acquisition_name}/{acquisition_name}.{instance}.{YYYYmmdd_HHMMSS}.rcc.{kind}
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from rpi_camera_colony.exc import RecordingError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_\-.]*$")


def check_name_part(label: str, value: Any) -> str:
    """Check a value that becomes part of a folder or file name.

    Raises:
        RecordingError: if it is empty or holds characters other than letters, digits, '_', '-' and '.'.
    """
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise RecordingError(
            f"{label} {value!r} cannot be used in file names: use letters, digits, '_', '-' and '.' only"
        )
    return value


def default_instance_name() -> str:
    """An agent's name when none is given: this machine's host name, usable in file names."""
    return socket.gethostname().replace(".", "_") or "camera"


KIND_VIDEO = "video.h264"
KIND_TTL_OUT = "timestamps.ttl.out.csv"
KIND_TTL_IN = "timestamps.ttl.in.csv"
KIND_METADATA = "metadata.json"
KIND_MP4 = "video.h264.mp4"
KIND_CLOCK = "clock.csv"
#: Every kind of file a recording has (the readers recognise these), and the mark in each file name.
KINDS = (KIND_METADATA, KIND_TTL_OUT, KIND_TTL_IN, KIND_CLOCK, KIND_VIDEO, KIND_MP4)
SIGNATURE = ".rcc."

TTL_OUT_COLUMNS = (
    "timestamp_frame", "timestamp_ttl", "sys_time", "frame_index", "frame_bytes", "keyframe", "timestamp_conductor",
)  # fmt: skip
TTL_IN_COLUMNS = ("timestamp_frame", "sys_time", "level", "frame_index", "timestamp_conductor")
CLOCK_COLUMNS = ("camera_us", "conductor_us", "rtt_us", "offset_us", "burst_best")


def session_folder(data_path: str, group: str, name: str) -> Path:
    """The folder of one acquisition: ``{data_path}/{group}/{name}``, or ``{data_path}/{name}`` without a group."""
    base = Path(data_path).expanduser()
    return base / group / name if group else base / name


@dataclass(frozen=True)
class RecordingFiles:
    folder: Path
    stem: str  # "{acquisition_name}.{instance}.{acquisition_time}"

    @classmethod
    def create(cls, *, data_path: str, group: str, name: str, instance: str, acquisition_time: str) -> RecordingFiles:
        folder = session_folder(data_path, group, name).absolute()
        return cls(folder=folder, stem=f"{name}.{instance}.{acquisition_time}")

    def path(self, kind: str) -> Path:
        return self.folder / f"{self.stem}.rcc.{kind}"

    @property
    def video(self) -> Path:
        return self.path(KIND_VIDEO)

    @property
    def ttl_out(self) -> Path:
        return self.path(KIND_TTL_OUT)

    @property
    def ttl_in(self) -> Path:
        return self.path(KIND_TTL_IN)

    @property
    def metadata(self) -> Path:
        return self.path(KIND_METADATA)

    @property
    def clock(self) -> Path:
        return self.path(KIND_CLOCK)


# -- the original's names (rpi_camera_colony.files of 0.4.x) ----------------------------------------------------


#: rcc_collect's record of the files it verified in a folder, in ``sha256sum`` format ("DIGEST  NAME" lines).
MANIFEST = "rcc.manifest.sha256"


def read_manifest(folder: Union[str, Path]) -> dict[str, str]:
    """The files a folder's manifest lists, ``{name: sha256 hex digest}`` (empty without a manifest)."""
    try:
        lines = (Path(folder) / MANIFEST).read_text().splitlines()
    except FileNotFoundError:
        return {}
    entries = {}
    for line in lines:
        digest, _, name = line.partition("  ")
        if name:
            entries[name] = digest
    return entries


def get_datestr() -> str:
    """This machine's date and time as the ``YYYYmmdd_HHMMSS`` stamp of file names."""
    return dt.datetime.now().strftime("%Y%m%d_%H%M%S")


def make_recording_file_names(
    path: Any = None, package_id: str = "rcc", ext_sep: str = ".", video_ext: str = "h264"
) -> dict[str, str]:
    """The files of a recording starting now, from ``{folder}/{name}.{instance}`` (the original's helper): paths
    under ``video``, ``ttl.out``, ``ttl.in`` and ``metadata``."""
    stem = ext_sep.join([str(path), get_datestr(), package_id])
    kinds = {"video": f"video{ext_sep}{video_ext.replace('.', '')}", "ttl.out": KIND_TTL_OUT, "ttl.in": KIND_TTL_IN,
             "metadata": KIND_METADATA}  # fmt: skip
    return {key: ext_sep.join([stem, kind]) for key, kind in kinds.items()}
