"""Choose and build camera and TTL backends.

Precedence: explicit argument > config key > environment variable (``RCC_CAMERA_BACKEND``, ``RCC_TTL_BACKEND``) >
``auto``. Every choice comes with a reason that the agent logs, as gpiozero does for pin factories. Hardware is
never touched at import: probes only look for the libraries.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Optional

from rpi_camera_colony.acquisition.cameras.base import CameraBackend
from rpi_camera_colony.acquisition.ttl.base import TTLBackend
from rpi_camera_colony.clock import CameraClock
from rpi_camera_colony.exc import BackendError

logger = logging.getLogger(__name__)

CAMERA_BACKENDS = ("simulated", "picamera2", "picamera")
TTL_BACKENDS = ("simulated", "gpiozero", "rpi_gpio")
CAMERA_ENV = "RCC_CAMERA_BACKEND"
TTL_ENV = "RCC_TTL_BACKEND"
_MODULES = {"picamera2": "picamera2", "picamera": "picamera", "gpiozero": "gpiozero", "rpi_gpio": "RPi.GPIO"}


def _importable(module: str) -> bool:
    if module in sys.modules:  # already imported (or a test double installed in its place)
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def resolve(
    kind: str, requested: Optional[str], configured: str, known: tuple[str, ...], env_var: str
) -> tuple[str, str]:
    """Return ``(backend name, reason)``.

    Raises:
        BackendError: for an unknown name, or when ``auto`` finds Raspberry Pi libraries this version cannot drive.
    """
    env = os.environ.get(env_var, "").strip()
    for value, source in (
        (requested, "argument"),
        (configured if configured != "auto" else None, "config"),
        (env or None, env_var),
    ):
        if value:
            if value not in known and value != "auto":
                raise BackendError(
                    f"unknown {kind} backend {value!r} from {source}: choose one of auto, {', '.join(known)}"
                )
            if value != "auto":
                return value, f"{kind} backend '{value}' chosen by {source}"
    hardware = [name for name in known if name != "simulated" and _importable(_MODULES[name])]
    if hardware:
        return hardware[0], f"{kind} backend '{hardware[0]}' chosen by auto: {_MODULES[hardware[0]]} is installed"
    return "simulated", f"{kind} backend 'simulated' chosen by auto: no Raspberry Pi {kind} library is installed"


def _not_available(kind: str, name: str) -> BackendError:
    return BackendError(
        f"{kind} backend '{name}' needs the Python package {_MODULES[name]}, which is not installed here "
        f"(on a Raspberry Pi see the README's Pi setup; anywhere else use {kind}_backend = simulated)"
    )


def create_camera(name: str, *, clock: CameraClock) -> CameraBackend:
    """Build a camera backend by name.

    Raises:
        BackendError: if it cannot be used on this machine.
    """
    if name == "simulated":
        from rpi_camera_colony.acquisition.cameras.simulated import SimulatedCamera

        return SimulatedCamera(clock=clock)
    if not _importable(_MODULES[name]):
        raise _not_available("camera", name)
    if name == "picamera2":
        from rpi_camera_colony.acquisition.cameras.picamera2_backend import Picamera2Camera

        return Picamera2Camera()
    from rpi_camera_colony.acquisition.cameras.picamera_backend import PicameraCamera

    return PicameraCamera()


def create_ttl(name: str, *, clock: CameraClock) -> TTLBackend:
    """Build a TTL backend by name.

    Raises:
        BackendError: if it cannot be used on this machine.
    """
    if name == "simulated":
        from rpi_camera_colony.acquisition.ttl.simulated import SimulatedTTL

        return SimulatedTTL(clock=clock)
    if not _importable(_MODULES[name]):
        raise _not_available("ttl", name)
    if name == "gpiozero":
        from rpi_camera_colony.acquisition.ttl.gpiozero_backend import GpiozeroTTL

        return GpiozeroTTL(clock=clock)
    from rpi_camera_colony.acquisition.ttl.rpigpio_backend import RPiGPIOTTL

    return RPiGPIOTTL(clock=clock)
