"""Command lines: rcc_conductor, rcc_acquisition and the remote_control module, run as a user runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from conftest import DATA
from rpi_camera_colony import __version__, read_session_data
from rpi_camera_colony.testing import assert_session_complete, free_port

BIN = Path(sys.executable).parent


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "rcc_conductor"), "--help"],
        [str(BIN / "rcc_acquisition"), "--help"],
        [sys.executable, "-m", "rpi_camera_colony.acquisition", "--help"],
        [sys.executable, "-m", "rpi_camera_colony.acquisition.remote_control", "--help"],
        [sys.executable, "-m", "rpi_camera_colony.control.main", "--help"],
    ],
)
def test_help_works_anywhere(command: list[str]) -> None:
    result = run(*command)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    # found: "(default: ...) (default: None)" on some options; raw reStructuredText in rcc_deploy's help
    text = " ".join(result.stdout.split())
    assert "(default: None)" not in text and "(default: False)" not in text
    for option in text.split(" -"):
        assert option.count("(default:") <= 1, option
    assert "``" not in result.stdout and ":func:" not in result.stdout


def test_deploy_help_is_plain_text() -> None:
    result = run(str(BIN / "rcc_deploy"), "--help")
    assert result.returncode == 0 and "``" not in result.stdout and "rcc_deploy -c CONFIG:" in result.stdout


def test_remote_control_module_shows_every_option() -> None:
    """Found: its --help showed only --instance-name; it takes every rcc_conductor option and the original's
    --config_data-file / -f."""
    result = run(sys.executable, "-m", "rpi_camera_colony.acquisition.remote_control", "--help")
    for option in ("--instance-name", "--config_data-file", "-f CONFIG_FILE", "--acquisition-name", "--attach"):
        assert option in result.stdout, option


def test_agent_accepts_seed_arguments() -> None:
    result = run(str(BIN / "rcc_acquisition"), "--version")
    assert result.stdout.strip() == __version__
    help_text = run(str(BIN / "rcc_acquisition"), "--help").stdout
    for flag in (
        "-id",
        "-p",
        "-n",
        "-g",
        "-t",
        "-lip",
        "-lport",
        "-ll",
        "-cip",
        "-cport",
        "-a",
        "-fps",
        "-res",
        "-sip",
        "-sport",
    ):
        assert f"{flag} " in help_text or f"{flag}," in help_text, flag


def test_agent_alone_records_for_t_seconds_and_exits(tmp_path: Path) -> None:
    """The seed's `rcc_acquisition -a -t N`: record N seconds with no conductor, then the process exits; the group
    comes from 'group__name' as with the conductor."""
    import json

    agent = [
        str(BIN / "rcc_acquisition"), "-id", "cam_solo", "-p", str(tmp_path), "-fps", "30", "-res", "320", "240",
        "--camera-backend", "simulated", "--ttl-backend", "simulated", "--no-log-forwarding",
        "-cport", str(free_port()),
    ]  # fmt: skip
    result = run(*agent, "-a", "-t", "2", "-n", "solo__run", timeout=60)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "solo" / "solo__run"
    assert_session_complete(read_session_data(folder), ["cam_solo"], folder)
    metadata = json.loads(next(folder.glob("*.metadata.json")).read_text())
    assert metadata["stop_reason"] == "max_acquisition_time" and metadata["acquisition_group"] == "solo"
    bad = run(*agent, "-a", "-t", "2", "-n", "../escape", timeout=60)
    assert bad.returncode == 2 and "--acquisition-name '../escape' cannot be used in file names" in bad.stderr


def test_check_good_config() -> None:
    result = run(str(BIN / "rcc_conductor"), "-c", str(DATA / "example_640x480x90.config"), "--check")
    assert result.returncode == 0, result.stderr
    assert "camera_yellow_61: 640x480@90fps" in result.stdout


def test_check_broken_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.config"
    path.write_text("[controllers]\n  [[cam1]]\n    framerate = 200\n    framrate = 3\n")
    result = run(str(BIN / "rcc_conductor"), "--config-data-file", str(path), "--check")
    assert result.returncode == 2
    assert "controllers.cam1.framerate = 200: must be a whole number in 1..90" in result.stderr
    assert "did you mean 'framerate'" in result.stderr


def test_record_from_the_command_line(colony_config: Callable[..., Path], data_dir: Path) -> None:
    """Also found: the summary's last line, "timing report: rcc_report FOLDER", did not run when pasted into the shell
    that ran make demo (the virtual environment's commands are not on its PATH): it names the command's path then."""
    config = colony_config(cameras=2, framerate=30)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p).resolve() != BIN.resolve())
    result = subprocess.run(
        [str(BIN / "rcc_conductor"), "-c", str(config), "-n", "cli__run", "-t", "1.5", "--no-progress"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env={**os.environ, "PATH": path},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "camera " in result.stdout and "cam0 " in result.stdout and "cam1 " in result.stdout
    folder = data_dir / "cli" / "cli__run"
    assert f"files: {folder}" in result.stdout
    assert_session_complete(read_session_data(folder), ["cam0", "cam1"], folder)
    command = result.stdout.splitlines()[-1]
    assert command == f"timing report: {BIN / 'rcc_report'} {folder}"
    pasted = subprocess.run(command.split(": ", 1)[1], shell=True, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PATH": path})  # fmt: skip
    # it ran (1: something flagged, such as a slow clock sync on a busy machine; 127 would be "not found")
    assert pasted.returncode in (0, 1) and f"session: {folder}" in pasted.stdout, pasted.stderr


def test_remote_control_module_runs_one_camera(colony_config: Callable[..., Path], data_dir: Path) -> None:
    config = colony_config(cameras=3, framerate=30)
    result = run(
        sys.executable, "-m", "rpi_camera_colony.acquisition.remote_control",
        "-c", str(config), "--instance-name", "cam2", "-n", "one__cam", "-t", "1", "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(read_session_data(data_dir / "one" / "one__cam")) == ["cam2"]


def test_cli_reports_failed_camera(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=2, per_camera={"cam1": {"sim_fault": "fail_at_start"}})
    result = run(str(BIN / "rcc_conductor"), "-c", str(config), "-t", "1", "--no-progress")
    assert result.returncode == 1
    assert "cam1: simulated camera failure at start" in result.stderr


@pytest.mark.parametrize(
    ("target", "when"),
    [
        ("process group", "camera(s) recording"),
        ("conductor", "camera(s) recording"),
        ("process group", "] recording int__rupt"),  # while the start is being completed
        # before recording: nothing recorded, exit 130. The conductor says it listens before it starts the agents,
        # some 100s of ms before they can answer; a line from the agents (their configure) came too near the start
        # once commands got faster, and the Ctrl-C then came after the recording had begun.
        ("process group", "conductor listening"),
    ],
)
def test_ctrl_c_stops_and_keeps_files(
    colony_config: Callable[..., Path], data_dir: Path, target: str, when: str
) -> None:
    """Ctrl-C in a terminal sends SIGINT to the whole foreground process group: the conductor stops every camera,
    prints the summary and exits 0; the agents (in process groups of their own) are stopped by it, not by the signal.
    Found too: a Ctrl-C while the start was being completed left a lock held, and every stop timed out."""
    import json
    import signal

    config = colony_config(cameras=3, framerate=30)
    process = subprocess.Popen(
        [str(BIN / "rcc_conductor"), "-c", str(config), "-n", "int__rupt", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, as a shell makes for a foreground job
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for line in process.stderr:  # wait until the conductor says every camera records (or the start is on)
            if when in line:
                break
        if target == "process group":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in err and "failed" not in err, err
    folder = data_dir / "int" / "int__rupt"
    if when == "conductor listening":
        assert process.returncode == 130 and "nothing was recorded" in err and not folder.exists(), err
        return
    assert process.returncode == 0, err
    assert_session_complete(read_session_data(folder), ["cam0", "cam1", "cam2"], folder)
    for name in ("cam0", "cam1", "cam2"):
        assert re.search(rf"^{name} +stopped ", out, re.MULTILINE), out  # the summary table
        metadata = json.loads(next(folder.glob(f"*.{name}.*.metadata.json")).read_text())
        assert metadata["status"] == "stopped" and metadata["stop_reason"] != "agent shutdown"


def test_progress_into_a_pipe_is_plain_lines(colony_config: Callable[..., Path], data_dir: Path) -> None:
    """Found: the live frames line was written with carriage returns into pipes and log files."""
    config = colony_config(cameras=1, framerate=30)
    result = run(str(BIN / "rcc_conductor"), "-c", str(config), "-n", "pipe__run", "-t", "1")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "\r" not in result.stdout
    assert re.search(r"^recording 0\.\d/1 s \| frames cam0:\d+$", result.stderr, re.MULTILINE), result.stderr


def test_session_folder_is_absolute_for_cameras_on_this_machine(
    colony_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rpi_camera_colony.control.conductor import Conductor

    monkeypatch.chdir(tmp_path)  # the relative data path (and the log file beside it) land in the test's folder
    config = colony_config(cameras=1, data_path="relative_data")
    with Conductor(config_file=config, acquisition_name="a__b") as conductor:
        folder = conductor.session_folder()
    assert folder.is_absolute() and folder == Path.cwd() / "relative_data" / "a" / "a__b"


def test_bad_arguments() -> None:
    result = run(str(BIN / "rcc_conductor"), "-c", "/nonexistent.config", "-t", "1")
    assert result.returncode == 2 and "config file not found" in result.stderr
    result = run(str(BIN / "rcc_conductor"), "-c", str(DATA / "example.config"), "-t", "-3")
    assert result.returncode == 2 and "must be > 0" in result.stderr
    result = run(str(BIN / "rcc_conductor"), "-c", str(DATA / "example.config"), "-n", "../escape")
    assert result.returncode == 2 and "--acquisition-name '../escape' cannot be used in file names" in result.stderr
    env_check = run(str(BIN / "rcc_conductor"))
    assert env_check.returncode == 2 and "--config-file" in env_check.stderr
    assert os.environ.get("RCC_CAMERA_BACKEND") is None
