"""The Conductor in its own process (rpi_camera_colony.control.process_sandbox)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from rpi_camera_colony.control.process_sandbox import ConductorAsProcess
from rpi_camera_colony.exc import ColonyCommandError, ColonyError


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
    with pytest.raises(ColonyError, match="cam0: simulated camera failure") as caught:
        sandbox.wait_started(timeout=60)
    # the conductor's own exception, with its fields and the child's traceback
    assert isinstance(caught.value, ColonyCommandError) and set(caught.value.failures) == {"cam0"}
    assert any("in the conductor process" in note for note in caught.value.__notes__)
    sandbox.join(30)
    assert not sandbox.is_alive()


def test_errors_cross_processes_with_their_type_and_fields() -> None:
    """What the child raises reaches the parent as itself (not a string): every error of the tree pickles."""
    import pickle

    from rpi_camera_colony.exc import AgentExited, CameraError, ColonyCommandError, ConfigError

    errors = [
        ConfigError(["general.x = 1: must be text"], source="a.config"),
        AgentExited("cam1", 70, "Traceback ...\nBackendError: boom"),
        ColonyCommandError("start", {"cam0": CameraError("cam0", "no camera"), "cam1": AgentExited("cam1", 1)}),
    ]
    for err in errors:
        err.add_note("a note")
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err) and str(copy) == str(err) and copy.__notes__ == ["a note"]
    assert pickle.loads(pickle.dumps(errors[1])).returncode == 70
    failures = pickle.loads(pickle.dumps(errors[2])).failures
    assert isinstance(failures["cam1"], AgentExited) and failures["cam0"].camera == "cam0"
    assert pickle.loads(pickle.dumps(errors[0])).problems == ("general.x = 1: must be text",)
