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
- Only the last row of the timestamp file may be cut (a crash while it was written); a row cut short or unreadable
  that more rows follow is damage, and the conversion fails naming the file and line.
- The MP4 carries the camera, the acquisition and the first frame's time on the conductor's clock as metadata tags
  (``rcc_camera``, ``rcc_acquisition``, ``rcc_first_frame_conductor_us``).
"""

from __future__ import annotations

import logging
import mmap
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional, Union

from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.files import KIND_VIDEO
from rpi_camera_colony.session.constant_rate import ConstantRate, constant_rate_copy
from rpi_camera_colony.session.frame_table import (
    frame_rows,
    mp4_tags,
    nominal_framerate,
    read_metadata,
    recording_files,
)
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
    cut_by: str = "parser"  #: how the frames were found: "frame sizes" (the rows') or "parser" (FFmpeg's H.264 parser)
    notes: list[str] = field(default_factory=list)


class _NotFramed(Exception):
    """The timestamp file's frame sizes do not cut the video into frames: the parser must find them."""


def _framed_by_sizes(video: Path, sizes: list[Optional[int]]) -> bool:
    """Whether every row has its frame's size and together they add up to the video's size (then the video can be
    cut by them, without the H.264 parser; each piece is still checked to start a frame)."""
    total = video.stat().st_size
    return total > 0 and all(size is not None for size in sizes) and sum(size or 0 for size in sizes) == total


def _is_idr(data: bytes) -> bool:
    """Whether an H.264 frame (Annex B) is an IDR frame: the first picture slice in it is NAL unit type 5."""
    if len(data) > 4 and (data[3] if data[2] == 1 else data[4]) & 0x1F == 1:
        return False  # most frames are one slice, right after the start code
    at = 0
    while True:
        at = data.find(b"\x00\x00\x01", at)
        if at < 0 or at + 3 >= len(data):
            return False
        kind = data[at + 3] & 0x1F
        if kind in (1, 5):
            return kind == 5
        at += 3


class _Muxer:
    """Hands frames to the MP4 muxer in batches (its loop over a batch runs in C), each at its own time (µs)."""

    def __init__(self, target: Any, stream: Any, times: list[int]) -> None:
        self.target, self.stream, self.times, self.first = target, stream, times, times[0]
        self.batch: list[Any] = []

    def add(self, packet: Any, index: int) -> None:
        packet.stream = self.stream
        packet.time_base = TIME_BASE
        packet.pts = packet.dts = self.times[index] - self.first
        self.batch.append(packet)
        if len(self.batch) >= MUX_BATCH:
            self.flush()

    def flush(self) -> None:
        self.target.mux(self.batch)
        self.batch.clear()


def _mux_by_sizes(av: Any, video: Path, muxer: _Muxer, sizes: list[Optional[int]]) -> tuple[int, int]:
    """Cut the video by the rows' frame sizes (see :func:`_framed_by_sizes`); (frames muxed, frames in the video).

    The loop runs once per frame, so it is written for speed: the file mapped (a slice is a copy without a system
    call), the packet's time base left to the stream's (microseconds), the muxer's batch handled here.

    Raises:
        _NotFramed: a piece does not start with an H.264 start code (the sizes are not the frames').
    """
    stream, times, first, batch, target = muxer.stream, muxer.times, muxer.first, muxer.batch, muxer.target
    packet_of, is_idr = av.Packet, _is_idr
    at = 0
    with open(video, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        if hasattr(mmap, "MADV_SEQUENTIAL"):
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        for index, size in enumerate(sizes):
            data = mapped[at : at + (size or 0)]
            at += size or 0
            if data[:3] != b"\x00\x00\x01" and data[:4] != b"\x00\x00\x00\x01":
                raise _NotFramed(f"frame {index} does not start where its size says")
            packet = packet_of(data)
            packet.stream = stream
            packet.pts = packet.dts = times[index] - first
            packet.is_keyframe = is_idr(data)
            batch.append(packet)
            if len(batch) >= MUX_BATCH:
                target.mux(batch)
                batch.clear()
    return len(sizes), len(sizes)


def _mux_parsed(source: Any, muxer: _Muxer, sizes: list[Optional[int]], notes: list[str]) -> tuple[int, int]:
    """Let FFmpeg's H.264 parser find the frames; (frames muxed, frames in the video). A last frame with fewer bytes
    than its row says (or, without sizes, a video shorter than its rows) was cut by a crash and is left out."""
    rows = len(sizes)
    # Frames stream through with one held back: only the last one can be cut, and that is known at the end.
    held, count = None, 0
    for packet in source.demux(source.streams.video[0]):
        if not packet.size:
            continue
        if held is not None and count - 1 < rows:
            muxer.add(held, count - 1)
        held, count = packet, count + 1
    frames = min(max(count - 1, 0), rows)
    last = count - 1
    if held is not None and last < rows:
        size = sizes[last]
        if (size is not None and held.size < size) or (size is None and count < rows):
            notes.append(f"the video was cut while frame {last} was written: it ends at the frame before")
        else:
            muxer.add(held, last)
            frames += 1
    if count > rows:
        notes.append(f"{count - rows} frame(s) at the end have no timestamp row and are left out")
    return frames, count


def _write_mp4(
    video: Path, partial: Path, times: list[int], sizes: list[Optional[int]], tags: dict[str, str], by_sizes: bool
) -> tuple[int, int, list[str]]:
    """Write the MP4 to ``partial``; (frames muxed, frames in the video, notes).

    Raises:
        _NotFramed: ``by_sizes`` and the sizes turned out not to be the frames'.
        av.error.FFmpegError: the video cannot be read or the MP4 written.
    """
    import av

    notes: list[str] = []
    with (
        av.open(str(video), format="h264") as source,
        av.open(str(partial), "w", format="mp4", options=MUXER_OPTIONS) as target,
    ):
        stream = target.add_stream_from_template(source.streams.video[0])
        stream.time_base = TIME_BASE
        target.metadata.update(tags)
        muxer = _Muxer(target, stream, times)
        if by_sizes:
            frames, count = _mux_by_sizes(av, video, muxer, sizes)
        else:
            frames, count = _mux_parsed(source, muxer, sizes, notes)
        muxer.flush()
    return frames, count, notes


def convert_video(video: Union[str, Path], *, overwrite: bool = True) -> Conversion:
    """Remux one camera video into an MP4 with every frame at its own time, and check the result (see the module).

    When the rows' ``frame_bytes`` add up to the video's size, the video is cut by them (each piece checked to start
    an H.264 frame) instead of by FFmpeg's H.264 parser, which is most of the work; otherwise, or when a piece does
    not start a frame, the parser finds the frames.

    Raises:
        SessionDataError: the video or its timestamps cannot be read, or the MP4 written does not check out.
    """
    import av

    started = time.monotonic()
    video = Path(video)
    ttl_out, metadata_path, mp4 = recording_files(video)
    if mp4.exists() and not overwrite:
        raise SessionDataError(f"{mp4} exists (overwrite=False)")
    times, sizes = frame_rows(ttl_out)
    meta = read_metadata(metadata_path)
    framerate = nominal_framerate(meta) or None
    partial = mp4.with_name(mp4.name + ".partial")
    if not times:
        raise SessionDataError(f"{ttl_out}: no frame rows: nothing to convert")
    first = times[0]
    tags = mp4_tags(meta, ttl_out)
    by_sizes = _framed_by_sizes(video, sizes)
    try:
        try:
            frames, count, notes = _write_mp4(video, partial, times, sizes, tags, by_sizes)
        except _NotFramed as err:
            logger.info("%s: %s: the H.264 parser finds the frames instead", video, err)
            by_sizes = False
            frames, count, notes = _write_mp4(video, partial, times, sizes, tags, by_sizes)
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
        cut_by="frame sizes" if by_sizes else "parser",
        notes=notes,
    )


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
