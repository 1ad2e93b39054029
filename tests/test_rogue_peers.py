"""Hostile or stray peers on the network: malformed messages of every kind, a claim on a camera's name, oversized
messages. Neither the conductor nor an agent may lose its network thread, its link or a recorded frame."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from rpi_camera_colony import protocol, read_session_data
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.exc import ProtocolError
from rpi_camera_colony.testing import assert_session_complete, read_frame_indices, wait_for

DEEP = b"[" * 100_000
BIG_INT = b"9" * 5000


def envelope(kind: str, **fields: Any) -> bytes:
    return json.dumps({"v": 1, "type": kind, "id": "rogue", **fields}).encode()


#: Every kind of malformed message seen to kill a thread, plus well-formed envelopes with fields of the wrong type.
MALFORMED: list[bytes] = [
    b"",
    b"\xff\xfe\x00",
    b"not json",
    b"[1, 2, 3]",
    DEEP,
    b'{"v":1,"type":"heartbeat","id":"x","a":' + DEEP[:5000] + b"}",
    b'{"v":1,"type":{},"id":"x"}',
    b'{"v":1,"type":["hello"],"id":"x"}',
    b'{"v":1,"type":"heartbeat","id":"x","frames":' + BIG_INT + b"}",
    b'{"v":1,"type":"command","id":"x","command":"start","args":{"start_at_us":1000000000000000000000000000000}}',
    b'{"v":1,"type":"hello","id":"x","free_disk":1e320}',
    b'{"v":1,"type":"hello","id":"x","free_disk":NaN}',
    b'{"v":true,"type":"hello","id":"x"}',
    b'{"v":1,"type":"hello","id":' + b'"' + b"a" * 500 + b'"}',
    envelope("heartbeat", state={"a": 1}, stats=[], free_disk="lots"),
    envelope("heartbeat", state="recording", stats={"frames": "many"}),
    envelope("hello", versions="x", host=5, pid="me"),
    envelope("reply", ok="yes", data=[]),
    envelope("error", in_reply_to={}),
    envelope("command", command={"a": 1}),
    envelope("command", command="start", args=[]),
    envelope("time_reply", conductor_us="now"),
    # text with a lone surrogate: read by the careful reader, and echoed back in answers, which must be writable
    b'{"v":1,"type":"time_request","id":"\\udcff"}',
    b'{"v":1,"type":"party","id":"\\udcff"}',
    b'{"v":1,"type":"command","id":"s","command":"ping","args":{"echo":"\\ud800"}}',
]


@pytest.fixture
def zmq_context() -> Iterator[zmq.Context[Any]]:
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.destroy(linger=0)


def rogue(context: zmq.Context[Any], kind: int, port: int, identity: Optional[bytes] = None) -> zmq.Socket[bytes]:
    sock = context.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if identity is not None:
        sock.setsockopt(zmq.IDENTITY, identity)
    sock.connect(f"tcp://127.0.0.1:{port}")
    return sock


def test_conductor_survives_rogue_peers_on_both_ports(
    colony_config: Callable[..., Path], zmq_context: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    config = colony_config(cameras=2, framerate=30, log={"log_to_file": False})
    caplog.set_level(logging.WARNING, logger="rpi_camera_colony.network_communication")
    with Conductor(config_file=config) as conductor:
        conductor.start_acquisition()
        assert conductor.control_port and conductor.log_port
        strangers = [
            rogue(zmq_context, zmq.DEALER, conductor.control_port),  # no name
            rogue(zmq_context, zmq.DEALER, conductor.control_port, b"cam9"),  # a name not in the config
            rogue(zmq_context, zmq.DEALER, conductor.control_port, b"cam0"),  # a recording camera's name
        ]
        logs = rogue(zmq_context, zmq.PUSH, conductor.log_port)
        for _ in range(20):  # a flood, so that the log limit shows
            for payload in MALFORMED:
                for sock in strangers:
                    sock.send(payload)
                logs.send_multipart([b"cam0.INFO", payload])
        bad_logs = [
            envelope("log", instance={}, level="INFO", msg="x"),
            envelope("log", instance="cam0", level="NOT_A_LEVEL", levelno=10**18, msg="x"),
            envelope("log", instance="cam0", level="INFO", msg=["x"]),
        ]
        for payload in bad_logs:
            logs.send_multipart([b"cam0.INFO", payload])
        # The fake "cam0" was refused its name: no message under it reached the conductor as cam0's.
        answers = 0
        while strangers[0].poll(2000):
            answers += 1
            strangers[0].recv()
            if answers >= 5:
                break
        assert answers >= 5, "a nameless peer gets error replies"
        assert not strangers[2].poll(500), "a second connection under a connected camera's name must be refused"
        before = {name: status.frames for name, status in conductor.status().items()}
        assert wait_for(lambda: all(s.frames > before[n] + 15 for n, s in conductor.status().items()))
        assert all(status.ok and status.state == "recording" for status in conductor.status().values())
        summaries = conductor.stop_acquisition()
        folder = conductor.session_folder()
    assert all(summary["status"] == "stopped" for summary in summaries.values())
    session = read_session_data(folder)
    assert_session_complete(session, ["cam0", "cam1"], folder)
    for name in ("cam0", "cam1"):
        assert len(read_frame_indices(folder / session[name]["video_file_h264"])) == len(
            session[name]["timestamps.ttl.out"]
        )
    rejected = [r for r in caplog.records if r.name == "rpi_camera_colony.network_communication"]
    assert len(rejected) <= 60, f"{len(rejected)} log lines for rejected input: not rate limited"


@pytest.fixture
def agent_under_a_rogue_conductor(
    tmp_path: Path, zmq_context: zmq.Context[Any]
) -> Iterator[tuple[zmq.Socket[bytes], subprocess.Popen[str]]]:
    """A real agent process whose conductor end is a ROUTER this test controls."""
    router = zmq_context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    command = [sys.executable, "-m", "rpi_camera_colony.acquisition", "-id", "cam0", "-cport", str(port),
               "--no-log-forwarding", "-p", str(tmp_path / "data")]  # fmt: skip
    agent = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        yield router, agent
    finally:
        agent.terminate()
        try:
            agent.wait(10)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        if agent.stderr is not None:
            agent.stderr.close()


def receive(router: zmq.Socket[bytes], wanted: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
    """The next message from the agent that ``wanted`` accepts (others, e.g. heartbeats, are skipped)."""
    import time

    deadline = time.monotonic() + timeout
    while router.poll(max(0, int((deadline - time.monotonic()) * 1000))):
        _, data = router.recv_multipart()
        message = json.loads(data)
        if message.get("type") == "time_request":  # be a proper conductor for the clock sync
            router.send_multipart([b"cam0", protocol.encode({"type": "time_reply", "id": message["id"],
                                                              "conductor_us": protocol_time()})])  # fmt: skip
        if wanted(message):
            return message
    raise AssertionError("the agent did not answer")


def protocol_time() -> int:
    from rpi_camera_colony.clock import conductor_now_us

    return conductor_now_us()


def command(name: str, args: Any, request_id: str) -> bytes:
    return json.dumps({"v": 1, "type": "command", "id": request_id, "command": name, "args": args}).encode()


def test_agent_survives_a_rogue_conductor(
    agent_under_a_rogue_conductor: tuple[zmq.Socket[bytes], subprocess.Popen[str]],
) -> None:
    router, agent = agent_under_a_rogue_conductor
    receive(router, lambda m: m["type"] == "hello")
    for payload in MALFORMED:
        router.send_multipart([b"cam0", payload])
    bad_commands = [
        ("start", {"start_at_us": 2**62, "acquisition_name": "x", "acquisition_time": "y"}),
        ("configure", {"settings": [1, 2]}),
        ("configure", {"settings": {"name": "cam0", "framerate": "fast"}}),
        ("configure", {"settings": {"name": "cam0"}, "data_path": {"a": 1}}),
        ("sync_box", {"edges": [[10**18, 1]]}),
        ("annotate", {"timing": 5}),
        ("inject_ttl_in", {"count": "x"}),
        ("stop", {"reason": {"nested": [1, 2, 3]}}),
    ]
    for number, (name, args) in enumerate(bad_commands):
        router.send_multipart([b"cam0", command(name, args, f"bad{number}")])
        answer = receive(router, lambda m, n=number: m.get("id") == f"bad{n}" or m.get("in_reply_to") == f"bad{n}")
        assert answer["type"] == "error" or answer["ok"] is False or name == "stop", (name, answer)
    # A message of several frames: each is read as a message of its own (the agent answers the command in the
    # second frame and refuses the first, which is no JSON)
    router.send_multipart([b"cam0", b"not json", command("ping", {}, "framed")])
    refused = receive(router, lambda m: m.get("type") == "error" and "not valid JSON" in m.get("error", ""))
    assert refused["in_reply_to"] is None
    assert receive(router, lambda m: m.get("id") == "framed")["ok"] is True
    # still alive and serving: configure, record, stop
    router.send_multipart([b"cam0", command("configure", {"settings": {"name": "cam0", "resolution": "320x240"}}, "c")])
    assert receive(router, lambda m: m.get("id") == "c")["ok"] is True
    router.send_multipart([b"cam0", command("ping", {}, "p")])
    assert receive(router, lambda m: m.get("id") == "p")["ok"] is True
    assert agent.poll() is None


def test_agent_comes_back_after_an_oversized_message(
    agent_under_a_rogue_conductor: tuple[zmq.Socket[bytes], subprocess.Popen[str]],
) -> None:
    """ZeroMQ drops a connection for good after a message over the size limit; the agent notices the silence and
    rebuilds its link by itself."""
    router, agent = agent_under_a_rogue_conductor
    receive(router, lambda m: m["type"] == "hello")
    router.send_multipart([b"cam0", b"x" * (protocol.SOCKET_MAX_MESSAGE_BYTES + 1)])
    assert receive(router, lambda m: m["type"] == "hello", timeout=20)["instance"] == "cam0"
    router.send_multipart([b"cam0", command("ping", {}, "p")])
    assert receive(router, lambda m: m.get("id") == "p")["ok"] is True
    assert agent.poll() is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_decoders_are_total_on_any_bytes(data: bytes) -> None:
    for decoder in (protocol.decode, protocol.decode_log):
        with contextlib.suppress(ProtocolError):
            decoder(data)
    assert protocol.peek_id(data) is None or isinstance(protocol.peek_id(data), str)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(protocol.MESSAGE_TYPES)), fields=st.dictionaries(st.text(max_size=12), JSON))
def test_decoders_and_status_checks_are_total_on_any_envelope(kind: str, fields: dict[str, Any]) -> None:
    data = json.dumps({**fields, "v": 1, "type": kind, "id": "x"}).encode()
    with contextlib.suppress(ProtocolError):
        message = protocol.decode(data)
        if kind in ("hello", "heartbeat"):
            protocol.check_status(message)
