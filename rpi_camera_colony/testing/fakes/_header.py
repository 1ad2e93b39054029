"""The Raspberry Pi 40-pin header (every model since the B+), for the GPIO fake."""

from __future__ import annotations

#: Board (physical) pin number -> BCM GPIO number, for every header pin that is a GPIO (not power or ground).
BOARD_TO_BCM = {
    3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10, 21: 9, 22: 25, 23: 11,
    24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19, 36: 16, 37: 26, 38: 20, 40: 21,
}  # fmt: skip
BOARD_GPIOS = frozenset(BOARD_TO_BCM)
