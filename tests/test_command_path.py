"""The conductor's command path: commands leave from the caller's thread, replies are routed to the command they
answer, and only by the camera it went to. The agents here are bare DEALER sockets this test drives (cameras with
``launcher = none``), so each test decides exactly what an agent answers and when."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import zmq

from rpi_camera_colony import __version__, protocol
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.control.control_server import ControlServer
from rpi_camera_colony.control.status import CommandStatus, StatusGroup
from rpi_camera_colony.exc import CameraNotConnected
from rpi_camera_colony.network_communication import LogForwarder, Waker
from rpi_camera_colony.testing import wait_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BareAgent:
    """A camera's control connection, by hand, on a thread of its own (a ZeroMQ socket stays on one thread): says
    hello and answers every command at once, except those named in ``held``, which wait in :attr:`commands` for the
    test to answer (through :meth:`send`)."""

    def __init__(self, context: zmq.Context[Any], name: str, port: int, held: tuple[str, ...] = ()) -> None:
        self.name = name
        self.held = held
        self.commands: queue.Queue[dict[str, Any]] = queue.Queue()
        self._outbox: queue.Queue[bytes] = queue.Queue()
        self._stop = threading.Event()
        self._socket: zmq.Socket[bytes] = context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.IDENTITY, name.encode())
        self._socket.connect(f"tcp://127.0.0.1:{port}")
        self.send(
            {
                "type": "hello",
                "id": protocol.new_id(),
                "instance": name,
                "protocol": protocol.PROTOCOL_VERSION,
                "versions": {"rpi_camera_colony": __version__},
                "state": "idle",
            }
        )
        self._thread = threading.Thread(target=self._serve, name=f"bare-{name}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                while not self._outbox.empty():
                    self._socket.send(self._outbox.get())
                if not self._socket.poll(5):  # pacing: the outbox is looked at between polls
                    continue
                message = protocol.decode(self._socket.recv())
                if message["type"] != "command":
                    continue
                if message["command"] in self.held:
                    self.commands.put(message)
                else:
                    self._socket.send(protocol.encode(protocol.reply(message["id"], ok=True, state="idle")))
        finally:
            self._socket.close(0)

    def send(self, message: dict[str, Any]) -> None:
        self._outbox.put(protocol.encode(message))

    def answer(self, request_id: str, **data: Any) -> None:
        self.send(protocol.reply(request_id, ok=True, state="idle", data=data))

    def command(self) -> dict[str, Any]:
        return self.commands.get(timeout=5)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def bare_colony(colony_config: Callable[..., Path]) -> Iterator[tuple[Conductor, dict[str, BareAgent]]]:
    port = free_port()
    names = ["cam0", "cam1", "cam2"]
    config = colony_config(
        cameras=len(names),
        control={"port": port, "hello_timeout": 10.0, "command_timeout": 5.0},
        log={"log_to_file": False},
        per_camera={name: {"launcher": "none"} for name in names},
    )
    context: zmq.Context[Any] = zmq.Context()
    with ExitStack() as stack:
        stack.callback(context.destroy, 0)
        agents = {name: BareAgent(context, name, port, held=("ping",)) for name in names}
        for agent in agents.values():
            stack.callback(agent.close)
        conductor = stack.enter_context(Conductor(config_file=str(config)))
        yield conductor, agents


def test_only_the_camera_a_command_went_to_can_answer_it(bare_colony: tuple[Conductor, dict[str, BareAgent]]) -> None:
    conductor, agents = bare_colony
    to_cam0 = conductor.controllers["cam0"].ping()
    request = agents["cam0"].command()
    assert request["id"] == to_cam0.request_id and request["command"] == "ping"
    agents["cam1"].answer(to_cam0.request_id, forged=True)  # another camera answers cam0's command
    agents["cam1"].send(protocol.error(to_cam0.request_id, "forged refusal"))
    to_cam1 = conductor.controllers["cam1"].ping()
    agents["cam1"].answer(agents["cam1"].command()["id"])
    to_cam1.wait(5)  # cam1's messages arrive in order: the forged ones have been handled by now
    assert not to_cam0.done, "a reply from another camera resolved cam0's command"
    agents["cam0"].answer(to_cam0.request_id, mine=True)
    assert to_cam0.wait(5).data == {"mine": True}


def test_a_command_to_a_camera_that_is_not_connected_fails_at_once(
    bare_colony: tuple[Conductor, dict[str, BareAgent]],
) -> None:
    conductor, agents = bare_colony
    agents["cam2"].close()
    link = conductor.controllers["cam2"]
    tries: list[CommandStatus] = []

    def refused_at_once() -> bool:  # the conductor's socket takes a moment to see the connection go
        tries.append(link.ping())
        return tries[-1].done

    assert wait_for(refused_at_once), "a command to a camera whose connection is gone was not refused"
    assert isinstance(tries[-1].error, CameraNotConnected) and "not connected" in str(tries[-1].error)
    assert all(link.ping().done for _ in range(5)), "refused on the sending thread, before the send returns"


def test_replies_coming_while_commands_go_out_are_never_missed(
    bare_colony: tuple[Conductor, dict[str, BareAgent]],
) -> None:
    """Commands are sent on the caller's thread while the network thread receives on the same socket (each under
    the socket's lock). Agents here answer at once, so replies arrive while the next commands are being sent; every
    one of 900 commands must get its reply."""
    conductor, agents = bare_colony
    for agent in agents.values():
        agent.held = ()  # every ping answered at once
    for _ in range(300):
        statuses = {name: link.ping() for name, link in conductor.controllers.items()}
        StatusGroup("ping", statuses).wait(timeout=5)


def test_a_log_line_that_is_not_valid_text_is_forwarded_escaped() -> None:
    """A log line with a lone surrogate (e.g. a file name with bytes that are not UTF-8) reaches the conductor's log
    port escaped; it neither stops the agent's loop nor holds up the lines after it."""
    context: zmq.Context[Any] = zmq.Context()
    waker = Waker()
    pull = context.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    forwarder = LogForwarder(context, waker, instance="cam0", address="127.0.0.1", port=port)
    try:
        log = logging.getLogger("rpi_camera_colony.test_forwarding")
        log.warning("cannot open %s", "/data/m1\udcff.h264")
        log.warning("the next line")
        forwarder.forward()
        records: list[dict[str, Any]] = []
        while len(records) < 2 and pull.poll(5000):
            records.append(protocol.decode_log(pull.recv_multipart()[-1]))
        assert [r["msg"] for r in records] == ["cannot open /data/m1\udcff.h264", "the next line"]
        assert forwarder.unsendable == 0
    finally:
        forwarder.close()
        waker.close()
        pull.close(0)
        context.term()


def test_replies_are_read_when_they_come_not_at_the_next_tick() -> None:
    """The network thread waits on the ROUTER's descriptor, which signals a change once; a command sent on another
    thread (even one that fails: no such camera) may take that signal, and the sender must then wake the thread.
    With a tick of an hour, a reply whose signal was lost would wait an hour: every round here must finish in 5 s."""
    replies: queue.Queue[str] = queue.Queue()
    undeliverable: list[str] = []
    server = ControlServer(
        control_address="127.0.0.1",
        control_port=0,
        log_address="127.0.0.1",
        log_port=0,
        on_message=lambda instance, message: replies.put(instance),
        on_log=lambda record: None,
        on_tick=lambda now: None,
        on_undeliverable=lambda instance, request_id, reason: undeliverable.append(instance),
        tick_interval=3600.0,
    )
    context: zmq.Context[Any] = zmq.Context()
    stop = threading.Event()
    names = [f"cam{i}" for i in range(4)]

    def echo(name: str, ready: threading.Event) -> None:
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.IDENTITY, name.encode())
        dealer.connect(f"tcp://127.0.0.1:{server.control_port}")
        dealer.send(protocol.encode({"type": "hello", "id": protocol.new_id()}))
        ready.set()
        try:
            while not stop.is_set():
                if dealer.poll(50):
                    message = protocol.decode(dealer.recv())
                    dealer.send(protocol.encode(protocol.reply(message["id"], ok=True, state="idle")))
        finally:
            dealer.close(0)

    readies = [threading.Event() for _ in names]
    threads = [threading.Thread(target=echo, args=(n, r), daemon=True) for n, r in zip(names, readies)]
    try:
        for thread in threads:
            thread.start()
        assert all(ready.wait(5) for ready in readies)
        assert sorted(replies.get(timeout=5) for _ in names) == names  # every hello: all connected
        for _ in range(300):
            for name in names:
                server.send(name, protocol.command("ping"))
                server.send("ghost", protocol.command("ping"))  # fails: no such peer
            assert sorted(replies.get(timeout=5) for _ in names) == names
        assert len(undeliverable) == 300 * len(names) and set(undeliverable) == {"ghost"}
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        server.close()
        context.term()


@pytest.fixture
def echo_server() -> Iterator[tuple[ControlServer, queue.Queue[tuple[str, str]], dict[str, threading.Event]]]:
    """A ControlServer and one DEALER ("cam0", on a thread) that answers a ping when the test sets the ping's event
    in ``gates`` (by request id; a ping without one is answered at once). ``handled`` gets (message type, name of
    the thread that handled it) for every message the server handles."""
    handled: queue.Queue[tuple[str, str]] = queue.Queue()
    gates: dict[str, threading.Event] = {}
    server = ControlServer(
        control_address="127.0.0.1",
        control_port=0,
        log_address="127.0.0.1",
        log_port=0,
        on_message=lambda instance, message: handled.put((message["type"], threading.current_thread().name)),
        on_log=lambda record: None,
        on_tick=lambda now: None,
        on_undeliverable=lambda instance, request_id, reason: None,
    )
    context: zmq.Context[Any] = zmq.Context()
    stop = threading.Event()

    def agent() -> None:
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.IDENTITY, b"cam0")
        dealer.connect(f"tcp://127.0.0.1:{server.control_port}")
        dealer.send(protocol.encode({"type": "hello", "id": protocol.new_id()}))
        try:
            while not stop.is_set():
                if dealer.poll(20):
                    request_id = protocol.decode(dealer.recv())["id"]
                    gate = gates.get(request_id)
                    while gate is not None and not gate.wait(0.02) and not stop.is_set():
                        pass  # held until the test lets it go
                    dealer.send(protocol.encode(protocol.reply(request_id, ok=True, state="idle")))
        finally:
            dealer.close(0)

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    try:
        assert handled.get(timeout=5)[0] == "hello"
        yield server, handled, gates
    finally:
        stop.set()
        thread.join(5)
        server.close()
        context.term()


def test_a_waiting_caller_reads_its_replies_itself_then_the_network_thread_reads_again(
    echo_server: tuple[ControlServer, queue.Queue[tuple[str, str]], dict[str, threading.Event]],
) -> None:
    server, handled, gates = echo_server
    ping = protocol.command("ping")
    gates[ping["id"]] = threading.Event()
    server.send("cam0", ping)

    def finished() -> bool:  # first looked at once this thread reads: the reply is let go only then
        gates[ping["id"]].set()
        return not handled.empty()

    assert server.read_replies(finished, time.monotonic() + 5)
    assert handled.get_nowait() == ("reply", threading.current_thread().name)
    server.send("cam0", protocol.command("ping"))  # answered at once, with nobody waiting: the network thread reads
    assert handled.get(timeout=5) == ("reply", "rcc-control-io")


def test_only_one_thread_reads_the_replies_at_a_time(
    echo_server: tuple[ControlServer, queue.Queue[tuple[str, str]], dict[str, threading.Event]],
) -> None:
    server, handled, _ = echo_server
    reading, done = threading.Event(), threading.Event()

    def read() -> bool:
        reading.set()
        return done.is_set()

    reader = threading.Thread(target=server.read_replies, args=(read, time.monotonic() + 10), name="first-reader")
    reader.start()
    try:
        assert reading.wait(5)
        assert not server.read_replies(lambda: False, time.monotonic() + 5), "a second reader was let in"
        server.send("cam0", protocol.command("ping"))
        assert handled.get(timeout=5) == ("reply", "first-reader")
    finally:
        done.set()
        reader.join(5)
    assert not reader.is_alive()


def test_a_callback_may_wait_for_another_command(bare_colony: tuple[Conductor, dict[str, BareAgent]]) -> None:
    """A status's callback runs on the thread that read the reply, which holds the reading; if it waits for another
    command, it reads that command's reply too (before, a callback that waited on the network thread could only time
    out)."""
    conductor, agents = bare_colony
    for agent in agents.values():
        agent.held = ()
    nested: list[float] = []

    def ping_cam1(status: CommandStatus) -> None:
        nested.append(conductor.controllers["cam1"].ping().wait(5).data.get("agent_time", 0.0))

    first = conductor.controllers["cam0"].ping()
    first.add_callback(ping_cam1)
    first.wait(5)
    assert wait_for(lambda: len(nested) == 1, timeout=5)
    StatusGroup("ping", {name: link.ping() for name, link in conductor.controllers.items()}).wait(5)


def test_a_reader_is_woken_when_a_send_on_another_thread_takes_its_signal(
    echo_server: tuple[ControlServer, queue.Queue[tuple[str, str]], dict[str, threading.Event]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A send may take the descriptor's signal of a reply that came meanwhile; when a caller is reading its replies,
    the sender must wake that caller (not the network thread, which stands aside). With the caller's own look-around
    interval set to an hour, a lost wake-up would hold the reply until the caller's 5 s are over."""
    from rpi_camera_colony.control import control_server

    monkeypatch.setattr(control_server, "READ_SLICE", 3600.0)
    server, handled, _ = echo_server
    for _ in range(100):
        assert _one_ping_read_by_a_waiting_caller(server, handled), "the reply was read only after 5 s of waiting"


def _one_ping_read_by_a_waiting_caller(server: ControlServer, handled: queue.Queue[tuple[str, str]]) -> bool:
    """Send a ping while a thread waits for its reply (reading replies itself whenever no other thread reads them)
    and other sends, which fail, use the socket meanwhile; whether the reply came within the 5 s of waiting."""
    replied = threading.Event()
    until = time.monotonic() + 5

    def finished() -> bool:
        while not handled.empty():
            if handled.get_nowait()[0] == "reply" and time.monotonic() < until:
                replied.set()
        return replied.is_set()

    def read() -> None:
        while not finished() and time.monotonic() < until:
            if not server.read_replies(finished, until):  # the network thread was reading: look again
                replied.wait(0.001)

    reader = threading.Thread(target=read)
    reader.start()
    server.send("cam0", protocol.command("ping"))
    while reader.is_alive() and not replied.is_set():
        server.send("ghost", protocol.command("ping"))  # fails (no such peer), and uses the socket all the same
    reader.join(10)
    return replied.is_set()
