"""The files beside a camera video that its conversions read: the frame table (every frame's time and size, from
``….rcc.timestamps.ttl.out.csv``), the metadata, and the tags an MP4 made from it carries."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Optional

from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.files import KIND_METADATA, KIND_MP4, KIND_TTL_OUT, KIND_VIDEO


def recording_files(video: Path) -> tuple[Path, Path, Path]:
    """The timestamp file, metadata and MP4 paths of a ``….rcc.video.h264``."""
    name = video.name
    if not name.endswith("." + KIND_VIDEO):
        raise SessionDataError(f"{video}: not a camera video (….rcc.{KIND_VIDEO})")
    stem = name[: -len(KIND_VIDEO)]
    folder = video.parent
    return folder / (stem + KIND_TTL_OUT), folder / (stem + KIND_METADATA), folder / (stem + KIND_MP4)


def _cell(path: Path, line: int, name: str, text: str) -> Optional[int]:
    """A number cell that is not a plain whole number: None if empty, else whole (other writers may write ``1.0``).

    Raises:
        SessionDataError: not a number.
    """
    if not text.strip():
        return None
    try:
        return int(float(text))
    except ValueError:
        raise SessionDataError(f"{path}, line {line}: {name} {text!r} is not a number") from None


def frame_rows(path: Path) -> tuple[list[int], list[Optional[int]]]:
    """Every frame's ``timestamp_frame`` (µs) and ``frame_bytes`` (None where not recorded) from a timestamp file.

    Only the last row may be cut (a crash while it was written): with too few cells or no frame time it is left out.
    The same anywhere else is damage.

    Raises:
        SessionDataError: naming the file (and line): it is missing or empty, has no timestamp_frame column, a cell
            is not a number, or a row cut short (or without a frame time) has more rows after it.
    """
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise SessionDataError(f"{path}: empty (not even its header): the frames' times are lost")
            if "timestamp_frame" not in header:
                raise SessionDataError(f"{path}, line 1: no timestamp_frame column (its header: {', '.join(header)})")
            column = header.index("timestamp_frame")
            size_column = header.index("frame_bytes") if "frame_bytes" in header else None
            times: list[int] = []
            sizes: list[Optional[int]] = []
            width = len(header)
            cut: Optional[str] = None  # what is wrong with the row before: only the last row may be cut
            for line, row in enumerate(reader, start=2):
                if cut is not None:
                    raise SessionDataError(
                        f"{path}, line {line - 1}: {cut} and more rows after it: the file is damaged (only the last "
                        "row may be cut, by a crash while it was written)"
                    )
                if len(row) < width:
                    cut = f"a row cut short ({len(row)} of {width} cells)"
                    continue
                try:
                    time_us = int(row[column])  # this package writes whole µs: the quick way
                except ValueError:
                    cell = _cell(path, line, "timestamp_frame", row[column])
                    if cell is None:
                        cut = "a row without timestamp_frame"
                        continue
                    time_us = cell
                size: Optional[int] = None
                if size_column is not None:
                    try:
                        size = int(row[size_column])
                    except ValueError:
                        size = _cell(path, line, "frame_bytes", row[size_column])
                times.append(time_us)
                sizes.append(size)
            return times, sizes
    except FileNotFoundError:
        raise SessionDataError(f"{path}: missing (the frame times of the video are in it)") from None


def read_metadata(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def mp4_tags(meta: dict[str, Any], ttl_out: Path) -> dict[str, str]:
    """The MP4's metadata tags: camera, acquisition, file stamp, the first frame's conductor time, a title."""
    tags = {
        "rcc_camera": str(meta.get("instance") or meta.get("instance_name") or ""),
        "rcc_acquisition": str(meta.get("acquisition_name") or ""),
        "rcc_file_time": str(meta.get("file_time") or ""),
    }
    first_conductor = first_conductor_us(ttl_out)
    if first_conductor is not None:
        tags["rcc_first_frame_conductor_us"] = str(first_conductor)
    tags["title"] = f"{tags['rcc_acquisition']} {tags['rcc_camera']}".strip()
    return {key: value for key, value in tags.items() if value}


def first_conductor_us(ttl_out: Path) -> Optional[int]:
    with open(ttl_out, newline="") as handle:
        reader = csv.DictReader(handle)
        first = next(reader, None)
    value = None if first is None else first.get("timestamp_conductor")
    try:
        return None if value in (None, "") else int(float(str(value)))
    except ValueError:
        return None


def nominal_framerate(meta: dict[str, Any]) -> float:
    """The frame rate the camera was set to, from its metadata (0 when not recorded)."""
    return float(meta.get("framerate") or (meta.get("settings") or {}).get("framerate") or 0)
