"""Shared fixtures. Every test checks that it left no agent process behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from rpi_camera_colony.testing import agent_children, write_simulated_config
from rpi_camera_colony.testing.testbed import SshTestBed, namespaces_available

DATA = Path(__file__).parent / "data"
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """Path of a system tool; skip without it on a laptop, fail in CI (which must install it)."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (.ci/run installs it) but was not found")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(autouse=True)
def no_leftover_agents() -> Iterator[None]:
    yield
    left = agent_children()
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"agent processes outlived the test: {left}"


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshTestBed]:
    for tool in ("ssh", "ssh-keygen"):
        require_tool(tool)
    if not Path("/usr/sbin/sshd").exists():
        if IN_CI:
            pytest.fail("sshd is required in CI (.ci/run installs openssh-server)")
        pytest.skip("sshd is not installed")
    use_namespaces = namespaces_available()
    if IN_CI and not use_namespaces:
        pytest.fail("CI runs as root and must use network namespaces for the SSH test bed")
    with SshTestBed(tmp_path_factory.mktemp("bed"), 4, namespaces=use_namespaces) as testbed:
        yield testbed


@pytest.fixture(autouse=True)
def end_bed_agents(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the SSH test bed: no agent left on its hosts (the bed is built only for those tests)."""
    bed = request.getfixturevalue("bed") if "bed" in request.fixturenames else None
    yield
    if bed is not None:
        left = bed.kill_agents()
        assert not left, f"agents left running on the test hosts: {left}"


def bed_config(bed: SshTestBed, tmp_path: Path, *, cameras: int = 4, general: dict[str, Any] | None = None,
               per_camera: dict[str, dict[str, Any]] | None = None, control: dict[str, Any] | None = None,
               **options: Any) -> Path:  # fmt: skip
    hosts = {f"cam{i}": {"address": bed.hosts[i].address, "launcher": "ssh"} for i in range(cameras)}
    for name, extra in (per_camera or {}).items():
        hosts.setdefault(name, {}).update(extra)
    return write_simulated_config(
        tmp_path / "bed.config",
        data_path=tmp_path / "data",
        cameras=cameras,
        framerate=30,
        general={
            "rpi_username": bed.user,
            "remote_python_interpreter": sys.executable,
            "ssh_config_file": str(bed.ssh_config),
            **(general or {}),
        },
        log={"address": bed.central_address},
        control={"address": bed.central_address, "hello_timeout": 20.0, **(control or {})},
        per_camera=hosts,
        **options,
    )


def run_without(module: str, main: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``main(args)`` (``package.module:function``, a command line's entry) in a fresh interpreter in which
    ``module`` cannot be imported, as on a machine without that optional package."""
    where, _, function = main.partition(":")
    script = (
        f"import sys; sys.modules[{module!r}] = None\nfrom {where} import {function}\nsys.exit({function}({args!r}))\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def copy_camera(session: Path, camera: str, dest: Path) -> Path:
    """A copy of one camera's files of a recorded session in ``dest`` (made if needed), to damage in a test."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in session.glob(f"*.{camera}.*.rcc.*"):
        shutil.copy(path, dest / path.name)
    return dest


def conduct(bed: SshTestBed, config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = bed.command([str(BIN / "rcc_conductor"), "-c", str(config), "--no-progress", *args])
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Factory: ``small_disk("160k")`` mounts a tmpfs of that size (root only; CI runs as root) and returns it.

    On teardown it must unmount cleanly: a file left open on it fails the test.
    """
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"small-disk-{len(mounts)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
        )
        if done.returncode != 0:
            if IN_CI:
                pytest.fail(f"CI runs as root and must be able to mount a tmpfs: {done.stderr}")
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        unmounted = subprocess.run(["umount", str(folder)], capture_output=True, text=True)
        assert unmounted.returncode == 0, f"files left open on the small disk: {unmounted.stderr}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def colony_config(tmp_path: Path, data_dir: Path) -> Callable[..., Path]:
    """Factory: ``colony_config(cameras=4, **options)`` writes a simulated colony config (rpi_camera_colony.testing)."""

    def make(**options: Any) -> Path:
        options.setdefault("data_path", data_dir)
        return write_simulated_config(tmp_path / "colony.config", **options)

    return make


#: The flags a headless Chromium needs on a machine without network: no calls home, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A page of Debian's chromium, driven by Playwright (which cannot download its own browser here)."""
    executable = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1500, "height": 760})
        finally:
            browser.close()


@pytest.fixture
def stalled_session(colony_config: Callable[..., Path]) -> Path:
    """A recording of two cameras at 30 fps; cam1's encoder stalls once (20 frame periods): its frames have a gap."""
    import time

    from rpi_camera_colony.control.conductor import Conductor

    config = colony_config(cameras=2, framerate=30, per_camera={"cam1": {"sim_fault": "stall"}})
    with Conductor(config_file=str(config), acquisition_name="conv__stall") as conductor:
        conductor.start_acquisition()
        end = time.monotonic() + 3.0
        while time.monotonic() < end and all(s.frames < 80 for s in conductor.status().values()):
            time.sleep(0.1)  # pacing the recording under test
        summaries = conductor.stop_acquisition()
        folder = conductor.session_folder()
    assert summaries["cam1"]["dropped"] > 0
    return folder
