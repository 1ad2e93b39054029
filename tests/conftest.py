"""Shared fixtures. Every test checks that it left no agent process behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from rpi_camera_colony.testing import agent_children, write_simulated_config

DATA = Path(__file__).parent / "data"
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
