"""Test doubles for what the Raspberry Pi libraries need from the hardware, for this package's tests and yours.

- picamera2 and gpiozero run as themselves. Under picamera2 only the kernel layer is faked: libcamera's bindings,
  the DMA-heap allocator and the board probe (:mod:`rpi_camera_colony.testing.fakes.libcamera`). gpiozero is given
  its own ``MockFactory`` (``pin_factory=``), as its documentation recommends for tests.
- The legacy picamera (needs the Pi's MMAL libraries) and RPi.GPIO (refuses to import off a Pi) are strict fakes
  with the real signatures and assertion helpers (:mod:`.picamera`, :mod:`.rpigpio`).

Install them with :func:`installed`; each install has its own state::

    with installed("picamera2", "picamera", "rpi_gpio") as fakes:
        ...                              # import picamera2 gets the real one, on a fake libcamera
        fakes["picamera2"].cameras[0]    # the fake sensor, with its assertion helpers
        fakes["rpi_gpio"].pulses(8)      # rising edges written to board pin 8
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any

from rpi_camera_colony import backend_registry

#: The backends whose library has a fake here (from the backend registry).
FAKE_MODULES = tuple(backend_registry.faked())


@contextlib.contextmanager
def _in_sys_modules(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


@contextlib.contextmanager
def installed(*names: str, platform: str = "pisp", sensors: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
    """Install the named fakes for the duration; yields each one's handle by name.

    - ``"picamera2"``: the real picamera2 over :func:`~rpi_camera_colony.testing.fakes.libcamera.fake_libcamera`;
      the handle is its :class:`~rpi_camera_colony.testing.fakes.libcamera.FakeKernel` (``.cameras[i]``: a fake
      camera with its frames, controls and fault injectors). ``sensors`` (default: one HQ camera,
      ``FakeSensor.imx477()``) are the cameras connected; ``platform`` ("pisp": Raspberry Pi 5, "vc4": Pi 4 and
      older) is the board picamera2 believes it runs on, which decides its ``H264Encoder``. Like libcamera on a Pi,
      the first frames after the camera system starts are startup frames that picamera2 drops (7 with automatic
      exposure and white balance).
    - ``"picamera"``: a :class:`~rpi_camera_colony.testing.fakes.picamera.FakePicameraLibrary` (``.cameras``).
    - ``"rpi_gpio"``: a :class:`~rpi_camera_colony.testing.fakes.rpigpio.FakeGPIO` (``.drive()``, ``.pulses()``, ...).

    For gpiozero use the real library with its own ``gpiozero.pins.mock.MockFactory`` (``pin_factory=``).

    Example::

        with installed("picamera2") as fakes:
            from picamera2 import Picamera2
            from picamera2.encoders import H264Encoder
            with Picamera2(0) as camera:
                camera.configure(camera.create_video_configuration(main={"size": (640, 480)}))
                camera.start_recording(H264Encoder(), "test.h264")
                ...
                camera.stop_recording()

    Raises:
        ValueError: for a name not in :data:`FAKE_MODULES`.
    """
    unknown = [name for name in names if name not in FAKE_MODULES]
    if unknown:
        raise ValueError(f"no fake for {', '.join(map(repr, unknown))}: choose from {', '.join(FAKE_MODULES)}")
    handles: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if "picamera" in names:
            from rpi_camera_colony.testing.fakes.picamera import FakePicameraLibrary

            library = FakePicameraLibrary()
            stack.enter_context(_in_sys_modules({"picamera": library.module()}))
            handles["picamera"] = library
        if "rpi_gpio" in names:
            from rpi_camera_colony.testing.fakes.rpigpio import FakeGPIO

            gpio = FakeGPIO()
            module = gpio.module()
            module_name = backend_registry.get("ttl", "rpi_gpio").library or ""
            parent, _, child = module_name.partition(".")
            package = types.ModuleType(parent)
            setattr(package, child, module)
            stack.enter_context(_in_sys_modules({parent: package, module_name: module}))
            handles["rpi_gpio"] = gpio
        if "picamera2" in names:
            from rpi_camera_colony.testing.fakes.libcamera import FakeSensor, fake_libcamera

            handles["picamera2"] = stack.enter_context(
                fake_libcamera(sensors=list(sensors) or [FakeSensor.imx477()], platform=platform)
            )
        yield handles
