"""TTL lines through gpiozero (lgpio underneath on Raspberry Pi OS Bookworm; works on every model incl. Pi 5).

Board pin numbers as in the original config (``ttl_out_pin = 8`` is header pin 8 = GPIO14, ``ttl_in_pin = 16`` is
header pin 16 = GPIO23), passed to gpiozero as ``BOARD8`` / ``BOARD16``. The per-frame pulses are driven by a
:class:`~.pulses.PulseTrain` (``on()``/``off()``), so they never hold up frame delivery and never merge. Input
edges are stamped at the time the pin library saw them: gpiozero records each edge's tick (the kernel's edge
timestamp with lgpio), and the callback subtracts the device's ``active_time`` / ``inactive_time`` (time since that
edge) from the camera clock's now, so callback latency does not skew them.

The pin factory is injected (``pin_factory=``; tests give gpiozero's own ``MockFactory``), else gpiozero chooses
its default as documented (``GPIOZERO_PIN_FACTORY``, then lgpio, RPi.GPIO, pigpio, native).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rpi_camera_colony.acquisition.ttl.base import EdgeCallback, TTLBackend
from rpi_camera_colony.acquisition.ttl.pulses import PulseTrain
from rpi_camera_colony.clock import CameraClock
from rpi_camera_colony.exc import BackendError

logger = logging.getLogger(__name__)

#: An edge reported more than this long after it happened is stamped at the callback instead (a pin factory
#: whose ticks are not on the same clock as its events would otherwise give nonsense).
MAX_EDGE_DELAY_S = 1.0


class GpiozeroTTL(TTLBackend):
    name = "gpiozero"

    def __init__(self, *, clock: Optional[CameraClock] = None, pin_factory: Any = None) -> None:
        super().__init__(clock=clock)
        self.pin_factory = pin_factory
        self._out: Any = None
        self._in: Any = None
        self._train: Optional[PulseTrain] = None
        self._on_edge: Optional[EdgeCallback] = None

    def setup(self, *, out_pin: int, in_pin: int, out_duration: float) -> None:
        try:
            import gpiozero
        except ImportError as err:
            raise BackendError(f"gpiozero is not available: {err}") from None
        if out_pin >= 0 and out_pin == in_pin:
            raise BackendError(f"ttl_out_pin and ttl_in_pin are both {out_pin}: use two different pins")
        self.close()
        try:
            if out_pin >= 0:
                self._out = out = gpiozero.DigitalOutputDevice(
                    f"BOARD{out_pin}", initial_value=False, pin_factory=self.pin_factory
                )
                self._train = PulseTrain(lambda level: out.on() if level else out.off(), out_duration)
            if in_pin >= 0:
                self._in = gpiozero.DigitalInputDevice(f"BOARD{in_pin}", pull_up=False, pin_factory=self.pin_factory)
                self._in.when_activated = self._activated
                self._in.when_deactivated = self._deactivated
        except Exception as err:  # gpiozero's BadPinFactory, PinInvalidPin, GPIOPinInUse, ...
            self.close()
            raise BackendError(
                f"TTL pins out {out_pin} / in {in_pin} (board numbering): {type(err).__name__}: {err}"
            ) from None

    def _activated(self, device: Any) -> None:
        self._edge(1, device.active_time)

    def _deactivated(self, device: Any) -> None:
        self._edge(0, device.inactive_time)

    def _edge(self, level: int, since_s: Optional[float]) -> None:
        stamp = self.clock.now_us()
        if since_s is not None and 0 <= since_s <= MAX_EDGE_DELAY_S:
            stamp -= round(since_s * 1e6)
        callback = self._on_edge
        if callback is not None:
            callback(level, stamp)

    def pulse(self) -> int:
        train = self._train
        return self.clock.now_us() if train is None else self.clock.from_monotonic(train.pulse())

    def drain(self) -> None:
        if self._train is not None:
            self._train.drain()

    def watch(self, on_edge: Optional[EdgeCallback]) -> None:
        self._on_edge = on_edge

    def close(self) -> None:
        self._on_edge = None
        if self._train is not None:
            self._train.close()
            self._train = None
        for device in (self._out, self._in):
            if device is not None:
                device.close()
        self._out = self._in = None
