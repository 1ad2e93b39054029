"""Fake RPi.GPIO: setmode/setup/output/input/add_event_detect/cleanup with the documented constants."""

from __future__ import annotations

import threading
import types
from typing import Any, Callable, Optional

from rpi_camera_colony.fakes._header import BOARD_GPIOS

BOARD, BCM = 10, 11
OUT, IN = 0, 1
LOW, HIGH = 0, 1
PUD_OFF, PUD_DOWN, PUD_UP = 20, 21, 22
RISING, FALLING, BOTH = 31, 32, 33


class _State:
    def __init__(self) -> None:
        self.mode: Optional[int] = None
        self.pins: dict[int, int] = {}  # pin -> direction
        self.levels: dict[int, int] = {}
        self.callbacks: dict[int, Callable[[int], Any]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.writes: list[tuple[int, int]] = []


state = _State()


def _check(channel: int) -> None:
    if state.mode is None:
        raise RuntimeError("Please set pin numbering mode using GPIO.setmode(GPIO.BOARD) or GPIO.setmode(GPIO.BCM)")
    if state.mode == BOARD and channel not in BOARD_GPIOS:
        raise ValueError("The channel sent is invalid on a Raspberry Pi")


def setwarnings(flag: bool) -> None:
    state.calls.append(("setwarnings", flag))


def setmode(mode: int) -> None:
    if state.mode is not None and state.mode != mode:
        raise ValueError("A different mode has already been set!")
    state.mode = mode
    state.calls.append(("setmode", mode))


def setup(channel: int, direction: int, pull_up_down: int = PUD_OFF, initial: int = -1) -> None:
    _check(channel)
    state.pins[channel] = direction
    state.levels[channel] = max(initial, 0)
    state.calls.append(("setup", (channel, direction, pull_up_down, initial)))


def output(channel: int, value: int) -> None:
    _check(channel)
    if state.pins.get(channel) != OUT:
        raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")
    state.levels[channel] = int(bool(value))
    state.writes.append((channel, int(bool(value))))


def input(channel: int) -> int:
    _check(channel)
    return state.levels.get(channel, 0)


def add_event_detect(
    channel: int, edge: int, callback: Optional[Callable[[int], Any]] = None, bouncetime: int = 0
) -> None:
    _check(channel)
    if state.pins.get(channel) != IN:
        raise RuntimeError("You must setup() the GPIO channel as an input first")
    if channel in state.callbacks:
        raise RuntimeError("Conflicting edge detection already enabled for this GPIO channel")
    state.calls.append(("add_event_detect", (channel, edge)))
    if callback is not None:
        state.callbacks[channel] = callback


def remove_event_detect(channel: int) -> None:
    state.callbacks.pop(channel, None)
    state.calls.append(("remove_event_detect", channel))


def cleanup(channel: Any = None) -> None:
    channels = (
        list(state.pins) if channel is None else list(channel) if isinstance(channel, (list, tuple)) else [channel]
    )
    for pin in channels:
        state.pins.pop(pin, None)
        state.callbacks.pop(pin, None)
    state.calls.append(("cleanup", channel))
    if not state.pins:
        state.mode = None


def drive(channel: int, level: int) -> None:
    """Test helper: the input wire goes to ``level``; the callback runs on another thread, as RPi.GPIO's does."""
    if state.levels.get(channel) == level:
        return
    state.levels[channel] = level
    callback = state.callbacks.get(channel)
    if callback is not None:
        worker = threading.Thread(target=callback, args=(channel,))
        worker.start()
        worker.join()


def module() -> types.ModuleType:
    global state
    state = _State()
    fake = types.ModuleType("RPi.GPIO")
    for name, value in globals().items():
        if name.isupper() or name in ("setwarnings", "setmode", "setup", "output", "input", "add_event_detect",
                                      "remove_event_detect", "cleanup", "drive"):  # fmt: skip
            setattr(fake, name, value)
    fake.state = state  # type: ignore[attr-defined]
    fake.__fake__ = True  # type: ignore[attr-defined]
    return fake
