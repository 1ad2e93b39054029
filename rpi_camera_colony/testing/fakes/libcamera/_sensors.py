"""The fake image sensors: what the kernel driver of each Raspberry Pi camera module tells libcamera.

A :class:`FakeSensor` carries the driver's modes (media bus format, size, maximum frame rate, the crop of the
pixel array it reads out, exposure limits), the static properties libcamera reports (model, pixel array, cell size,
Bayer order, mounting rotation) and the few facts the Raspberry Pi IPA adds (analogue gain range, black level,
whether there is a focus lens and a temperature sensor). The numbers are those the real modules report on a
Raspberry Pi (``rpicam-hello --list-cameras`` / ``Picamera2.sensor_modes``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SensorMode:
    """One readout mode of a sensor.

    Args:
        format: the raw pixel format libcamera names the mode by (CSI-2 packed, e.g. ``SRGGB12_CSI2P``).
        size: output size (width, height) in pixels.
        fps: the fastest frame rate of the mode.
        crop: the area of the pixel array read out, (x, y, width, height) in full resolution pixels.
        exposure_limits: shortest and longest exposure time in microseconds.
    """

    format: str
    size: tuple[int, int]
    fps: float
    crop: tuple[int, int, int, int]
    exposure_limits: tuple[int, int]

    @property
    def bit_depth(self) -> int:
        """Sample depth of the mode's raw format."""
        digits = "".join(ch for ch in self.format.split("_")[0] if ch.isdigit())
        return int(digits)

    @property
    def min_frame_duration_us(self) -> int:
        """The shortest frame duration of the mode."""
        return round(1e6 / self.fps)

    @property
    def max_frame_duration_us(self) -> int:
        """The longest frame duration (the longest exposure plus the readout margin)."""
        return self.exposure_limits[1] + 11750


@dataclass(frozen=True)
class FakeSensor:
    """A camera module as the kernel and libcamera see it. Use the classmethods for the real modules.

    Args:
        model: the ``Model`` property (the driver name, ``imx708_wide`` for a wide Camera Module 3...).
        modes: the readout modes, as the driver lists them.
        pixel_array_size: ``PixelArraySize``.
        active_area: ``PixelArrayActiveAreas`` (one rectangle).
        unit_cell_size: ``UnitCellSize`` in nanometres.
        bayer_order: colour filter arrangement (``RGGB``, ``GRBG``, ``GBRG``, ``BGGR`` or ``MONO``).
        rotation: ``Rotation``: how the module is mounted on its board (degrees).
        i2c_address: the sensor's I2C address, part of libcamera's camera id.
        analogue_gain_limits: smallest and largest analogue gain.
        black_level: black level of the raw data scaled to 16 bits (``SensorBlackLevels``).
        sensitivity: ``SensorSensitivity``.
        has_autofocus: a focus lens (VCM) libcamera can drive: the autofocus controls are advertised.
        has_temperature_sensor: the driver reports ``SensorTemperature``.
        lens_limits: the lens position range in dioptres (autofocus modules only).
    """

    model: str
    modes: tuple[SensorMode, ...]
    pixel_array_size: tuple[int, int]
    active_area: tuple[int, int, int, int]
    unit_cell_size: tuple[int, int]
    bayer_order: str
    rotation: int
    i2c_address: int
    analogue_gain_limits: tuple[float, float]
    black_level: int = 4096
    sensitivity: float = 1.0
    has_autofocus: bool = False
    has_temperature_sensor: bool = False
    lens_limits: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if not self.modes:
            raise ValueError("a sensor needs at least one mode")
        if self.bayer_order not in ("RGGB", "GRBG", "GBRG", "BGGR", "MONO"):
            raise ValueError(f"bad bayer order {self.bayer_order!r}")

    @property
    def driver(self) -> str:
        """The kernel driver name (the model without a variant suffix such as ``_wide`` or ``_noir``)."""
        return self.model.split("_")[0]

    @property
    def resolution(self) -> tuple[int, int]:
        """The largest mode size."""
        return max((mode.size for mode in self.modes), key=lambda size: size[0] * size[1])

    @classmethod
    def imx477(cls) -> FakeSensor:
        """Raspberry Pi HQ camera (Sony IMX477, 12.3 MP, 4056x3040)."""
        return cls(
            model="imx477",
            modes=(
                SensorMode("SRGGB10_CSI2P", (1332, 990), 120.05, (696, 528, 2664, 1980), (31, 667234896)),
                SensorMode("SRGGB12_CSI2P", (2028, 1080), 50.03, (0, 440, 4056, 2160), (60, 674181621)),
                SensorMode("SRGGB12_CSI2P", (2028, 1520), 40.01, (0, 0, 4056, 3040), (60, 674181621)),
                SensorMode("SRGGB12_CSI2P", (4056, 3040), 10.0, (0, 0, 4056, 3040), (114, 694422939)),
            ),
            pixel_array_size=(4056, 3040),
            active_area=(8, 16, 4056, 3040),
            unit_cell_size=(1550, 1550),
            bayer_order="RGGB",
            rotation=180,
            i2c_address=0x1A,
            analogue_gain_limits=(1.0, 22.2608699798584),
            black_level=4096,
            has_temperature_sensor=True,
        )

    @classmethod
    def imx708(cls, variant: str = "") -> FakeSensor:
        """Raspberry Pi Camera Module 3 (Sony IMX708, 11.9 MP, 4608x2592, autofocus).

        Args:
            variant: ``""``, ``"wide"``, ``"noir"`` or ``"wide_noir"`` (the ``Model`` becomes ``imx708_wide``...).
        """
        if variant not in ("", "wide", "noir", "wide_noir"):
            raise ValueError(f"unknown imx708 variant {variant!r}")
        return cls(
            model="imx708" + (f"_{variant}" if variant else ""),
            modes=(
                SensorMode("SRGGB10_CSI2P", (1536, 864), 120.13, (768, 432, 3072, 1728), (9, 77193582)),
                SensorMode("SRGGB10_CSI2P", (2304, 1296), 56.03, (0, 0, 4608, 2592), (13, 112015443)),
                SensorMode("SRGGB10_CSI2P", (4608, 2592), 14.35, (0, 0, 4608, 2592), (26, 220417486)),
            ),
            pixel_array_size=(4608, 2592),
            active_area=(16, 24, 4608, 2592),
            unit_cell_size=(1400, 1400),
            bayer_order="RGGB",
            rotation=180,
            i2c_address=0x1A,
            analogue_gain_limits=(1.1228070259094238, 16.0),
            black_level=4096,
            has_autofocus=True,
            has_temperature_sensor=True,
            lens_limits=(0.0, 15.0) if "wide" not in variant else (0.0, 32.0),
        )

    @classmethod
    def imx219(cls) -> FakeSensor:
        """Raspberry Pi Camera Module 2 (Sony IMX219, 8 MP, 3280x2464)."""
        sizes = (
            ((640, 480), 206.65, (1000, 752, 1280, 960)),
            ((1640, 1232), 41.85, (0, 0, 3280, 2464)),
            ((1920, 1080), 47.57, (680, 692, 1920, 1080)),
            ((3280, 2464), 21.19, (0, 0, 3280, 2464)),
        )
        modes = tuple(
            SensorMode(fmt, size, fps, crop, (75, 11766829))
            for fmt in ("SBGGR8", "SBGGR10_CSI2P")
            for size, fps, crop in sizes
        )
        return cls(
            model="imx219",
            modes=modes,
            pixel_array_size=(3280, 2464),
            active_area=(8, 8, 3280, 2464),
            unit_cell_size=(1120, 1120),
            bayer_order="BGGR",
            rotation=180,
            i2c_address=0x10,
            analogue_gain_limits=(1.0, 10.666666984558105),
            black_level=4096,
        )

    @classmethod
    def ov5647(cls) -> FakeSensor:
        """Raspberry Pi Camera Module 1 (OmniVision OV5647, 5 MP, 2592x1944)."""
        return cls(
            model="ov5647",
            modes=(
                SensorMode("SGBRG10_CSI2P", (640, 480), 58.92, (16, 0, 2560, 1920), (134, 1103219)),
                SensorMode("SGBRG10_CSI2P", (1296, 972), 43.25, (0, 0, 2592, 1944), (92, 760636)),
                SensorMode("SGBRG10_CSI2P", (1920, 1080), 30.62, (348, 434, 1928, 1080), (118, 969249)),
                SensorMode("SGBRG10_CSI2P", (2592, 1944), 15.63, (0, 0, 2592, 1944), (130, 1064990)),
            ),
            pixel_array_size=(2592, 1944),
            active_area=(16, 6, 2592, 1944),
            unit_cell_size=(1400, 1400),
            bayer_order="GBRG",
            rotation=0,
            i2c_address=0x36,
            analogue_gain_limits=(1.0, 63.9375),
            black_level=1024,
        )
