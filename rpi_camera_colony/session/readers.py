"""Read a recorded session folder back: metadata, timestamp tables and video paths per camera.

File names: ``{acquisition_name}.{instance}.{YYYYmmdd_HHMMSS}.rcc.{kind}``. Both this package's kinds
(``timestamps.ttl.out.csv``) and the original package's (``timestamps_ttl_out.csv``, with ``# a, b`` headers) are
read. Files that are not RCC files are ignored; a damaged file is reported in that camera's ``errors`` list (the
file's name, and the line where it is damaged), logged at INFO, and never stops the other files from being read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd

from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.files import (
    CLOCK_COLUMNS,
    KIND_CLOCK,
    KIND_METADATA,
    KIND_MP4,
    KIND_TTL_IN,
    KIND_TTL_OUT,
    KIND_VIDEO,
    KINDS,
    SIGNATURE,
    TTL_IN_COLUMNS,
    TTL_OUT_COLUMNS,
)

logger = logging.getLogger(__name__)

KNOWN_KINDS = KINDS  # the kinds named in files.py, the one place for file names


@dataclass(frozen=True)
class SessionFile:
    path: Path
    acquisition_name: str
    camera: str
    acquisition_time: str
    kind: str  #: normalised: dots instead of the original's underscores, e.g. "timestamps.ttl.out.csv"

    @classmethod
    def parse(cls, path: Path, signature: str = SIGNATURE) -> Optional[SessionFile]:
        name = path.name
        if not signature or signature not in name:
            return None
        head, _, kind = name.rpartition(signature)
        kind = kind.replace("_", ".")
        parts = head.rsplit(".", 2)
        if len(parts) != 3 or kind not in KNOWN_KINDS or not all(parts):
            return None
        return cls(path, parts[0], parts[1], parts[2], kind)


#: Columns a table must have to be used, by kind; a file without them is reported in ``errors``, not returned.
REQUIRED_COLUMNS = {KIND_TTL_OUT: ("timestamp_frame",), KIND_TTL_IN: ("timestamp_frame",), KIND_CLOCK: CLOCK_COLUMNS}
#: Columns that hold numbers, by kind (every one this package writes): a cell that is not one is reported.
NUMERIC_COLUMNS = {KIND_TTL_OUT: TTL_OUT_COLUMNS, KIND_TTL_IN: TTL_IN_COLUMNS, KIND_CLOCK: CLOCK_COLUMNS}
#: Columns every row has, by kind (those present in the file): only the last row, cut by a crash, may lack one.
FILLED_COLUMNS = {
    KIND_TTL_OUT: ("timestamp_frame", "sys_time", "frame_index", "frame_bytes", "keyframe"),
    KIND_TTL_IN: ("timestamp_frame",),
}


def read_table(path: Path, kind: str) -> pd.DataFrame:
    """A table of a session (``kind``: e.g. ``timestamps.ttl.out.csv``), its header's ``#`` and spaces taken off (the
    original package wrote ``# a, b``). A last row cut by a crash while it was written (a cell of
    :data:`FILLED_COLUMNS` empty) is left out.

    Raises:
        SessionDataError: naming the file (and line): a frame or clock table without even a header, a column
            missing, a cell that is not a number, a row cut short (or a blank line) that other rows follow, a row with
            more cells than the header.
    """
    try:
        # blank lines kept (as empty rows) so that row i is line i + 2 of the file
        table = pd.read_csv(path, skipinitialspace=True, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        if kind in (KIND_TTL_OUT, KIND_CLOCK):
            raise SessionDataError(f"{path.name}: empty (not even its header)") from None
        return pd.DataFrame()  # a TTL-in file without edges: the original package's may lack the header
    except pd.errors.ParserError as err:
        raise SessionDataError(f"{path.name}: cannot be read: {err}") from None
    table = table.rename(columns={c: str(c).strip().lstrip("#").strip() for c in table.columns})
    missing = [column for column in REQUIRED_COLUMNS.get(kind, ()) if column not in table.columns]
    if missing:
        raise SessionDataError(
            f"{path.name}, line 1: no {', '.join(missing)} column (its header: {', '.join(map(str, table.columns))})"
        )
    for column in NUMERIC_COLUMNS.get(kind, ()):
        if column in table.columns and not pd.api.types.is_numeric_dtype(table[column]):
            cells = table[column]
            numbers = pd.to_numeric(cells, errors="coerce")
            bad = (cells.notna() & numbers.isna()).to_numpy().nonzero()[0]
            if len(bad):
                line = int(bad[0])
                raise SessionDataError(f"{path.name}, line {line + 2}: {column} {cells.iloc[line]!r} is not a number")
            table[column] = numbers
    filled = (~table.isna().all(axis=1)).to_numpy().nonzero()[0]
    rows = table.iloc[: int(filled[-1]) + 1 if len(filled) else 0]  # without blank lines at the end
    for column in FILLED_COLUMNS.get(kind, ()):
        if column not in rows.columns:
            continue
        empty = rows.index[rows[column].isna()]
        if len(empty) and empty[0] != rows.index[-1]:
            raise SessionDataError(
                f"{path.name}, line {empty[0] + 2}: no {column}, and rows follow it (a row cut short, or a blank line)"
            )
        if len(empty):
            logger.info("%s: its last row has no %s (cut while written): left out", path.name, column)
            rows = rows.iloc[:-1]
    return rows.reset_index(drop=True)


def session_files(session_dir: Union[str, Path], namespace_signature: str = SIGNATURE) -> list[SessionFile]:
    """Every RCC file in a session folder (not recursive); ``namespace_signature`` is the mark in their names.

    Raises:
        SessionDataError: if the folder does not exist.
    """
    folder = Path(session_dir).expanduser()
    if not folder.is_dir():
        raise SessionDataError(f"session folder not found: {folder}")
    found = []
    for path in sorted(folder.iterdir()):
        parsed = SessionFile.parse(path, namespace_signature) if path.is_file() else None
        if parsed is not None:
            found.append(parsed)
    return found


def recordings(session_dir: Union[str, Path]) -> dict[str, list[str]]:
    """The recordings in a session folder, oldest first: ``{acquisition_time: [camera, ...]}``.

    One folder holds one recording per start of that acquisition name (each start stamps its files with its time).

    Raises:
        SessionDataError: if the folder does not exist.
    """
    found: dict[str, set[str]] = {}
    for file in session_files(session_dir):
        found.setdefault(file.acquisition_time, set()).add(file.camera)
    return {time: sorted(cameras) for time, cameras in sorted(found.items())}


def read_session_data(
    session_dir: Union[str, Path, None] = None,
    namespace_signature: str = SIGNATURE,
    *,
    acquisition_time: Optional[str] = None,
) -> dict[str, dict[str, Any]]:
    """Read one recording of a session: metadata and timestamps per camera, and where its videos are (video frames
    are not loaded).

    Args:
        session_dir: the folder ``{remote_data_path}/{group}/{acquisition_name}`` (collected to this machine).
        namespace_signature: the mark in the files' names (the original's argument; ``.rcc.``).
        acquisition_time: which recording to read when the folder holds several (:func:`recordings` lists them);
            default: the latest. Only the cameras of that recording are returned, never cameras of different ones.

    Returns:
        ``{camera: {...}}`` with the original package's keys: ``metadata`` (dict), ``timestamps.ttl.out`` and
        ``timestamps.ttl.in`` (pandas DataFrames), ``has_h264`` / ``video_file_h264`` and ``has_mp4`` /
        ``video_file_mp4`` (paths relative to ``session_dir``); plus ``acquisition_name``, ``acquisition_time``,
        ``errors`` (problems met while reading) and ``other_acquisition_times`` (the camera's other recordings here).

    Raises:
        SessionDataError: if ``session_dir`` is missing or not a folder, or holds no recording at
            ``acquisition_time``.
    """
    if session_dir is None:
        raise SessionDataError("read_session_data needs the session folder: read_session_data('path/to/session')")
    folder = Path(session_dir).expanduser()
    files = session_files(folder, namespace_signature)
    times = sorted({f.acquisition_time for f in files})
    if acquisition_time is not None and acquisition_time not in times:
        raise SessionDataError(
            f"no recording at acquisition_time {acquisition_time!r} in {folder} (its recordings: "
            f"{', '.join(times) or 'none'})"
        )
    chosen = acquisition_time or (times[-1] if times else "")
    if acquisition_time is None and len(times) > 1:
        logger.warning(
            "%d recordings in %s (%s); reading the latest, %s (choose one with acquisition_time=...)",
            len(times), folder, ", ".join(times), chosen,
        )  # fmt: skip
    by_camera: dict[str, list[SessionFile]] = {}
    for file in files:
        by_camera.setdefault(file.camera, []).append(file)
    session: dict[str, dict[str, Any]] = {}
    for camera, camera_files in sorted(by_camera.items()):
        camera_times = sorted({f.acquisition_time for f in camera_files})
        if chosen not in camera_times:
            continue  # this camera is not in the chosen recording
        entry: dict[str, Any] = {
            "has_h264": False,
            "has_mp4": False,
            "acquisition_time": chosen,
            "other_acquisition_times": [t for t in camera_times if t != chosen],
            "errors": [],
        }
        for file in camera_files:
            if file.acquisition_time != chosen:
                continue
            entry["acquisition_name"] = file.acquisition_name
            key = file.kind.rsplit(".", 1)[0]
            try:
                if file.kind == KIND_METADATA:
                    entry["metadata"] = json.loads(file.path.read_text(encoding="utf-8"))
                elif file.kind.endswith(".csv"):
                    entry[key] = read_table(file.path, file.kind)
                elif file.kind == KIND_VIDEO:
                    entry["has_h264"] = True
                    entry["video_file_h264"] = str(file.path.relative_to(folder))
                elif file.kind == KIND_MP4:
                    entry["has_mp4"] = True
                    entry["video_file_mp4"] = str(file.path.relative_to(folder))
            except SessionDataError as err:
                message = str(err)
                logger.info("%s", message)  # the caller shows the camera's errors its own way
                entry["errors"].append(message)
            except (OSError, ValueError, UnicodeDecodeError) as err:
                message = f"{file.path.name}: cannot be read: {err}"
                logger.info("%s", message)  # the caller shows the camera's errors its own way
                entry["errors"].append(message)
        session[camera] = entry
    return session


def read_frames(session_dir: Union[str, Path], camera: str, *, acquisition_time: Optional[str] = None) -> pd.DataFrame:
    """One camera's per-frame table.

    Columns: ``frame_index``, ``timestamp_frame`` (µs), ``timestamp_ttl`` (µs), ``sys_time`` (s) and more.

    Raises:
        SessionDataError: if the camera or its frame timestamps are not in the session, or they are damaged.
    """
    session = read_session_data(session_dir, acquisition_time=acquisition_time)
    if camera not in session:
        raise SessionDataError(f"camera {camera!r} not in {session_dir} (found: {', '.join(session) or 'none'})")
    table: Optional[pd.DataFrame] = session[camera].get("timestamps.ttl.out")
    if table is None:
        damaged = [error for error in session[camera]["errors"] if KIND_TTL_OUT in error]
        raise SessionDataError(f"{camera}: {damaged[0] if damaged else f'no {KIND_TTL_OUT} in {session_dir}'}")
    if "frame_index" not in table.columns:  # original package's files: number frames as written
        table = table.assign(frame_index=range(len(table)))
    return table
