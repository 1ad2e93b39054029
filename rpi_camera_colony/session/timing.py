"""Timing of a recorded session: clock samples, frames aligned across cameras, and a timing report.

- :func:`read_clock`: one camera's clock-synchronisation samples (``*.rcc.clock.csv``).
- :func:`aligned_frames`: one row per frame of a reference camera, with the nearest frame of every other camera on
  a common time base: the conductor's clock (``method="clock"``), or the reference camera's clock through TTL edges
  that every camera recorded from one source (``method="ttl"``, e.g. a sync box).
- :func:`timing_report` / ``rcc_report SESSION_DIR``: per camera frames, drops, clock offset, start skew and TTL
  counts, with a flag for everything that looks off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pandas as pd

from rpi_camera_colony.clock import fit_clock
from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.files import KIND_CLOCK, KIND_TTL_OUT, KIND_VIDEO
from rpi_camera_colony.session.readers import read_frames, read_session_data, read_table, recordings, session_files

PathLike = Union[str, Path]


def _chosen_time(session_dir: PathLike, acquisition_time: Optional[str]) -> str:
    """The recording meant: ``acquisition_time``, or the latest in the folder."""
    if acquisition_time is not None:
        return acquisition_time
    times = list(recordings(session_dir))
    return times[-1] if times else ""


def read_clock(session_dir: PathLike, camera: str, *, acquisition_time: Optional[str] = None) -> pd.DataFrame:
    """One camera's clock samples: ``camera_us``, ``conductor_us``, ``rtt_us``, ``offset_us``, ``burst_best``.

    Raises:
        SessionDataError: if the recording (default: the latest) has no clock file for that camera, or a damaged one
            (the message names the file and line).
    """
    when = _chosen_time(session_dir, acquisition_time)
    for file in session_files(session_dir):
        if file.camera == camera and file.kind == KIND_CLOCK and file.acquisition_time == when:
            return read_table(file.path, KIND_CLOCK)
    raise SessionDataError(f"{camera}: no clock.csv of the recording {when or '(none)'} in {session_dir}")


def clock_fit(clock: pd.DataFrame) -> tuple[float, float]:
    """Fit ``conductor_us = slope * camera_us + intercept`` through a whole recording's clock samples.

    Uses each burst's winner, leaves out winners with round trips over twice the shortest, and weights the rest by
    1/rtt². Afterwards, with all samples known, this beats the live estimate written per frame during recording.

    The fit is :func:`rpi_camera_colony.clock.fit_clock`, the one the agents use live.

    Raises:
        SessionDataError: with fewer than 2 usable samples.
    """
    best = clock[clock["burst_best"] == 1]
    camera = best["camera_us"].to_numpy(dtype=float)
    offsets = best["conductor_us"].to_numpy(dtype=float) - camera
    try:
        model = fit_clock(
            camera.tolist(), offsets.tolist(), best["rtt_us"].to_numpy(dtype=float).tolist(), tracking=False
        )
    except ValueError:
        model = None
    if model is None or model.samples < 2:
        raise SessionDataError("too few clock samples to fit")
    return 1.0 + model.drift, model.offset_us - model.drift * model.reference_us


def refit_conductor_times(
    session_dir: PathLike, camera: str, *, acquisition_time: Optional[str] = None
) -> pd.DataFrame:
    """One camera's frames with ``timestamp_conductor`` recomputed from :func:`clock_fit` of its clock samples.

    Raises:
        SessionDataError: if the camera has no frames or no usable clock samples.
    """
    frames = read_frames(session_dir, camera, acquisition_time=acquisition_time)
    slope, intercept = clock_fit(read_clock(session_dir, camera, acquisition_time=acquisition_time))
    refit = np.rint(frames["timestamp_frame"].to_numpy(dtype=float) * slope + intercept).astype("int64")
    return frames.assign(timestamp_conductor=refit)


def _ttl_map(edges: pd.DataFrame, reference: pd.DataFrame) -> tuple[float, float]:
    """Least-squares line mapping a camera's clock to the reference camera's, from rising edges seen by both."""
    mine = edges.loc[edges["level"] == 1, "timestamp_frame"].to_numpy(dtype=float)
    theirs = reference.loc[reference["level"] == 1, "timestamp_frame"].to_numpy(dtype=float)
    count = min(len(mine), len(theirs))
    if count < 2:
        raise SessionDataError("aligning by TTL needs at least 2 rising edges recorded by every camera")
    slope, intercept = np.polyfit(mine[:count], theirs[:count], 1)
    return float(slope), float(intercept)


def aligned_frames(
    session_dir: PathLike,
    *,
    cameras: Optional[Sequence[str]] = None,
    reference: Optional[str] = None,
    tolerance_ms: Optional[float] = None,
    method: str = "clock",
    refit: bool = True,
    acquisition_time: Optional[str] = None,
) -> pd.DataFrame:
    """Match frames across cameras.

    Args:
        cameras: cameras to include (default: all in the session).
        reference: the camera whose frames make the rows (default: the first camera).
        tolerance_ms: largest time difference for a match (default: half the shortest frame period); frames of
            other cameras farther away than that are left empty (<NA>).
        method: ``"clock"`` (conductor-clock timestamps) or ``"ttl"`` (TTL-in edges from one common source).
        refit: with ``"clock"``, refit each camera's clock from all its samples (:func:`clock_fit`) instead of the
            times written live; falls back to the live times when a camera has no clock samples.
        acquisition_time: which recording of the folder (default: the latest).

    Returns:
        Columns ``time_us`` (the reference frame's time on the common base), ``{reference}`` (its frame index), and
        for every other camera ``{camera}`` (matched frame index) and ``{camera}_delta_us`` (its time minus the
        reference frame's).

    Raises:
        SessionDataError: if a camera, its timestamps, conductor-clock times or TTL edges are missing.
        ValueError: for an unknown method.
    """
    if method not in ("clock", "ttl"):
        raise ValueError(f"method = {method!r}: use 'clock' or 'ttl'")
    when = _chosen_time(session_dir, acquisition_time)
    session = read_session_data(session_dir, acquisition_time=when or None)
    names = list(cameras) if cameras is not None else sorted(session)
    if not names:
        raise SessionDataError(f"no cameras in {session_dir}")
    reference = reference or names[0]
    periods = [1e6 / float(session[n].get("metadata", {}).get("settings", {}).get("framerate", 30)) for n in names]
    tolerance_us = tolerance_ms * 1e3 if tolerance_ms is not None else min(periods) / 2
    tables: dict[str, pd.DataFrame] = {}
    for name in names:
        frames = read_frames(session_dir, name, acquisition_time=when or None)
        if method == "clock" and refit:
            with contextlib.suppress(SessionDataError):  # no usable samples: the live times below
                frames = refit_conductor_times(session_dir, name, acquisition_time=when or None)
        if method == "clock":
            if "timestamp_conductor" not in frames.columns or frames["timestamp_conductor"].isna().all():
                raise SessionDataError(f"{name}: no conductor-clock timestamps (recorded without clock sync?)")
            times = frames["timestamp_conductor"].astype("float64")
        else:
            edges = session[name].get("timestamps.ttl.in")
            ref_edges = session[reference].get("timestamps.ttl.in")
            if edges is None or ref_edges is None:
                raise SessionDataError(f"{name}: no TTL-in timestamps to align by")
            slope, intercept = _ttl_map(edges, ref_edges)
            times = frames["timestamp_frame"].astype("float64") * slope + intercept
        table = pd.DataFrame({"time_us": times, name: frames["frame_index"].astype("int64")}).dropna()
        tables[name] = table.astype({"time_us": "int64"})
    result = tables[reference].sort_values("time_us").reset_index(drop=True)
    for name in names:
        if name == reference:
            continue
        other = tables[name].sort_values("time_us").rename(columns={"time_us": f"{name}_time_us"})
        result = pd.merge_asof(
            result,
            other,
            left_on="time_us",
            right_on=f"{name}_time_us",
            direction="nearest",
            tolerance=int(tolerance_us),
        )
        result[f"{name}_delta_us"] = result[f"{name}_time_us"] - result["time_us"]
        result[name] = result[name].astype("Int64")
        result = result.drop(columns=[f"{name}_time_us"])
    return result


def _file_flags(session_dir: PathLike, name: str, entry: dict[str, Any]) -> list[str]:
    """What is wrong with a camera's frame table and video (the reader reports a file it cannot read): the table
    missing or without rows, rows that are not the metadata's frames written, a video shorter than its frames."""
    table: Optional[pd.DataFrame] = entry.get("timestamps.ttl.out")
    meta = entry.get("metadata") or {}
    written = (meta.get("frames") or {}).get("written")
    if table is None:
        if any(KIND_TTL_OUT in error for error in entry.get("errors", [])):
            return []  # damaged: the reader's error says how
        return [f"{name}: no frame table (….rcc.{KIND_TTL_OUT}): when its frames were taken is lost"]
    flags = []
    if not len(table):
        said = f"; its metadata says {written} frame(s) were written" if written else ""
        flags.append(f"{name}: its frame table (….rcc.{KIND_TTL_OUT}) has no rows{said}")
    elif meta.get("status") in ("stopped", "failed") and isinstance(written, int) and written != len(table):
        flags.append(f"{name}: {len(table)} row(s) in its frame table, but its metadata says {written} frame(s) were "
                     "written: a file was cut or changed after the recording")  # fmt: skip
    if entry.get("has_h264"):
        video = Path(session_dir) / entry["video_file_h264"]
        size = video.stat().st_size if video.is_file() else 0
        frames_bytes = int(table["frame_bytes"].sum()) if "frame_bytes" in table.columns else 0
        if size < frames_bytes:
            flags.append(f"{name}: its video {video.name} has {size} bytes, its frames {frames_bytes} (frame_bytes in "
                         "the frame table): the video was cut short")  # fmt: skip
    elif not entry.get("has_mp4"):
        flags.append(f"{name}: no video (….rcc.{KIND_VIDEO})")
    return flags


def timing_report(session_dir: PathLike, *, acquisition_time: Optional[str] = None) -> dict[str, Any]:
    """Per-camera timing figures and flags for one recording of a session (default: the latest); ``rcc_report``
    prints one for each recording in the folder.

    Raises:
        SessionDataError: if the folder holds no recording (at ``acquisition_time``).
    """
    when = _chosen_time(session_dir, acquisition_time)
    session = read_session_data(session_dir, acquisition_time=when or None)
    if not session:
        raise SessionDataError(
            f"no RCC recording in {session_dir}: give a session folder (DATA/GROUP/NAME); rcc_sessions {session_dir} "
            "lists the recordings below a folder"
        )
    cameras: dict[str, dict[str, Any]] = {}
    flags: list[str] = []
    periods = []
    skews = []
    edge_counts = {}
    for name, entry in session.items():
        meta = entry.get("metadata") or {}
        frames = meta.get("frames", {})
        settings = meta.get("settings", {})
        clock = meta.get("clock", {})
        timing = meta.get("timing", {})
        table = entry.get("timestamps.ttl.out")
        edges = entry.get("timestamps.ttl.in")
        framerate = float(settings.get("framerate", 0) or 0)
        period_us = 1e6 / framerate if framerate else None
        if period_us:
            periods.append(period_us)
        written = int(frames.get("written", len(table) if table is not None else 0))
        if table is not None and meta.get("status") not in ("stopped", "failed"):
            written = len(table)  # an unfinished recording's metadata has no final counts: the rows on disk do
        dropped = int(frames.get("dropped", 0))
        expected = written + dropped
        if table is not None and len(table) > 1 and period_us:
            stamps = table["timestamp_frame"].to_numpy(dtype=float)
            expected = round((stamps[-1] - stamps[0]) / period_us) + 1
        row = {
            "status": meta.get("status", "?"),
            "framerate": framerate,
            "written": written,
            "expected": expected,
            "dropped": dropped,
            "dropped_at": frames.get("dropped_at", []),
            "ttl_out": frames.get("ttl_out_pulses"),
            "ttl_in": 0 if edges is None else len(edges),
            "offset_ms": None if "offset_us" not in clock else clock["offset_us"] / 1e3,
            "drift_ppm": clock.get("drift_ppm"),
            "rtt_ms": None if "rtt_us" not in clock else clock["rtt_us"] / 1e3,
            "sync_mode": clock.get("sync_mode", "off"),
        }
        cameras[name] = row
        edge_counts[name] = row["ttl_in"]
        if timing.get("start_skew_us") is not None:
            skews.append(timing["start_skew_us"])
        if entry.get("errors"):
            flags += [f"{name}: {e}" for e in entry["errors"]]
        flags += _file_flags(session_dir, name, entry)
        if row["status"] != "stopped":
            flags.append(
                f"{name}: recording did not finish cleanly (status {row['status']}, {meta.get('stop_reason')})"
            )
        if dropped:
            flags.append(f"{name}: {dropped} frame(s) dropped, after frame(s) {row['dropped_at'][:10]}")
        if expected != written + dropped:
            flags.append(
                f"{name}: {expected} frames expected from the timestamps, {written} written + {dropped} dropped"
            )
        if settings.get("ttl_out_pin", -1) >= 0 and row["ttl_out"] is not None and row["ttl_out"] != written:
            flags.append(f"{name}: {row['ttl_out']} TTL pulses out for {written} frames")
        if row["offset_ms"] is None:
            flags.append(f"{name}: no clock synchronisation: its times are not on the conductor's clock")
        elif row["rtt_ms"] is not None and row["rtt_ms"] > 5:
            flags.append(f"{name}: clock sync round trip {row['rtt_ms']:.1f} ms: conductor-clock times uncertain")
        if row["sync_mode"] != "off" and "sync_mode" in meta.get("unsupported_settings", []):
            backend = meta.get("backend", {}).get("camera")
            flags.append(f"{name}: sync_mode = {row['sync_mode']} has no effect with the {backend} camera")
    skew_us = max(skews) if skews else None
    if skew_us is not None and periods and skew_us > min(periods) / 2:
        flags.append(f"start skew {skew_us / 1e3:.3f} ms is more than half a frame period")
    if len(set(edge_counts.values())) > 1 and any(edge_counts.values()):
        flags.append(f"TTL-in edge counts differ between cameras: {edge_counts}")
    return {
        "session": str(session_dir),
        "acquisition_time": when,
        "cameras": cameras,
        "start_skew_ms": None if skew_us is None else skew_us / 1e3,
        "flags": flags,
    }


def format_report(report: dict[str, Any]) -> str:
    def show(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    lines = [f"session: {report['session']}, recording of {report.get('acquisition_time') or '?'}"]
    # Clock columns: the sync's uncertainty (half the best round trip bounds the offset error) and the drift; the
    # offset itself (camera clock vs wall clock) is in the report dict and the metadata.
    header = ("camera", "status", "fps", "written", "expected", "dropped", "ttl out", "ttl in", "sync ±ms", "drift ppm")
    lines.append("{:<20} {:<8} {:>5} {:>8} {:>8} {:>7} {:>7} {:>6} {:>9} {:>9}".format(*header))
    for name, row in report["cameras"].items():
        lines.append(
            f"{name:<20} {row['status']:<8} {row['framerate']:>5.0f} {row['written']:>8} {row['expected']:>8} "
            f"{row['dropped']:>7} {show(row['ttl_out'], '>7')} {row['ttl_in']:>6} "
            f"{show(None if row['rtt_ms'] is None else row['rtt_ms'] / 2, '>9.3f')} {show(row['drift_ppm'], '>9.2f')}"
        )
        if row["sync_mode"] != "off":
            lines.append(f"{'':<20} libcamera software sync: {row['sync_mode']}")
    skew = report["start_skew_ms"]
    lines.append(f"start skew across cameras: {'-' if skew is None else f'{skew:.3f} ms'}")
    lines += [f"FLAG: {flag}" for flag in report["flags"]] or ["no problems found"]
    return "\n".join(lines)
