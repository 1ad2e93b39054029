"""What the fake ISP writes into a buffer: a smooth gradient and the frame's sequence number as a barcode.

The barcode is :func:`rpi_camera_colony.acquisition.cameras.simulated.draw_frame_index` (32 blocks across the top
band of the luma plane), so a recorded video can be decoded and every frame checked against the sensor sequence
number with :func:`~rpi_camera_colony.acquisition.cameras.simulated.read_frame_index`. YUV formats get it in their
Y samples; RGB formats get it as grey in all three colour channels; raw (Bayer) buffers just get the gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rpi_camera_colony.acquisition.cameras.simulated import draw_frame_index
from rpi_camera_colony.testing.fakes.libcamera._defs import FormatInfo

_RGB_CHANNELS = {"RGB888": 3, "BGR888": 3, "XRGB8888": 4, "XBGR8888": 4}
_YUV422_LUMA_OFFSET = {"YUYV": 0, "YVYU": 0, "UYVY": 1, "VYUY": 1}


class Painter:
    """Fills buffers of one stream configuration (format, size, stride, frame size)."""

    def __init__(self, info: FormatInfo, width: int, height: int, stride: int, frame_size: int) -> None:
        self.info, self.width, self.height, self.stride, self.frame_size = info, width, height, stride, frame_size
        self._base = np.zeros(frame_size, dtype=np.uint8)
        self._scratch = np.zeros((height, width), dtype=np.uint8)
        self._band = 0
        if info.kind == "rgb" and info.name in _RGB_CHANNELS:
            draw_frame_index(self._scratch, 0)
            self._band = int(np.count_nonzero(self._scratch.any(axis=1)))
        self._fill_base()

    def _gradient(self, width: int, height: int, low: int, high: int) -> np.ndarray:
        x = np.linspace(0.0, 1.0, max(width, 1), dtype=np.float32)[None, :]
        y = np.linspace(0.0, 1.0, max(height, 1), dtype=np.float32)[:, None]
        return (low + (high - low) * (0.7 * x + 0.3 * y)).astype(np.uint8)

    def _rows(self, array: np.ndarray, offset: int, rows: int, stride: int) -> np.ndarray:
        return array[offset : offset + rows * stride].reshape(rows, stride)

    def _fill_base(self) -> None:
        info, w, h, stride = self.info, self.width, self.height, self.stride
        base = self._base
        if info.chroma == "planar420":
            self._rows(base, 0, h, stride)[:, :w] = self._gradient(w, h, 40, 200)
            half = stride // 2
            cw, ch = (w + 1) // 2, (h + 1) // 2
            self._rows(base, stride * h, ch, half)[:, :cw] = self._gradient(cw, ch, 110, 150)
            self._rows(base, stride * h + half * ch, ch, half)[:, :cw] = self._gradient(cw, ch, 150, 110)
        elif info.chroma == "semi420":
            self._rows(base, 0, h, stride)[:, :w] = self._gradient(w, h, 40, 200)
            self._rows(base, stride * h, (h + 1) // 2, stride)[:, : w // 2 * 2] = 128
        elif info.name in _YUV422_LUMA_OFFSET:
            rows = self._rows(base, 0, h, stride)
            rows[:, : 2 * w] = 128
            rows[:, _YUV422_LUMA_OFFSET[info.name] : 2 * w : 2] = self._gradient(w, h, 40, 200)
        elif info.name in _RGB_CHANNELS:
            channels = _RGB_CHANNELS[info.name]
            pixels = self._rows(base, 0, h, stride)[:, : w * channels].reshape(h, w, channels)
            pixels[:, :, 0] = self._gradient(w, h, 30, 220)
            pixels[:, :, 1] = self._gradient(w, h, 60, 180)
            pixels[:, :, 2] = self._gradient(w, h, 220, 30)
            if channels == 4:
                pixels[:, :, 3] = 255
        elif stride and h:
            self._rows(base, 0, h, stride)[:, :] = self._gradient(stride, h, 16, 200)

    def paint(self, buffer: Any, sequence: int) -> None:
        """Write the picture of frame ``sequence`` into a writable buffer (a mapped frame buffer) of at least
        ``frame_size`` bytes."""
        target = np.frombuffer(buffer, dtype=np.uint8, count=self.frame_size)
        try:
            target[:] = self._base
            info, w, h, stride = self.info, self.width, self.height, self.stride
            index = sequence & 0xFFFFFFFF
            if info.chroma:
                draw_frame_index(self._rows(target, 0, h, stride)[:, :w], index)
            elif info.name in _YUV422_LUMA_OFFSET:
                offset = _YUV422_LUMA_OFFSET[info.name]
                draw_frame_index(self._rows(target, 0, h, stride)[:, offset : 2 * w : 2], index)
            elif info.name in _RGB_CHANNELS:
                channels = _RGB_CHANNELS[info.name]
                draw_frame_index(self._scratch, index)
                band = self._band
                pixels = self._rows(target, 0, h, stride)[:band, : w * channels].reshape(band, w, channels)
                pixels[:, :, :3] = self._scratch[:band, :, None]
                del pixels
        finally:
            del target
