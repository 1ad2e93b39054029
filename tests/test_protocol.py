"""The control protocol: malformed, oversized and unknown messages get errors; neither side crashes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import zmq

from rpi_camera_colony import protocol
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.exc import ProtocolError


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"type": "command", "id": "a"}', "protocol version None"),
        (b'{"v": 99, "type": "command", "id": "a"}', "protocol version 99"),
        (b'{"v": 1, "type": "party", "id": "a"}', "unknown message type 'party'"),
        (b'{"v": 1, "type": "command"}', "no 'id'"),
        (b'{"v": 1, "type": "command", "id": "a", "command": "explode"}', "unknown command 'explode'"),
        (b'{"v": 1, "type": "command", "id": "a", "command": "start", "args": [1]}', "'args' must be a JSON object"),
        (b"{" + b" " * protocol.MAX_MESSAGE_BYTES + b"}", "larger than the limit"),
    ],
)
def test_decode_rejects(data: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment):
        protocol.decode(data)


def test_round_trip_and_peek() -> None:
    message = protocol.command("ping", {"echo": 1})
    decoded = protocol.decode(protocol.encode(message))
    assert decoded["command"] == "ping" and decoded["args"] == {"echo": 1} and decoded["v"] == protocol.PROTOCOL_VERSION
    assert protocol.peek_id(b'{"id": "abc", "v": 7}') == "abc"
    assert protocol.peek_id(b"nonsense") is None
    with pytest.raises(ProtocolError, match="JSON"):
        protocol.encode({"type": "reply", "id": "x", "data": object()})


class FakeConductor:
    """A bare ROUTER socket on a free port, standing in for the conductor, talking to one real agent process."""

    def __init__(self, data_path: Path) -> None:
        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rpi_camera_colony.acquisition", "-id", "cam9", "-cip", "127.0.0.1",
             "-cport", str(port), "--no-log-forwarding", "-p", str(data_path), "--camera-backend", "simulated"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.hello = self.receive("hello")

    def receive(self, kind: str | None = None, timeout_ms: int = 10_000) -> dict[str, Any]:
        while True:
            assert self.router.poll(timeout_ms), f"no {kind or 'message'} from the agent"
            identity, data = self.router.recv_multipart()
            assert identity == b"cam9"
            message = json.loads(data)
            if kind is None or message["type"] == kind:
                return message

    def send_raw(self, data: bytes) -> None:
        self.router.send_multipart([b"cam9", data])

    def answer_to(self, data: bytes) -> dict[str, Any]:
        self.send_raw(data)
        while True:
            message = self.receive()
            if message["type"] in ("reply", "error"):
                return message

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.router.close(0)
        self.context.term()


@pytest.fixture
def fake_conductor(tmp_path: Path) -> Iterator[FakeConductor]:
    fake = FakeConductor(tmp_path)
    yield fake
    fake.close()


def test_agent_answers_bad_messages_and_keeps_running(fake_conductor: FakeConductor) -> None:
    hello = fake_conductor.hello
    assert hello["instance"] == "cam9" and hello["protocol"] == protocol.PROTOCOL_VERSION
    assert hello["versions"]["rpi_camera_colony"] and hello["pid"] == fake_conductor.process.pid
    bad = [
        b"not json",
        b'{"v": 1, "type": "command", "id": "u1", "command": "explode"}',
        b'{"v": 2, "type": "command", "id": "v1", "command": "ping"}',
        b'{"v": 1, "type": "heartbeat", "id": "h1"}',
        json.dumps(
            {"v": 1, "type": "command", "id": "big", "command": "ping", "args": {"x": "y" * (2 << 20)}}
        ).encode(),
    ]
    for data in bad:
        answer = fake_conductor.answer_to(data)
        assert answer["type"] == "error", answer
        assert answer["error"]
    assert fake_conductor.answer_to(bad[1])["in_reply_to"] == "u1"
    # A command with bad arguments is a failed reply, not a crash.
    settings = {"name": "cam9", "framerate": 1000}
    reply = fake_conductor.answer_to(protocol.encode(protocol.command("configure", {"settings": settings})))
    assert reply["type"] == "reply" and not reply["ok"] and "framerate = 1000" in reply["error"]
    reply = fake_conductor.answer_to(protocol.encode(protocol.command("start", {"acquisition_name": "x"})))
    assert not reply["ok"] and "not configured" in reply["error"]
    # Still alive and answering.
    reply = fake_conductor.answer_to(protocol.encode(protocol.command("ping", {"echo": 42})))
    assert reply["ok"] and reply["data"]["echo"] == 42
    assert fake_conductor.process.poll() is None
    reply = fake_conductor.answer_to(protocol.encode(protocol.command("close")))
    assert reply["ok"]
    assert fake_conductor.process.wait(10) == 0


def test_agent_rejects_unsafe_names(fake_conductor: FakeConductor) -> None:
    configure = protocol.command("configure", {"settings": {"name": "cam9"}})
    assert fake_conductor.answer_to(protocol.encode(configure))["ok"]
    for name in ("../escape", "a/b", ""):
        start = protocol.command("start", {"acquisition_name": name, "acquisition_time": "20260101_000000"})
        reply = fake_conductor.answer_to(protocol.encode(start))
        assert not reply["ok"] and "cannot be used in file names" in reply["error"]


def test_agent_stops_cleanly_on_sigterm(fake_conductor: FakeConductor, tmp_path: Path) -> None:
    assert fake_conductor.answer_to(protocol.encode(protocol.command("configure", {"settings": {"name": "cam9"}})))[
        "ok"
    ]
    start = protocol.command("start", {"acquisition_name": "sig", "acquisition_time": "20260101_000000"})
    assert fake_conductor.answer_to(protocol.encode(start))["ok"]
    fake_conductor.process.terminate()
    assert fake_conductor.process.wait(10) == 0
    metadata = json.loads(next(tmp_path.rglob("*.metadata.json")).read_text())
    assert metadata["status"] == "stopped" and metadata["stop_reason"] == "agent shutdown"
    assert metadata["frames"]["written"] > 0


def test_conductor_survives_rogue_peers(colony_config: Callable[..., Path]) -> None:
    with Conductor(config_file=colony_config(cameras=1)) as conductor:
        server = conductor._server
        assert server is not None
        context = zmq.Context()
        rogue = context.socket(zmq.DEALER)
        rogue.setsockopt(zmq.LINGER, 0)
        rogue.setsockopt(zmq.IDENTITY, b"intruder")
        rogue.connect(f"tcp://127.0.0.1:{server.control_port}")
        try:
            rogue.send(b"garbage")
            assert rogue.poll(5000)
            assert "not valid JSON" in json.loads(rogue.recv())["error"]
            rogue.send(protocol.encode({"type": "heartbeat", "id": "h"}))
            assert rogue.poll(5000)
            assert "unknown camera 'intruder'" in json.loads(rogue.recv())["error"]
            logs = context.socket(zmq.PUSH)
            logs.setsockopt(zmq.LINGER, 0)
            logs.connect(f"tcp://127.0.0.1:{server.log_port}")
            logs.send_multipart([b"x", b"not a log record"])
            logs.close(0)
        finally:
            rogue.close(0)
            context.term()
        assert conductor.controllers["cam0"].ping().wait().ok
        conductor.start_acquisition()
        assert conductor.stop_acquisition()["cam0"]["frames"] > 0


def test_a_short_wait_is_not_a_failure_and_the_deadline_is() -> None:
    """As ophyd's StatusBase: the caller's wait timeout leaves the command running; its own deadline fails it;
    callbacks run when it finishes (found: wait(0.1) used to mark a command failed for good)."""
    from rpi_camera_colony.control.status import CommandStatus
    from rpi_camera_colony.exc import AckTimeout, WaitTimeout
    from rpi_camera_colony.protocol import Reply

    status = CommandStatus("cam0", "ping", "id1", timeout=5.0)
    finished: list[CommandStatus] = []
    status.add_callback(finished.append)
    with pytest.raises(WaitTimeout):
        status.wait(0.05)
    assert not status.done and status.error is None and not finished
    status.set_reply(Reply("cam0", "ping", ok=True, state="idle"))
    assert status.wait(0).ok and finished == [status]
    late: list[CommandStatus] = []
    status.add_callback(late.append)  # already finished: called at once
    assert late == [status]

    expiring = CommandStatus("cam0", "stop", "id2", timeout=0.05)
    with pytest.raises(AckTimeout, match=r"no reply to 'stop' within 0\.05 s"):
        expiring.wait()
    assert expiring.done and isinstance(expiring.error, AckTimeout)
    assert not expiring.expire(0.0)  # finished once, for good


def test_a_group_fails_as_soon_as_one_camera_fails_and_settles_on_request() -> None:
    """As ophyd's AndStatus: wait() raises on the first failure without waiting for the others (their commands go
    on); settle() waits for every outcome; the group's callbacks run once, when all have finished."""
    import threading

    from rpi_camera_colony.control.status import CommandStatus, StatusGroup
    from rpi_camera_colony.exc import AckTimeout, CameraError, ColonyCommandError, WaitTimeout
    from rpi_camera_colony.protocol import Reply

    statuses = {name: CommandStatus(name, "start", f"id-{name}", timeout=60.0) for name in ("cam0", "cam1", "cam2")}
    group = StatusGroup("start", statuses)
    finished: list[StatusGroup] = []
    group.add_callback(finished.append)
    with pytest.raises(WaitTimeout, match="still running on cam0, cam1, cam2"):
        group.wait(0.05)
    failing = threading.Timer(0.1, statuses["cam1"].set_error, [CameraError("cam1", "no camera found")])
    failing.start()
    with pytest.raises(ColonyCommandError) as caught:
        group.wait()  # returns at cam1's failure, long before the others' 60 s deadlines
    failing.join()
    assert set(caught.value.failures) == {"cam1"} and "no camera found" in str(caught.value)
    assert not statuses["cam0"].done and not statuses["cam2"].done and not finished
    with pytest.raises(WaitTimeout, match="still running on cam0, cam2"):
        group.settle(0.05)
    statuses["cam0"].set_reply(Reply("cam0", "start", ok=True, state="recording"))
    assert not finished
    late = CommandStatus("cam2", "start", "id-late", timeout=0.05)
    statuses["cam2"].set_reply(Reply("cam2", "start", ok=False, state="error", error="disk full"))
    replies, failures = group.settle()
    assert set(replies) == {"cam0"} and set(failures) == {"cam1", "cam2"} and finished == [group]
    # a member that never answers fails at its own deadline, and the group with it
    with pytest.raises(ColonyCommandError) as caught:
        (statuses["cam0"] & late).wait()
    assert isinstance(caught.value.failures["cam2"], AckTimeout)


def test_a_stop_answers_a_start_still_waiting_for_its_time(fake_conductor: FakeConductor, tmp_path: Path) -> None:
    """A start held until its start time (this bare conductor never answers clock requests, so the agent has no
    mapping yet) is answered as failed by a stop, and never begins afterwards."""
    from rpi_camera_colony.clock import conductor_now_us

    assert fake_conductor.answer_to(protocol.encode(protocol.command("configure", {"settings": {"name": "cam9"}})))[
        "ok"
    ]
    start_at = conductor_now_us() + 1_500_000
    start = protocol.command(
        "start", {"acquisition_name": "held", "acquisition_time": "20260101_000000", "start_at_us": start_at}
    )
    fake_conductor.send_raw(protocol.encode(start))
    stop = fake_conductor.answer_to(protocol.encode(protocol.command("stop")))
    assert stop["id"] == start["id"] and not stop["ok"]
    assert "stopped (requested) before the first frame" in stop["error"]
    assert fake_conductor.receive("reply")["ok"]  # the stop's own reply
    while conductor_now_us() < start_at + 500_000:  # past the start time: still not recording
        status = fake_conductor.answer_to(protocol.encode(protocol.command("status")))
        assert status["data"]["state"] == "configured"
        time.sleep(0.1)  # pacing: look again until the start time has passed
    assert not (tmp_path / "held").exists()
