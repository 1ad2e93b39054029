"""The frame times an MP4 file states, read from its index (the ``moov`` box) without reading the video data.

Used to check what :mod:`~rpi_camera_colony.session.convert` wrote: one video track; its ``mdhd`` timescale, its
``stts`` (sample durations) and ``ctts`` (composition offsets, if any) give every frame's presentation time. Only the
boxes needed are parsed (ISO/IEC 14496-12: a box is a 32-bit size, a 4-character type, then its content; size 1 means a
64-bit size follows, size 0 means "to the end of the file").
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Optional

from rpi_camera_colony.exc import SessionDataError

#: Boxes whose content is more boxes, on the way from moov to the sample tables.
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _boxes(data: bytes, start: int = 0, end: Optional[int] = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, content start, content end) of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise SessionDataError(f"malformed MP4 box {kind!r} at byte {at}")
        yield kind, at + header, at + size
        at += size


def _moov(handle: BinaryIO) -> bytes:
    """The ``moov`` box's bytes (the file's top-level boxes are walked by their headers, ``mdat`` skipped)."""
    handle.seek(0, 2)
    length = handle.tell()
    at = 0
    while at + 8 <= length:
        handle.seek(at)
        size, kind = struct.unpack(">I4s", handle.read(8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", handle.read(8))
            header = 16
        elif size == 0:
            size = length - at
        if size < header:
            break
        if kind == b"moov":
            handle.seek(at)
            return handle.read(size)
        at += size
    raise SessionDataError("no moov box: not a finished MP4")


def presentation_times(mp4: Path) -> tuple[int, list[int]]:
    """The video track's timescale and every frame's presentation time in its units, in decoding order.

    Raises:
        SessionDataError: no video track, or a malformed index.
    """
    with open(mp4, "rb") as handle:
        moov = _moov(handle)
    header = 16 if struct.unpack_from(">I", moov)[0] == 1 else 8
    for kind, start, end in _boxes(moov, header, len(moov)):
        if kind != b"trak":
            continue
        timescale, stts, ctts, video = None, None, None, False
        for box, s, e in _walk(moov, start, end):
            if box == b"mdhd":
                version = moov[s]
                timescale = struct.unpack_from(">I", moov, s + (20 if version == 1 else 12))[0]
            elif box == b"hdlr":
                video = moov[s + 8 : s + 12] == b"vide"
            elif box == b"stts":
                stts = (s, e)
            elif box == b"ctts":
                ctts = (s, e)
        if not video or timescale is None or stts is None:
            continue
        times: list[int] = []
        clock = 0
        (count,) = struct.unpack_from(">I", moov, stts[0] + 4)
        for samples, delta in struct.iter_unpack(">II", moov[stts[0] + 8 : stts[0] + 8 + 8 * count]):
            for _ in range(samples):
                times.append(clock)
                clock += delta
        if ctts is not None:
            version = moov[ctts[0]]
            (count,) = struct.unpack_from(">I", moov, ctts[0] + 4)
            offsets: list[int] = []
            form = ">Ii" if version == 1 else ">II"
            for samples, offset in struct.iter_unpack(form, moov[ctts[0] + 8 : ctts[0] + 8 + 8 * count]):
                offsets += [offset] * samples
            times = [t + o for t, o in zip(times, offsets)]
        return timescale, times
    raise SessionDataError(f"{mp4}: no video track")


def _walk(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Every box below ``data[start:end]``, depth first, through the containers on the way to the sample tables."""
    for kind, s, e in _boxes(data, start, end):
        yield kind, s, e
        if kind in _CONTAINERS:
            yield from _walk(data, s, e)
