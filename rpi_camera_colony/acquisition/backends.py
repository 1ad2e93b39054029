"""Choose and build camera and TTL backends, from the one list in :mod:`rpi_camera_colony.backend_registry`.

Precedence: explicit argument > config key > environment variable (``RCC_CAMERA_BACKEND``, ``RCC_TTL_BACKEND``) >
``auto``, which tries the registry's backends in order and falls back to ``simulated``. Every choice comes with a
reason that the agent logs, as gpiozero does for pin factories. Hardware is never touched at import: probes only
look for the libraries.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Optional

from rpi_camera_colony import backend_registry as registry
from rpi_camera_colony.acquisition.cameras.base import CameraBackend
from rpi_camera_colony.acquisition.ttl.base import TTLBackend
from rpi_camera_colony.clock import CameraClock
from rpi_camera_colony.exc import BackendError

logger = logging.getLogger(__name__)


def _importable(module: str) -> bool:
    if module in sys.modules:  # already imported (or a test double installed in its place)
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def usable(kind: str, name: str) -> tuple[bool, str]:
    """Whether ``auto`` may pick the backend ``name`` of ``kind`` here, and why (or why not)."""
    backend = registry.get(kind, name)
    if backend.library is None:
        return True, "needs no library"
    library = backend.library
    if not _importable(library):
        return False, f"{library} is not installed"
    if name == "gpiozero" and os.environ.get("GPIOZERO_PIN_FACTORY"):
        return True, f"{library} is installed (pin factory from GPIOZERO_PIN_FACTORY)"
    needs = backend.needs_any
    found = [module for module in needs if _importable(module)]
    if needs and not found:
        wanted = needs[0] if len(needs) == 1 else f"any of {', '.join(needs)}"
        return False, f"{library} is installed, but not {wanted}"
    return True, f"{library} is installed" + (f" with {found[0]}" if found else "")


def resolve(kind: str, requested: Optional[str], configured: str = "auto") -> tuple[str, str]:
    """Return ``(backend name, reason)`` for ``kind`` ("camera" or "ttl").

    Raises:
        BackendError: for an unknown name.
    """
    env_var = registry.ENV[kind]
    env = os.environ.get(env_var, "").strip()
    known = registry.names(kind)
    for value, source in (
        (requested, "argument"),
        (configured if configured != "auto" else None, "config"),
        (env or None, env_var),
    ):
        if value:
            if value not in known and value != "auto":
                raise BackendError(
                    f"unknown {kind} backend {value!r} from {source}: choose one of {', '.join(registry.choices(kind))}"
                )
            if value != "auto":
                return value, f"{kind} backend '{value}' chosen by {source}"
    skipped = []
    for backend in registry.of_kind(kind):
        if backend.library is None:
            continue
        ok, why = usable(kind, backend.name)
        if ok:
            return backend.name, f"{kind} backend '{backend.name}' chosen by auto: {why}"
        if _importable(backend.library):
            skipped.append(why)
        logger.debug("auto: %s backend %s passed over: %s", kind, backend.name, why)
    detail = f" ({'; '.join(skipped)})" if skipped else ""
    return (
        registry.SIMULATED,
        f"{kind} backend '{registry.SIMULATED}' chosen by auto: no usable Raspberry Pi {kind} library{detail}",
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

    def create(self, kind: str, name: str, *, clock: CameraClock) -> Any:
        """Build the backend ``name`` of ``kind``.

        Raises:
            BackendError: if it is unknown or cannot be used on this machine (saying what to install on a Pi).
        """
        try:
            backend = registry.get(kind, name)
        except KeyError as err:
            raise BackendError(str(err.args[0])) from None
        ok, why = usable(kind, name)
        if "pin_factory" in backend.takes and self.gpio_pin_factory is not None and backend.library is not None:
            ok = ok or _importable(backend.library)  # the injected pin factory drives the pins
        if not ok:
            raise BackendError(
                f"{kind} backend '{name}' cannot run here: {why}. On a Raspberry Pi: {backend.install_hint}; anywhere "
                f"else use {kind}_backend = {registry.SIMULATED}"
            )
        module, _, attribute = backend.implementation.partition(":")
        given = {"clock": clock, "camera_num": self.camera_num, "pin_factory": self.gpio_pin_factory}
        return getattr(importlib.import_module(module), attribute)(**{key: given[key] for key in backend.takes})

    def create_camera(self, name: str, *, clock: CameraClock) -> CameraBackend:
        """Build a camera backend by name (see :meth:`create`)."""
        camera: CameraBackend = self.create("camera", name, clock=clock)
        return camera

    def create_ttl(self, name: str, *, clock: CameraClock) -> TTLBackend:
        """Build a TTL backend by name (see :meth:`create`)."""
        ttl: TTLBackend = self.create("ttl", name, clock=clock)
        return ttl


def preload(kind: str, configured: str = "auto", requested: Optional[str] = None) -> str:
    """Load the libraries of the backend ``kind`` that ``configure`` will choose (and let it do its one-time set-up,
    e.g. the encoder library's), so that an agent pays for them before it says hello, not inside a start. Nothing is
    opened. Returns what was loaded; a backend that cannot load is left for ``configure`` to report.
    """
    try:
        name, _ = resolve(kind, requested, configured)
        backend = registry.get(kind, name)
        if not usable(kind, name)[0]:
            return f"{kind} backend {name}: not loaded (not usable here)"
        if backend.library is not None:
            importlib.import_module(backend.library)
        module, _, attribute = backend.implementation.partition(":")
        implementation = getattr(importlib.import_module(module), attribute)
        getattr(implementation, "preload", lambda: None)()
    except Exception as err:  # configure reports it properly; a hello must not depend on it
        logger.debug("preloading the %s backend failed: %s", kind, err)
        return f"{kind} backend: not loaded ({err})"
    return f"{kind} backend {name}"
