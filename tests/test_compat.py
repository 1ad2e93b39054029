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
from rpi_camera_colony.testing import wait_for

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


def test_stream_video_serves_mjpeg_as_the_original(colony_config: Callable[..., Path]) -> None:
    """stream_video = True: MJPEG over HTTP at http://{stream_address}:{stream_port}/ (multipart/x-mixed-replace,
    boundary FRAME), from the agent itself, while it records."""
    import itertools
    import urllib.request

    from rpi_camera_colony.mjpeg import read_parts
    from rpi_camera_colony.testing import free_port

    port = free_port()
    config = colony_config(cameras=1, framerate=30, per_camera={"cam0": {"stream_video": True, "stream_port": port}})
    with Conductor(config_file=str(config)) as conductor:
        conductor.start_acquisition("stream__take")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=FRAME"
            indices = []
            for headers, image in itertools.islice(read_parts(response), 3):  # raises on any framing error
                assert image[:2] == b"\xff\xd8"
                indices.append(int(headers["x-frame-index"]))
            assert len(indices) == 3
        assert indices == sorted(set(indices))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/snapshot.jpg", timeout=10) as response:
            assert response.read(2) == b"\xff\xd8"
        summaries = conductor.stop_acquisition()
    assert summaries["cam0"]["dropped"] == 0 and summaries["cam0"]["frames"] > 0


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


def test_the_original_modules_and_functions(tmp_path: Path) -> None:
    from rpi_camera_colony import files, log, readers
    from rpi_camera_colony.config.config import get_interface_mac_address, get_local_ip_address, load_config
    from rpi_camera_colony.exc import ConfigError

    config = load_config(config_path=str(Path(__file__).parent / "data" / "example.config"))
    assert config["general"]["max_acquisition_time"] == 7200  # read like the original's dict
    assert config["controllers"]["camera_red_60"]["framerate"] == 90
    with pytest.raises(ConfigError, match="this package's own spec"):
        load_config(config_path=str(tmp_path / "x.config"), config_spec_path=str(tmp_path / "my_spec.config"))
    names = files.make_recording_file_names(path=str(tmp_path / "m1__s1.cam1"))
    assert set(names) == {"video", "ttl.out", "ttl.in", "metadata"}
    stamp = names["video"].split(".")[-4]
    assert len(stamp) == 15 and names["metadata"] == str(tmp_path / f"m1__s1.cam1.{stamp}.rcc.metadata.json")
    assert names["ttl.out"].endswith(".rcc.timestamps.ttl.out.csv") and len(files.get_datestr()) == 15
    assert log.log_level_name_to_value("debug") == logging.DEBUG and log.log_level_name_to_value("nonsense") == 20
    assert readers.read_session_data is not None and get_local_ip_address().count(".") == 3
    assert len(get_interface_mac_address("no_such_interface").split(":")) == 6


def test_read_session_data_takes_the_namespace_signature(tmp_path: Path) -> None:
    from rpi_camera_colony import read_session_data

    (tmp_path / "a.cam.20240101_120000.rcc.metadata.json").write_text(json.dumps({"x": 1}))
    (tmp_path / "a.cam.20240101_120000.xyz.metadata.json").write_text(json.dumps({"x": 2}))
    assert read_session_data(str(tmp_path), namespace_signature=".rcc.")["cam"]["metadata"] == {"x": 1}
    assert read_session_data(str(tmp_path), ".xyz.")["cam"]["metadata"] == {"x": 2}


def test_the_original_agent_in_a_with_block(tmp_path: Path) -> None:
    """The original's agent script: `with PiAcquisitionControl(...) as acq: while acq.active: ...`, ended by
    shutdown(); camera settings as keywords, a misspelt one refused."""
    import threading

    import zmq

    from rpi_camera_colony.acquisition.acquisition_control import PiAcquisitionControl
    from rpi_camera_colony.exc import ConfigError

    context: zmq.Context = zmq.Context()
    router = context.socket(zmq.ROUTER)  # a silent conductor
    try:
        port = router.bind_to_random_port("tcp://127.0.0.1")
        with pytest.raises(ConfigError, match=r"PiAcquisitionControl\(framrate=...\): not a camera setting"):
            PiAcquisitionControl(instance_name="cam9", control_stream_ip="127.0.0.1", control_stream_port=port,
                                 framrate=30)  # fmt: skip
        with PiAcquisitionControl(
            instance_name="cam9", data_path=str(tmp_path), acquisition_name="x", control_stream_ip="127.0.0.1",
            control_stream_port=port, framerate=30, resolution=(320, 240), camera_backend="simulated",
        ) as acq:  # fmt: skip
            assert acq.state == "configured" and acq.agent.settings is not None
            assert acq.agent.settings.framerate == 30 and acq.acquisition_name == "x"
            threading.Timer(0.3, acq.shutdown).start()
            loops = 0
            while acq.active:
                loops += 1
                time.sleep(0.05)  # the original's loop, polling
        assert loops > 0 and not acq.active and acq.state == "closed"
    finally:
        router.close(0)
        context.term()


def test_conductor_as_subprocess(colony_config: Callable[..., Path], data_dir: Path) -> None:
    from rpi_camera_colony.control.process_sandbox import ConductorAsSubprocess

    config = colony_config(cameras=1, framerate=30)
    with ConductorAsSubprocess(conductor_args={"config_file": str(config), "acquisition_name": "sub__p"}) as sub:
        sub.wait_started(timeout=60)
        assert sub.returncode is None
    assert sub.returncode == 0, sub.stderr
    assert "cam0 " in sub.stdout and "stopped" in sub.stdout
    (meta,) = original_reader(data_dir / "sub" / "sub__p").values()
    assert meta["status"] == "stopped" and meta["frames"]["written"] > 0


def test_file_base_of_a_name_with_dots(tmp_path: Path) -> None:
    from rpi_camera_colony.acquisition.camera_agent import CameraAgent
    from rpi_camera_colony.config import controller_from_dict

    with CameraAgent(instance_name="cam0", data_path=str(tmp_path), camera_backend="simulated") as agent:
        agent.configure(controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "320x240"}))
        agent.start(acquisition_name="day1.v2")
        agent.stop()
    (meta,) = original_reader(tmp_path / "day1.v2").values()
    assert meta["acquisition_file_base"] == str(tmp_path / "day1.v2" / "day1.v2.cam0")
    assert meta["acquisition_time"] == meta["file_time"]  # a name without '__': the date stamp


def test_remote_acquisition_control_on_its_own(colony_config: Callable[..., Path], data_dir: Path) -> None:
    """The original's one-camera class: initialise, transmit_settings, start, stop, cleanup, send_command."""
    from rpi_camera_colony.acquisition.remote_control import RemoteAcquisitionControl
    from rpi_camera_colony.config.config import load_config
    from rpi_camera_colony.exc import ConfigError, ProtocolError

    config = colony_config(cameras=2, framerate=30)
    with pytest.raises(ConfigError, match=r"instance_name is needed: the config has 2 cameras \(cam0, cam1\)"):
        RemoteAcquisitionControl(config_data=str(config))
    with pytest.raises(ConfigError, match=r"no such camera in the config \(known: cam0, cam1\)"):
        RemoteAcquisitionControl(instance_name="cam9", config_data=str(config))
    camera = RemoteAcquisitionControl(instance_name="cam1", config_data=str(config))
    try:
        assert camera.connected is False and camera.transmit_settings() is None  # nothing sent before initialise
        assert camera.config_data["controllers"]["cam0"]["framerate"] == 30  # the whole config, the original's shape
        camera.initialise()
        assert camera.connected
        assert camera.transmit_settings().ok  # acknowledged
        reply = camera.start_acquisition("mouse1__s2")
        assert reply.data["first_frame"]["index"] >= 0
        assert camera.send_command("status").data["state"] == "recording"
        with pytest.raises(ProtocolError, match="command status 'jump': not a command; use one of close, reset"):
            camera.send_command("command", {"status": "jump"})
        with pytest.raises(ProtocolError, match="unknown command 'explode'"):
            camera.send_command("explode", {})
        summary = camera.stop_acquisition()
        assert summary["frames"] > 0 and summary["status"] == "stopped"
        assert camera.send_command("command", {"status": "reset"}).ok  # the original's reset (simulated: nothing)
        # the original's start and stop messages go through the same steps: a second recording can follow
        assert camera.send_command("command", {"status": "start"}).ok
        stopped = camera.send_command("command", {"status": "stop"})
        assert stopped.data["summary"]["frames"] > 0 and not camera.acquiring
    finally:
        camera.cleanup()
    camera.cleanup()  # twice is fine
    assert camera.connected is False
    folder = data_dir / "mouse1" / "mouse1__s2"
    assert [meta["instance_name"] for meta in original_reader(folder).values()] == ["cam1"]  # only this camera

    # the config as load_config returns it, or as a conductor's config_data (a read-only mapping); auto_init
    settings = load_config(config_path=str(config))
    with pytest.warns(DeprecationWarning, match="control_socket_wrapper=...\\) has no effect"):
        camera = RemoteAcquisitionControl(
            "cam0", settings.as_mapping(), control_socket_wrapper=object(), auto_init=True
        )
    with camera:
        assert camera.connected and camera.send_command("ping").ok
        pid = camera.status().pid
        assert pid is not None and camera.pkill_remote() is not None  # ends that agent by its pid
        assert wait_for(lambda: not camera.connected)
        camera.initialise()  # a new agent
        assert camera.connected and camera.status().pid not in (None, pid)
    camera = RemoteAcquisitionControl(instance_name="cam0", config_data=settings)
    camera.cleanup()  # never initialised: nothing to clean up
