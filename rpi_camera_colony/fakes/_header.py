"""The Raspberry Pi 40-pin header, shared by the GPIO fakes."""

from __future__ import annotations

POWER_PINS = frozenset({1, 2, 4, 17})
GROUND_PINS = frozenset({6, 9, 14, 20, 25, 30, 34, 39})
#: Board (physical) pin numbers that are GPIOs: every header pin but power and ground.
BOARD_GPIOS = frozenset(range(1, 41)) - POWER_PINS - GROUND_PINS
