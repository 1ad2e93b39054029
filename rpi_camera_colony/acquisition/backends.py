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
from dataclasses import dataclass
from typing import Any, Optional

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


#: What each Raspberry Pi backend needs besides its own library before ``auto`` picks it: picamera2 is a pure
#: Python package that installs anywhere, but records only over libcamera's bindings; gpiozero installs anywhere
#: too, but drives pins only through a pin library (lgpio on Bookworm, RPi.GPIO or pigpio on older systems) or the
#: pin factory named by GPIOZERO_PIN_FACTORY.
_NEEDS_ANY = {"picamera2": ("libcamera",), "gpiozero": ("lgpio", "RPi.GPIO", "pigpio")}


def usable(name: str) -> tuple[bool, str]:
    """Whether ``auto`` may pick the hardware backend ``name`` here, and why (or why not)."""
    library = _MODULES[name]
    if not _importable(library):
        return False, f"{library} is not installed"
    needs = _NEEDS_ANY.get(name, ())
    if name == "gpiozero" and os.environ.get("GPIOZERO_PIN_FACTORY"):
        return True, f"{library} is installed (pin factory from GPIOZERO_PIN_FACTORY)"
    found = [module for module in needs if _importable(module)]
    if needs and not found:
        wanted = needs[0] if len(needs) == 1 else f"any of {', '.join(needs)}"
        return False, f"{library} is installed, but not {wanted}"
    return True, f"{library} is installed" + (f" with {found[0]}" if found else "")


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
    skipped = []
    for name in known:
        if name == "simulated":
            continue
        ok, why = usable(name)
        if ok:
            return name, f"{kind} backend '{name}' chosen by auto: {why}"
        if _importable(_MODULES[name]):
            skipped.append(why)
    detail = f" ({'; '.join(skipped)})" if skipped else ""
    return "simulated", f"{kind} backend 'simulated' chosen by auto: no usable Raspberry Pi {kind} library{detail}"


#: What to do on a Raspberry Pi when a backend's libraries are missing.
INSTALL_HINTS = {
    "picamera2": "on Raspberry Pi OS Bookworm picamera2 and libcamera come from apt (python3-picamera2), used from a "
    "venv made with --system-site-packages",
    "picamera": "the legacy picamera needs Raspberry Pi OS Buster or Bullseye with the legacy camera stack; on "
    "Bookworm use camera_backend = picamera2",
    "gpiozero": "install its pin library: sudo apt install python3-lgpio (or pip install lgpio in the venv)",
    "rpi_gpio": "sudo apt install python3-rpi.gpio (not on a Pi 5: use ttl_backend = gpiozero there)",
}


def _not_available(kind: str, name: str, why: str) -> BackendError:
    return BackendError(
        f"{kind} backend '{name}' cannot run here: {why}. On a Raspberry Pi: {INSTALL_HINTS[name]}; anywhere else "
        f"use {kind}_backend = simulated"
    )


@dataclass(frozen=True)
class BackendFactory:
    """Builds the backends an agent uses; what it is given is handed to the hardware libraries.

    Args:
        gpio_pin_factory: a gpiozero pin factory for the gpiozero TTL backend (e.g. gpiozero's own
            ``MockFactory()`` in tests); None: gpiozero's default choice (lgpio on Raspberry Pi OS Bookworm).
        camera_num: which camera the Raspberry Pi camera backends open (boards with two camera ports).
    """

    gpio_pin_factory: Any = None
    camera_num: int = 0

    def create_camera(self, name: str, *, clock: CameraClock) -> CameraBackend:
        """Build a camera backend by name.

        Raises:
            BackendError: if it cannot be used on this machine.
        """
        if name == "simulated":
            from rpi_camera_colony.acquisition.cameras.simulated import SimulatedCamera

            return SimulatedCamera(clock=clock)
        ok, why = usable(name)
        if not ok:
            raise _not_available("camera", name, why)
        if name == "picamera2":
            from rpi_camera_colony.acquisition.cameras.picamera2_backend import Picamera2Camera

            return Picamera2Camera(camera_num=self.camera_num)
        from rpi_camera_colony.acquisition.cameras.picamera_backend import PicameraCamera

        return PicameraCamera(camera_num=self.camera_num)

    def create_ttl(self, name: str, *, clock: CameraClock) -> TTLBackend:
        """Build a TTL backend by name.

        Raises:
            BackendError: if it cannot be used on this machine.
        """
        if name == "simulated":
            from rpi_camera_colony.acquisition.ttl.simulated import SimulatedTTL

            return SimulatedTTL(clock=clock)
        ok, why = usable(name)
        if name == "gpiozero" and self.gpio_pin_factory is not None and _importable("gpiozero"):
            ok = True  # the injected pin factory drives the pins
        if not ok:
            raise _not_available("ttl", name, why)
        if name == "gpiozero":
            from rpi_camera_colony.acquisition.ttl.gpiozero_backend import GpiozeroTTL

            return GpiozeroTTL(clock=clock, pin_factory=self.gpio_pin_factory)
        from rpi_camera_colony.acquisition.ttl.rpigpio_backend import RPiGPIOTTL

        return RPiGPIOTTL(clock=clock)
