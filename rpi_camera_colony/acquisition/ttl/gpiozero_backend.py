"""TTL lines through gpiozero (lgpio underneath on Raspberry Pi OS Bookworm; works on every model incl. Pi 5).

Board pin numbers as in the original config (``ttl_out_pin = 8`` is header pin 8 = GPIO14, ``ttl_in_pin = 16`` is
header pin 16 = GPIO23), passed to gpiozero as ``BOARD8`` / ``BOARD16``. The per-frame pulse is a background blink,
so it never holds up frame delivery; input edges are stamped on the camera clock in gpiozero's callback thread.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rpi_camera_colony.acquisition.ttl.base import EdgeCallback, TTLBackend
from rpi_camera_colony.clock import CameraClock
from rpi_camera_colony.exc import BackendError

logger = logging.getLogger(__name__)


class GpiozeroTTL(TTLBackend):
    name = "gpiozero"

    def __init__(self, *, clock: Optional[CameraClock] = None) -> None:
        super().__init__(clock=clock)
        self._out: Any = None
        self._in: Any = None
        self._duration = 0.001
        self._on_edge: Optional[EdgeCallback] = None

    def setup(self, *, out_pin: int, in_pin: int, out_duration: float) -> None:
        try:
            import gpiozero
        except ImportError as err:
            raise BackendError(f"gpiozero is not available: {err}") from None
        if out_pin >= 0 and out_pin == in_pin:
            raise BackendError(f"ttl_out_pin and ttl_in_pin are both {out_pin}: use two different pins")
        self.close()
        self._duration = out_duration
        try:
            if out_pin >= 0:
                self._out = gpiozero.DigitalOutputDevice(f"BOARD{out_pin}", initial_value=False)
            if in_pin >= 0:
                self._in = gpiozero.DigitalInputDevice(f"BOARD{in_pin}", pull_up=False)
                self._in.when_activated = lambda *_: self._edge(1)
                self._in.when_deactivated = lambda *_: self._edge(0)
        except Exception as err:  # gpiozero's PinInvalidPin, GPIOPinInUse, ...
            self.close()
            raise BackendError(f"TTL pins out {out_pin} / in {in_pin} (board numbering): {err}") from None

    def _edge(self, level: int) -> None:
        stamp = self.clock.now_us()
        callback = self._on_edge
        if callback is not None:
            callback(level, stamp)

    def pulse(self) -> int:
        stamp = self.clock.now_us()
        if self._out is not None:
            self._out.blink(on_time=self._duration, off_time=self._duration, n=1, background=True)
        return stamp

    def watch(self, on_edge: Optional[EdgeCallback]) -> None:
        self._on_edge = on_edge

    def close(self) -> None:
        self._on_edge = None
        for device in (self._out, self._in):
            if device is not None:
                device.close()
        self._out = self._in = None
