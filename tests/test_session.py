"""Reading sessions: ours, the original package's, and folders with other or damaged files."""

from __future__ import annotations

import json
from pathlib import Path

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
