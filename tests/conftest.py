"""Shared fixtures. Every test checks that it left no agent process behind."""

from __future__ import annotations

import os
import shutil
import signal
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
