"""Faithful fakes of the Raspberry Pi libraries (picamera2 + libcamera, picamera, gpiozero, RPi.GPIO).

They implement the documented API surface this package uses, validate arguments as the real libraries document,
record every call (``.calls``), and produce frames and edges on real threads with real timestamps, so the
hardware backends run end to end on any machine. Install them with :func:`installed`::

    with installed("picamera2", "gpiozero") as fakes:
        ...                         # import picamera2 / gpiozero gets the fakes
        fakes["picamera2"].cameras  # every Picamera2 created, with its calls
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from typing import Any

FAKE_MODULES = ("picamera2", "picamera", "gpiozero", "rpi_gpio")


def _modules(name: str) -> dict[str, types.ModuleType]:
    if name == "picamera2":
        from rpi_camera_colony.fakes import picamera2 as fake

        return {
            "picamera2": fake.module(),
            "picamera2.encoders": fake.encoders_module(),
            "picamera2.outputs": fake.outputs_module(),
            "libcamera": fake.libcamera_module(),
        }
    if name == "picamera":
        from rpi_camera_colony.fakes import picamera as legacy

        return {"picamera": legacy.module()}
    if name == "gpiozero":
        from rpi_camera_colony.fakes import gpiozero as zero

        return {"gpiozero": zero.module()}
    if name == "rpi_gpio":
        from rpi_camera_colony.fakes import rpigpio

        gpio = rpigpio.module()
        package = types.ModuleType("RPi")
        package.GPIO = gpio  # type: ignore[attr-defined]
        return {"RPi": package, "RPi.GPIO": gpio}
    raise ValueError(f"no fake for {name!r}: choose from {', '.join(FAKE_MODULES)}")


@contextlib.contextmanager
def installed(*names: str) -> Iterator[dict[str, Any]]:
    """Put fakes in ``sys.modules`` for the duration; yields the top-level fake modules by name."""
    saved: dict[str, Any] = {}
    top: dict[str, Any] = {}
    for name in names:
        modules = _modules(name)
        top[name] = next(iter(modules.values())) if name != "rpi_gpio" else modules["RPi.GPIO"]
        for module_name, module in modules.items():
            saved.setdefault(module_name, sys.modules.get(module_name))
            sys.modules[module_name] = module
    try:
        yield top
    finally:
        for module_name, previous in saved.items():
            if previous is None:
                sys.modules.pop(module_name, None)
            else:
                sys.modules[module_name] = previous
