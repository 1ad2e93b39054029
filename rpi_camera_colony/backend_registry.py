"""The one list of camera and TTL backends: name, implementation, the libraries each needs, and what to install.

Read by the config spec (``camera_backend``/``ttl_backend`` values), the agent's command line (its choices), the
agent's backend factory (:mod:`rpi_camera_colony.acquisition.backends`: building one, and the ``auto`` order) and
the test doubles (:mod:`rpi_camera_colony.testing.fakes`: which libraries have one). Each kind lists its backends in the
order ``auto`` tries them, as gpiozero tries its pin factories; ``simulated`` comes last and always works.
Nothing here imports a backend: implementations are named, and loaded only when built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

KINDS = ("camera", "ttl")
#: The environment variable that chooses each kind's backend when neither an argument nor the config does.
ENV = {"camera": "RCC_CAMERA_BACKEND", "ttl": "RCC_TTL_BACKEND"}
SIMULATED = "simulated"


@dataclass(frozen=True)
class Backend:
    """One backend of a kind.

    ``implementation`` is ``module:Class``; the factory calls it with the keyword arguments named in ``takes`` (of
    ``clock``, ``camera_num``, ``pin_factory``). ``library`` is the Raspberry Pi module it drives, ``needs_any``
    what else ``auto`` requires before choosing it (one of them importable), and ``install_hint`` what to do on a
    Pi where they are missing. ``fake``: the package ships a test double for ``library`` (``fakes.installed``).
    """

    kind: str
    name: str
    implementation: str
    takes: tuple[str, ...]
    library: Optional[str] = None
    needs_any: tuple[str, ...] = ()
    install_hint: str = ""
    fake: bool = False


BACKENDS: tuple[Backend, ...] = (
    Backend(
        "camera",
        "picamera2",
        "rpi_camera_colony.acquisition.cameras.picamera2_backend:Picamera2Camera",
        takes=("camera_num",),
        library="picamera2",
        # a pure Python package that installs anywhere, but records only over libcamera's bindings
        needs_any=("libcamera",),
        install_hint="on Raspberry Pi OS Bookworm picamera2 and libcamera come from apt (python3-picamera2), used "
        "from a venv made with --system-site-packages",
        fake=True,
    ),
    Backend(
        "camera",
        "picamera",
        "rpi_camera_colony.acquisition.cameras.picamera_backend:PicameraCamera",
        takes=("camera_num",),
        library="picamera",
        install_hint="the legacy picamera needs Raspberry Pi OS Buster or Bullseye with the legacy camera stack; on "
        "Bookworm use camera_backend = picamera2",
        fake=True,
    ),
    Backend(
        "camera",
        SIMULATED,
        "rpi_camera_colony.acquisition.cameras.simulated:SimulatedCamera",
        takes=("clock",),
    ),
    Backend(
        "ttl",
        "gpiozero",
        "rpi_camera_colony.acquisition.ttl.gpiozero_backend:GpiozeroTTL",
        takes=("clock", "pin_factory"),
        library="gpiozero",
        # installs anywhere too, but drives pins only through a pin library (lgpio on Bookworm, RPi.GPIO or pigpio
        # on older systems), or the pin factory named by GPIOZERO_PIN_FACTORY, or one given to the factory
        needs_any=("lgpio", "RPi.GPIO", "pigpio"),
        install_hint="install its pin library: sudo apt install python3-lgpio (or pip install lgpio in the venv)",
    ),
    Backend(
        "ttl",
        "rpi_gpio",
        "rpi_camera_colony.acquisition.ttl.rpigpio_backend:RPiGPIOTTL",
        takes=("clock",),
        library="RPi.GPIO",
        install_hint="sudo apt install python3-rpi.gpio (not on a Pi 5: use ttl_backend = gpiozero there)",
        fake=True,
    ),
    Backend("ttl", SIMULATED, "rpi_camera_colony.acquisition.ttl.simulated:SimulatedTTL", takes=("clock",)),
)


def of_kind(kind: str) -> tuple[Backend, ...]:
    """The backends of ``kind`` ("camera" or "ttl"), in the order ``auto`` tries them."""
    return tuple(backend for backend in BACKENDS if backend.kind == kind)


def names(kind: str) -> tuple[str, ...]:
    """The names of ``kind``'s backends, in the order ``auto`` tries them."""
    return tuple(backend.name for backend in of_kind(kind))


def choices(kind: str) -> tuple[str, ...]:
    """Every value a user may give for ``kind``'s backend: ``auto`` and each name."""
    return ("auto", *names(kind))


def get(kind: str, name: str) -> Backend:
    """The backend ``name`` of ``kind``.

    Raises:
        KeyError: naming the choices, if there is none of that name.
    """
    for backend in of_kind(kind):
        if backend.name == name:
            return backend
    raise KeyError(f"no {kind} backend {name!r}: choose one of {', '.join(choices(kind))}")


def faked() -> dict[str, Backend]:
    """The backends whose library has a test double in :mod:`rpi_camera_colony.testing.fakes`, by name."""
    return {backend.name: backend for backend in BACKENDS if backend.fake}
