"""rcc_convert: every MP4 frame at the time of its timestamp row, checked with Debian's ffprobe (an independent
reader), on a recording with an encoder stall, a video cut short, and rows missing at the end."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_camera, require_tool
from rpi_camera_colony import read_session_data
from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.session.convert import convert_video

BIN = Path(sys.executable).parent


def ffprobe(mp4: Path, entries: str, *options: str) -> list[str]:
    """What Debian's ffprobe reads of the video stream's ``entries`` (e.g. ``packet=pts``), one value per line."""
    return subprocess.run(
        [require_tool("ffprobe"), "-v", "error", *options, "-select_streams", "v:0", "-show_entries", entries,
         "-of", "csv=p=0", str(mp4)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip


def ffprobe_times_us(mp4: Path) -> list[int]:
    """Every frame's presentation time in µs from the first, as ffprobe reads the file."""
    times = [int(value) for value in ffprobe(mp4, "packet=pts")]
    base = ffprobe(mp4, "stream=time_base")
    assert base == ["1/1000000"], base
    return [t - times[0] for t in times]


def decoded_frames(mp4: Path) -> int:
    return int(ffprobe(mp4, "stream=nb_read_frames", "-count_frames")[0])


def frame_times_us(ttl_out: Path) -> list[int]:
    with open(ttl_out, newline="") as handle:
        times = [int(row["timestamp_frame"]) for row in csv.DictReader(handle)]
    return [t - times[0] for t in times]


def test_every_frame_at_its_own_time(stalled_session: Path) -> None:
    result = subprocess.run([str(BIN / "rcc_convert"), str(stalled_session), "--jobs", "2"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    session = read_session_data(stalled_session)
    for camera in ("cam0", "cam1"):
        entry = session[camera]
        assert entry["has_mp4"], entry
        mp4 = stalled_session / entry["video_file_mp4"]
        rows = frame_times_us(stalled_session / mp4.name.replace("video.h264.mp4", "timestamps.ttl.out.csv"))
        assert ffprobe_times_us(mp4) == rows  # to the microsecond
        assert decoded_frames(mp4) == len(rows)
        tags = json.loads(subprocess.run(
            [require_tool("ffprobe"), "-v", "error", "-show_entries", "format_tags", "-of", "json", str(mp4)],
            capture_output=True, text=True, check=True).stdout)["format"]["tags"]  # fmt: skip
        assert tags["rcc_camera"] == camera and tags["rcc_acquisition"] == "conv__stall"
        assert int(tags["rcc_first_frame_conductor_us"]) > 0
    stalled = stalled_session / session["cam1"]["video_file_mp4"]
    gaps = [b - a for a, b in zip(ffprobe_times_us(stalled), ffprobe_times_us(stalled)[1:])]
    assert max(gaps) > 10 * 33_333  # the stall keeps its gap instead of shifting every later frame
    assert f"{session['cam1']['video_file_h264']}" in result.stdout and "ok:" in result.stdout


def test_a_video_cut_short_converts_up_to_its_last_whole_frame(stalled_session: Path, tmp_path: Path) -> None:
    video = next(stalled_session.glob("*.cam0.*.rcc.video.h264"))
    copy = tmp_path / "cut"
    copy.mkdir()
    for path in stalled_session.glob("*.cam0.*"):
        shutil.copy(path, copy / path.name)
    cut = copy / video.name
    size = cut.stat().st_size
    with open(cut, "r+b") as handle:
        handle.truncate(size - 300)  # the agent was killed while writing: the last frame is cut
    conversion = convert_video(cut)
    rows = frame_times_us(next(copy.glob("*.timestamps.ttl.out.csv")))
    assert conversion.frames < len(rows) and conversion.notes and "cut" in conversion.notes[0]
    assert conversion.cut_by == "parser"  # the sizes no longer add up to the video
    assert ffprobe_times_us(conversion.mp4) == rows[: conversion.frames]
    assert decoded_frames(conversion.mp4) == conversion.frames


def test_frames_without_rows_are_left_out(stalled_session: Path, tmp_path: Path) -> None:
    for path in stalled_session.glob("*.cam0.*"):
        shutil.copy(path, tmp_path / path.name)
    table = next(tmp_path.glob("*.timestamps.ttl.out.csv"))
    lines = table.read_text().splitlines(keepends=True)
    table.write_text("".join(lines[:-3]))  # the last three rows were never written
    conversion = convert_video(next(tmp_path.glob("*.rcc.video.h264")))
    assert conversion.left_out == 3 and conversion.frames == len(lines) - 4
    assert "3 frame(s) at the end have no timestamp row" in conversion.notes[0]
    assert ffprobe_times_us(conversion.mp4) == frame_times_us(table)


def ffprobe_keyframes(mp4: Path) -> list[bool]:
    return [flags.startswith("K") for flags in ffprobe(mp4, "packet=flags")]


def test_frames_are_cut_by_their_sizes_or_else_found_by_the_parser(stalled_session: Path, tmp_path: Path) -> None:
    for path in stalled_session.glob("*.cam1.*"):
        shutil.copy(path, tmp_path / path.name)
    video = next(tmp_path.glob("*.rcc.video.h264"))
    table = next(tmp_path.glob("*.timestamps.ttl.out.csv"))
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    keyframes = [row["keyframe"] == "1" for row in rows]
    assert sum(keyframes) >= 2

    by_sizes = convert_video(video)  # as an agent writes them, the sizes add up to the video
    assert by_sizes.cut_by == "frame sizes" and by_sizes.frames == len(rows)
    assert ffprobe_times_us(by_sizes.mp4) == frame_times_us(table)
    assert ffprobe_keyframes(by_sizes.mp4) == keyframes  # the MP4's sync samples are the IDR frames
    assert decoded_frames(by_sizes.mp4) == len(rows)

    # Sizes that add up but do not cut at frame starts: found out mid-way, and the parser finds the frames instead.
    rows[3]["frame_bytes"] = str(int(rows[3]["frame_bytes"]) + 5)
    rows[4]["frame_bytes"] = str(int(rows[4]["frame_bytes"]) - 5)
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    parsed = convert_video(video)
    assert parsed.cut_by == "parser" and parsed.frames == len(rows) and not parsed.notes
    assert ffprobe_times_us(parsed.mp4) == frame_times_us(table)
    assert ffprobe_keyframes(parsed.mp4) == keyframes
    assert decoded_frames(parsed.mp4) == len(rows)


def test_a_timestamp_that_is_not_a_number_is_named(stalled_session: Path, tmp_path: Path) -> None:
    for path in stalled_session.glob("*.cam0.*"):
        shutil.copy(path, tmp_path / path.name)
    table = next(tmp_path.glob("*.timestamps.ttl.out.csv"))
    lines = table.read_text().splitlines(keepends=True)
    lines[5] = "12x4" + lines[5][lines[5].index(",") :]
    table.write_text("".join(lines))
    failed = subprocess.run([str(BIN / "rcc_convert"), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert f"FAILED: {next(tmp_path.glob('*.h264'))}: {table}, line 6: timestamp_frame '12x4' is not a number" in (
        failed.stdout
    )
    assert not list(tmp_path.glob("*.mp4*"))


def test_only_the_last_row_may_be_cut(stalled_session: Path, tmp_path: Path) -> None:
    """Found: a short garbage row in the middle of the frame table ended it there: "ok ... 495 frame(s) at the end
    have no timestamp row and are left out", exit 0, and an MP4 missing most of the recording. An empty table said
    "no timestamp_frame column"."""
    folder = copy_camera(stalled_session, "cam0", tmp_path / "copy")
    table = next(folder.glob("*.timestamps.ttl.out.csv"))
    good = table.read_text()
    lines = good.splitlines(keepends=True)
    table.write_text("".join(lines[:10]) + "abc,,xyz\n" + "".join(lines[10:]))  # line 11, 3 of 7 cells
    failed = subprocess.run([str(BIN / "rcc_convert"), str(folder)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1, failed.stdout
    assert f"FAILED: {next(folder.glob('*.h264'))}: {table}, line 11: a row cut short (3 of 7 cells) and more " \
           "rows after it: the file is damaged" in failed.stdout  # fmt: skip
    assert not list(folder.glob("*.mp4*"))

    table.write_text(good.replace(lines[20], lines[20].replace(lines[20].split(",")[0], "", 1)))  # no frame time
    with pytest.raises(SessionDataError, match=r"line 21: a row without timestamp_frame and more rows after it"):
        convert_video(next(folder.glob("*.rcc.video.h264")))

    table.write_text(good + lines[-1][:12])  # the last row cut while it was written: left out, converted
    conversion = convert_video(next(folder.glob("*.rcc.video.h264")))
    assert conversion.rows == len(lines) - 1

    table.write_bytes(b"")
    with pytest.raises(SessionDataError, match=r"timestamps.ttl.out.csv: empty \(not even its header\)"):
        convert_video(next(folder.glob("*.rcc.video.h264")))


def test_bad_paths_are_refused(tmp_path: Path) -> None:
    missing = subprocess.run([str(BIN / "rcc_convert"), str(tmp_path / "nothing")], capture_output=True, text=True)
    assert missing.returncode == 2 and "nothing: no such file or folder" in missing.stderr
    empty = subprocess.run([str(BIN / "rcc_convert"), str(tmp_path)], capture_output=True, text=True)
    assert empty.returncode == 2 and "no camera video (….rcc.video.h264) in it" in empty.stderr
    lonely = tmp_path / "x.cam0.20260101_000000.rcc.video.h264"
    lonely.write_bytes(b"\x00\x00\x00\x01")
    failed = subprocess.run([str(BIN / "rcc_convert"), str(lonely)], capture_output=True, text=True)
    assert failed.returncode == 1
    assert "FAILED:" in failed.stdout and "timestamps.ttl.out.csv: missing" in failed.stdout


def test_a_constant_rate_copy_repeats_frames_where_they_were_dropped(stalled_session: Path) -> None:
    from rpi_camera_colony.session.constant_rate import constant_rate_copy

    video = next(stalled_session.glob("*.cam1.*.rcc.video.h264"))
    dropped = json.loads(next(stalled_session.glob("*.cam1.*.metadata.json")).read_text())["frames"]["dropped"]
    copy = constant_rate_copy(video)
    assert copy.duplicated == dropped > 0 and copy.skipped == 0
    assert copy.slots == copy.frames + copy.duplicated == decoded_frames(copy.mp4)
    assert ffprobe(copy.mp4, "stream=r_frame_rate") == ["30/1"]
    listed = subprocess.run([str(BIN / "rcc_convert"), str(video), "--constant-rate"], capture_output=True, text=True)
    assert listed.returncode == 0 and f"constant rate: {copy.mp4.name} ({dropped} frame(s) repeated" in listed.stdout


def test_the_index_reader_agrees_with_ffprobe(stalled_session: Path, tmp_path: Path) -> None:
    from rpi_camera_colony.exc import SessionDataError
    from rpi_camera_colony.session.mp4_index import presentation_times

    mp4 = convert_video(next(stalled_session.glob("*.cam1.*.rcc.video.h264"))).mp4
    timescale, times = presentation_times(mp4)
    assert timescale == 1_000_000 and [t - times[0] for t in times] == ffprobe_times_us(mp4)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])  # the index (at the end) is gone
    with pytest.raises(SessionDataError, match="no moov box"):
        presentation_times(cut)
