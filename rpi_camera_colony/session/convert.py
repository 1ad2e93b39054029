"""H.264 to MP4 with every frame at its own time (``rcc_convert``).

A camera's ``….rcc.video.h264`` is a raw H.264 stream: it has no frame times. Its ``….rcc.timestamps.ttl.out.csv``
has one row per frame, in the same order, with the frame's time on the camera's clock (``timestamp_frame``, µs).
:func:`convert_video` copies the encoded frames unchanged (no re-encoding) into ``….rcc.video.h264.mp4`` beside it,
each frame's presentation time set from its row on a microsecond time base, so a dropped frame keeps its gap (a
constant-rate copy such as the original's ``MP4Box -fps N`` shifts every later frame instead). It then reads the MP4
back and checks that it holds one frame per row, each at its time.

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

logger = logging.getLogger(__name__)

#: The MP4's time base: a microsecond, the resolution of the frame timestamps.
TIME_BASE = Fraction(1, 1_000_000)
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
            for row in reader:
                if len(row) < len(header) or not row[column].strip():
                    break  # a row cut by a crash ends the table
                times.append(int(float(row[column])))
                size = row[size_column] if size_column is not None else ""
                sizes.append(int(float(size)) if size.strip() else None)
            return times, sizes
    except FileNotFoundError:
        raise SessionDataError(f"{path}: missing (the frame times of the video are in it)") from None


def _whole_frames(packets: list[Any], sizes: list[Optional[int]], *, short: bool) -> int:
    """How many of the first frames are whole: a frame is cut when it has fewer bytes than its row says (only the last
    can be: a write cut by a crash). Without recorded sizes, a video shorter than its rows has its last frame cut."""
    count = len(packets)
    if count and sizes and sizes[-1] is not None:
        return count - 1 if packets[-1].size < sizes[-1] else count
    return count - 1 if short and count else count


def _metadata(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


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
    try:
        with av.open(str(video), format="h264") as source:
            packets = [p for p in source.demux(source.streams.video[0]) if p.size]
            count = len(packets)
            frames = min(count, len(times))
            if count > len(times):
                notes.append(f"{count - len(times)} frame(s) at the end have no timestamp row and are left out")
            whole = _whole_frames(packets[:frames], sizes[:frames], short=count < len(times))
            if whole < frames:
                notes.append(f"the video was cut while frame {whole} was written: it ends at the frame before")
                frames = whole
            if frames == 0:
                raise SessionDataError(f"{video}: no whole frame with a timestamp to convert")
            first = times[0]
            with av.open(str(partial), "w", format="mp4", options=MUXER_OPTIONS) as target:
                stream = target.add_stream_from_template(source.streams.video[0])
                stream.time_base = TIME_BASE
                tags = {
                    "rcc_camera": str(meta.get("instance") or meta.get("instance_name") or ""),
                    "rcc_acquisition": str(meta.get("acquisition_name") or ""),
                    "rcc_file_time": str(meta.get("file_time") or ""),
                }
                first_conductor = _first_conductor_us(ttl_out)
                if first_conductor is not None:
                    tags["rcc_first_frame_conductor_us"] = str(first_conductor)
                target.metadata.update({key: value for key, value in tags.items() if value})
                target.metadata["title"] = f"{tags['rcc_acquisition']} {tags['rcc_camera']}".strip()
                for index in range(frames):
                    packet = packets[index]
                    packet.stream = stream
                    packet.time_base = TIME_BASE
                    packet.pts = packet.dts = times[index] - first
                    target.mux(packet)
    except av.error.FFmpegError as err:  # type: ignore[attr-defined]
        partial.unlink(missing_ok=True)
        raise SessionDataError(f"{video}: cannot convert: {err}") from None
    written = _check(partial, [t - first for t in times[:frames]])
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


def _check(mp4: Path, expected_us: list[int]) -> int:
    """Read the MP4 back: one frame per expected time, each at that time (µs).

    Raises:
        SessionDataError: naming the first frame that is not where it should be.
    """
    import av

    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        base = stream.time_base or TIME_BASE
        got = [p.pts for p in container.demux(stream) if p.size and p.pts is not None]
    if len(got) != len(expected_us):
        raise SessionDataError(f"{mp4}: {len(got)} frames written, {len(expected_us)} expected")
    if base != TIME_BASE:
        raise SessionDataError(f"{mp4}: time base {base}, not {TIME_BASE}: frame times would be rounded")
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
    from concurrent.futures import ProcessPoolExecutor, as_completed

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
        futures = {pool.submit(convert_video, video): video for video in videos}
        for future in as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except SessionDataError as err:
                results[futures[future]] = str(err)
            progress.update()
    print(f"{'video':58} {'frames':>7} {'left out':>8} {'gaps':>5} {'seconds':>8}  result")
    failed = 0
    for video in videos:
        result = results[video]
        name = video.name if len(video.name) <= 58 else "…" + video.name[-57:]
        if isinstance(result, str):
            failed += 1
            print(f"{name:58} {'':>7} {'':>8} {'':>5} {'':>8}  FAILED: {result}")
            continue
        print(f"{name:58} {result.frames:>7} {result.left_out:>8} {result.gaps:>5} {result.duration_s:>8.2f}  "
              f"ok: {result.mp4.name}" + "".join(f"; {note}" for note in result.notes))  # fmt: skip
    return 1 if failed else 0
