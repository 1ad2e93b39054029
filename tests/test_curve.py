"""CURVE on both ports: the colony records encrypted; strangers without a known key get nothing, and a known key
can speak only under its own camera's name."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any, Callable

import pytest
import zmq
import zmq.auth

from rpi_camera_colony import read_session_data
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.testing import assert_session_complete, wait_for

HEARTBEAT = json.dumps({"v": 1, "type": "heartbeat", "id": "x", "state": "recording", "stats": {"frames": 1}}).encode()


def test_curve_colony_records_and_keeps_strangers_out(
    colony_config: Callable[..., Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = tmp_path / "keys"
    config = colony_config(cameras=2, framerate=30, control={"curve": True, "key_folder": str(keys)})
    context: zmq.Context[Any] = zmq.Context()
    try:
        with Conductor(config_file=config) as conductor:
            assert stat.S_IMODE(keys.stat().st_mode) == 0o700
            assert {p.name for p in keys.iterdir()} >= {"conductor.key", "conductor.key_secret", "cam0.key_secret"}
            assert stat.S_IMODE((keys / "cam0.key_secret").stat().st_mode) == 0o600
            conductor.start_acquisition()
            port = conductor.control_port
            # 1. a plain peer: the CURVE handshake fails, nothing reaches the conductor, nothing comes back
            plain = context.socket(zmq.DEALER)
            plain.connect(f"tcp://127.0.0.1:{port}")
            # 2. a CURVE peer with a key the conductor does not know
            stranger = context.socket(zmq.DEALER)
            stranger.curve_publickey, stranger.curve_secretkey = zmq.curve_keypair()
            server_key, _ = zmq.auth.load_certificate(str(keys / "conductor.key"))
            stranger.curve_serverkey = server_key
            stranger.connect(f"tcp://127.0.0.1:{port}")
            # 3. cam1's own key, speaking as a camera that does not exist and as cam0
            impostor = context.socket(zmq.DEALER)
            public, secret = zmq.auth.load_certificate(str(keys / "cam1.key_secret"))
            assert secret is not None
            impostor.curve_publickey, impostor.curve_secretkey = public, secret
            impostor.curve_serverkey = server_key
            impostor.setsockopt(zmq.IDENTITY, b"cam9")
            impostor.connect(f"tcp://127.0.0.1:{port}")
            for sock in (plain, stranger, impostor):
                sock.setsockopt(zmq.LINGER, 0)
                sock.send(HEARTBEAT)
            assert not any(sock.poll(1500) for sock in (plain, stranger, impostor)), "a stranger was answered"
            before = {n: s.frames for n, s in conductor.status().items()}
            assert wait_for(lambda: all(s.frames > before[n] + 10 for n, s in conductor.status().items()))
            summaries = conductor.stop_acquisition()
            folder = conductor.session_folder()
    finally:
        context.destroy(linger=0)
    assert all(summary["status"] == "stopped" for summary in summaries.values())
    assert_session_complete(read_session_data(folder), ["cam0", "cam1"], folder)
    assert any("whose key is 'cam1'" in r.getMessage() for r in caplog.records)


def test_an_agent_without_the_keys_is_named(colony_config: Callable[..., Path], tmp_path: Path) -> None:
    """An agent that cannot read its key says so (instead of never being heard)."""
    from rpi_camera_colony.exc import ColonyError
    from rpi_camera_colony.network_communication import CurveClient

    with pytest.raises(ColonyError, match=r"cannot read the CURVE key .*cam0.key_secret"):
        CurveClient(tmp_path / "empty", "cam0")
