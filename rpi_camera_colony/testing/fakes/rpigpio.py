"""Fake RPi.GPIO (0.7 API), for the legacy TTL backend: the real one refuses to import anywhere but on a Pi.

Every install builds a new :class:`FakeGPIO` (no module-level state); its module exposes the documented functions
and constants with RPi.GPIO's own signatures, so an unknown keyword raises ``TypeError`` as the C extension does,
and it refuses what RPi.GPIO refuses (no numbering mode set, a non-GPIO header pin, output on an input, a second
edge detection on one channel, a different numbering mode). Assertion helpers in the manner of gpiozero's
``MockPin``: :meth:`FakeGPIO.assert_states`, :meth:`FakeGPIO.pulses`, :meth:`FakeGPIO.drive`.
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

from rpi_camera_colony.testing.fakes._header import BOARD_GPIOS, BOARD_TO_BCM

BOARD, BCM = 10, 11
OUT, IN = 0, 1
LOW, HIGH = 0, 1
PUD_OFF, PUD_DOWN, PUD_UP = 20, 21, 22
RISING, FALLING, BOTH = 31, 32, 33
UNKNOWN = -1
CONSTANTS = {
    "BOARD": BOARD, "BCM": BCM, "OUT": OUT, "IN": IN, "LOW": LOW, "HIGH": HIGH, "PUD_OFF": PUD_OFF,
    "PUD_DOWN": PUD_DOWN, "PUD_UP": PUD_UP, "RISING": RISING, "FALLING": FALLING, "BOTH": BOTH, "UNKNOWN": UNKNOWN,
    "RPI_INFO": {"P1_REVISION": 3, "REVISION": "c03114", "TYPE": "Pi 4 Model B", "MANUFACTURER": "Sony",
                 "PROCESSOR": "BCM2711", "RAM": "4G"},
    "VERSION": "0.7.1",
}  # fmt: skip
Channels = Union[int, Sequence[int]]


class FakeGPIO:
    """The state of one fake RPi.GPIO and the functions that act on it (see the module docstring)."""

    def __init__(self) -> None:
        self.mode: Optional[int] = None
        self.warnings = True
        self.pins: dict[int, int] = {}  # channel -> direction
        self.levels: dict[int, int] = {}
        self.callbacks: dict[int, list[Callable[[int], Any]]] = {}
        self.edges: dict[int, int] = {}
        self.history: dict[int, list[tuple[float, int]]] = {}  # channel -> (monotonic time, level) of every change
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    # -- RPi.GPIO's functions ------------------------------------------------------------------------------------

    def _gpio(self, channel: Any) -> int:
        if self.mode is None:
            raise RuntimeError("Please set pin numbering mode using GPIO.setmode(GPIO.BOARD) or GPIO.setmode(GPIO.BCM)")
        if not isinstance(channel, int) or isinstance(channel, bool):
            raise ValueError("Channel must be an integer or list/tuple of integers")
        if (self.mode == BOARD and channel not in BOARD_GPIOS) or (
            self.mode == BCM and channel not in BOARD_TO_BCM.values()
        ):
            raise ValueError("The channel sent is invalid on a Raspberry Pi")
        return channel

    @staticmethod
    def _many(channel: Channels) -> list[int]:
        return list(channel) if isinstance(channel, (list, tuple)) else [channel]  # type: ignore[list-item]

    def setwarnings(self, flag: bool) -> None:
        self.warnings = bool(flag)
        self.calls.append(("setwarnings", flag))

    def setmode(self, mode: int) -> None:
        if mode not in (BOARD, BCM):
            raise ValueError("An invalid mode was passed to setmode()")
        if self.mode is not None and self.mode != mode:
            raise ValueError("A different mode has already been set!")
        self.mode = mode
        self.calls.append(("setmode", mode))

    def getmode(self) -> Optional[int]:
        return self.mode

    def setup(self, channel: Channels, direction: int, pull_up_down: int = PUD_OFF, initial: int = -1) -> None:
        if direction not in (IN, OUT):
            raise ValueError("An invalid direction was passed to setup()")
        if pull_up_down not in (PUD_OFF, PUD_DOWN, PUD_UP):
            raise ValueError("Invalid value for pull_up_down - should be either PUD_OFF, PUD_UP or PUD_DOWN")
        if direction == OUT and pull_up_down != PUD_OFF:
            raise ValueError("pull_up_down parameter is not valid for outputs")
        if direction == IN and initial != -1:
            raise ValueError("initial parameter is not valid for inputs")
        for pin in self._many(channel):
            self._gpio(pin)
            self.pins[pin] = direction
            level = (1 if pull_up_down == PUD_UP else 0) if direction == IN else max(initial, 0)
            self._set_level(pin, level)
        self.calls.append(("setup", (channel, direction, pull_up_down, initial)))

    def output(self, channel: Channels, value: Union[int, bool, Sequence[int]]) -> None:
        pins = self._many(channel)
        values = list(value) if isinstance(value, (list, tuple)) else [int(bool(value))] * len(pins)
        if len(values) != len(pins):
            raise RuntimeError("Number of channels != number of values")
        for pin, level in zip(pins, values):
            self._gpio(pin)
            if self.pins.get(pin) != OUT:
                raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")
            self._set_level(pin, int(bool(level)))

    def input(self, channel: int) -> int:
        pin = self._gpio(channel)
        if pin not in self.pins:
            raise RuntimeError("You must setup() the GPIO channel first")
        return self.levels.get(pin, 0)

    def add_event_detect(
        self, channel: int, edge: int, callback: Optional[Callable[[int], Any]] = None, bouncetime: int = -666
    ) -> None:
        pin = self._gpio(channel)
        if self.pins.get(pin) != IN:
            raise RuntimeError("You must setup() the GPIO channel as an input first")
        if edge not in (RISING, FALLING, BOTH):
            raise ValueError("The edge must be set to RISING, FALLING or BOTH")
        if bouncetime != -666 and bouncetime <= 0:
            raise ValueError("Bouncetime must be greater than 0")
        if pin in self.edges:
            raise RuntimeError("Conflicting edge detection already enabled for this GPIO channel")
        self.edges[pin] = edge
        self.callbacks[pin] = [] if callback is None else [callback]
        self.calls.append(("add_event_detect", (channel, edge)))

    def add_event_callback(self, channel: int, callback: Callable[[int], Any]) -> None:
        pin = self._gpio(channel)
        if pin not in self.edges:
            raise RuntimeError("Add event detection using add_event_detect first before adding a callback")
        self.callbacks[pin].append(callback)

    def remove_event_detect(self, channel: int) -> None:
        pin = self._gpio(channel)
        self.edges.pop(pin, None)
        self.callbacks.pop(pin, None)
        self.calls.append(("remove_event_detect", channel))

    def cleanup(self, channel: Optional[Channels] = None) -> None:
        pins = list(self.pins) if channel is None else self._many(channel)
        for pin in pins:
            self.pins.pop(pin, None)
            self.edges.pop(pin, None)
            self.callbacks.pop(pin, None)
        self.calls.append(("cleanup", channel))
        if not self.pins:
            self.mode = None

    # -- test helpers --------------------------------------------------------------------------------------------

    def _set_level(self, pin: int, level: int) -> None:
        with self._lock:
            if self.levels.get(pin) != level:
                self.history.setdefault(pin, []).append((time.monotonic(), level))
            self.levels[pin] = level

    def drive(self, channel: int, level: int) -> None:
        """The wire on input ``channel`` goes to ``level``; callbacks run on another thread, as RPi.GPIO's do."""
        if self.pins.get(channel) != IN:
            raise AssertionError(f"channel {channel} is not set up as an input")
        if self.levels.get(channel) == level:
            return
        self._set_level(channel, level)
        edge = self.edges.get(channel)
        if edge == BOTH or (edge == RISING and level) or (edge == FALLING and not level):
            for callback in list(self.callbacks.get(channel, [])):
                worker = threading.Thread(target=callback, args=(channel,))
                worker.start()
                worker.join()

    def pulses(self, channel: int) -> int:
        """Rising edges written to ``channel``."""
        return sum(1 for _, level in self.history.get(channel, []) if level == 1)

    def assert_states(self, channel: int, expected: Sequence[int]) -> None:
        """Raise AssertionError unless ``channel`` went through exactly these levels (as gpiozero's MockPin)."""
        actual = [level for _, level in self.history.get(channel, [])]
        if actual != list(expected):
            raise AssertionError(f"channel {channel}: levels {actual}, expected {list(expected)}")

    def module(self) -> types.ModuleType:
        """An ``RPi.GPIO`` module bound to this state."""
        fake = types.ModuleType("RPi.GPIO")
        for name, value in CONSTANTS.items():
            setattr(fake, name, value)
        for name in ("setwarnings", "setmode", "getmode", "setup", "output", "input", "add_event_detect",
                     "add_event_callback", "remove_event_detect", "cleanup"):  # fmt: skip
            setattr(fake, name, getattr(self, name))
        fake.fake = self  # type: ignore[attr-defined]
        return fake
