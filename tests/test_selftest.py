"""``rcc_acquisition --selftest``: passes on this machine, fails naming the problem on a full disk or a busy pin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import gpiozero
from gpiozero.pins.mock import MockFactory

from rpi_camera_colony.acquisition.backends import BackendFactory
from rpi_camera_colony.acquisition.selftest import FAIL, OK, Check, SelftestOptions, exit_code, report, run_selftest
from rpi_camera_colony.config import controller_from_dict
from rpi_camera_colony.testing.fakes import installed


def selftest_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "rpi_camera_colony.acquisition", "--selftest", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def line(output: str, name: str) -> str:
    return next(text for text in output.splitlines() if text[8:].startswith(name))


def test_selftest_passes_here_with_the_simulated_backends(tmp_path: Path) -> None:
    done = selftest_cli("--data-path", str(tmp_path), "-fps", "30", "-res", "320", "240", "--selftest-seconds", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.rstrip().splitlines()[-1].startswith("selftest PASSED")
    assert line(out, "backends").split()[0] == OK and "simulated" in line(out, "backends")
    frames = line(out, "frames")
    assert frames.split()[0] == OK and " 0 dropped" in frames
    assert line(out, "decode").split()[0] == OK and "320x240" in line(out, "decode")
    assert line(out, "ttl out").split()[0] == OK
    assert list(tmp_path.iterdir()) == []  # the test recording is removed unless --keep


def test_selftest_keeps_the_recording_when_asked(tmp_path: Path) -> None:
    done = selftest_cli("--data-path", str(tmp_path), "-res", "320", "240", "--selftest-seconds", "0.5", "--keep")
    assert done.returncode == 0, done.stdout + done.stderr
    kept = Path(line(done.stdout, "kept").split(None, 2)[2])
    assert kept.is_dir() and len(list(kept.glob("*.rcc.video.h264"))) == 1


def test_selftest_fails_on_a_full_disk(small_disk: Callable[[str], Path]) -> None:
    disk = small_disk("8m")
    done = selftest_cli("--data-path", str(disk / "data"), "-res", "320", "240")
    assert done.returncode == 1, done.stdout + done.stderr
    disk_line = line(done.stdout, "disk")
    assert disk_line.split()[0] == FAIL and "needed" in disk_line and str(disk) in disk_line
    assert "free space on the data disk" in done.stdout
    assert line(done.stdout, "recording").split()[0] == FAIL
    assert done.stdout.rstrip().splitlines()[-1].startswith("selftest FAILED")


def selftest_with_mock_pins(tmp_path: Path, factory: MockFactory) -> list[Check]:
    """The selftest in this process, TTL lines through the real gpiozero on its MockFactory."""
    options = SelftestOptions(
        settings=controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "320x240"}),
        data_path=str(tmp_path),
        seconds=0.5,
        ttl_backend="gpiozero",
    )
    return run_selftest(options, backend_factory=BackendFactory(gpio_pin_factory=factory))


def test_selftest_fails_on_a_busy_ttl_pin(tmp_path: Path) -> None:
    factory = MockFactory()
    holder = gpiozero.DigitalOutputDevice("BOARD8", pin_factory=factory)  # another program has the TTL out pin
    try:
        checks = selftest_with_mock_pins(tmp_path, factory)
    finally:
        holder.close()
        factory.close()
    assert exit_code(checks) == 1
    pins = next(check for check in checks if check.name == "ttl pins")
    assert pins.status == FAIL and "GPIOPinInUse" in pins.detail and "GPIO14" in pins.detail
    assert "free the pins" in pins.fix
    assert next(check for check in checks if check.name == "recording").detail == "not attempted"
    assert "FAIL  ttl pins" in report(checks)


def test_selftest_with_gpiozero_records_a_pulse_per_frame(tmp_path: Path) -> None:
    factory = MockFactory()
    try:
        checks = selftest_with_mock_pins(tmp_path, factory)
        states = [state.state for state in factory.pin(14).states]
    finally:
        factory.close()
    assert exit_code(checks) == 0, report(checks)
    ttl_out = next(check for check in checks if check.name == "ttl out")
    frames = int(ttl_out.detail.split()[-2])
    assert sum(1 for a, b in zip(states, states[1:]) if b and not a) == frames


def test_selftest_with_an_unknown_camera_in_the_config_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "colony.config"
    config.write_text("[controllers]\n[[cam0]]\n")
    done = selftest_cli("-c", str(config), "--instance-name", "cam9")
    assert done.returncode == 2
    assert "no camera 'cam9'" in done.stderr and "cam0" in done.stderr


def test_selftest_on_a_faked_pi5_with_the_real_picamera2(tmp_path: Path) -> None:
    """The selftest's picamera2 lines through the real picamera2 on the fake libcamera (an HQ camera on a Pi 5)."""
    factory = MockFactory(revision="d04170")  # a Raspberry Pi 5's board revision
    try:
        with installed("picamera2", platform="pisp"):
            options = SelftestOptions(
                settings=controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "640x480"}),
                data_path=str(tmp_path),
                seconds=1.0,
                camera_backend="picamera2",
                ttl_backend="gpiozero",
            )
            checks = run_selftest(options, backend_factory=BackendFactory(gpio_pin_factory=factory))
    finally:
        factory.close()
    text = report(checks)
    assert exit_code(checks) == 0, text
    by_name = {check.name: check for check in checks}
    assert "imx477" in by_name["camera"].detail
    assert "2028x1520@" in by_name["modes"].detail and by_name["modes"].status == OK
    assert "LibavH264Encoder" in by_name["encoder"].detail
    assert by_name["decode"].status == OK and "640x480" in by_name["decode"].detail
    assert "(encoder target; measured" in by_name["disk time"].detail  # picamera2 aims at a bit rate


def test_selftest_names_what_a_faked_pi4_lacks(tmp_path: Path) -> None:
    """On a Pi 4 the hardware encoder's device must exist; off a Pi it does not, and the selftest says so."""
    with installed("picamera2", platform="vc4"):
        options = SelftestOptions(
            settings=controller_from_dict({"name": "cam0", "framerate": 30, "resolution": "4096x3072"}),
            data_path=str(tmp_path),
            camera_backend="picamera2",
        )
        checks = run_selftest(options)
    by_name = {check.name: check for check in checks}
    assert exit_code(checks) == 1
    assert by_name["encoder"].status == FAIL and "/dev/video11 is missing" in by_name["encoder"].detail
    assert by_name["modes"].status == FAIL and "none gives 4096x3072 at 30 fps" in by_name["modes"].detail


def test_selftest_reports_missing_libraries_and_an_unusable_data_path_as_lines() -> None:
    """What a half-set-up Pi shows: no crash, one FAIL line each with what to do (found by a newcomer's trial)."""
    done = selftest_cli("--camera-backend", "picamera", "--ttl-backend", "gpiozero", "--data-path", "/proc/rcc-nope")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout
    assert line(out, "camera").split()[0] == FAIL and "picamera is not installed" in line(out, "camera")
    assert "legacy camera stack" in out
    pins = line(out, "ttl pins")
    assert pins.split()[0] == FAIL and "not any of lgpio, RPi.GPIO, pigpio" in pins and "python3-lgpio" in out
    assert line(out, "data path").split()[0] == FAIL and "cannot write in /proc/rcc-nope" in line(out, "data path")
    assert line(out, "recording").split()[2:] == ["not", "attempted"]


def test_selftest_names_what_it_tests_and_the_options_that_are_wrong(tmp_path: Path) -> None:
    done = selftest_cli("-id", "cam_x", "-res", "641", "480")
    assert done.returncode == 2
    assert done.stderr.startswith("rcc_acquisition: -res = 641, 480: must be") and "<dict>" not in done.stderr
    done = selftest_cli("-id", "cam_x", "--data-path", str(tmp_path), "-res", "320", "240", "--selftest-seconds", "0.5")
    assert done.returncode == 0, done.stdout
    header = done.stdout.splitlines()[1]
    assert header == f"  camera 'cam_x': 320x240 @ 30 fps, TTL out 8 / in 16, 0.5 s test recording in {tmp_path}"
