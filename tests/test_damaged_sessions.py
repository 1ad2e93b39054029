"""The tools that read a recording afterwards (reader, rcc_report, its HTML page, rcc_export, rcc_sessions) on files
damaged after the recording: each damage is said, naming the file (and line), with exit 1; never a traceback."""

from __future__ import annotations

import html
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import copy_camera
from rpi_camera_colony import read_session_data
from rpi_camera_colony.session import timing_report

BIN = Path(sys.executable).parent


def _table(folder: Path) -> Path:
    return next(folder.glob("*.rcc.timestamps.ttl.out.csv"))


def _video(folder: Path) -> Path:
    return next(folder.glob("*.rcc.video.h264"))


def _keep_rows(count: int) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        lines = _table(folder).read_text().splitlines(keepends=True)
        _table(folder).write_text("".join(lines[: count + 1]))

    return damage


#: Damage done to one camera's files after a good recording, and what the timing report must flag.
CUT_OR_MISSING: dict[str, tuple[Callable[[Path], None], str]] = {
    "frame table missing": (lambda folder: _table(folder).unlink(), "no frame table (….rcc.timestamps.ttl.out.csv)"),
    "frame table empty": (lambda folder: _table(folder).write_bytes(b""), "ttl.out.csv: empty (not even its header)"),
    "header only": (_keep_rows(0), "its frame table (….rcc.timestamps.ttl.out.csv) has no rows; its metadata says"),
    "rows missing": (_keep_rows(20), "20 row(s) in its frame table, but its metadata says"),
    "video cut short": (lambda folder: _video(folder).write_bytes(_video(folder).read_bytes()[:3000]),
                        "has 3000 bytes, its frames"),
}  # fmt: skip


def test_a_frame_table_or_video_cut_short_or_missing_is_flagged(stalled_session: Path, tmp_path: Path) -> None:
    """Found: rcc_report said "no problems found" and exited 0 for a camera whose frame table was empty or missing or
    whose video was cut to 50 KB: its figures came from the metadata alone."""
    intact = timing_report(copy_camera(stalled_session, "cam0", tmp_path / "intact"))["flags"]
    assert not [f for f in intact if any(flag in f for _, flag in CUT_OR_MISSING.values())], intact
    for case, (damage, flag) in CUT_OR_MISSING.items():
        folder = copy_camera(stalled_session, "cam0", tmp_path / case.replace(" ", "_"))
        damage(folder)
        flags = timing_report(folder)["flags"]
        assert any(f.startswith("cam0: ") and flag in f for f in flags), (case, flags)
    result = subprocess.run([str(BIN / "rcc_report"), str(tmp_path / "video_cut_short")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the video was cut short" in result.stdout and "no problems found" not in result.stdout


GARBAGE_ROW = "abc,,xyz,1,2\n"


def _garbage_row(folder: Path) -> None:
    lines = _table(folder).read_text().splitlines(keepends=True)
    lines[10] = GARBAGE_ROW  # line 11 of the file
    _table(folder).write_text("".join(lines))


def _renamed_column(folder: Path) -> None:
    _table(folder).write_text(_table(folder).read_text().replace("timestamp_frame", "frame_time", 1))


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_garbage_row, "line 11: timestamp_frame 'abc' is not a number"),
        (
            _renamed_column,
            "line 1: no timestamp_frame column (its header: frame_time, timestamp_ttl, sys_time, "
            "frame_index, frame_bytes, keyframe, timestamp_conductor)",
        ),
    ],
    ids=["garbage row", "renamed column"],
)
def test_a_damaged_frame_table_is_said_by_every_tool(
    stalled_session: Path, tmp_path: Path, damage: Callable[[Path], None], said: str
) -> None:
    """Found: one garbage row in the middle of a frame table, or its timestamp_frame column renamed, made rcc_report
    (also with --html) and rcc_export --nwb stop with a traceback (ValueError, KeyError), and the reader's errors
    stayed empty, though it promises to report a damaged file there instead of failing."""
    folder = copy_camera(stalled_session, "cam0", tmp_path / "session")
    damage(folder)
    name = _table(folder).name
    entry = read_session_data(folder)["cam0"]
    assert entry["errors"] == [f"{name}, {said}"]
    assert "timestamps.ttl.out" not in entry  # a damaged table is not handed on as if it were good

    report = subprocess.run([str(BIN / "rcc_report"), str(folder), "--html", str(tmp_path / "r.html")],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert report.returncode == 1, report.stderr
    assert f"FLAG: cam0: {name}, {said}" in report.stdout and "Traceback" not in report.stderr
    assert html.escape(said) in (tmp_path / "r.html").read_text()

    export = subprocess.run([str(BIN / "rcc_export"), "--nwb", str(folder), str(tmp_path / "x.nwb")],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert export.returncode == 1
    assert export.stderr.splitlines() == [f"rcc_export: cam0: damaged file(s): {name}, {said}"]
