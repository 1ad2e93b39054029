"""Fake gpiozero: DigitalOutputDevice (blink in the background) and DigitalInputDevice (when_activated/...)."""

from __future__ import annotations

import re
import threading
import time
import types
from typing import Any, Callable, Optional

from rpi_camera_colony.fakes._header import BOARD_GPIOS


class GPIOPinInUse(Exception):
    pass


class PinInvalidPin(ValueError):
    pass


_claimed: set[int] = set()


def _board_pin(pin: Any) -> int:
    match = re.fullmatch(r"BOARD(\d+)", str(pin))
    if match is None or int(match.group(1)) not in BOARD_GPIOS:
        raise PinInvalidPin(f"{pin} is not a valid pin name")
    number = int(match.group(1))
    if number in _claimed:
        raise GPIOPinInUse(f"pin {pin} is already in use")
    _claimed.add(number)
    return number


class DigitalOutputDevice:
    def __init__(self, pin: Any, *, active_high: bool = True, initial_value: bool = False) -> None:
        self.pin = _board_pin(pin)
        self.value = int(initial_value)
        self.calls: list[tuple[str, Any]] = [("__init__", pin)]
        self.pulses: list[tuple[float, float]] = []  # (start monotonic, on_time)
        self.closed = False
        devices.append(self)

    def blink(self, on_time: float = 1, off_time: float = 1, n: Optional[int] = None, background: bool = True) -> None:
        if not background:
            raise AssertionError("a frame's TTL pulse must never block (background=False)")
        self.calls.append(("blink", (on_time, off_time, n)))
        self.pulses.append((time.monotonic(), on_time))

    def on(self) -> None:
        self.value = 1

    def off(self) -> None:
        self.value = 0

    def close(self) -> None:
        if not self.closed:
            _claimed.discard(self.pin)
            self.closed = True


class DigitalInputDevice:
    def __init__(
        self, pin: Any, *, pull_up: Optional[bool] = False, active_state: Any = None, bounce_time: Any = None
    ) -> None:
        self.pin = _board_pin(pin)
        self.pull_up = pull_up
        self.when_activated: Optional[Callable[..., Any]] = None
        self.when_deactivated: Optional[Callable[..., Any]] = None
        self.value = 0
        self.closed = False
        devices.append(self)

    def drive(self, level: int) -> None:
        """Test helper: the wire goes to ``level``; callbacks run on another thread, as gpiozero's do."""
        if self.closed or level == self.value:
            return
        self.value = level
        callback = self.when_activated if level else self.when_deactivated
        if callback is not None:
            worker = threading.Thread(target=callback)
            worker.start()
            worker.join()

    def close(self) -> None:
        if not self.closed:
            _claimed.discard(self.pin)
            self.closed = True


devices: list[Any] = []


def module() -> types.ModuleType:
    _claimed.clear()
    devices.clear()
    fake = types.ModuleType("gpiozero")
    fake.DigitalOutputDevice = DigitalOutputDevice  # type: ignore[attr-defined]
    fake.DigitalInputDevice = DigitalInputDevice  # type: ignore[attr-defined]
    fake.GPIOPinInUse = GPIOPinInUse  # type: ignore[attr-defined]
    fake.PinInvalidPin = PinInvalidPin  # type: ignore[attr-defined]
    fake.devices = devices  # type: ignore[attr-defined]
    fake.__fake__ = True  # type: ignore[attr-defined]
    return fake
