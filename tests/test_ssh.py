"""Remote launch over real SSH to hosts in network namespaces (or loopback when namespaces are not permitted)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, bed_config, conduct
from rpi_camera_colony import __version__, read_session_data
from rpi_camera_colony.testing import (
    assert_session_complete,
    process_running,
    read_frame_indices,
)
from rpi_camera_colony.testing.testbed import SshTestBed


def test_four_hosts_record_over_ssh(bed: SshTestBed, tmp_path: Path) -> None:
    result = conduct(bed, bed_config(bed, tmp_path), "-n", "ssh__four", "-t", "2")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "data" / "ssh" / "ssh__four"
    names = [f"cam{i}" for i in range(4)]
    session = read_session_data(folder)
    assert_session_complete(session, names, folder)
    for i, name in enumerate(names):
        frames = session[name]["timestamps.ttl.out"]["frame_index"].tolist()
        assert len(frames) >= 50
        assert read_frame_indices(folder / session[name]["video_file_h264"]) == frames
        if bed.use_namespaces:  # each agent really ran on its own host, seen from the conductor
            assert f"[{name}]" in result.stderr
        assert session[name]["metadata"]["settings"]["address"] == bed.hosts[i].address


def test_every_launch_failure_is_named(bed: SshTestBed, tmp_path: Path) -> None:
    absent = "10.99.0.99" if bed.use_namespaces else "127.0.0.99"
    config = bed_config(bed, tmp_path, cameras=3, per_camera={"cam0": {"address": absent}})
    # cam1's host refuses the login: the only key offered to it is not in its authorized_keys
    config.write_text(config.read_text().replace(str(bed.ssh_config), str(_config_with_bad_user(bed, tmp_path))))
    result = conduct(bed, config, "-t", "1")
    assert result.returncode == 1
    assert "'connect' failed on 2 camera(s)" in result.stderr, result.stderr
    assert "cam0: could not start the agent: host" in result.stderr and "unreachable" in result.stderr
    assert "cam1: could not start the agent: SSH authentication refused" in result.stderr


def _config_with_bad_user(bed: SshTestBed, tmp_path: Path) -> Path:
    """The bed's ssh config, with host1 offered only a key that its sshd does not accept."""
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True, timeout=30)
    blocks = bed.ssh_config.read_text().split("Host ")
    for i, block in enumerate(blocks):
        if block.startswith(f"{bed.hosts[1].address}\n"):
            blocks[i] = block.replace(str(bed.user_key), str(stranger))
    path = tmp_path / "ssh_config_bad_key"
    path.write_text("Host ".join(blocks))
    return path


def test_interpreter_missing(bed: SshTestBed, tmp_path: Path) -> None:
    config = bed_config(bed, tmp_path, cameras=1, general={"remote_python_interpreter": "/opt/nowhere/python3"})
    result = conduct(bed, config, "-t", "1")
    assert result.returncode == 1
    assert "cam0: could not start the agent on" in result.stderr
    assert "interpreter /opt/nowhere/python3 not found" in result.stderr


def test_package_missing(bed: SshTestBed, tmp_path: Path) -> None:
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nPYTHONNOUSERSITE=1 PYTHONPATH= exec {sys.base_prefix}/bin/python3 -I "$@"\n')
    bare.chmod(0o755)
    probe = subprocess.run([str(bare), "-c", "import rpi_camera_colony"], capture_output=True, timeout=30)
    if probe.returncode == 0:
        pytest.skip("the base interpreter has rpi_camera_colony installed")
    config = bed_config(bed, tmp_path, cameras=1, general={"remote_python_interpreter": str(bare)})
    result = conduct(bed, config, "-t", "1")
    assert result.returncode == 1
    assert "package missing on" in result.stderr and "No module named 'rpi_camera_colony'" in result.stderr


def test_version_mismatch_names_both_versions(bed: SshTestBed, tmp_path: Path) -> None:
    import rpi_camera_colony

    other = tmp_path / "other-install"
    shutil.copytree(Path(rpi_camera_colony.__file__).parent, other / "rpi_camera_colony")
    init = other / "rpi_camera_colony" / "__init__.py"
    init.write_text(init.read_text().replace(f'__version__ = "{__version__}"', '__version__ = "0.4.99"'))
    wrapper = tmp_path / "other-python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={other} exec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    config = bed_config(bed, tmp_path, cameras=2, per_camera={}, general={"remote_python_interpreter": str(wrapper)})
    result = conduct(bed, config, "-t", "1")
    assert result.returncode == 1
    assert "runs rpi_camera_colony 0.4.99 on" in result.stderr and f"this conductor runs {__version__}" in result.stderr
    assert "rcc_deploy" in result.stderr


def test_agent_crash_at_start_shows_its_output(bed: SshTestBed, tmp_path: Path) -> None:
    config = bed_config(
        bed, tmp_path, cameras=1, general={"remote_python_entrypoint": "rpi_camera_colony.no_such_module"}
    )
    result = conduct(bed, config, "-t", "1")
    assert result.returncode == 1
    assert "cam0: agent process exited with code 1" in result.stderr
    assert "No module named rpi_camera_colony.no_such_module" in result.stderr


DROPPED_SSH_DRIVER = """
import json, logging, os, signal, sys, threading
from rpi_camera_colony.control.conductor import Conductor
logging.basicConfig(level=logging.WARNING)
with Conductor(config_file=sys.argv[1]) as conductor:
    conductor.start_acquisition()
    ssh_pids = {name: p.ssh_pid for name, p in conductor._processes.items()}
    for pid in ssh_pids.values():
        os.kill(pid, signal.SIGKILL)          # the SSH connections drop mid-recording
    threading.Event().wait(2.0)
    status = {n: s.state for n, s in conductor.status().items()}
    summaries = conductor.stop_acquisition()
print(json.dumps({"status": status, "summaries": summaries}))
"""


def test_dropped_ssh_connection_does_not_stop_recording(bed: SshTestBed, tmp_path: Path) -> None:
    config = bed_config(bed, tmp_path, cameras=2)
    command = bed.command([sys.executable, "-c", DROPPED_SSH_DRIVER, str(config)])
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == {"cam0": "recording", "cam1": "recording"}
    assert "keeps running" in result.stderr
    folder = tmp_path / "data" / "test" / "test__session"
    session = read_session_data(folder)
    assert_session_complete(session, ["cam0", "cam1"], folder)
    for name in ("cam0", "cam1"):
        assert report["summaries"][name]["frames"] >= 60  # > 2 s at 30 fps: recording went on without SSH


STALE_DRIVER = """
import os, sys
from rpi_camera_colony.control.conductor import Conductor
conductor = Conductor(config_file=sys.argv[1])
print(" ".join(str(p.pid) for p in conductor._processes.values()), flush=True)
os._exit(3)  # the conductor dies; its agents stay behind on the hosts
"""


def test_stale_agent_is_found_and_replaced(bed: SshTestBed, tmp_path: Path) -> None:
    config = bed_config(bed, tmp_path, cameras=2)
    first = subprocess.run(
        bed.command([sys.executable, "-c", STALE_DRIVER, str(config)]), capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 3, first.stderr
    stale = [int(p) for p in first.stdout.split()]
    assert all(Path(f"/proc/{pid}").exists() for pid in stale)
    result = conduct(bed, config, "-t", "1")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("stopped a stale agent") == 2
    assert not any(process_running(pid) for pid in stale)


def test_loopback_fallback_bed(tmp_path: Path) -> None:
    """The fallback for machines without namespaces: one sshd on loopback, hosts at 127.0.0.x."""
    if not Path("/usr/sbin/sshd").exists():
        pytest.skip("sshd is not installed")
    with SshTestBed(tmp_path / "loopbed", 2, namespaces=False) as loop:
        config = bed_config(loop, tmp_path, cameras=2)
        result = conduct(loop, config, "-t", "1")
        assert result.returncode == 0, result.stderr
        assert loop.kill_agents() == []
    assert os.path.isdir(tmp_path / "data" / "test" / "test__session")


def test_deploy_installs_this_version_and_reports_each_host(bed: SshTestBed, tmp_path: Path) -> None:
    import sysconfig

    pi_env = tmp_path / "pi-env"  # the Pi's own environment, reached only over SSH
    subprocess.run([sys.executable, "-m", "venv", str(pi_env)], check=True, timeout=300)
    site = next((pi_env / "lib").glob("python3*/site-packages"))
    (site / "rcc_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # numpy, zmq, av: offline Pi
    python = pi_env / "bin" / "python"
    absent = "10.99.0.99" if bed.use_namespaces else "127.0.0.99"
    interpreter = {"remote_python_interpreter": str(python)}
    keys = {"curve": True, "key_folder": str(tmp_path / "keys")}  # deployed to the Pi, then used over SSH
    config = bed_config(
        bed, tmp_path, cameras=2, per_camera={"cam1": {"address": absent}}, general=interpreter, control=keys
    )
    result = subprocess.run(
        bed.command([str(BIN / "rcc_deploy"), "-c", str(config), "--no-deps"]),
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if "@" in line.split()[0]}
    good = rows[f"{bed.user}@{bed.hosts[0].address}"]
    assert " ok " in good and __version__ in good
    assert "FAILED" in rows[f"{bed.user}@{absent}"] and "unreachable" in rows[f"{bed.user}@{absent}"]
    where = subprocess.run(
        [str(python), "-c", "import rpi_camera_colony as r; print(r.__version__, r.__file__)"],
        capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path,
    ).stdout.split()  # fmt: skip
    assert where[0] == __version__ and where[1].startswith(str(pi_env))
    assert (tmp_path / "keys" / "cam0.key_secret").stat().st_size > 0  # the key survived being copied onto itself
    recorded = conduct(bed, config, "--camera", "cam0", "-t", "1")  # encrypted, with the deployed keys
    assert recorded.returncode == 0, recorded.stderr


CUT_DRIVER = """
import json, logging, sys, threading, time
from rpi_camera_colony.control.conductor import Conductor
logging.basicConfig(level=logging.WARNING)
tick = threading.Event()

def wait_for(state, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if conductor.status()["cam1"].state == state:
            return True
        tick.wait(0.05)
    return False

with Conductor(config_file=sys.argv[1]) as conductor:
    conductor.start_acquisition()
    print("started", flush=True); sys.stdin.readline()      # the test unplugs cam1's host
    print("lost" if wait_for("lost") else "not-lost", flush=True); sys.stdin.readline()   # ... and plugs it back
    print("back" if wait_for("recording") else "not-back", flush=True)
    summaries = conductor.stop_acquisition()
print(json.dumps(summaries))
"""


def test_cut_network_marks_camera_lost_and_recording_survives(bed: SshTestBed, tmp_path: Path) -> None:
    if not bed.use_namespaces:
        pytest.skip("cutting a link needs the namespaces test bed")
    config = bed_config(bed, tmp_path, cameras=2, control={"heartbeat_interval": 0.2})
    driver = subprocess.Popen(
        bed.command([sys.executable, "-c", CUT_DRIVER, str(config)]),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert driver.stdin is not None and driver.stdout is not None
    try:
        assert driver.stdout.readline().strip() == "started"
        bed.cut(1)
        try:
            driver.stdin.write("\n")
            driver.stdin.flush()
            assert driver.stdout.readline().strip() == "lost"
        finally:
            bed.restore(1)
        driver.stdin.write("\n")
        driver.stdin.flush()
        assert driver.stdout.readline().strip() == "back"
        out, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 0, err
    assert "cam1: lost" in err and "cam1: re-attached" in err
    summaries = json.loads(out.strip().splitlines()[-1])
    folder = tmp_path / "data" / "test" / "test__session"
    session = read_session_data(folder)
    assert_session_complete(session, ["cam0", "cam1"], folder)
    # The agent kept recording while unplugged: no frame is missing from its files.
    frames = session["cam1"]["timestamps.ttl.out"]["frame_index"].tolist()
    assert frames == list(range(frames[0], frames[0] + len(frames))) and summaries["cam1"]["dropped"] == 0
