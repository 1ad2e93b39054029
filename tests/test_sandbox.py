"""The Conductor in its own process (rpi_camera_colony.control.process_sandbox)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from rpi_camera_colony.control.process_sandbox import ConductorAsProcess
from rpi_camera_colony.exc import ColonyError


def test_conductor_as_process_records(colony_config: Callable[..., Path]) -> None:
    sandbox = ConductorAsProcess(
        conductor_args={"config_file": str(colony_config(cameras=2)), "acquisition_name": "box__1"}
    )
    sandbox.start()
    first = sandbox.wait_started(timeout=60)
    assert sorted(first) == ["cam0", "cam1"]
    summaries = sandbox.stop(timeout=60)
    assert all(s["status"] == "stopped" and s["frames"] > 0 for s in summaries.values())
    assert not sandbox.is_alive()


def test_conductor_as_process_reports_failure(colony_config: Callable[..., Path]) -> None:
    config = colony_config(cameras=1, per_camera={"cam0": {"sim_fault": "fail_at_start"}})
    sandbox = ConductorAsProcess(conductor_args={"config_file": str(config)})
    sandbox.start()
    with pytest.raises(ColonyError, match="cam0: simulated camera failure"):
        sandbox.wait_started(timeout=60)
    sandbox.join(30)
    assert not sandbox.is_alive()
