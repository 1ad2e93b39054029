"""The original's config module (``rpi_camera_colony.config.config``): ``load_config(config_path=...)`` and the
network helpers. Configs load through :func:`rpi_camera_colony.config.load_config`, which this calls."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Union

from rpi_camera_colony.config.loading import SPEC_FILE
from rpi_camera_colony.config.loading import load_config as _load_config
from rpi_camera_colony.config.settings import ColonySettings
from rpi_camera_colony.exc import ConfigError


def load_config(
    config_path: Union[str, Path, None] = None,
    config_spec_path: Union[str, Path, None] = None,
    ignore_errors: bool = True,
) -> ColonySettings:
    """Load and validate a config file as the original's function did; the result reads like its dict
    (``config["general"]["acquisition_name"]``) and is also the typed settings.

    ``ignore_errors`` is accepted as before: an invalid config raises, listing every problem.

    Raises:
        ConfigError: for an invalid config, a missing path, or a spec other than this package's.
    """
    if not config_path:
        raise ConfigError(["load_config needs config_path, the path of a config file"])
    if config_spec_path is not None and Path(config_spec_path).expanduser().resolve() != SPEC_FILE.resolve():
        raise ConfigError(
            [
                f"config_spec_path = {config_spec_path}: configs are checked against this package's own spec "
                f"({SPEC_FILE})"
            ]
        )
    return _load_config(Path(config_path).expanduser())


def get_local_ip_address() -> str:
    """This machine's address on the network that leads outwards (127.0.0.1 without one); nothing is sent."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # a UDP "connect" only picks the route
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def get_interface_mac_address(interface: str = "eth0") -> str:
    """The hardware address of ``interface`` (``00:00:00:00:00:00`` when it has none)."""
    try:
        return Path(f"/sys/class/net/{interface}/address").read_text().strip()
    except OSError:
        return "00:00:00:00:00:00"


__all__ = ["get_interface_mac_address", "get_local_ip_address", "load_config"]
