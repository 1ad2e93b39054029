"""The command path's cost: ping round trips through the conductor to N simulated agents, next to a bare pyzmq
ROUTER/DEALER echo of the same messages, measured in the same run.

Each round sends one ``ping`` to every camera at once (as a start goes out) and waits for every reply; the round trip
of each message is one sample. The bare echo does the same with N processes that each run a plain pyzmq DEALER loop
returning every message as it came (no decoding), and a ROUTER in this process that sends the conductor's own
encoded ping messages. The protocol echo is that bare echo with each message decoded and answered as an agent does
(this package's protocol: checks, reply, JSON), and nothing else: what the protocol alone costs.

The CPU columns give the processor time per message (user and system, every thread, from the kernel's accounts on
Linux) of the sending side (the conductor, or the bare ROUTER) and of the answering processes together (the agents,
or the echoes): what each message costs the machine, which on few cores is what the round trips wait for. The
kernel counts in clock ticks (10 ms), so the figures need runs of a few seconds (the default rounds).

    python benchmarks/commands.py [--cameras 8,16,32,64] [--rounds 200]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple, Optional

import zmq

from rpi_camera_colony import protocol
from rpi_camera_colony.cli_help import positive_int, positive_ints
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.control.status import StatusGroup
from rpi_camera_colony.testing import write_simulated_config


def echo_program(answer: str, imports: str = "") -> str:
    """A DEALER process (``python -c PROGRAM ENDPOINT NAME``) that says hello, then answers every message with the
    expression ``answer`` of the received bytes ``data``, until it gets ``end``."""
    return f"""
import sys, zmq
{imports}
context = zmq.Context()
dealer = context.socket(zmq.DEALER)
dealer.setsockopt(zmq.IDENTITY, sys.argv[2].encode())
dealer.setsockopt(zmq.LINGER, 0)
dealer.connect(sys.argv[1])
dealer.send(b"hello")
while True:
    data = dealer.recv()
    if data == b"end":
        break
    dealer.send({answer})
"""


#: Every message returned as it came (no decoding).
ECHO = echo_program("data")
#: Each message decoded and answered with this package's protocol (a reply as an agent sends it), with nothing else
#: an agent does: the cost of the protocol alone.
PROTOCOL_ECHO = echo_program(
    "protocol.encode(protocol.reply(protocol.decode(data)['id'], ok=True, state='idle', data={'agent_time': "
    "time.time(), 'camera_time_us': time.monotonic_ns() // 1000, 'echo': None}))",
    imports="import time\nfrom rpi_camera_colony import protocol",
)


class Measured(NamedTuple):
    samples: list[float]  #: round trips (s)
    sender_cpu: float  #: CPU seconds of this process (the conductor or the bare ROUTER) over the rounds
    answerer_cpu: float  #: CPU seconds of the agents or echoes together over the rounds (NaN where unknown)


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) a process has used, from /proc (NaN where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used by this process and by the processes ``pids`` between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._own = 0.0
        self._others = 0.0

    def _read(self) -> tuple[float, float]:
        return time.process_time(), sum(process_cpu(pid) for pid in self.pids)

    def start(self) -> None:
        self._own, self._others = self._read()

    def stop(self, samples: list[float]) -> Measured:
        own, others = self._read()
        return Measured(samples, own - self._own, others - self._others)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3


def bare_echo(cameras: int, rounds: int, echo: str = ECHO) -> Measured:
    """Round trips of the conductor's own encoded ping messages through a bare ROUTER and N echoing DEALERs."""
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    echoes = [
        subprocess.Popen([sys.executable, "-c", echo, f"tcp://127.0.0.1:{port}", f"cam{i}"]) for i in range(cameras)
    ]
    samples: list[float] = []
    measured: Optional[Measured] = None
    meter = CpuMeter([process.pid for process in echoes])
    try:
        for _ in range(cameras):
            router.recv_multipart()  # each echo's hello: all connected
        meter.start()
        for _ in range(rounds):
            sent = {}
            for i in range(cameras):
                data = protocol.encode(protocol.command("ping", {}))
                sent[f"cam{i}".encode()] = time.perf_counter()
                router.send_multipart([f"cam{i}".encode(), data])
            for _ in range(cameras):
                identity, _ = router.recv_multipart()
                samples.append(time.perf_counter() - sent[identity])
        measured = meter.stop(samples)
        for i in range(cameras):
            router.send_multipart([f"cam{i}".encode(), b"end"])
    finally:
        for process in echoes:  # each ends on "end"; after a failure (or Ctrl-C) before that, by its pid
            try:
                process.wait(timeout=10 if measured is not None else 0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        router.close()
        context.term()
    assert measured is not None
    return measured


def through_conductor(cameras: int, rounds: int, workdir: Path) -> Measured:
    """Round trips of ``ping`` from the conductor to N simulated agents (local processes), all at once per round."""
    config = write_simulated_config(
        workdir / f"commands_{cameras}.config",
        data_path=workdir / "data",
        cameras=cameras,
        log={"log_to_file": False},
    )
    samples: list[float] = []
    with Conductor(config_file=config) as conductor:
        links = list(conductor.controllers.values())
        meter = CpuMeter([int((link.hello or {}).get("pid") or 0) for link in links])  # from each agent's hello
        meter.start()
        for _ in range(rounds):
            statuses = {link.name: link.ping() for link in links}
            StatusGroup("ping", statuses).wait()  # as the conductor waits for a command sent to every camera
            samples += [status.round_trip or 0.0 for status in statuses.values()]
        return meter.stop(samples)


def cpu_per_message(run: Measured) -> str:
    """``sender+answerers`` in µs of CPU per message."""
    count = max(1, len(run.samples))
    answerers = "?" if math.isnan(run.answerer_cpu) else f"{run.answerer_cpu / count * 1e6:.0f}"
    return f"{run.sender_cpu / count * 1e6:.0f}+{answerers}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=positive_ints, default="8,16,32,64", help="comma-separated camera counts")
    parser.add_argument("--rounds", type=positive_int, default=200, help="rounds of one ping to every camera")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"ping round trips, {args.rounds} rounds of one message to every camera at once (ms)")
    print("(protocol echo: the bare echo, but each message decoded and answered with this package's protocol;")
    print(" CPU: µs of processor time per message, sender + answerers: conductor + agents, or ROUTER + echoes)")
    print(
        f"{'cameras':>7} {'conductor p50':>14} {'p99':>7} {'bare echo p50':>14} {'p99':>7} {'ratio p50':>10} "
        f"{'p99':>6} {'protocol echo p50':>18} {'p99':>7} {'CPU ours':>12} {'CPU bare':>12}"
    )
    with tempfile.TemporaryDirectory(prefix="rcc-bench-") as tmp:
        for cameras in args.cameras:
            ours_run = through_conductor(cameras, args.rounds, Path(tmp))
            bare_run = bare_echo(cameras, args.rounds)
            ours, bare = percentiles(ours_run.samples), percentiles(bare_run.samples)
            decoded = percentiles(bare_echo(cameras, args.rounds, PROTOCOL_ECHO).samples)
            print(
                f"{cameras:>7} {ours[0]:>14.2f} {ours[1]:>7.2f} {bare[0]:>14.2f} {bare[1]:>7.2f} "
                f"{ours[0] / bare[0]:>9.2f}x {ours[1] / bare[1]:>5.2f}x {decoded[0]:>18.2f} {decoded[1]:>7.2f} "
                f"{cpu_per_message(ours_run):>12} {cpu_per_message(bare_run):>12}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
