"""Configuration: the original configobj format, validated into frozen typed settings."""

from rpi_camera_colony.config.loading import SPEC_FILE, controller_from_dict, load_config
from rpi_camera_colony.config.settings import (
    ColonySettings,
    ControllerSettings,
    ControlSettings,
    GeneralSettings,
    LogSettings,
    is_local_address,
)

__all__ = [
    "SPEC_FILE",
    "ColonySettings",
    "ControlSettings",
    "ControllerSettings",
    "GeneralSettings",
    "LogSettings",
    "controller_from_dict",
    "is_local_address",
    "load_config",
]
