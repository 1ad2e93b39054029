"""Reading sessions: ours, the original package's, and folders with other or damaged files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from rpi_camera_colony import read_session_data
from rpi_camera_colony.exc import SessionDataError
from rpi_camera_colony.session import read_frames


def _seed_session(folder: Path) -> None:
    """Files as rpi_camera_colony 0.4.x wrote them (underscored kinds, '# a, b' headers)."""
    stem = "mouse__s1"
    for cam in ("camera_51_blue", "camera_52_red"):
        base = folder / f"{stem}.{cam}.20210928_100502.rcc"
        (folder / f"{base.name}.metadata.json").write_text(json.dumps({"framerate": 90, "instance_name": cam}))
        (folder / f"{base.name}.timestamps_ttl_out.csv").write_text(
            "# timestamp_frame, timestamp_ttl\n100, 1000\n111, 1011\n"
        )
        (folder / f"{base.name}.timestamps_ttl_in.csv").write_text("# timestamp_frame\n")
        (folder / f"{base.name}.video.h264").write_bytes(b"\x00\x00\x00\x01")
    (folder / f"{stem}.camera_51_blue.20210928_100502.rcc.video.h264.mp4").write_bytes(b"mp4")


def test_reads_seed_session_with_seed_keys(tmp_path: Path) -> None:
    _seed_session(tmp_path)
    (tmp_path / "notes.txt").write_text("not ours")
    (tmp_path / "DLC_resnet50_output.h5").write_bytes(b"x")
    (tmp_path / "subfolder").mkdir()
    session = read_session_data(tmp_path)
    assert sorted(session) == ["camera_51_blue", "camera_52_red"]
    blue = session["camera_51_blue"]
    assert blue["metadata"]["framerate"] == 90
    assert list(blue["timestamps.ttl.out"].columns) == ["timestamp_frame", "timestamp_ttl"]
    assert blue["timestamps.ttl.out"]["timestamp_ttl"].tolist() == [1000, 1011]
    assert blue["timestamps.ttl.in"].empty
    assert blue["has_h264"] and blue["video_file_h264"].endswith(".rcc.video.h264")
    assert blue["has_mp4"] and blue["video_file_mp4"].endswith(".h264.mp4")
    assert not session["camera_52_red"]["has_mp4"]
    frames = read_frames(tmp_path, "camera_51_blue")
    assert frames["frame_index"].tolist() == [0, 1]


def test_damaged_file_is_reported_not_fatal(tmp_path: Path) -> None:
    _seed_session(tmp_path)
    (tmp_path / "mouse__s1.camera_52_red.20210928_100502.rcc.metadata.json").write_text("{truncated")
    session = read_session_data(tmp_path)
    red = session["camera_52_red"]
    assert "metadata" not in red and len(red["errors"]) == 1 and "metadata.json" in red["errors"][0]
    assert len(red["timestamps.ttl.out"]) == 2


def test_several_recordings_per_camera(tmp_path: Path) -> None:
    for stamp in ("20240101_120000", "20240101_130000"):
        (tmp_path / f"a.cam.{stamp}.rcc.metadata.json").write_text(json.dumps({"t": stamp}))
    assert read_session_data(tmp_path)["cam"]["metadata"]["t"] == "20240101_130000"
    chosen = read_session_data(tmp_path, acquisition_time="20240101_120000")["cam"]
    assert chosen["metadata"]["t"] == "20240101_120000" and chosen["other_acquisition_times"] == ["20240101_130000"]


def test_missing_folder_and_camera(tmp_path: Path) -> None:
    with pytest.raises(SessionDataError, match="not found"):
        read_session_data(tmp_path / "nope")
    with pytest.raises(SessionDataError, match="needs the session folder"):
        read_session_data()
    assert read_session_data(tmp_path) == {}
    with pytest.raises(SessionDataError, match="camera 'x' not in"):
        read_frames(tmp_path, "x")


def test_recordings_that_share_a_name_are_never_mixed(colony_config: Callable[..., Path], data_dir: Path) -> None:
    """Found: three cameras recorded as 'twice__same', then one of them again under the same name; the reader and
    the report showed that camera's second recording beside the others' first, with no problem flagged."""
    from rpi_camera_colony.control.conductor import Conductor
    from rpi_camera_colony.session import recordings

    config = colony_config(cameras=3, framerate=30)
    stamps = []
    for cameras in (None, ["cam1"]):
        with Conductor(config_file=config, acquisition_name="twice__same", cameras=cameras) as conductor:
            conductor.start_acquisition()
            time.sleep(1.1)  # the length of the recording; the next start is a second later (its own time stamp)
            conductor.stop_acquisition()
            stamps.append(conductor.file_time)
    folder = data_dir / "twice" / "twice__same"
    first, second = stamps
    assert first != second and recordings(folder) == {first: ["cam0", "cam1", "cam2"], second: ["cam1"]}
    latest = read_session_data(folder)
    assert list(latest) == ["cam1"] and latest["cam1"]["acquisition_time"] == second
    earlier = read_session_data(folder, acquisition_time=first)
    assert sorted(earlier) == ["cam0", "cam1", "cam2"] and earlier["cam1"]["other_acquisition_times"] == [second]
    assert all(entry["acquisition_time"] == first for entry in earlier.values())
    with pytest.raises(SessionDataError, match=f"no recording at acquisition_time '20000101_000000'.*{first}"):
        read_session_data(folder, acquisition_time="20000101_000000")
    report = subprocess.run(
        [str(Path(sys.executable).parent / "rcc_report"), str(folder)], capture_output=True, text=True, timeout=60
    )
    assert report.returncode == 0, report.stdout + report.stderr
    tables = report.stdout.split("session: ")[1:]
    assert len(tables) == 2 and "2 recordings in" in report.stdout
    assert f"recording of {first}" in tables[0] and all(f"\ncam{i} " in tables[0] for i in range(3))
    assert f"recording of {second}" in tables[1] and "\ncam1 " in tables[1] and "\ncam0 " not in tables[1]
    only = subprocess.run(
        [str(Path(sys.executable).parent / "rcc_report"), str(folder), "--acquisition-time", first],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert only.returncode == 0 and only.stdout.count("session: ") == 1 and f"recording of {first}" in only.stdout


def test_report_of_an_unfinished_recording_counts_the_rows_on_disk(tmp_path: Path) -> None:
    """Found: a recording whose final metadata could not be written (full disk) was reported as 'written 0' though
    its frames and rows were on disk."""
    from rpi_camera_colony.session import timing_report

    stem = tmp_path / "a.cam.20260101_000000.rcc"
    metadata = {"status": "recording", "frames": {"written": 0}, "settings": {"framerate": 30}}
    Path(f"{stem}.metadata.json").write_text(json.dumps(metadata))
    rows = "".join(f"{33333 * i},{33333 * i},{i / 30},{i},100,{int(i == 0)},\n" for i in range(90))
    Path(f"{stem}.timestamps.ttl.out.csv").write_text(
        "timestamp_frame,timestamp_ttl,sys_time,frame_index,frame_bytes,keyframe,timestamp_conductor\n" + rows
    )
    report = timing_report(tmp_path)
    assert report["cameras"]["cam"]["written"] == 90
    assert any("did not finish cleanly (status recording" in flag for flag in report["flags"])
