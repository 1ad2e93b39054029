"""Configuration: the original files load unchanged; every broken value is reported at once, by name."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from conftest import DATA
from rpi_camera_colony.config import ControllerSettings, controller_from_dict, load_config
from rpi_camera_colony.exc import ConfigError


def test_seed_example_loads() -> None:
    settings = load_config(DATA / "example.config")
    cam = settings.controllers["camera_red_60"]
    assert cam.resolution == (640, 480) and cam.color_effects == (128, 128) and cam.framerate == 90
    assert cam.stream_video is True and cam.stream_port == 8001 and cam.ttl_channel_external == 3
    assert settings.log.level == "INFO" and settings.log.address == "192.168.0.22"
    assert settings.general.max_acquisition_time == 7200
    assert settings.warnings == ()  # the live stream it asks for is served (test_compat)


def test_seed_three_camera_example_loads() -> None:
    settings = load_config(DATA / "example_640x480x90.config")
    assert list(settings.controllers) == ["camera_red_60", "camera_yellow_61", "camera_blue_62"]
    assert settings.controllers["camera_yellow_61"].address == "192.168.100.61"
    assert all(c.resolution == (640, 480) and c.color_effects == (128, 128) for c in settings.controllers.values())
    # keys absent from the file take the original spec's defaults
    blue = settings.controllers["camera_blue_62"]
    assert (blue.ttl_in_pin, blue.ttl_out_pin, blue.ttl_out_duration) == (16, 8, 0.001)
    assert blue.brightness == 50 and blue.zoom == (0.0, 0.0, 1.0, 1.0)
    assert settings.general.general_settings_to_patch_into_controller == (
        "save_data",
        "acquisition_time",
        "acquisition_group",
    )


def _config(tmp_path: Path, controller: str, general: str = "") -> Path:
    path = tmp_path / "c.config"
    path.write_text(f"[general]\n{general}\n[controllers]\n    [[cam1]]\n{controller}\n")
    return path


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("framerate = 200", "controllers.cam1.framerate = 200: must be a whole number in 1..90"),
        ("framerate = fast", "controllers.cam1.framerate = fast: must be a whole number in 1..90"),
        ("resolution = 641x480", "controllers.cam1.resolution = 641x480: must be WIDTHxHEIGHT"),
        ("resolution = 640", "controllers.cam1.resolution = 640: must be WIDTHxHEIGHT"),
        ("color_effects = 1, 2, 3", "controllers.cam1.color_effects = 1, 2, 3: must be two whole numbers in 0..255"),
        ("zoom = 0, 0, 2, 1", "controllers.cam1.zoom = 0, 0, 2, 1: must be four numbers in 0.0..1.0"),
        ("vflip = maybe", "controllers.cam1.vflip = maybe: must be True or False"),
        ("address = 300.1.1.1", "controllers.cam1.address = 300.1.1.1: must be an IP address or host name"),
        ("camera_backend = webcam", "controllers.cam1.camera_backend = webcam: must be one of 'auto'"),
        ("ttl_out_pin = 99", "controllers.cam1.ttl_out_pin = 99: must be a whole number in -1..40"),
        ("stream_port = 70000", "controllers.cam1.stream_port = 70000: must be a whole number in 0..65535"),
    ],
)
def test_broken_controller_values(tmp_path: Path, line: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, f"        {line}"))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(expected), caught.value.problems[0]
    assert str(tmp_path / "c.config") in str(caught.value)


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "c.config"
    path.write_text(
        "[general]\n  max_acquisition_time = 9000\n[log]\n  level = LOUD\n  port = -1\n"
        "[controllers]\n  [[cam1]]\n    framerate = 0\n  [[cam 2]]\n    iso = 5000\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = "\n".join(caught.value.problems)
    for fragment in (
        "general.max_acquisition_time = 9000",
        "log.level = LOUD",
        "log.port = -1",
        "controllers.cam1.framerate = 0",
        "controllers.cam 2.iso = 5000",
        "controllers.cam 2: camera names may only hold",
    ):
        assert fragment in problems
    assert len(caught.value.problems) == 6
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[general]\n  acquisition_name = x\n", "no cameras configured"),
        ("[general\n", "line 1"),
        ("[controllers]\n  [[a]]\n    framerate = 30\n    framerate = 60\n", "Duplicate keyword"),
        (
            "[general]\n  general_settings_to_patch_into_controller = save_data, framerate\n[controllers]\n  [[a]]\n",
            "framerate: must name keys",
        ),
    ],
)
def test_structural_problems(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "c.config"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.config")
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_config(tmp_path)


def test_misspelt_key_is_an_error_and_other_unknown_keys_are_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found: `framrate = 30` was only warned about, and the camera recorded at the default 90 fps."""
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, "        framrate = 30", general="    acquisiton_name = x"))
    problems = caught.value.problems
    assert "controllers.cam1.framrate: unknown key, did you mean 'framerate'?" in problems[1]
    assert "general.acquisiton_name: unknown key, did you mean 'acquisition_name'?" in problems[0]
    with caplog.at_level(logging.WARNING):
        settings = load_config(_config(tmp_path, "        mouse_strain = C57", general="    operator = kim"))
    assert any("controllers.cam1.mouse_strain" in w and "is ignored" in w for w in settings.warnings)
    assert any("general.operator" in w for w in settings.warnings) and "mouse_strain" in caplog.text


def test_picamera_extras_pass_through(tmp_path: Path) -> None:
    settings = load_config(_config(tmp_path, "        awb_mode = off\n        shutter_speed = 8000"))
    assert dict(settings.controllers["cam1"].camera_extras) == {"awb_mode": "off", "shutter_speed": "8000"}
    assert settings.warnings == ()


def test_resolution_and_pair_spellings(tmp_path: Path) -> None:
    for text, expected in (("640x480", (640, 480)), ("640, 480", (640, 480)), ("(1280, 720)", (1280, 720))):
        assert load_config(_config(tmp_path, f"        resolution = {text}")).controllers["cam1"].resolution == expected
    assert load_config(_config(tmp_path, "        color_effects = None")).controllers["cam1"].color_effects is None


def test_group_from_name_and_patching(tmp_path: Path) -> None:
    settings = load_config(
        _config(tmp_path, "        save_data = True", general="    acquisition_name = m1__s1\n    save_data = False")
    )
    assert settings.general.group == "m1"
    assert settings.controllers["cam1"].save_data is False  # general has priority (the default)
    settings = load_config(
        _config(
            tmp_path,
            "        save_data = True",
            general="    save_data = False\n    general_setting_has_priority = False",
        )
    )
    assert settings.controllers["cam1"].save_data is True


def test_new_keys_have_defaults() -> None:
    settings = load_config({"controllers": {"cam": {}}})
    cam = settings.controllers["cam"]
    assert (cam.camera_backend, cam.ttl_backend, cam.launcher, cam.sim_fault) == ("auto", "auto", "auto", "none")
    assert settings.control.hello_timeout > 0 and settings.control.heartbeat_interval == 0.5


def test_settings_are_frozen_and_round_trip() -> None:
    cam = load_config({"controllers": {"cam": {"resolution": "320x240", "awb_mode": "off"}}}).controllers["cam"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cam.framerate = 30  # type: ignore[misc]
    again = controller_from_dict(cam.to_dict())
    assert again == cam
    assert isinstance(again, ControllerSettings)


def test_only_unknown_camera(tmp_path: Path) -> None:
    settings = load_config(DATA / "example.config")
    with pytest.raises(ConfigError, match="no such camera"):
        settings.only(["camera_nope"])


def test_a_single_value_is_a_list_of_one(tmp_path: Path) -> None:
    """Found: the README's own `ssh_options = Port=2222` was refused; it worked only with a trailing comma."""
    one = load_config(_config(tmp_path, "", general="ssh_options = Port=2222"))
    assert one.general.ssh_options == ("Port=2222",)
    two = load_config(_config(tmp_path, "", general="ssh_options = Port=2222, User=pi"))
    assert two.general.ssh_options == ("Port=2222", "User=pi")
    patched = load_config(_config(tmp_path, "", general="general_settings_to_patch_into_controller = save_data"))
    assert patched.general.general_settings_to_patch_into_controller == ("save_data",)


def test_check_finds_what_would_fail_at_start(tmp_path: Path) -> None:
    """Found: `rcc_conductor --check` passed configs that failed at start or recorded the wrong thing; now every
    rule that the file decides is checked at load time, all problems at once."""
    import subprocess
    import sys

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    path = tmp_path / "c.config"
    path.write_text(
        f"[general]\n    remote_data_path = {blocker}/data\n[log]\n    port = 6000\n[control]\n    port = 6000\n"
        "[controllers]\n"
        "    [[cam1]]\n        ttl_in_pin = 8\n        ttl_out_pin = 8\n        stream_video = True\n"
        "    [[cam2]]\n        stream_video = True\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert len(problems) == 4, problems
    assert "controllers.cam1.ttl_in_pin = 8: the same pin as ttl_out_pin" in problems[0]
    assert "log.port = 6000: the same port as control.port" in problems[1]
    assert f"general.remote_data_path = {blocker}/data: cameras on this machine cannot write there" in problems[2]
    assert f"{blocker} is a file, not a folder" in problems[2]
    assert "controllers.cam2.stream_port = 8001: cam1 streams on that port of this machine too" in problems[3]
    check = subprocess.run(
        [str(Path(sys.executable).parent / "rcc_conductor"), "-c", str(path), "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 2 and "4 configuration problem(s)" in check.stderr
    # cameras on other machines: this machine's folders are not theirs
    path.write_text(
        f"[general]\n    remote_data_path = {blocker}/data\n[controllers]\n    [[cam1]]\n        address = 10.0.0.7\n"
    )
    assert load_config(path).general.remote_data_path == f"{blocker}/data"
