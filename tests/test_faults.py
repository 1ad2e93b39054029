"""The fault suite: network outages on the SSH test bed (hosts in network namespaces), checked through the files.

A camera out of reach is not a stopped camera: its agent records on, the conductor waits for it, and the summary
says which cameras were out of reach and for how long.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Callable

import pytest

from conftest import BIN, bed_config
from rpi_camera_colony import read_session_data
from rpi_camera_colony.testing import (
    agent_children,
    assert_session_complete,
    free_port,
    process_running,
    read_frame_indices,
    wait_for,
)
from rpi_camera_colony.testing.testbed import SshTestBed


class Lines:
    """The lines a process writes to a stream, readable with a timeout (a reader thread fills a queue)."""

    def __init__(self, stream: object) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line)

    def wait_for(self, text: str, timeout: float) -> str:
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{text!r} not seen; lines so far:\n{''.join(self.seen)}") from None
            self.seen.append(line)
            if text in line:
                return line

    def rest(self) -> str:
        self._thread.join(timeout=30)
        while not self._queue.empty():
            self.seen.append(self._queue.get())
        return "".join(self.seen)


def record_on_the_bed(
    bed: SshTestBed, tmp_path: Path, cameras: int, name: str, seconds: int
) -> tuple[subprocess.Popen[str], Lines]:
    """``rcc_conductor -t SECONDS`` recording from the bed's first hosts, with its stderr readable line by line."""
    if not bed.use_namespaces:
        pytest.skip("cutting links needs the namespaces test bed")
    config = bed_config(bed, tmp_path, cameras=cameras, control={"heartbeat_interval": 0.2})
    command = [str(BIN / "rcc_conductor"), "-c", str(config), "--no-progress", "-n", name, "-t", str(seconds)]
    cli = subprocess.Popen(
        bed.command(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return cli, Lines(cli.stderr)


def test_every_link_cut_for_6_s_leaves_every_recording_whole(bed: SshTestBed, tmp_path: Path) -> None:
    cameras = 3
    cli, errors = record_on_the_bed(bed, tmp_path, cameras, "outage__all", 16)
    assert cli.stdout is not None
    try:
        errors.wait_for(f"all {cameras} camera(s) recording", timeout=60)
        threading.Event().wait(2)  # pacing: two seconds of normal recording first
        for index in range(cameras):
            bed.cut(index)
        try:
            threading.Event().wait(6)  # the fault: six seconds without any link
        finally:
            for index in range(cameras):
                bed.restore(index)
        out = cli.stdout.read()
        assert cli.wait(timeout=90) == 0, errors.rest()
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    log = errors.rest()
    folder = tmp_path / "data" / "outage" / "outage__all"
    names = [f"cam{i}" for i in range(cameras)]
    session = read_session_data(folder)
    assert_session_complete(session, names, folder)
    for name in names:
        assert f"{name}: lost" in log and f"{name}: re-attached" in log
        assert session[name]["metadata"]["duration_s"] > 15  # recorded to its planned end, not cut short
        frames = session[name]["timestamps.ttl.out"]["frame_index"].tolist()
        assert frames == list(range(frames[0], frames[0] + len(frames)))  # nothing missing through the outage
        assert read_frame_indices(folder / session[name]["video_file_h264"]) == frames
        row = next(line for line in out.splitlines() if line.startswith(name))
        assert row.split()[1] == "stopped"
        note = out.splitlines()[out.splitlines().index(row) + 1]
        assert "out of reach once" in note, out
        assert 5 < float(note.split(",")[1].split()[0]) < 12, note


@pytest.mark.parametrize("how", ["--attach", "--stop"])
def test_a_new_conductor_takes_over_after_a_crash(colony_config: Callable[..., Path], data_dir: Path, how: str) -> None:
    """The conductor is SIGKILLed mid-recording; its agents record on; a second one with the same config adopts
    their recording (--attach follows it to -t, --stop ends it at once) and the files are whole."""
    config = colony_config(cameras=2, framerate=30, control={"port": free_port()}, log={"port": free_port()})
    scratch = data_dir.parent / "tmp"  # the killed conductor cannot remove its agents' output folder: keep it here
    scratch.mkdir()
    first = subprocess.Popen(
        [str(BIN / "rcc_conductor"), "-c", str(config), "--no-progress", "-n", "crash__take", "-t", "120"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip
    errors = Lines(first.stderr)
    agents: list[int] = []
    try:
        errors.wait_for("all 2 camera(s) recording", timeout=60)
        agents = agent_children(first.pid)
        assert len(agents) == 2
        os.kill(first.pid, signal.SIGKILL)  # the crash
        first.wait(10)
        threading.Event().wait(1)  # pacing: the agents record a second with no conductor
        arguments = [how] if how == "--stop" else [how, "-t", "2"]
        second = subprocess.run(
            [str(BIN / "rcc_conductor"), "-c", str(config), "--no-progress", *arguments],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert second.returncode == 0, second.stderr
        assert "took over the recording crash__take of cam0, cam1" in second.stderr
        assert wait_for(lambda: not any(process_running(pid) for pid in agents), timeout=20), "agents left running"
    finally:
        for pid in agents:
            if process_running(pid):
                os.kill(pid, signal.SIGKILL)
        if first.poll() is None:
            first.kill()
            first.wait()
    folder = data_dir / "crash" / "crash__take"
    session = read_session_data(folder)
    assert_session_complete(session, ["cam0", "cam1"], folder)
    for name in ("cam0", "cam1"):
        meta = session[name]["metadata"]
        assert meta["stop_reason"] == "requested"  # stopped by the second conductor, not at max time
        assert meta["duration_s"] > (1 if how == "--stop" else 3)
        frames = session[name]["timestamps.ttl.out"]["frame_index"].tolist()
        assert frames == list(range(frames[0], frames[0] + len(frames)))
        assert read_frame_indices(folder / session[name]["video_file_h264"]) == frames
        row = next(line for line in second.stdout.splitlines() if line.startswith(name))
        assert row.split()[1] == "stopped"


def test_attaching_with_nothing_recording_says_so(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=1, control={"port": free_port(), "hello_timeout": 1.0}, log={"port": free_port()})
    done = subprocess.run(
        [str(BIN / "rcc_conductor"), "-c", str(config), "--attach"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no hello within 1 s (attaching: no agent of this camera is running" in done.stderr


def test_one_host_cut_for_60_s_comes_back_with_every_frame(bed: SshTestBed, tmp_path: Path) -> None:
    """A minute without a link: longer than every timeout on both sides (ZeroMQ heartbeats drop the connection,
    the agent rebuilds its socket); when the link is back the camera re-attaches and nothing was lost."""
    cli, errors = record_on_the_bed(bed, tmp_path, 2, "outage__long", 70)
    assert cli.stdout is not None
    try:
        errors.wait_for("all 2 camera(s) recording", timeout=60)
        bed.cut(1)
        try:
            errors.wait_for("cam1: lost", timeout=10)
            threading.Event().wait(60)  # the fault: a minute without cam1's link
        finally:
            bed.restore(1)
        errors.wait_for("cam1: re-attached", timeout=30)
        out = cli.stdout.read()
        assert cli.wait(timeout=90) == 0, errors.rest()
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    folder = tmp_path / "data" / "outage" / "outage__long"
    session = read_session_data(folder)
    assert_session_complete(session, ["cam0", "cam1"], folder)
    frames = session["cam1"]["timestamps.ttl.out"]["frame_index"].tolist()
    assert frames == list(range(frames[0], frames[0] + len(frames))) and len(frames) > 65 * 30
    assert read_frame_indices(folder / session["cam1"]["video_file_h264"]) == frames
    note = out.splitlines()[out.splitlines().index(next(x for x in out.splitlines() if x.startswith("cam1"))) + 1]
    assert "out of reach once" in note and float(note.split(",")[1].split()[0]) > 59, note
