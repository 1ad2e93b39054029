"""TTL lines through RPi.GPIO (older Raspberry Pi OS; not on Pi 5), in BOARD numbering as the original package.

The pulses are driven by a :class:`~.pulses.PulseTrain`: high on the frame's thread, low ``ttl_out_duration``
later from a worker, each pulse distinct even when frames arrive back to back, so a frame is never held up (the
original slept 1 ms inside the encoder callback). Input edges (both directions) are
stamped on the camera clock in RPi.GPIO's callback thread.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rpi_camera_colony.acquisition.ttl.base import EdgeCallback, TTLBackend
from rpi_camera_colony.acquisition.ttl.pulses import PulseTrain
from rpi_camera_colony.clock import CameraClock
from rpi_camera_colony.exc import BackendError

logger = logging.getLogger(__name__)


class RPiGPIOTTL(TTLBackend):
    name = "rpi_gpio"

    def __init__(self, *, clock: Optional[CameraClock] = None) -> None:
        super().__init__(clock=clock)
        self._gpio: Any = None
        self._pins: list[int] = []
        self._out_pin = -1
        self._in_pin = -1
        self._on_edge: Optional[EdgeCallback] = None
        self._train: Optional[PulseTrain] = None
        self._detecting = False  # edge detection enabled on the input pin

    def setup(self, *, out_pin: int, in_pin: int, out_duration: float) -> None:
        try:
            import RPi.GPIO as GPIO
        except ImportError as err:
            raise BackendError(f"RPi.GPIO is not available: {err}") from None
        if out_pin >= 0 and out_pin == in_pin:
            raise BackendError(f"ttl_out_pin and ttl_in_pin are both {out_pin}: use two different pins")
        self.close()
        self._gpio = GPIO
        self._out_pin, self._in_pin = out_pin, in_pin
        try:
            GPIO.setwarnings(False)
            GPIO.setmode(GPIO.BOARD)
            if out_pin >= 0:
                GPIO.setup(out_pin, GPIO.OUT, initial=GPIO.LOW)
                self._pins.append(out_pin)
            if in_pin >= 0:
                GPIO.setup(in_pin, GPIO.IN, pull_up_down=GPIO.PUD_DOWN)
                self._pins.append(in_pin)
                GPIO.add_event_detect(in_pin, GPIO.BOTH, callback=self._edge)
                self._detecting = True
        except (RuntimeError, ValueError) as err:
            self.close()
            raise BackendError(f"TTL pins out {out_pin} / in {in_pin} (board numbering): {err}") from None
        if out_pin >= 0:
            self._train = PulseTrain(lambda level: GPIO.output(out_pin, GPIO.HIGH if level else GPIO.LOW), out_duration)

    def _edge(self, channel: int) -> None:
        stamp = self.clock.now_us()
        callback = self._on_edge
        if callback is not None and self._gpio is not None:
            callback(int(self._gpio.input(channel)), stamp)

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
        if self._gpio is not None and self._detecting:
            self._gpio.remove_event_detect(self._in_pin)
        self._detecting = False
        if self._gpio is not None and self._pins:  # only the pins set up: RPi.GPIO refuses others
            self._gpio.cleanup(self._pins)
        self._pins = []
