"""H.264 to MP4 with every frame at its own time (``rcc_convert``).

A camera's ``….rcc.video.h264`` is a raw H.264 stream: it has no frame times. Its ``….rcc.timestamps.ttl.out.csv``
has one row per frame, in the same order, with the frame's time on the camera's clock (``timestamp_frame``, µs).
:func:`convert_video` copies the encoded frames unchanged (no re-encoding) into ``….rcc.video.h264.mp4`` beside it,
each frame's presentation time set from its row on a microsecond time base, so a dropped frame keeps its gap (a
constant-rate copy such as the original's ``MP4Box -fps N`` shifts every later frame instead). It then reads the MP4's
index back (:mod:`~rpi_camera_colony.session.mp4_index`) and checks that it holds one frame per row, each at its time.

- A video cut short (the agent was killed) converts up to its last whole frame: when the video has fewer frames
  than rows, its last frame is taken to be cut and left out.
- Frames beyond the last row (written, but their row was not) are left out, and said.
- The MP4 carries the camera, the acquisition and the first frame's time on the conductor's clock as metadata tags
  (``rcc_camera``, ``rcc_acquisition``, ``rcc_first_frame_conductor_us``).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional, Union

from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.files import KIND_METADATA, KIND_MP4, KIND_TTL_OUT, KIND_VIDEO
from rpi_camera_colony.session.mp4_index import presentation_times

logger = logging.getLogger(__name__)

#: The MP4's time base: a microsecond, the resolution of the frame timestamps.
TIME_BASE = Fraction(1, 1_000_000)
#: Frames handed to the muxer at once (memory stays a few MB; the per-frame loop then runs in C).
MUX_BATCH = 256
#: The MP4 track counts in microseconds too, and keeps this package's metadata tags.
MUXER_OPTIONS = {"video_track_timescale": "1000000", "movflags": "use_metadata_tags"}


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert_video` did with one video."""

    video: Path
    mp4: Path
    frames: int  #: frames in the MP4
    rows: int  #: rows in the timestamp file
    packets: int  #: frames in the H.264 file
    left_out: int  #: frames of the H.264 file not in the MP4 (no row, or cut)
    duration_s: float  #: first to last frame
    gaps: int  #: intervals longer than 1.5 nominal frame periods (dropped frames keep their time)
    seconds: float  #: how long the conversion took (writing and checking)
    notes: list[str] = field(default_factory=list)


def _recording_files(video: Path) -> tuple[Path, Path, Path]:
    """The timestamp file, metadata and MP4 paths of a ``….rcc.video.h264``."""
    name = video.name
    if not name.endswith("." + KIND_VIDEO):
        raise SessionDataError(f"{video}: not a camera video (….rcc.{KIND_VIDEO})")
    stem = name[: -len(KIND_VIDEO)]
    folder = video.parent
    return folder / (stem + KIND_TTL_OUT), folder / (stem + KIND_METADATA), folder / (stem + KIND_MP4)


def _frame_rows(path: Path) -> tuple[list[int], list[Optional[int]]]:
    """Every frame's ``timestamp_frame`` (µs) and ``frame_bytes`` (None where not recorded) from a timestamp file.

    Raises:
        SessionDataError: the file is missing or has no timestamp_frame column.
    """
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or "timestamp_frame" not in header:
                raise SessionDataError(f"{path}: no timestamp_frame column")
            column = header.index("timestamp_frame")
            size_column = header.index("frame_bytes") if "frame_bytes" in header else None
            times: list[int] = []
            sizes: list[Optional[int]] = []
            width = len(header)
            for row in reader:
                if len(row) < width or not row[column]:
                    break  # a row cut by a crash ends the table
                text = row[column]
                times.append(int(text) if text.isdigit() else int(float(text)))  # this package's: whole µs
                size = row[size_column] if size_column is not None else ""
                sizes.append((int(size) if size.isdigit() else int(float(size))) if size.strip() else None)
            return times, sizes
    except FileNotFoundError:
        raise SessionDataError(f"{path}: missing (the frame times of the video are in it)") from None


def _metadata(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _tags(meta: dict[str, Any], ttl_out: Path) -> dict[str, str]:
    """The MP4's metadata tags: camera, acquisition, file stamp, the first frame's conductor time, a title."""
    tags = {
        "rcc_camera": str(meta.get("instance") or meta.get("instance_name") or ""),
        "rcc_acquisition": str(meta.get("acquisition_name") or ""),
        "rcc_file_time": str(meta.get("file_time") or ""),
    }
    first_conductor = _first_conductor_us(ttl_out)
    if first_conductor is not None:
        tags["rcc_first_frame_conductor_us"] = str(first_conductor)
    tags["title"] = f"{tags['rcc_acquisition']} {tags['rcc_camera']}".strip()
    return {key: value for key, value in tags.items() if value}


def _first_conductor_us(ttl_out: Path) -> Optional[int]:
    with open(ttl_out, newline="") as handle:
        reader = csv.DictReader(handle)
        first = next(reader, None)
    value = None if first is None else first.get("timestamp_conductor")
    try:
        return None if value in (None, "") else int(float(str(value)))
    except ValueError:
        return None


def convert_video(video: Union[str, Path], *, overwrite: bool = True) -> Conversion:
    """Remux one camera video into an MP4 with every frame at its own time, and check the result (see the module).

    Raises:
        SessionDataError: the video or its timestamps cannot be read, or the MP4 written does not check out.
    """
    import av

    started = time.monotonic()
    video = Path(video)
    ttl_out, metadata_path, mp4 = _recording_files(video)
    if mp4.exists() and not overwrite:
        raise SessionDataError(f"{mp4} exists (overwrite=False)")
    times, sizes = _frame_rows(ttl_out)
    meta = _metadata(metadata_path)
    framerate = float(meta.get("framerate") or (meta.get("settings") or {}).get("framerate") or 0) or None
    notes: list[str] = []
    partial = mp4.with_name(mp4.name + ".partial")
    if not times:
        raise SessionDataError(f"{ttl_out}: no frame rows: nothing to convert")
    first = times[0]
    rows = len(times)
    try:
        with (
            av.open(str(video), format="h264") as source,
            av.open(str(partial), "w", format="mp4", options=MUXER_OPTIONS) as target,
        ):
            stream = target.add_stream_from_template(source.streams.video[0])
            stream.time_base = TIME_BASE
            target.metadata.update(_tags(meta, ttl_out))

            batch: list[Any] = []  # handed to the muxer in batches: its loop over them runs in C

            def mux(packet: Any, index: int) -> None:
                packet.stream = stream
                packet.time_base = TIME_BASE
                packet.pts = packet.dts = times[index] - first
                batch.append(packet)
                if len(batch) >= MUX_BATCH:
                    target.mux(batch)
                    batch.clear()

            # Frames stream through with one held back: only the last one can be cut, and that is known at the end.
            held, count = None, 0
            for packet in source.demux(source.streams.video[0]):
                if not packet.size:
                    continue
                if held is not None and count - 1 < rows:
                    mux(held, count - 1)
                held, count = packet, count + 1
            frames = min(max(count - 1, 0), rows)
            last = count - 1
            if held is not None and last < rows:
                size = sizes[last]
                if (size is not None and held.size < size) or (size is None and count < rows):
                    notes.append(f"the video was cut while frame {last} was written: it ends at the frame before")
                else:
                    mux(held, last)
                    frames += 1
            if count > rows:
                notes.append(f"{count - rows} frame(s) at the end have no timestamp row and are left out")
            target.mux(batch)
    except av.error.FFmpegError as err:  # type: ignore[attr-defined]
        partial.unlink(missing_ok=True)
        raise SessionDataError(f"{video}: cannot convert: {err}") from None
    if frames == 0:
        partial.unlink(missing_ok=True)
        raise SessionDataError(f"{video}: no whole frame with a timestamp to convert")
    try:
        written = _check(partial, [t - first for t in times[:frames]])
    except SessionDataError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, mp4)
    gaps = 0
    if framerate:
        period_us = 1e6 / framerate
        gaps = sum(1 for a, b in zip(times[: frames - 1], times[1:frames]) if b - a > 1.5 * period_us)
    return Conversion(
        video=video,
        mp4=mp4,
        frames=written,
        rows=len(times),
        packets=count,
        left_out=count - frames,
        duration_s=(times[frames - 1] - first) / 1e6,
        gaps=gaps,
        seconds=time.monotonic() - started,
        notes=notes,
    )


@dataclass(frozen=True)
class ConstantRate:
    """What :func:`constant_rate_copy` did."""

    mp4: Path
    slots: int  #: frames in the constant-rate file
    frames: int  #: recorded frames it shows
    duplicated: int  #: slots that repeat the frame before (where frames were dropped)
    skipped: int  #: recorded frames that fell into an already filled slot (not shown)


def constant_rate_copy(video: Union[str, Path], *, quality: int = 18) -> ConstantRate:
    """A re-encoded copy at the camera's nominal frame rate (``….rcc.video.cfr.mp4``), for tools that need a constant
    rate: slot k (at k / framerate from the first frame) shows the last frame taken by then, so a dropped frame is
    filled by repeating the one before (counted), and time stays right to within half a frame period.

    Raises:
        SessionDataError: the video, its timestamps or its frame rate cannot be read.
    """
    import av

    video = Path(video)
    ttl_out, metadata_path, _ = _recording_files(video)
    times, _sizes = _frame_rows(ttl_out)
    meta = _metadata(metadata_path)
    framerate = int(meta.get("framerate") or (meta.get("settings") or {}).get("framerate") or 0)
    if framerate <= 0 or not times:
        raise SessionDataError(f"{video}: no frame rate in its metadata, or no frame rows")
    out = video.with_name(video.name[: -len(KIND_VIDEO)] + "video.cfr.mp4")
    period_us = 1e6 / framerate
    first = times[0]
    slots = shown = duplicated = skipped = 0
    try:
        with av.open(str(video), format="h264") as source, av.open(str(out), "w", format="mp4") as target:
            stream = target.add_stream("libx264", rate=framerate)
            stream.width = source.streams.video[0].codec_context.width
            stream.height = source.streams.video[0].codec_context.height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(quality), "preset": "veryfast"}
            stream.time_base = slot_base = Fraction(1, framerate)
            target.metadata.update(_tags(meta, ttl_out))
            for index, frame in enumerate(source.decode(video=0)):
                if index >= len(times):
                    break
                until = round((times[index + 1] - first) / period_us) if index + 1 < len(times) else slots + 1
                if until <= slots:
                    skipped += 1  # two frames in one slot: the earlier is shown
                    continue
                shown += 1
                duplicated += until - slots - 1
                frame.time_base = slot_base
                while slots < until:
                    frame.pts = slots
                    for packet in stream.encode(frame):
                        target.mux(packet)
                    slots += 1
            for packet in stream.encode(None):
                target.mux(packet)
    except av.error.FFmpegError as err:  # type: ignore[attr-defined]
        out.unlink(missing_ok=True)
        raise SessionDataError(f"{video}: cannot write a constant-rate copy: {err}") from None
    return ConstantRate(out, slots, shown, duplicated, skipped)


def _check(mp4: Path, expected_us: list[int]) -> int:
    """Read the MP4's index back (not its video data): one frame per expected time, each at that time (µs).

    Raises:
        SessionDataError: naming the first frame that is not where it should be.
    """
    timescale, got = presentation_times(mp4)
    if len(got) != len(expected_us):
        raise SessionDataError(f"{mp4}: {len(got)} frames written, {len(expected_us)} expected")
    if timescale != TIME_BASE.denominator:
        raise SessionDataError(
            f"{mp4}: timescale {timescale}, not {TIME_BASE.denominator}: frame times would be rounded"
        )
    start = got[0] if got else 0
    if [pts - start for pts in got] != expected_us:  # integers in µs: exact
        index = next(i for i, (pts, want) in enumerate(zip(got, expected_us)) if pts - start != want)
        raise SessionDataError(
            f"{mp4}: frame {index} at {got[index] - start} µs, its timestamp says {expected_us[index]} µs"
        )
    return len(got)


def videos_in(paths: list[Union[str, Path]]) -> list[Path]:
    """Every camera video named or under the named folders, sorted.

    Raises:
        SessionDataError: a path that is neither, or holds none.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            videos = sorted(path.rglob("*.rcc." + KIND_VIDEO))
            if not videos:
                raise SessionDataError(f"{path}: no camera video (….rcc.{KIND_VIDEO}) in it")
            found += videos
        elif path.is_file():
            found.append(path)
        else:
            raise SessionDataError(f"{path}: no such file or folder")
    return sorted(set(found))


def main(argv: Optional[list[str]] = None) -> int:
    """``rcc_convert PATH ... [--jobs N]``: every camera video named or under the named folders to an MP4 with every
    frame at its own time. Exit 0 when every video converted and checked out, 1 otherwise, 2 for bad arguments."""
    import argparse
    import sys
    from concurrent.futures import Future, ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    from rpi_camera_colony.cli_help import HelpFormatter

    parser = argparse.ArgumentParser(
        prog="rcc_convert",
        description="RPi Camera Colony: remux each camera's .rcc.video.h264 into .rcc.video.h264.mp4 beside it, "
        "every frame at the time of its timestamp row (no re-encoding; dropped frames keep their gap), and check it.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="session folders (searched below) or videos")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="videos converted at once")
    parser.add_argument(
        "--constant-rate",
        action="store_true",
        help="also write ….rcc.video.cfr.mp4, re-encoded at the nominal frame rate for tools that need a constant "
        "rate (dropped frames filled by repeating the frame before; said per video)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        print("rcc_convert: --jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        videos = videos_in(args.paths)
    except SessionDataError as err:
        print(f"rcc_convert: {err}", file=sys.stderr)
        return 2
    results: dict[Path, Union[Conversion, str]] = {}
    with (
        ProcessPoolExecutor(max_workers=args.jobs) as pool,
        tqdm(total=len(videos), unit="video", disable=None, file=sys.stderr) as progress,
    ):
        futures: dict[Future[Any], Path] = {pool.submit(convert_video, video): video for video in videos}
        constant: dict[Future[Any], Path] = {}
        if args.constant_rate:
            constant = {pool.submit(constant_rate_copy, video): video for video in videos}
        extra: dict[Path, str] = {}
        for future in as_completed([*futures, *constant]):
            try:
                outcome = future.result()
            except SessionDataError as err:
                outcome = str(err)
            if future in futures:
                results[futures[future]] = outcome
                progress.update()
            elif isinstance(outcome, ConstantRate):
                extra[constant[future]] = (f"; constant rate: {outcome.mp4.name} ({outcome.duplicated} frame(s) "
                                          f"repeated, {outcome.skipped} left out)")  # fmt: skip
            else:
                extra[constant[future]] = f"; constant rate FAILED: {outcome}"
    print(f"{'frames':>7} {'left out':>8} {'gaps':>5} {'seconds':>8}  result")
    failed = 0
    for video in videos:
        result = results[video]
        if isinstance(result, str):
            failed += 1
            print(f"{'':>7} {'':>8} {'':>5} {'':>8}  FAILED: {video}: {result}")
            continue
        print(f"{result.frames:>7} {result.left_out:>8} {result.gaps:>5} {result.duration_s:>8.2f}  "
              f"ok: {result.mp4}" + "".join(f"; {note}" for note in result.notes)
              + extra.get(video, ""))  # fmt: skip
    return 1 if failed else 0
