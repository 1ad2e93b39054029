"""A constant-rate copy of a camera video, for tools that need one (``rcc_convert --constant-rate``).

Such a copy cannot keep every frame at its own time: it is re-encoded at the camera's nominal frame rate, and a dropped
frame is filled by repeating the frame before. Use the exact MP4 (:mod:`~rpi_camera_colony.session.convert`) for
analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Union

from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.files import KIND_VIDEO
from rpi_camera_colony.session.frame_table import (
    frame_rows,
    mp4_tags,
    nominal_framerate,
    read_metadata,
    recording_files,
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
    ttl_out, metadata_path, _ = recording_files(video)
    times, _sizes = frame_rows(ttl_out)
    meta = read_metadata(metadata_path)
    framerate = int(nominal_framerate(meta))
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
            target.metadata.update(mp4_tags(meta, ttl_out))
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
