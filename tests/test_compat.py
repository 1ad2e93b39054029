"""What the original package's users rely on (../shared/seed/COMPAT.md), used the way their scripts use it."""

from __future__ import annotations

import glob
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from rpi_camera_colony.control.conductor import Conductor

BIN = Path(sys.executable).parent


def original_reader(session_dir: Path) -> dict[str, dict]:
    """Analysis code written for the original: every metadata file, by its instance_name."""
    found = {}
    for path in sorted(glob.glob(os.path.join(str(session_dir), "*.metadata.json"))):
        with open(path) as handle:
            meta = json.load(handle)
        found[meta["instance_name"]] = meta
    return found


def test_the_original_conductor_flow(colony_config: Callable[..., Path], data_dir: Path) -> None:
    """The original rcc_conductor: Conductor(..., auto_init=False), start, poll `active`, stop, cleanup; scripts read
    config_data as the original dict and the metadata keys by their original names."""
    lines: list[str] = []
    conductor = Conductor(
        config_file=str(colony_config(cameras=2, framerate=30)),
        acquisition_name="mouse1__s1",
        auto_init=False,
        logging_stream_callback=lines.append,
    )
    try:
        assert conductor.config_data["general"]["acquisition_name"] == "mouse1__s1"
        assert conductor.config_data["controllers"]["cam1"]["framerate"] == 30
        with pytest.raises(TypeError):
            conductor.config_data["general"]["acquisition_name"] = "x"  # type: ignore[index]
        conductor.start_acquisition()
        assert conductor.active and conductor.acquisition_group == "mouse1"
        time.sleep(1.0)  # the length of the recording (the original polled `active` once a second meanwhile)
        assert conductor.active
        conductor.stop_acquisition()
    finally:
        conductor.cleanup()
    assert any(line.startswith("cam0 INFO recording mouse1__s1") for line in lines), lines[:5]
    folder = data_dir / "mouse1" / "mouse1__s1"
    metadata = original_reader(folder)
    assert sorted(metadata) == ["cam0", "cam1"]
    for name, meta in metadata.items():
        assert meta["acquisition_name"] == "mouse1__s1" and meta["acquisition_group"] == "mouse1"
        assert meta["acquisition_time"] == "s1"  # the original rule: the part of the name after '__'
        assert meta["framerate"] == 30 and meta["resolution"] == [320, 240] and meta["save_data"] is True
        assert meta["acquisition_settings"]["framerate"] == 30 and meta["acquisition_settings"]["type"] == "config"
        assert meta["data_path"] == str(data_dir) and len(meta["mac_address"].split(":")) == 6
        assert meta["control_stream_ip"] == "127.0.0.1" and isinstance(meta["control_stream_port"], int)
        files = meta["acquisition_files"]
        assert set(files) == {"video", "ttl.out", "ttl.in", "metadata"}
        assert all(os.path.isabs(path) and os.path.exists(path) for path in files.values())
        assert meta["acquisition_file_base"] == str(folder / f"mouse1__s1.{name}")
        assert files["video"].startswith(meta["acquisition_file_base"] + ".")
        assert meta["file_time"] in files["video"]  # file names keep the per-recording date stamp
        # found by a newcomer: the log said "chosen by argument" for a backend the config chose
        assert meta["backend"]["camera_reason"] == "camera backend 'simulated' chosen by config"
    text = (folder / Path(metadata["cam0"]["acquisition_files"]["metadata"]).name).read_text()
    assert (
        list(json.loads(text)) == sorted(json.loads(text)) and '\n    "acquisition_files"' in text
    )  # sorted, indent 4


def test_original_conductor_arguments(colony_config: Callable[..., Path], data_dir: Path) -> None:
    config = str(colony_config(cameras=1, framerate=30))
    with pytest.warns(DeprecationWarning, match="delay_for_networking.*waits for each agent's hello"):
        conductor = Conductor(
            config_file=config, acquisition_name="plain", acquisition_time="t1", auto_init_remote=False,
            delay_for_networking=4, debug=True,
        )  # fmt: skip
    try:
        assert conductor.controllers["cam0"].connected is False  # nothing launched yet
        assert logging.getLogger("rpi_camera_colony").getEffectiveLevel() == logging.DEBUG
        conductor.initialise_acquisition_conductors()
        conductor.start_acquisition()
        conductor.stop_acquisition()
    finally:
        conductor.cleanup()
        logging.getLogger("rpi_camera_colony").setLevel(logging.NOTSET)
    (meta,) = original_reader(data_dir / "plain").values()
    assert meta["acquisition_time"] == "t1" and meta["acquisition_group"] == ""


def test_calibration_mode_records_at_2_fps(colony_config: Callable[..., Path], data_dir: Path) -> None:
    """run_for_calibration=True, rcc_conductor --calibration and rcc_calibration: every camera at
    calibration_framerate (2 unless set), files named and stored as any recording."""
    config = colony_config(cameras=1, framerate=30)
    with Conductor(config_file=str(config), acquisition_name="cal__a", run_for_calibration=True) as conductor:
        assert conductor.settings.controllers["cam0"].framerate == 2
        conductor.start_acquisition()
        conductor.stop_acquisition()
    (meta,) = original_reader(data_dir / "cal" / "cal__a").values()
    assert meta["framerate"] == 2 and meta["settings"]["framerate"] == 2
    for command in ([str(BIN / "rcc_conductor"), "--calibration"], [str(BIN / "rcc_calibration")]):
        name = "cal__" + command[0][-5:]
        done = subprocess.run(
            [*command, "-c", str(config), "-n", name, "-t", "1.2", "--no-progress"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        (meta,) = original_reader(data_dir / "cal" / name).values()
        assert meta["framerate"] == 2


def test_stream_video_says_it_does_nothing_yet(tmp_path: Path) -> None:
    """The original's own example config sets stream_video = True: accepted, and said to have no effect yet."""
    from rpi_camera_colony.config.loading import load_config

    path = tmp_path / "c.config"
    path.write_text("[general]\n[controllers]\n    [[cam1]]\n        stream_video = True\n")
    warnings = load_config(path).warnings
    assert any("controllers.cam1.stream_video = True: this version does not stream video yet" in w for w in warnings)
    check = subprocess.run(
        [str(BIN / "rcc_conductor"), "-c", str(path), "--check"], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0 and "does not stream video yet" in check.stdout


def test_a_busy_port(colony_config: Callable[..., Path]) -> None:
    """As the original, a busy control or log port gives way to a free one when this conductor starts every agent;
    agents started elsewhere wait on the config's port, so then the conductor refuses, naming it."""
    import socket

    import zmq

    from rpi_camera_colony.exc import ColonyError

    context: zmq.Context = zmq.Context()
    squatter = context.socket(zmq.PULL)
    try:
        port = squatter.bind_to_random_port("tcp://127.0.0.1")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        config = colony_config(cameras=1, control={"port": port}, log={"port": free})
        with Conductor(config_file=str(config)) as conductor:
            assert conductor.control_port != port and conductor.controllers["cam0"].ping().wait().ok
        refused = colony_config(
            cameras=1, control={"port": port, "hello_timeout": 1.0}, per_camera={"cam0": {"launcher": "none"}}
        )
        with pytest.raises(ColonyError, match=rf"cannot listen on \[control\] 127.0.0.1:{port}: .*in use"):
            Conductor(config_file=str(refused))
    finally:
        squatter.close(0)
        context.term()
