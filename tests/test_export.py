"""rcc_export --nwb: a recording as an NWB file that pynwb's validator accepts, videos as external MP4s with every
frame's time on the conductor's clock, and the TTL pulses and edges."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from conftest import run_without
from rpi_camera_colony import read_session_data
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.testing import wait_for

BIN = Path(sys.executable).parent


def test_an_nwb_file_with_every_frame_and_edge(colony_config: Callable[..., Path], tmp_path: Path) -> None:
    import pynwb

    both = {"ttl_in_edges": "both"}
    config = colony_config(cameras=2, framerate=30, per_camera={"cam0": both, "cam1": {**both, "sim_fault": "stall"}})
    with Conductor(config_file=str(config), acquisition_name="nwb__take") as conductor:
        conductor.start_acquisition()
        conductor.sync_box(period_s=0.2, pulse_s=0.05, count=5, start_delay_s=0.2)
        assert wait_for(lambda: all(s.ttl_in >= 10 and s.frames >= 60 for s in conductor.status().values()))
        time.sleep(0.2)  # pacing: a few frames after the last edge
        conductor.stop_acquisition()
        folder = conductor.session_folder()
    out = tmp_path / "export" / "take.nwb"
    out.parent.mkdir()
    result = subprocess.run([str(BIN / "rcc_export"), "--nwb", str(folder), str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert pynwb.validate(path=str(out)) == []
    session = read_session_data(folder)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        for camera in ("cam0", "cam1"):
            series = nwb.acquisition[camera]
            assert (out.parent / series.external_file[0]).resolve() == (folder / session[camera]["video_file_mp4"])
            frames = session[camera]["timestamps.ttl.out"]
            stamps = np.asarray(series.timestamps[:])
            assert len(stamps) == len(frames)
            # the frame intervals are the camera's own, on the conductor's clock (a drift of ppm at most)
            camera_s = (frames["timestamp_frame"].to_numpy(dtype=float) - frames["timestamp_frame"].iloc[0]) / 1e6
            assert np.allclose(stamps - stamps[0], camera_s, atol=2e-5)
            assert len(nwb.acquisition[f"{camera}_ttl_out"].timestamps[:]) == len(frames)
            edges = nwb.acquisition[f"{camera}_ttl_in"]
            assert list(edges.data[:]) == [1, 0] * 5
        assert min(nwb.acquisition[c].timestamps[0] for c in ("cam0", "cam1")) == 0.0  # the session start
        gaps = np.diff(np.asarray(nwb.acquisition["cam1"].timestamps[:]))
        assert gaps.max() > 10 / 30  # the stall keeps its gap
        # both cameras saw the same sync box edges at the same conductor time
        a, b = (np.asarray(nwb.acquisition[f"{c}_ttl_in"].timestamps[:]) for c in ("cam0", "cam1"))
        assert np.abs(a - b).max() < 0.002


def test_a_folder_as_the_output_is_refused(stalled_session: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "rcc_export"), "--nwb", str(stalled_session), str(tmp_path)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and f"{tmp_path} is a folder: give the NWB file's name" in result.stderr
    assert not list(tmp_path.parent.glob("*.partial.nwb"))
    nested = tmp_path / "new" / "folder" / "x.nwb"
    made = subprocess.run([str(BIN / "rcc_export"), "--nwb", str(stalled_session), str(nested)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert made.returncode == 0 and nested.is_file(), made.stderr


def test_without_pynwb_the_export_says_what_to_install(stalled_session: Path, tmp_path: Path) -> None:
    args = ["--nwb", str(stalled_session), str(tmp_path / "x.nwb")]
    result = run_without("pynwb", "rpi_camera_colony.session.export:main", args)
    assert result.returncode == 1 and "pip install 'rpi_camera_colony[nwb]'" in result.stderr


def test_a_session_folder_that_is_not_one_is_a_bad_argument(tmp_path: Path) -> None:
    """Found: rcc_export exited 1 for a session folder that does not exist, where the other tools exit 2."""
    a_file = tmp_path / "a_file"
    a_file.write_text("not a session")
    for folder, said in [
        (tmp_path / "nope", f"session folder {tmp_path / 'nope'} does not exist"),
        (a_file, f"session folder {a_file} is a file, not a folder"),
        (tmp_path, f"no RCC recording in {tmp_path}: give a session folder (DATA/GROUP/NAME)"),
    ]:
        result = subprocess.run([str(BIN / "rcc_export"), "--nwb", str(folder), str(tmp_path / "x.nwb")],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 2 and result.stderr.startswith(f"rcc_export: {said}"), result.stderr
