"""Static tables of the fake libcamera: control and property ids, pixel formats and their memory layout.

The control and property tables list the ids libcamera generates from its YAML definitions (``control_ids_core``,
``control_ids_draft``, ``control_ids_rpi``, ``property_ids_core``, ``property_ids_draft``), in the same order, so
the numeric ids (core from 1, draft from 10001, Raspberry Pi vendor from 20001) and the Python enum names (the
generator strips the common prefix: ``AfModeAuto`` becomes ``AfModeEnum.Auto``) are the ones the real bindings
expose. The pixel format table gives what the Raspberry Pi ISP and CSI-2 receivers write: bytes per pixel, planes,
and the stride alignment of each platform (32 bytes on VC4's bcm2835-isp and Unicam, 64 bytes on the Pi 5 PiSP, the
Y plane of planar YUV420 twice that so the chroma planes keep the alignment).

Nothing here is mutable: every table is a tuple or a read-only mapping.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Optional, Union

#: ``size`` of an array control: a fixed shape, or ``("n",)`` for a variable length array.
ArraySize = Optional[tuple[Union[int, str], ...]]
EnumValues = Optional[tuple[tuple[str, int], ...]]


@dataclass(frozen=True)
class ControlDef:
    """One control or property id: its name, libcamera type name, array size, enum values and namespace."""

    name: str
    type_name: str
    size: ArraySize
    enum: EnumValues
    vendor: str  # "libcamera", "draft" or "rpi"
    id: int


_CORE_CONTROLS: tuple[tuple[str, str, ArraySize, EnumValues], ...] = (
    ("AeEnable", "Bool", None, None),
    ("AeState", "Integer32", None, (("Idle", 0), ("Searching", 1), ("Converged", 2))),
    ("AeMeteringMode", "Integer32", None, (("CentreWeighted", 0), ("Spot", 1), ("Matrix", 2), ("Custom", 3))),
    ("AeConstraintMode", "Integer32", None, (("Normal", 0), ("Highlight", 1), ("Shadows", 2), ("Custom", 3))),
    ("AeExposureMode", "Integer32", None, (("Normal", 0), ("Short", 1), ("Long", 2), ("Custom", 3))),
    ("ExposureValue", "Float", None, None),
    ("ExposureTime", "Integer32", None, None),
    ("ExposureTimeMode", "Integer32", None, (("Auto", 0), ("Manual", 1))),
    ("AnalogueGain", "Float", None, None),
    ("AnalogueGainMode", "Integer32", None, (("Auto", 0), ("Manual", 1))),
    ("AeFlickerMode", "Integer32", None, (("Off", 0), ("Manual", 1), ("Auto", 2))),
    ("AeFlickerPeriod", "Integer32", None, None),
    ("AeFlickerDetected", "Integer32", None, None),
    ("Brightness", "Float", None, None),
    ("Contrast", "Float", None, None),
    ("Lux", "Float", None, None),
    ("AwbEnable", "Bool", None, None),
    (
        "AwbMode",
        "Integer32",
        None,
        (
            ("Auto", 0),
            ("Incandescent", 1),
            ("Tungsten", 2),
            ("Fluorescent", 3),
            ("Indoor", 4),
            ("Daylight", 5),
            ("Cloudy", 6),
            ("Custom", 7),
        ),
    ),
    ("AwbLocked", "Bool", None, None),
    ("ColourGains", "Float", (2,), None),
    ("ColourTemperature", "Integer32", None, None),
    ("Saturation", "Float", None, None),
    ("SensorBlackLevels", "Integer32", (4,), None),
    ("Sharpness", "Float", None, None),
    ("FocusFoM", "Integer32", None, None),
    ("ColourCorrectionMatrix", "Float", (3, 3), None),
    ("ScalerCrop", "Rectangle", None, None),
    ("DigitalGain", "Float", None, None),
    ("FrameDuration", "Integer64", None, None),
    ("FrameDurationLimits", "Integer64", (2,), None),
    ("SensorTemperature", "Float", None, None),
    ("SensorTimestamp", "Integer64", None, None),
    ("AfMode", "Integer32", None, (("Manual", 0), ("Auto", 1), ("Continuous", 2))),
    ("AfRange", "Integer32", None, (("Normal", 0), ("Macro", 1), ("Full", 2))),
    ("AfSpeed", "Integer32", None, (("Normal", 0), ("Fast", 1))),
    ("AfMetering", "Integer32", None, (("Auto", 0), ("Windows", 1))),
    ("AfWindows", "Rectangle", ("n",), None),
    ("AfTrigger", "Integer32", None, (("Start", 0), ("Cancel", 1))),
    ("AfPause", "Integer32", None, (("Immediate", 0), ("Deferred", 1), ("Resume", 2))),
    ("LensPosition", "Float", None, None),
    ("AfState", "Integer32", None, (("Idle", 0), ("Scanning", 1), ("Focused", 2), ("Failed", 3))),
    ("AfPauseState", "Integer32", None, (("Running", 0), ("Pausing", 1), ("Paused", 2))),
    (
        "HdrMode",
        "Integer32",
        None,
        (("Off", 0), ("MultiExposureUnmerged", 1), ("MultiExposure", 2), ("SingleExposure", 3), ("Night", 4)),
    ),
    ("HdrChannel", "Integer32", None, (("None", 0), ("Short", 1), ("Medium", 2), ("Long", 3))),
    ("Gamma", "Float", None, None),
    ("DebugMetadataEnable", "Bool", None, None),
    ("FrameWallClock", "Integer64", None, None),
    (
        "WdrMode",
        "Integer32",
        None,
        (("Off", 0), ("Linear", 1), ("Power", 2), ("Exponential", 3), ("HistogramEqualization", 4)),
    ),
    ("WdrStrength", "Float", None, None),
    ("WdrMaxBrightPixels", "Float", None, None),
    ("LensDewarpEnable", "Bool", None, None),
    ("LensShadingCorrectionEnable", "Bool", None, None),
    ("Hue", "Float", None, None),
)

_DRAFT_CONTROLS: tuple[tuple[str, str, ArraySize, EnumValues], ...] = (
    ("AePrecaptureTrigger", "Integer32", None, (("Idle", 0), ("Start", 1), ("Cancel", 2))),
    (
        "NoiseReductionMode",
        "Integer32",
        None,
        (("Off", 0), ("Fast", 1), ("HighQuality", 2), ("Minimal", 3), ("ZSL", 4)),
    ),
    ("ColorCorrectionAberrationMode", "Integer32", None, (("Off", 0), ("Fast", 1), ("HighQuality", 2))),
    ("AwbState", "Integer32", None, (("StateInactive", 0), ("StateSearching", 1), ("Converged", 2), ("Locked", 3))),
    ("SensorRollingShutterSkew", "Integer64", None, None),
    ("LensShadingMapMode", "Integer32", None, (("Off", 0), ("On", 1))),
    ("PipelineDepth", "Integer32", None, None),
    ("MaxLatency", "Integer32", None, None),
    (
        "TestPatternMode",
        "Integer32",
        None,
        (("Off", 0), ("SolidColor", 1), ("ColorBars", 2), ("ColorBarsFadeToGray", 3), ("Pn9", 4), ("Custom1", 256)),
    ),
    ("FaceDetectMode", "Integer32", None, (("Off", 0), ("Simple", 1), ("Full", 2))),
    ("FaceDetectFaceRectangles", "Rectangle", ("n",), None),
    ("FaceDetectFaceScores", "Byte", ("n",), None),
    ("FaceDetectFaceLandmarks", "Point", ("n",), None),
    ("FaceDetectFaceIds", "Integer32", ("n",), None),
)

_RPI_CONTROLS: tuple[tuple[str, str, ArraySize, EnumValues], ...] = (
    ("StatsOutputEnable", "Bool", None, None),
    ("Bcm2835StatsOutput", "Byte", ("n",), None),
    ("ScalerCrops", "Rectangle", ("n",), None),
    ("PispStatsOutput", "Byte", ("n",), None),
    ("SyncMode", "Integer32", None, (("Off", 0), ("Server", 1), ("Client", 2))),
    ("SyncReady", "Bool", None, None),
    ("SyncTimer", "Integer64", None, None),
    ("SyncFrames", "Integer32", None, None),
    ("CnnOutputTensor", "Float", ("n",), None),
    ("CnnOutputTensorInfo", "Byte", ("n",), None),
    ("CnnEnableInputTensor", "Bool", None, None),
    ("CnnInputTensor", "Byte", ("n",), None),
    ("CnnInputTensorInfo", "Byte", ("n",), None),
    ("CnnKpiInfo", "Integer32", (2,), None),
)

_CORE_PROPERTIES: tuple[tuple[str, str, ArraySize, EnumValues], ...] = (
    ("Location", "Integer32", None, (("Front", 0), ("Back", 1), ("External", 2))),
    ("Rotation", "Integer32", None, None),
    ("Model", "String", None, None),
    ("UnitCellSize", "Size", None, None),
    ("PixelArraySize", "Size", None, None),
    ("PixelArrayOpticalBlackRectangles", "Rectangle", ("n",), None),
    ("PixelArrayActiveAreas", "Rectangle", ("n",), None),
    ("ScalerCropMaximum", "Rectangle", None, None),
    ("SensorSensitivity", "Float", None, None),
    ("SystemDevices", "Integer64", ("n",), None),
    ("PipelineHandler", "String", None, None),
)

_DRAFT_PROPERTIES: tuple[tuple[str, str, ArraySize, EnumValues], ...] = (
    (
        "ColorFilterArrangement",
        "Integer32",
        None,
        (("RGGB", 0), ("GRBG", 1), ("GBRG", 2), ("BGGR", 3), ("RGB", 4), ("MONO", 5)),
    ),
)

_RANGES = {"libcamera": 0, "draft": 10000, "rpi": 20000}


def _number(
    groups: tuple[tuple[str, tuple[tuple[str, str, ArraySize, EnumValues], ...]], ...],
) -> tuple[ControlDef, ...]:
    defs: list[ControlDef] = []
    for vendor, table in groups:
        for index, (name, type_name, size, enum) in enumerate(table, start=1):
            defs.append(ControlDef(name, type_name, size, enum, vendor, _RANGES[vendor] + index))
    return tuple(defs)


CONTROLS: tuple[ControlDef, ...] = _number(
    (("libcamera", _CORE_CONTROLS), ("draft", _DRAFT_CONTROLS), ("rpi", _RPI_CONTROLS))
)
PROPERTIES: tuple[ControlDef, ...] = _number((("libcamera", _CORE_PROPERTIES), ("draft", _DRAFT_PROPERTIES)))

#: Control types of the bindings' ``ControlType`` enum (values as in libcamera's ``enum ControlType``).
CONTROL_TYPES: tuple[tuple[str, int], ...] = (
    ("Null", 0),
    ("Bool", 1),
    ("Byte", 2),
    ("Integer32", 5),
    ("Integer64", 6),
    ("Float", 7),
    ("String", 8),
    ("Rectangle", 9),
    ("Size", 10),
    ("Point", 11),
)

# --------------------------------------------------------------------------------------------------- pixel formats

_MOD_CSI2_PACKED = (0x0A << 56) | 1
_MOD_PISP_COMP1 = (0x0B << 56) | 1


def fourcc(code: str) -> int:
    """The DRM fourcc integer of a four character code."""
    a, b, c, d = (ord(ch) for ch in code)
    return a | (b << 8) | (c << 16) | (d << 24)


@dataclass(frozen=True)
class FormatInfo:
    """Memory layout of one pixel format.

    ``bits_per_pixel`` is for the first plane (the only one for packed formats); ``chroma`` says how the planar
    YUV formats follow the luma plane (``"planar420"``: two half-width half-height planes, ``"semi420"``: one
    interleaved half-height plane of the luma width).
    """

    name: str
    fourcc: int
    modifier: int
    kind: str  # "yuv", "rgb", "raw", "mjpeg"
    bits_per_pixel: int
    chroma: str = ""
    bayer: str = ""  # "RGGB", ..., "MONO" for raw formats
    bit_depth: int = 0  # raw sample depth
    packing: str = ""  # "", "CSI2P", "PISP_COMP1"


def _raw_formats() -> tuple[FormatInfo, ...]:
    out: list[FormatInfo] = []
    for order in ("RGGB", "GRBG", "GBRG", "BGGR"):
        for depth in (8, 10, 12, 16):
            fc = fourcc(f"{order[:2]}{depth:02d}")
            bits = 16 if depth > 8 else 8
            out.append(FormatInfo(f"S{order}{depth}", fc, 0, "raw", bits, bayer=order, bit_depth=depth))
            if depth in (10, 12):
                out.append(
                    FormatInfo(
                        f"S{order}{depth}_CSI2P",
                        fc,
                        _MOD_CSI2_PACKED,
                        "raw",
                        depth,
                        bayer=order,
                        bit_depth=depth,
                        packing="CSI2P",
                    )
                )
        out.append(
            FormatInfo(
                f"{order}_PISP_COMP1",
                fourcc(f"PC1{order[0]}"),
                _MOD_PISP_COMP1,
                "raw",
                8,
                bayer=order,
                bit_depth=16,
                packing="PISP_COMP1",
            )
        )
    for depth in (8, 10, 12, 16):
        out.append(
            FormatInfo(
                f"R{depth}", fourcc(f"Y{depth:02d} "), 0, "raw", 16 if depth > 8 else 8, bayer="MONO", bit_depth=depth
            )
        )
        if depth in (10, 12):
            out.append(
                FormatInfo(
                    f"R{depth}_CSI2P",
                    fourcc(f"Y{depth:02d}P"),
                    _MOD_CSI2_PACKED,
                    "raw",
                    depth,
                    bayer="MONO",
                    bit_depth=depth,
                    packing="CSI2P",
                )
            )
    out.append(
        FormatInfo(
            "MONO_PISP_COMP1",
            fourcc("PC1M"),
            _MOD_PISP_COMP1,
            "raw",
            8,
            bayer="MONO",
            bit_depth=16,
            packing="PISP_COMP1",
        )
    )
    return tuple(out)


PIXEL_FORMATS: types.MappingProxyType[str, FormatInfo] = types.MappingProxyType(
    {
        info.name: info
        for info in (
            FormatInfo("YUV420", fourcc("YU12"), 0, "yuv", 8, chroma="planar420"),
            FormatInfo("YVU420", fourcc("YV12"), 0, "yuv", 8, chroma="planar420"),
            FormatInfo("NV12", fourcc("NV12"), 0, "yuv", 8, chroma="semi420"),
            FormatInfo("NV21", fourcc("NV21"), 0, "yuv", 8, chroma="semi420"),
            FormatInfo("YUYV", fourcc("YUYV"), 0, "yuv", 16),
            FormatInfo("YVYU", fourcc("YVYU"), 0, "yuv", 16),
            FormatInfo("UYVY", fourcc("UYVY"), 0, "yuv", 16),
            FormatInfo("VYUY", fourcc("VYUY"), 0, "yuv", 16),
            FormatInfo("RGB888", fourcc("RG24"), 0, "rgb", 24),
            FormatInfo("BGR888", fourcc("BG24"), 0, "rgb", 24),
            FormatInfo("XRGB8888", fourcc("XR24"), 0, "rgb", 32),
            FormatInfo("XBGR8888", fourcc("XB24"), 0, "rgb", 32),
            FormatInfo("RGB161616", fourcc("RG48"), 0, "rgb", 48),
            FormatInfo("BGR161616", fourcc("BG48"), 0, "rgb", 48),
            FormatInfo("MJPEG", fourcc("MJPG"), 0, "mjpeg", 8),
            *_raw_formats(),
        )
    }
)

#: What each platform's ISP can write (a V4L2 TRY_FMT of anything else comes back as YUV420).
ISP_OUTPUT_FORMATS: types.MappingProxyType[str, tuple[str, ...]] = types.MappingProxyType(
    {
        "vc4": (
            "YUV420",
            "YVU420",
            "NV12",
            "NV21",
            "YUYV",
            "YVYU",
            "UYVY",
            "VYUY",
            "RGB888",
            "BGR888",
            "XRGB8888",
            "XBGR8888",
        ),
        "pisp": (
            "YUV420",
            "YVU420",
            "NV12",
            "NV21",
            "YUYV",
            "YVYU",
            "UYVY",
            "VYUY",
            "RGB888",
            "BGR888",
            "XRGB8888",
            "XBGR8888",
            "RGB161616",
            "BGR161616",
        ),
    }
)

#: Stride alignment in bytes of the ISP outputs and of the CSI-2 receiver (Unicam / PiSP front end).
STRIDE_ALIGN: types.MappingProxyType[str, int] = types.MappingProxyType({"vc4": 32, "pisp": 64})
#: Smallest and largest ISP output dimension (the bcm2835-isp driver's MIN_DIM / MAX_DIM; PiSP is bounded by the
#: 64x downscale rule in validate() rather than a fixed minimum).
ISP_MIN_DIM: types.MappingProxyType[str, int] = types.MappingProxyType({"vc4": 64, "pisp": 2})
ISP_MAX_DIM = 16384


def align_up(value: int, align: int) -> int:
    """``value`` rounded up to a multiple of ``align``."""
    return (value + align - 1) // align * align


def stride_and_size(info: FormatInfo, width: int, height: int, platform: str) -> tuple[int, int]:
    """The stride (bytes per line of the first plane) and frame size the hardware uses for a buffer."""
    align = STRIDE_ALIGN[platform]
    if info.chroma == "planar420":
        # The two chroma planes have half the luma stride and must keep the alignment themselves.
        stride = 2 * align_up((width + 1) // 2, align)
        return stride, stride * height + 2 * (stride // 2) * ((height + 1) // 2)
    if info.chroma == "semi420":
        stride = align_up(width, align)
        return stride, stride * height + stride * ((height + 1) // 2)
    if info.kind == "mjpeg":
        return 0, width * height * 2
    stride = align_up((width * info.bits_per_pixel + 7) // 8, align)
    return stride, stride * height
