"""Frozen, typed settings: what the rest of the package sees after a config has been validated."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Optional

#: picamera attributes that the original spec listed as "might work" and that pass through to the camera backend.
CAMERA_EXTRA_ATTRIBUTES = frozenset(
    {
        "awb_gains",
        "awb_mode",
        "drc_strength",
        "exposure_compensation",
        "exposure_mode",
        "exposure_speed",
        "flash_mode",
        "framerate_delta",
        "framerate_range",
        "image_effect",
        "image_effect_params",
        "meter_mode",
        "rotation",
        "sensor_mode",
        "shutter_speed",
    }
)

LOCAL_ADDRESSES = ("", "localhost", "::1")


def is_local_address(address: str) -> bool:
    """True for addresses that name this machine (empty, localhost, 127.x, ::1)."""
    return address in LOCAL_ADDRESSES or address.startswith("127.")


@dataclass(frozen=True)
class GeneralSettings:
    acquisition_name: str = "_test_rcc_name_config"
    acquisition_time: str = "dummy_time"
    acquisition_group: str = ""
    remote_data_path: str = "/home/pi/data/"
    rpi_username: str = "pi"
    remote_python_interpreter: str = "/home/pi/miniconda3/envs/py36/bin/python"
    remote_python_entrypoint: str = "rpi_camera_colony.acquisition"
    max_acquisition_time: int = 7200
    disk_space_check: str = "refuse"
    save_data: bool = True
    general_setting_has_priority: bool = True
    general_settings_to_patch_into_controller: tuple[str, ...] = ("save_data", "acquisition_time", "acquisition_group")
    ssh_config_file: str = ""
    ssh_options: tuple[str, ...] = ()
    ssh_connect_timeout: float = 10.0
    use_sudo: bool = False
    calibration_framerate: int = 2
    #: what separates the group from the rest of ``acquisition_name`` (the original Conductor's argument)
    acquisition_group_divider: str = "__"

    @property
    def group(self) -> str:
        """The group folder: ``acquisition_group``, or else the part of ``acquisition_name`` before ``__``."""
        if self.acquisition_group:
            return self.acquisition_group
        divider = self.acquisition_group_divider
        return self.acquisition_name.split(divider)[0] if divider and divider in self.acquisition_name else ""

    @property
    def name_time(self) -> str:
        """The original's ``acquisition_time`` when none is given: the part of ``acquisition_name`` after ``__``
        (empty for a name without it; the conductor then uses the date stamp)."""
        divider = self.acquisition_group_divider
        if not divider or divider not in self.acquisition_name:
            return ""
        return self.acquisition_name.split(divider, 1)[1]


@dataclass(frozen=True)
class LogSettings:
    address: str = "192.168.100.10"
    port: int = 55555
    level: str = "DEBUG"
    log_to_console: bool = True
    log_to_file: bool = True
    log_file: str = "/tmp/rpi_camera_colony__logging"


@dataclass(frozen=True)
class ControlSettings:
    address: str = "192.168.100.10"
    port: int = 54545
    hello_timeout: float = 20.0
    command_timeout: float = 10.0
    heartbeat_interval: float = 0.5
    require_same_version: bool = True
    start_delay: float = 0.0
    clock_sync_interval: float = 1.0
    curve: bool = False
    key_folder: str = "~/.config/rpi_camera_colony/keys"


@dataclass(frozen=True)
class ControllerSettings:
    """Settings of one camera (one ``[[name]]`` under ``[controllers]``)."""

    name: str
    description: str = ""
    address: str = ""
    save_data: bool = True
    ttl_channel_external: int = -1
    ttl_in_edges: str = "rising"  #: which TTL input edges are recorded: rising (as the original), falling, both
    ttl_in_pin: int = 16
    ttl_out_pin: int = 8
    ttl_out_duration: float = 0.001
    framerate: int = 90
    resolution: tuple[int, int] = (640, 480)
    vflip: bool = False
    hflip: bool = False
    brightness: int = 50
    color_effects: Optional[tuple[int, int]] = (128, 128)
    contrast: int = 0
    image_denoise: bool = True
    iso: int = 0
    led: bool = False
    preview_alpha: int = 255
    saturation: int = 0
    sharpness: int = 0
    still_stats: bool = False
    video_denoise: bool = True
    video_stabilization: bool = False
    zoom: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    stream_video: bool = False
    stream_address: str = ""
    stream_port: int = 8001
    stream_resolution: tuple[int, int] = (320, 240)
    stream_framerate: int = 10
    camera_backend: str = "auto"
    ttl_backend: str = "auto"
    launcher: str = "auto"
    sim_fault: str = "none"
    sim_clock_offset: float = 0.0
    sim_clock_drift_ppm: float = 0.0
    sync_mode: str = "off"
    lock_exposure_after: float = 0.0
    exposure_warmup: float = 3.0
    # Patched in from [general] (see general_settings_to_patch_into_controller).
    acquisition_time: str = "dummy_time"
    acquisition_group: str = ""
    # Extra picamera attributes given in the file (name -> raw text), passed to the camera backend.
    camera_extras: tuple[tuple[str, str], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (lists for tuples), as sent to an agent in ``configure``."""
        data = dataclasses.asdict(self)
        data["camera_extras"] = dict(self.camera_extras)
        return data

    @property
    def is_local(self) -> bool:
        return is_local_address(self.address)


@dataclass(frozen=True)
class ColonySettings:
    """A whole validated configuration file."""

    general: GeneralSettings
    log: LogSettings
    control: ControlSettings
    controllers: Mapping[str, ControllerSettings]
    source: str = ""
    warnings: tuple[str, ...] = ()

    def replace_general(self, **changes: Any) -> ColonySettings:
        """A copy with some general settings changed (controllers re-patched accordingly)."""
        general = dataclasses.replace(self.general, **changes)
        controllers = patch_controllers(general, self.controllers)
        return dataclasses.replace(self, general=general, controllers=controllers)

    def for_calibration(self) -> ColonySettings:
        """A copy in calibration mode: every camera at ``calibration_framerate`` (the original's
        ``run_for_calibration``), everything else as configured."""
        rate = self.general.calibration_framerate
        return dataclasses.replace(
            self, controllers={n: dataclasses.replace(c, framerate=rate) for n, c in self.controllers.items()}
        )

    def as_mapping(self) -> Mapping[str, Any]:
        """The settings in the shape of the original's config dict, read-only: ``["general"][key]``,
        ``["controllers"][name][key]``, ... (picamera attributes given in the file sit beside the other keys)."""

        def section(settings: Any) -> Mapping[str, Any]:
            values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
            extras = dict(values.pop("camera_extras", ()))
            return MappingProxyType({**values, **extras})

        return MappingProxyType(
            {
                "general": section(self.general),
                "log": section(self.log),
                "control": section(self.control),
                "controllers": MappingProxyType({n: section(c) for n, c in self.controllers.items()}),
            }
        )

    def __getitem__(self, section: str) -> Any:
        """``settings["general"]["acquisition_name"]``: read as the original's config dict (see :meth:`as_mapping`)."""
        return self.as_mapping()[section]

    def only(self, names: list[str]) -> ColonySettings:
        """A copy limited to the named controllers (in that order)."""
        missing = [n for n in names if n not in self.controllers]
        if missing:
            from rpi_camera_colony.exc import ConfigError

            known = ", ".join(self.controllers) or "none"
            raise ConfigError([f"controllers.{n}: no such camera in the config (known: {known})" for n in missing])
        return dataclasses.replace(self, controllers={n: self.controllers[n] for n in names})


def patch_controllers(
    general: GeneralSettings, controllers: Mapping[str, ControllerSettings]
) -> dict[str, ControllerSettings]:
    """Copy the general settings listed in ``general_settings_to_patch_into_controller`` into every controller.

    As in the original package this happens only when ``general_setting_has_priority`` is true.
    """
    if not general.general_setting_has_priority:
        return dict(controllers)
    changes = {key: getattr(general, key) for key in general.general_settings_to_patch_into_controller}
    return {name: dataclasses.replace(c, **changes) for name, c in controllers.items()}
