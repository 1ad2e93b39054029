"""The conductor's command path: commands leave from the caller's thread, replies are routed to the command they
answer, and only by the camera it went to. The agents here are bare DEALER sockets this test drives (cameras with
``launcher = none``), so each test decides exactly what an agent answers and when."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import zmq

from rpi_camera_colony import __version__, protocol
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.control.status import CommandStatus, StatusGroup
from rpi_camera_colony.exc import CameraNotConnected
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
