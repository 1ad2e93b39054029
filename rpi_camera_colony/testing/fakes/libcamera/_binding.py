"""The Python face of the fake libcamera: the classes of libcamera's pybind11 module ``libcamera._libcamera``.

They follow the real bindings (``src/py/libcamera/py_*.cpp``): the same names, constructors and keyword names,
attribute semantics (``StreamConfiguration.size`` returns the object inside the configuration, assigning stores a
copy; ``FrameBuffer.planes`` returns copies), errors (a failing call raises
``RuntimeError("Failed to ...: <strerror>")`` as pybind11 translates libcamera's ``std::system_error``; a value that
cannot be cast raises the cast error pybind11 raises), identity hashing (``ControlId``, ``Stream``, ``FrameBuffer``
are dict keys by identity; ``Size``, ``Rectangle`` and ``PixelFormat`` define ``==`` and so are unhashable, like the
real ones), and the enum semantics (libcamera's plain C++ enums compare equal to ints, ``enum class`` ones do not).

Every class here is a template: :class:`Lib` derives a fresh subclass of each for one :func:`fake_libcamera`
context, so that what picamera2 patches onto the classes at import (``Transform.__eq__``, ``Size.to_tuple``...) dies
with the context, and every object can reach the context's kernel through ``_lib``. Camera operations are carried
out by the fake pipeline (:mod:`._pipeline`), which plays the Raspberry Pi pipeline handler, IPA and sensor.
"""

from __future__ import annotations

import enum
import errno as errno_module
import logging
import os
import struct
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Optional, TypeVar, cast

from rpi_camera_colony.testing.fakes.libcamera import _defs
from rpi_camera_colony.testing.fakes.libcamera._fds import FdHandle
from rpi_camera_colony.testing.fakes.libcamera._ports import CameraPort, KernelPort

logger = logging.getLogger(__name__)

LIBCAMERA_VERSION = "v0.7.1+rpt20260429"

T = TypeVar("T")


def system_error(what: str, code: int) -> RuntimeError:
    """The exception pybind11 raises for libcamera's ``std::system_error(code, generic_category(), what)``."""
    return RuntimeError(f"{what}: {os.strerror(code)}")


def cast_error(value: object) -> RuntimeError:
    """The exception pybind11 raises when a Python value cannot be cast to the C++ type of a control."""
    return RuntimeError(
        f"Unable to cast Python instance of type {type(value)} to C++ type '?' (#define "
        "PYBIND11_DETAILED_ERROR_MESSAGES or compile in debug mode for details)"
    )


def incompatible_arguments(function: str) -> TypeError:
    """The exception pybind11 raises when no overload of a bound function accepts the arguments."""
    return TypeError(f"{function}(): incompatible function arguments")


def float32(value: float) -> float:
    """``value`` rounded to a C ``float``, as every float control value is inside libcamera."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def _unsigned(value: object, function: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise incompatible_arguments(function)
    return value


def _signed(value: object, function: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise incompatible_arguments(function)
    return value


class _Template:
    """Base of the binding templates: ``_lib`` is set on the per-context subclass."""

    _lib: ClassVar[Lib]


# ------------------------------------------------------------------------------------------------------- geometry


class Point(_Template):
    """``libcamera.Point``."""

    def __init__(self, x: int = 0, y: int = 0) -> None:
        self.x = _signed(x, "Point.__init__")
        self.y = _signed(y, "Point.__init__")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]

    def __neg__(self) -> Point:
        return self._lib.Point(-self.x, -self.y)

    def __str__(self) -> str:
        return f"({self.x}, {self.y})"

    def __repr__(self) -> str:
        return f"libcamera.Point({self.x}, {self.y})"


class Size(_Template):
    """``libcamera.Size``: ``width`` and ``height`` are unsigned."""

    def __init__(self, width: int = 0, height: int = 0) -> None:
        self._width = _unsigned(width, "Size.__init__")
        self._height = _unsigned(height, "Size.__init__")

    @property
    def width(self) -> int:
        return self._width

    @width.setter
    def width(self, value: int) -> None:
        self._width = _unsigned(value, "width")

    @property
    def height(self) -> int:
        return self._height

    @height.setter
    def height(self, value: int) -> None:
        self._height = _unsigned(value, "height")

    @property
    def is_null(self) -> bool:
        return self._width == 0 and self._height == 0

    def _new(self, width: float, height: float) -> Size:
        return self._lib.Size(max(0, int(width)), max(0, int(height)))

    def align_down_to(self, h_alignment: int, v_alignment: int) -> Size:
        self._width, self._height = self._width // h_alignment * h_alignment, self._height // v_alignment * v_alignment
        return self

    def align_up_to(self, h_alignment: int, v_alignment: int) -> Size:
        self._width = _defs.align_up(self._width, h_alignment)
        self._height = _defs.align_up(self._height, v_alignment)
        return self

    def bound_to(self, bound: Size) -> Size:
        self._width, self._height = min(self._width, bound.width), min(self._height, bound.height)
        return self

    def expand_to(self, expand: Size) -> Size:
        self._width, self._height = max(self._width, expand.width), max(self._height, expand.height)
        return self

    def grow_by(self, margins: Size) -> Size:
        self._width, self._height = self._width + margins.width, self._height + margins.height
        return self

    def shrink_by(self, margins: Size) -> Size:
        self._width = max(0, self._width - margins.width)
        self._height = max(0, self._height - margins.height)
        return self

    def aligned_down_to(self, h_alignment: int, v_alignment: int) -> Size:
        return self._new(self._width // h_alignment * h_alignment, self._height // v_alignment * v_alignment)

    def aligned_up_to(self, h_alignment: int, v_alignment: int) -> Size:
        return self._new(_defs.align_up(self._width, h_alignment), _defs.align_up(self._height, v_alignment))

    def bounded_to(self, bound: Size) -> Size:
        return self._new(min(self._width, bound.width), min(self._height, bound.height))

    def expanded_to(self, expand: Size) -> Size:
        return self._new(max(self._width, expand.width), max(self._height, expand.height))

    def grown_by(self, margins: Size) -> Size:
        return self._new(self._width + margins.width, self._height + margins.height)

    def shrunk_by(self, margins: Size) -> Size:
        return self._new(self._width - margins.width, self._height - margins.height)

    def bounded_to_aspect_ratio(self, ratio: Size) -> Size:
        ratio1 = self._width * ratio.height
        ratio2 = ratio.width * self._height
        if ratio1 > ratio2:
            return self._new(ratio2 // ratio.height, self._height)
        return self._new(self._width, ratio1 // ratio.width)

    def expanded_to_aspect_ratio(self, ratio: Size) -> Size:
        ratio1 = self._width * ratio.height
        ratio2 = ratio.width * self._height
        if ratio1 < ratio2:
            return self._new(ratio2 // ratio.height, self._height)
        return self._new(self._width, ratio1 // ratio.width)

    def centered_to(self, center: Point) -> Rectangle:
        return self._lib.Rectangle(center.x - self._width // 2, center.y - self._height // 2, self._width, self._height)

    def copy(self) -> Size:
        """A new Size equal to this one (what the bindings' setters store)."""
        return self._new(self._width, self._height)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Size) and (self._width, self._height) == (other.width, other.height)

    __hash__ = None  # type: ignore[assignment]

    def __lt__(self, other: Size) -> bool:
        if self._width < other.width and self._height < other.height:
            return True
        if self._width >= other.width and self._height >= other.height:
            return False
        left, right = self._width * self._height, other.width * other.height
        if left != right:
            return left < right
        return self._width < other.width

    def __le__(self, other: Size) -> bool:
        return self < other or self == other

    def __mul__(self, factor: float) -> Size:
        return self._new(self._width * factor, self._height * factor)

    def __truediv__(self, factor: float) -> Size:
        return self._new(self._width / factor, self._height / factor)

    def __str__(self) -> str:
        return f"{self._width}x{self._height}"

    def __repr__(self) -> str:
        return f"libcamera.Size({self._width}, {self._height})"


class SizeRange(_Template):
    """``libcamera.SizeRange``."""

    def __init__(self, min: Optional[Size] = None, max: Optional[Size] = None, hStep: int = 1, vStep: int = 1) -> None:
        self.min = min.copy() if min is not None else self._lib.Size()
        self.max = max.copy() if max is not None else self.min.copy()
        self.hStep = hStep
        self.vStep = vStep

    def contains(self, size: Size) -> bool:
        return (
            self.min.width <= size.width <= self.max.width
            and self.min.height <= size.height <= self.max.height
            and (self.hStep == 0 or (size.width - self.min.width) % self.hStep == 0)
            and (self.vStep == 0 or (size.height - self.min.height) % self.vStep == 0)
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SizeRange) and (self.min, self.max, self.hStep, self.vStep) == (
            other.min,
            other.max,
            other.hStep,
            other.vStep,
        )

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"({self.min})-({self.max})/(+{self.hStep},+{self.vStep})"

    def __repr__(self) -> str:
        return (
            f"libcamera.SizeRange(({self.min.width}, {self.min.height}), ({self.max.width}, {self.max.height}), "
            f"{self.hStep}, {self.vStep})"
        )


class Rectangle(_Template):
    """``libcamera.Rectangle``: ``Rectangle()``, ``Rectangle(x, y, width, height)``, ``Rectangle(x, y, Size)``
    or ``Rectangle(Size)``."""

    def __init__(self, x: Any = 0, y: int = 0, width: Any = None, height: Optional[int] = None) -> None:
        if isinstance(x, Size):
            if (y, width, height) != (0, None, None):
                raise incompatible_arguments("Rectangle.__init__")
            x, y, width, height = 0, 0, x.width, x.height
        elif isinstance(width, Size):
            if height is not None:
                raise incompatible_arguments("Rectangle.__init__")
            width, height = width.width, width.height
        self.x = _signed(x, "Rectangle.__init__")
        self.y = _signed(y, "Rectangle.__init__")
        self.width = _unsigned(0 if width is None else width, "Rectangle.__init__")
        self.height = _unsigned(0 if height is None else height, "Rectangle.__init__")

    @property
    def is_null(self) -> bool:
        return self.width == 0 and self.height == 0

    @property
    def center(self) -> Point:
        return self._lib.Point(self.x + self.width // 2, self.y + self.height // 2)

    @property
    def size(self) -> Size:
        return self._lib.Size(self.width, self.height)

    @property
    def topLeft(self) -> Point:
        return self._lib.Point(self.x, self.y)

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(x, y, width, height)."""
        return (self.x, self.y, self.width, self.height)

    def bounded_to(self, bound: Rectangle) -> Rectangle:
        x0, y0 = max(self.x, bound.x), max(self.y, bound.y)
        x1 = min(self.x + self.width, bound.x + bound.width)
        y1 = min(self.y + self.height, bound.y + bound.height)
        return self._lib.Rectangle(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def translated_by(self, point: Point) -> Rectangle:
        return self._lib.Rectangle(self.x + point.x, self.y + point.y, self.width, self.height)

    def translate_by(self, point: Point) -> Rectangle:
        self.x += point.x
        self.y += point.y
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rectangle) and self.as_tuple() == other.as_tuple()

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"({self.x}, {self.y})/{self.width}x{self.height}"

    def __repr__(self) -> str:
        return f"libcamera.Rectangle({self.x}, {self.y}, {self.width}, {self.height})"


# --------------------------------------------------------------------------------------------------- pixel formats


class PixelFormat(_Template):
    """``libcamera.PixelFormat``: ``PixelFormat()``, ``PixelFormat("YUV420")`` or ``PixelFormat(fourcc, modifier)``."""

    def __init__(self, fourcc: Any = None, modifier: Optional[int] = None) -> None:
        self._info: Optional[_defs.FormatInfo] = None
        self._fourcc, self._modifier = 0, 0
        if isinstance(fourcc, str):
            if modifier is not None:
                raise incompatible_arguments("PixelFormat.__init__")
            self._info = _defs.PIXEL_FORMATS.get(fourcc)
        elif isinstance(fourcc, int) and not isinstance(fourcc, bool):
            self._fourcc, self._modifier = fourcc, 0 if modifier is None else int(modifier)
            self._info = next(
                (i for i in _defs.PIXEL_FORMATS.values() if (i.fourcc, i.modifier) == (self._fourcc, self._modifier)),
                None,
            )
        elif fourcc is not None or modifier is not None:
            raise incompatible_arguments("PixelFormat.__init__")
        if self._info is not None:
            self._fourcc, self._modifier = self._info.fourcc, self._info.modifier

    @property
    def fourcc(self) -> int:
        return self._fourcc

    @property
    def modifier(self) -> int:
        return self._modifier

    @property
    def info(self) -> Optional[_defs.FormatInfo]:
        """The fake's layout table entry (not part of the bindings)."""
        return self._info

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PixelFormat) and (self._fourcc, self._modifier) == (other.fourcc, other.modifier)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        if self._info is not None:
            return self._info.name
        if self._fourcc == 0:
            return "<INVALID>"
        return f"<{self._fourcc:#010x}-{self._modifier:#x}>"

    def __repr__(self) -> str:
        return f"libcamera.PixelFormat('{self}')"


# --------------------------------------------------------------------------------------- colour space / transform


class ColorSpace(_Template):
    """``libcamera.ColorSpace(primaries, transferFunction, ycbcrEncoding, range)`` or ``ColorSpace(other)``."""

    Primaries: ClassVar[Any]
    TransferFunction: ClassVar[Any]
    YcbcrEncoding: ClassVar[Any]
    Range: ClassVar[Any]

    def __init__(
        self,
        primaries: Any,
        transferFunction: Any = None,
        ycbcrEncoding: Any = None,
        range: Any = None,
    ) -> None:
        cls = type(self)
        if isinstance(primaries, ColorSpace):
            if (transferFunction, ycbcrEncoding, range) != (None, None, None):
                raise incompatible_arguments("ColorSpace.__init__")
            primaries, transferFunction, ycbcrEncoding, range = primaries.fields()
        if not (
            isinstance(primaries, cls.Primaries)
            and isinstance(transferFunction, cls.TransferFunction)
            and isinstance(ycbcrEncoding, cls.YcbcrEncoding)
            and isinstance(range, cls.Range)
        ):
            raise incompatible_arguments("ColorSpace.__init__")
        self.primaries = primaries
        self.transferFunction = transferFunction
        self.ycbcrEncoding = ycbcrEncoding
        self.range = range

    def fields(self) -> tuple[Any, Any, Any, Any]:
        """(primaries, transferFunction, ycbcrEncoding, range), for comparisons inside the fake."""
        return (self.primaries, self.transferFunction, self.ycbcrEncoding, self.range)

    @classmethod
    def _make(cls, primaries: str, transfer: str, encoding: str, range_: str) -> ColorSpace:
        return cls(
            cls.Primaries[primaries], cls.TransferFunction[transfer], cls.YcbcrEncoding[encoding], cls.Range[range_]
        )

    @classmethod
    def Raw(cls) -> ColorSpace:
        return cls._make("Raw", "Linear", "Null", "Full")

    @classmethod
    def Srgb(cls) -> ColorSpace:
        return cls._make("Rec709", "Srgb", "Null", "Full")

    @classmethod
    def Sycc(cls) -> ColorSpace:
        return cls._make("Rec709", "Srgb", "Rec601", "Full")

    @classmethod
    def Smpte170m(cls) -> ColorSpace:
        return cls._make("Smpte170m", "Rec709", "Rec601", "Limited")

    @classmethod
    def Rec709(cls) -> ColorSpace:
        return cls._make("Rec709", "Rec709", "Rec709", "Limited")

    @classmethod
    def Rec2020(cls) -> ColorSpace:
        return cls._make("Rec2020", "Rec709", "Rec2020", "Limited")

    def to_string(self) -> str:
        """libcamera's ``ColorSpace::toString``."""
        for name in ("Raw", "Srgb", "Sycc", "Smpte170m", "Rec709", "Rec2020"):
            if getattr(type(self), name)().fields() == self.fields():
                return {"Raw": "RAW", "Srgb": "sRGB", "Sycc": "sYCC", "Smpte170m": "SMPTE170M"}.get(name, name)
        encoding = "None" if self.ycbcrEncoding.name == "Null" else self.ycbcrEncoding.name
        return f"{self.primaries.name}/{self.transferFunction.name}/{encoding}/{self.range.name}"

    def __str__(self) -> str:
        return f"<libcamera.ColorSpace '{self.to_string()}'>"


_HFLIP, _VFLIP, _TRANSPOSE = 1, 2, 4
_ROTATIONS = {0: 0, 90: _TRANSPOSE | _HFLIP, 180: _HFLIP | _VFLIP, 270: _TRANSPOSE | _VFLIP}
_TRANSFORM_NAMES = {
    0: "identity",
    _HFLIP: "hflip",
    _VFLIP: "vflip",
    _HFLIP | _VFLIP: "rot180",
    _TRANSPOSE: "transpose",
    _TRANSPOSE | _HFLIP: "rot90",
    _TRANSPOSE | _VFLIP: "rot270",
    _TRANSPOSE | _HFLIP | _VFLIP: "rot180Transpose",
}


def _compose(first: int, second: int) -> int:
    """The transform applying ``first`` then ``second`` (libcamera's ``second * first``)."""
    if second & _TRANSPOSE:
        # Moving the transpose in front of the first transform swaps its flips.
        first = (first & _TRANSPOSE) | ((first & _HFLIP) << 1) | ((first & _VFLIP) >> 1)
    return first ^ second


class Transform(_Template):
    """``libcamera.Transform(rotation=0, hflip=False, vflip=False, transpose=False)`` or ``Transform(other)``."""

    def __init__(self, rotation: Any = 0, hflip: bool = False, vflip: bool = False, transpose: bool = False) -> None:
        if isinstance(rotation, Transform):
            if (hflip, vflip, transpose) != (False, False, False):
                raise incompatible_arguments("Transform.__init__")
            self._bits = rotation.bits
            return
        if isinstance(rotation, bool) or not isinstance(rotation, int):
            raise incompatible_arguments("Transform.__init__")
        if rotation % 360 not in _ROTATIONS:
            raise ValueError("Invalid rotation")
        bits = _ROTATIONS[rotation % 360]
        for flag, bit in ((hflip, _HFLIP), (vflip, _VFLIP), (transpose, _TRANSPOSE)):
            if bool(flag):
                bits ^= bit
        self._bits = bits

    @property
    def bits(self) -> int:
        """The transform as libcamera's bit mask (HFlip 1, VFlip 2, Transpose 4)."""
        return self._bits

    def _flag(self, bit: int) -> bool:
        return bool(self._bits & bit)

    def _set(self, bit: int, value: bool) -> None:
        self._bits = (self._bits | bit) if value else (self._bits & ~bit)

    @property
    def hflip(self) -> bool:
        return self._flag(_HFLIP)

    @hflip.setter
    def hflip(self, value: bool) -> None:
        self._set(_HFLIP, value)

    @property
    def vflip(self) -> bool:
        return self._flag(_VFLIP)

    @vflip.setter
    def vflip(self, value: bool) -> None:
        self._set(_VFLIP, value)

    @property
    def transpose(self) -> bool:
        return self._flag(_TRANSPOSE)

    @transpose.setter
    def transpose(self, value: bool) -> None:
        self._set(_TRANSPOSE, value)

    def inverse(self) -> Transform:
        result = self._lib.Transform(self)
        result.invert()
        return result

    def invert(self) -> None:
        if self._bits & _TRANSPOSE:
            self._bits = _TRANSPOSE | ((self._bits & _HFLIP) << 1) | ((self._bits & _VFLIP) >> 1)

    def compose(self, other: Transform) -> None:
        self._bits = _compose(other.bits, self._bits)

    def __str__(self) -> str:
        return f"<libcamera.Transform '{_TRANSFORM_NAMES[self._bits]}'>"


#: libcamera's Orientation (EXIF numbering) as transform bits applied to a correctly oriented image.
ORIENTATION_BITS = {
    "Rotate0": 0,
    "Rotate0Mirror": _HFLIP,
    "Rotate180": _HFLIP | _VFLIP,
    "Rotate180Mirror": _VFLIP,
    "Rotate90Mirror": _TRANSPOSE,
    "Rotate270": _TRANSPOSE | _HFLIP,
    "Rotate270Mirror": _TRANSPOSE | _HFLIP | _VFLIP,
    "Rotate90": _TRANSPOSE | _VFLIP,
}


# ----------------------------------------------------------------------------------------------- controls and ids


class ControlId(_Template):
    """``libcamera.ControlId``: one per control/property, compared and hashed by identity as in the bindings."""

    def __init__(self, definition: _defs.ControlDef, control_type: Any) -> None:
        self._def = definition
        self._type = control_type

    @property
    def definition(self) -> _defs.ControlDef:
        """The fake's table entry (not part of the bindings)."""
        return self._def

    @property
    def id(self) -> int:
        return self._def.id

    @property
    def name(self) -> str:
        return self._def.name

    @property
    def vendor(self) -> str:
        return self._def.vendor

    @property
    def type(self) -> Any:
        return self._type

    @property
    def isArray(self) -> bool:
        return self._def.size is not None

    @property
    def size(self) -> int:
        if self._def.size is None:
            return 0
        if "n" in self._def.size:
            return 2**64 - 1
        total = 1
        for dim in self._def.size:
            total *= int(dim)
        return total

    def enumerators(self) -> dict[int, str]:
        return {value: f"{self._def.name}{name}" for name, value in self._def.enum or ()}

    def __str__(self) -> str:
        return self._def.name

    def __repr__(self) -> str:
        size = ""
        if self._def.size is not None:
            size = "[n]" if "n" in self._def.size else f"[{self.size}]"
        return f"libcamera.ControlId({self.id}, {self.vendor}.{self.name}{size}, {self._type})"


class ControlInfo(_Template):
    """``libcamera.ControlInfo``: ``min``, ``max``, ``default`` and ``values`` of a control."""

    def __init__(
        self, cid: ControlId, minimum: Any, maximum: Any, default: Any = None, values: Sequence[Any] = ()
    ) -> None:
        self._id = cid
        self._min, self._max, self._default, self._values = minimum, maximum, default, tuple(values)

    def _py(self, value: Any) -> Any:
        return None if value is None else self._lib.to_python(self._id, value)

    @property
    def min(self) -> Any:
        return self._py(self._min)

    @property
    def max(self) -> Any:
        return self._py(self._max)

    @property
    def default(self) -> Any:
        return self._py(self._default)

    @property
    def values(self) -> list[Any]:
        return [self._py(v) for v in self._values]

    def __str__(self) -> str:
        return f"[{self._min}..{self._max}]"

    def __repr__(self) -> str:
        return f"libcamera.ControlInfo({self})"


# ----------------------------------------------------------------------------------------- stream configuration


class SensorConfiguration(_Template):
    """``libcamera.SensorConfiguration``."""

    def __init__(self) -> None:
        self.bit_depth = 0
        self._analog_crop = self._lib.Rectangle()
        self._binning = (1, 1)
        self._skipping = (1, 1, 1, 1)
        self._output_size = self._lib.Size()

    @property
    def analog_crop(self) -> Rectangle:
        return self._analog_crop

    @analog_crop.setter
    def analog_crop(self, value: Rectangle) -> None:
        if not isinstance(value, Rectangle):
            raise incompatible_arguments("analog_crop")
        self._analog_crop = self._lib.Rectangle(*value.as_tuple())

    @property
    def output_size(self) -> Size:
        return self._output_size

    @output_size.setter
    def output_size(self, value: Size) -> None:
        if not isinstance(value, Size):
            raise incompatible_arguments("output_size")
        self._output_size = value.copy()

    @property
    def binning(self) -> tuple[int, int]:
        return self._binning

    @binning.setter
    def binning(self, value: Sequence[int]) -> None:
        values = tuple(int(v) for v in value)
        if len(values) != 2:
            raise RuntimeError("binning requires iterable of 2 values")
        self._binning = (values[0], values[1])

    @property
    def skipping(self) -> tuple[int, int, int, int]:
        return self._skipping

    @skipping.setter
    def skipping(self, value: Sequence[int]) -> None:
        values = tuple(int(v) for v in value)
        if len(values) != 4:
            raise RuntimeError("skipping requires iterable of 4 values")
        self._skipping = (values[0], values[1], values[2], values[3])

    def is_valid(self) -> bool:
        if self.bit_depth == 0 or self._output_size.is_null:
            return False
        return all(v > 0 for v in self._binning + self._skipping)

    def copy(self) -> SensorConfiguration:
        """A copy (what assigning ``CameraConfiguration.sensor_config`` stores)."""
        result = self._lib.SensorConfiguration()
        result.bit_depth = self.bit_depth
        result.analog_crop = self._analog_crop
        result.binning = self._binning
        result.skipping = self._skipping
        result.output_size = self._output_size
        return result


class StreamFormats(_Template):
    """``libcamera.StreamFormats``: the pixel formats of a stream and the sizes of each."""

    _STANDARD_SIZES = (
        (320, 240), (640, 360), (640, 480), (720, 480), (720, 576), (800, 600), (1024, 576), (1024, 768),
        (1280, 720), (1280, 960), (1280, 1024), (1600, 1200), (1920, 1080), (2048, 1080), (2560, 1440),
        (3840, 2160), (4096, 2160),
    )  # fmt: skip

    def __init__(self, formats: dict[str, list[Size] | SizeRange]) -> None:
        self._formats = formats

    @property
    def pixel_formats(self) -> list[PixelFormat]:
        return [self._lib.PixelFormat(name) for name in self._formats]

    def sizes(self, pixelformat: PixelFormat) -> list[Size]:
        entry = self._formats.get(str(pixelformat))
        if entry is None:
            return []
        if isinstance(entry, list):
            return [size.copy() for size in entry]
        return [self._lib.Size(w, h) for w, h in self._STANDARD_SIZES if entry.contains(self._lib.Size(w, h))]

    def range(self, pixelformat: PixelFormat) -> SizeRange:
        entry = self._formats.get(str(pixelformat))
        if entry is None:
            return self._lib.SizeRange()
        if isinstance(entry, SizeRange):
            return self._lib.SizeRange(entry.min, entry.max, entry.hStep, entry.vStep)
        smallest = min(entry, key=lambda s: s.width * s.height)
        largest = max(entry, key=lambda s: s.width * s.height)
        return self._lib.SizeRange(smallest, largest, 0, 0)


class Stream(_Template):
    """``libcamera.Stream``: one output of the camera (fixed per camera, like the pipeline handler's streams)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._configuration: Optional[StreamConfiguration] = None

    @property
    def configuration(self) -> StreamConfiguration:
        if self._configuration is None:
            return self._lib.StreamConfiguration()
        return self._configuration.copy()

    def set_configuration(self, cfg: Optional[StreamConfiguration]) -> None:
        """Record the configuration the camera was configured with (fake pipeline only)."""
        self._configuration = None if cfg is None else cfg.copy()

    @property
    def device_name(self) -> str:
        """Which hardware output this is (``"isp0"``, ``"isp1"`` or ``"raw"``; not part of the bindings)."""
        return self._name

    def __repr__(self) -> str:
        return f"<libcamera._libcamera.Stream {self._name}>"


class StreamConfiguration(_Template):
    """``libcamera.StreamConfiguration``: reading ``size``/``pixel_format``/``color_space`` returns the object
    inside the configuration (so ``cfg.size.width = 64`` sticks), assigning stores a copy."""

    def __init__(self, formats: Optional[StreamFormats] = None) -> None:
        self._size = self._lib.Size()
        self._pixel_format = self._lib.PixelFormat()
        self._stride = 0
        self._frame_size = 0
        self._buffer_count = 0
        self._color_space: Optional[ColorSpace] = None
        self._stream: Optional[Stream] = None
        self._formats = formats if formats is not None else self._lib.StreamFormats({})

    def copy(self) -> StreamConfiguration:
        """A copy of this configuration (the pipeline's records)."""
        result = self._lib.StreamConfiguration(self._formats)
        result.size = self._size
        result.pixel_format = self._pixel_format
        result._stride, result._frame_size, result._buffer_count = self._stride, self._frame_size, self._buffer_count
        result.color_space = self._color_space
        result._stream = self._stream
        return result

    @property
    def size(self) -> Size:
        return self._size

    @size.setter
    def size(self, value: Size) -> None:
        if not isinstance(value, Size):
            raise incompatible_arguments("size")
        self._size = value.copy()

    @property
    def pixel_format(self) -> PixelFormat:
        return self._pixel_format

    @pixel_format.setter
    def pixel_format(self, value: PixelFormat) -> None:
        if not isinstance(value, PixelFormat):
            raise incompatible_arguments("pixel_format")
        self._pixel_format = self._lib.PixelFormat(value.fourcc, value.modifier)

    @property
    def stride(self) -> int:
        return self._stride

    @stride.setter
    def stride(self, value: int) -> None:
        self._stride = _unsigned(value, "stride")

    @property
    def frame_size(self) -> int:
        return self._frame_size

    @frame_size.setter
    def frame_size(self, value: int) -> None:
        self._frame_size = _unsigned(value, "frame_size")

    @property
    def buffer_count(self) -> int:
        return self._buffer_count

    @buffer_count.setter
    def buffer_count(self, value: int) -> None:
        self._buffer_count = _unsigned(value, "buffer_count")

    @property
    def color_space(self) -> Optional[ColorSpace]:
        return self._color_space

    @color_space.setter
    def color_space(self, value: Optional[ColorSpace]) -> None:
        if value is not None and not isinstance(value, ColorSpace):
            raise incompatible_arguments("color_space")
        self._color_space = None if value is None else self._lib.ColorSpace(value)

    @property
    def stream(self) -> Optional[Stream]:
        return self._stream

    def set_stream(self, stream: Optional[Stream]) -> None:
        """libcamera's ``StreamConfiguration::setStream`` (called by the pipeline at configure time)."""
        self._stream = stream

    @property
    def formats(self) -> StreamFormats:
        return self._formats

    def __str__(self) -> str:
        text = f"{self._size}-{self._pixel_format}"
        if self._color_space is not None:
            text += f"/{self._color_space.to_string()}"
        return text


class CameraConfiguration(_Template):
    """``libcamera.CameraConfiguration``: a list of stream configurations the camera's pipeline validates."""

    Status: ClassVar[Any]

    def __init__(self, camera: CameraPort, configs: list[StreamConfiguration]) -> None:
        self._camera = camera
        self._configs = configs
        self.orientation: Any = self._lib.Orientation["Rotate0"]
        self._sensor_config: Optional[SensorConfiguration] = None

    @property
    def sensor_config(self) -> Optional[SensorConfiguration]:
        return self._sensor_config

    @sensor_config.setter
    def sensor_config(self, value: Optional[SensorConfiguration]) -> None:
        if value is not None and not isinstance(value, SensorConfiguration):
            raise incompatible_arguments("sensor_config")
        self._sensor_config = None if value is None else value.copy()

    def validate(self) -> Any:
        return self._camera.validate(self)

    def at(self, index: int) -> StreamConfiguration:
        if not 0 <= index < len(self._configs):
            raise IndexError(index)
        return self._configs[index]

    @property
    def size(self) -> int:
        return len(self._configs)

    @property
    def empty(self) -> bool:
        return not self._configs

    def __iter__(self) -> Iterator[StreamConfiguration]:
        return iter(list(self._configs))

    def __len__(self) -> int:
        return len(self._configs)


# ---------------------------------------------------------------------------------------------- buffers, requests


class _SharedFD:
    """libcamera's ``SharedFD``: constructing it from an int duplicates the descriptor; copies share it; the
    duplicate is closed when the last holder goes away (or when the fake kernel shuts down)."""

    def __init__(self, handle: Optional[FdHandle]) -> None:
        self.handle = handle
        if handle is not None:
            weakref.finalize(self, handle.close)

    @property
    def fd(self) -> int:
        return -1 if self.handle is None else self.handle.fd


class FrameBufferPlane(_Template):
    """``libcamera.FrameBuffer.Plane``: ``Plane()`` or ``Plane(fd, offset, length)``; setting ``fd`` duplicates
    the descriptor as libcamera's ``SharedFD`` does."""

    def __init__(self, fd: Optional[int] = None, offset: Optional[int] = None, length: Optional[int] = None) -> None:
        given = (fd is not None, offset is not None, length is not None)
        if any(given) and not all(given):
            raise incompatible_arguments("Plane.__init__")
        self._shared = _SharedFD(None)
        self.offset = 2**32 - 1 if offset is None else _unsigned(offset, "Plane.__init__")
        self.length = 0 if length is None else _unsigned(length, "Plane.__init__")
        if fd is not None:
            self.fd = fd

    @property
    def fd(self) -> int:
        return self._shared.fd

    @fd.setter
    def fd(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise incompatible_arguments("fd")
        self._shared = _SharedFD(self._lib.kernel.fds.dup(value, "SharedFD") if value >= 0 else None)

    def copy(self) -> FrameBufferPlane:
        result = self._lib.FrameBuffer.Plane()
        result._shared, result.offset, result.length = self._shared, self.offset, self.length
        return result


class FrameMetadataPlane(_Template):
    """``libcamera.FrameMetadata.Plane``."""

    def __init__(self, bytes_used: int = 0) -> None:
        self.bytes_used = bytes_used


class FrameMetadata(_Template):
    """``libcamera.FrameMetadata``: ``status``, ``sequence``, ``timestamp`` (ns) and ``planes`` (copies)."""

    Status: ClassVar[Any]
    Plane: ClassVar[type[FrameMetadataPlane]]

    def __init__(self, num_planes: int) -> None:
        self._status: Any = type(self).Status.Success
        self._sequence = 0
        self._timestamp = 0
        self._bytes_used = [0] * num_planes

    @property
    def status(self) -> Any:
        return self._status

    @property
    def sequence(self) -> int:
        return self._sequence

    @property
    def timestamp(self) -> int:
        return self._timestamp

    @property
    def planes(self) -> list[FrameMetadataPlane]:
        return [type(self).Plane(used) for used in self._bytes_used]

    def fill(self, status: Any, sequence: int, timestamp: int, bytes_used: Sequence[int]) -> None:
        """Set by the fake pipeline when the buffer completes."""
        self._status, self._sequence, self._timestamp = status, sequence, timestamp
        self._bytes_used = list(bytes_used)


class FrameBuffer(_Template):
    """``libcamera.FrameBuffer(planes, cookie=0)``."""

    Plane: ClassVar[type[FrameBufferPlane]]

    def __init__(self, planes: Sequence[FrameBufferPlane], cookie: int = 0) -> None:
        if not isinstance(planes, (list, tuple)) or not all(isinstance(p, FrameBufferPlane) for p in planes):
            raise incompatible_arguments("FrameBuffer.__init__")
        self._planes = [plane.copy() for plane in planes]
        self._metadata = self._lib.FrameMetadata(len(self._planes))
        self.cookie = _unsigned(cookie, "FrameBuffer.__init__")

    @property
    def planes(self) -> list[FrameBufferPlane]:
        return [plane.copy() for plane in self._planes]

    @property
    def metadata(self) -> FrameMetadata:
        return self._metadata

    @property
    def total_length(self) -> int:
        """Bytes the planes cover (fake only)."""
        return sum(plane.length for plane in self._planes)


class Request(_Template):
    """``libcamera.Request``: made by ``Camera.create_request(cookie)``."""

    Status: ClassVar[Any]
    Reuse: ClassVar[Any]

    def __init__(self, camera: CameraPort, cookie: int) -> None:
        self.camera = camera
        self._cookie = cookie
        self.status_value: Any = type(self).Status.Pending
        self.buffer_map: dict[Stream, FrameBuffer] = {}
        self.control_values: dict[str, Any] = {}
        self.metadata_values: dict[str, Any] = {}
        self.sequence_value = 0
        self.pending_buffers = 0
        self.queued = False

    def add_buffer(self, stream: Stream, buffer: FrameBuffer) -> None:
        if stream is not None and not isinstance(stream, Stream):
            raise incompatible_arguments("add_buffer")
        if not isinstance(buffer, FrameBuffer):
            raise incompatible_arguments("add_buffer")
        if stream is None:
            raise system_error("Failed to add buffer", errno_module.EINVAL)
        if stream in self.buffer_map:
            raise system_error("Failed to add buffer", errno_module.EEXIST)
        self.buffer_map[stream] = buffer
        self.pending_buffers += 1

    @property
    def status(self) -> Any:
        return self.status_value

    @property
    def buffers(self) -> dict[Stream, FrameBuffer]:
        return dict(self.buffer_map)

    @property
    def cookie(self) -> int:
        return self._cookie

    @property
    def sequence(self) -> int:
        return self.sequence_value

    @property
    def has_pending_buffers(self) -> bool:
        return self.pending_buffers > 0

    def set_control(self, id: ControlId, value: Any) -> None:
        if not isinstance(id, ControlId):
            raise incompatible_arguments("set_control")
        converted = self._lib.from_python(id, value)
        if not self.camera.control_is_valid(id.name):
            logger.error("Control %s is not valid for %s", id.name, self.camera.camera_id)
            return
        self.control_values[id.name] = converted

    @property
    def metadata(self) -> dict[ControlId, Any]:
        lib = self._lib
        ids = lib.control_ids
        return {ids[name]: lib.to_python(ids[name], value) for name, value in self.metadata_values.items()}

    def reuse(self) -> None:
        """``Request::reuse(ReuseBuffers)``: back to Pending with the same buffers, no controls, no metadata."""
        self.status_value = type(self).Status.Pending
        self.control_values = {}
        self.metadata_values = {}
        self.sequence_value = 0
        self.pending_buffers = len(self.buffer_map)

    def __str__(self) -> str:
        status = {0: "P", 1: "C", 2: "X"}[int(self.status_value)]
        return f"Request({self.sequence_value}:{status}:{self._cookie}/{self.pending_buffers})"


# ------------------------------------------------------------------------------------------ camera and manager


class Camera(_Template):
    """``libcamera.Camera``: a handle on one fake camera, keeping its camera manager alive as the bindings do."""

    def __init__(self, camera: CameraPort, manager: CameraManager) -> None:
        self._camera = camera
        self._manager = manager

    @property
    def fake(self) -> CameraPort:
        """The fake camera behind this handle (not part of the bindings)."""
        return self._camera

    @property
    def id(self) -> str:
        return self._camera.camera_id

    def acquire(self) -> None:
        code = self._camera.acquire()
        if code:
            raise system_error("Failed to acquire camera", code)

    def release(self) -> None:
        code = self._camera.release()
        if code:
            raise system_error("Failed to release camera", code)

    def start(self, controls: Optional[dict[ControlId, Any]] = None) -> None:
        values: dict[str, Any] = {}
        for cid, value in (controls or {}).items():
            if not isinstance(cid, ControlId):
                raise incompatible_arguments("start")
            converted = self._lib.from_python(cid, value)
            if self._camera.control_is_valid(cid.name):
                values[cid.name] = converted
            else:
                logger.error("Control %s is not valid for %s", cid.name, self._camera.camera_id)
        code = self._camera.start(values, self._manager)
        if code:
            raise system_error("Failed to start camera", code)

    def stop(self) -> None:
        code = self._camera.stop()
        if code:
            raise system_error("Failed to stop camera", code)

    def generate_configuration(self, roles: Sequence[Any]) -> Optional[CameraConfiguration]:
        if not isinstance(roles, (list, tuple)) or not all(isinstance(r, self._lib.StreamRole) for r in roles):
            raise incompatible_arguments("generate_configuration")
        return self._camera.generate_configuration(list(roles))

    def configure(self, config: CameraConfiguration) -> None:
        if not isinstance(config, CameraConfiguration):
            raise incompatible_arguments("configure")
        code = self._camera.configure(config)
        if code:
            raise system_error("Failed to configure camera", code)

    def create_request(self, cookie: int = 0) -> Request:
        if isinstance(cookie, bool) or not isinstance(cookie, int) or not 0 <= cookie < 2**64:
            raise incompatible_arguments("create_request")
        request = self._camera.create_request(cookie)
        if request is None:
            raise system_error("Failed to create request", errno_module.ENOMEM)
        return cast(Request, request)

    def queue_request(self, req: Request) -> None:
        if not isinstance(req, Request):
            raise incompatible_arguments("queue_request")
        code = self._camera.queue_request(req)
        if code:
            raise system_error("Failed to queue request", code)

    @property
    def streams(self) -> set[Stream]:
        return set(self._camera.active_streams())

    @property
    def controls(self) -> dict[ControlId, ControlInfo]:
        return self._camera.control_infos()

    @property
    def properties(self) -> dict[ControlId, Any]:
        lib = self._lib
        ids = lib.property_ids
        return {ids[name]: lib.to_python(ids[name], value) for name, value in self._camera.properties().items()}

    def __str__(self) -> str:
        return f"<libcamera.Camera '{self.id}'>"


class CameraManager(_Template):
    """``libcamera.CameraManager``: use ``CameraManager.singleton()``. Completed requests are handed over through
    ``get_ready_requests()``; ``event_fd`` (a real eventfd) becomes readable when there are some."""

    version: ClassVar[str] = LIBCAMERA_VERSION

    def __init__(self, token: object = None) -> None:
        if token is not self._lib.token:
            raise TypeError("libcamera._libcamera.CameraManager: No constructor defined!")
        kernel = self._lib.kernel
        self._event = kernel.fds.eventfd("CameraManager.event_fd")
        self._lock = threading.Lock()
        self._ready: list[Request] = []
        self._handles: weakref.WeakValueDictionary[int, Camera] = weakref.WeakValueDictionary()
        self._finalizer = weakref.finalize(self, self._event.close)
        kernel.manager_started(self)

    @classmethod
    def singleton(cls) -> CameraManager:
        lib = cls._lib
        current = lib.kernel.current_manager()
        if current is None:
            current = cls(lib.token)
        return current

    def _handle(self, index: int, camera: CameraPort) -> Camera:
        handle = self._handles.get(index)
        if handle is None:
            handle = self._lib.Camera(camera, self)
            self._handles[index] = handle
        return handle

    @property
    def cameras(self) -> list[Camera]:
        return [self._handle(i, cam) for i, cam in enumerate(self._lib.kernel.cameras)]

    def get(self, name: str) -> Optional[Camera]:
        for i, cam in enumerate(self._lib.kernel.cameras):
            if cam.camera_id == name:
                return self._handle(i, cam)
        return None

    @property
    def event_fd(self) -> int:
        return self._event.fd

    def push_completed(self, request: Request) -> None:
        """Called by the fake pipeline's threads when a request completes (the bindings' requestCompleted slot)."""
        with self._lock:
            self._ready.append(request)
        self._event.signal()

    def get_ready_requests(self) -> list[Request]:
        code = self._event.consume()
        if code == errno_module.EAGAIN:
            return []
        if code:
            raise system_error("get_ready_requests", code)
        with self._lock:
            ready, self._ready = self._ready, []
        return ready

    def shutdown(self) -> None:
        """Close the eventfd (fake kernel teardown)."""
        self._finalizer()


class FrameBufferAllocator(_Template):
    """``libcamera.FrameBufferAllocator(camera)``: buffers the camera's "driver" allocates (memfd here)."""

    def __init__(self, camera: Camera) -> None:
        if not isinstance(camera, Camera):
            raise incompatible_arguments("FrameBufferAllocator.__init__")
        self._camera = camera
        self._buffers: dict[Stream, list[FrameBuffer]] = {}
        self._handles: dict[Stream, list[FdHandle]] = {}
        self._finalizer = weakref.finalize(self, _close_all, self._handles)

    def allocate(self, stream: Stream) -> int:
        if stream not in self._camera.fake.active_streams():
            raise system_error("Failed to allocate buffers", errno_module.EINVAL)
        if stream in self._buffers:
            raise system_error("Failed to allocate buffers", errno_module.EBUSY)
        cfg = stream.configuration
        lib = self._lib
        buffers: list[FrameBuffer] = []
        handles: list[FdHandle] = []
        for i in range(cfg.buffer_count):
            handle = lib.kernel.fds.memfd(f"libcamera-{stream.device_name}-{i}", cfg.frame_size)
            handles.append(handle)
            buffers.append(lib.FrameBuffer([lib.FrameBuffer.Plane(handle.fd, 0, cfg.frame_size)]))
        self._buffers[stream] = buffers
        self._handles[stream] = handles
        return len(buffers)

    def free(self, stream: Stream) -> int:
        self._buffers.pop(stream, None)
        for handle in self._handles.pop(stream, []):
            handle.close()
        return 0

    @property
    def allocated(self) -> bool:
        return bool(self._buffers)

    def buffers(self, stream: Stream) -> list[FrameBuffer]:
        return list(self._buffers.get(stream, []))


def _close_all(handles: dict[Stream, list[FdHandle]]) -> None:
    for group in handles.values():
        for handle in group:
            handle.close()


# ------------------------------------------------------------------------------------------------- the namespace


def _derive(template: type[T], lib: Lib, name: str, **extra: Any) -> type[T]:
    attrs: dict[str, Any] = {"_lib": lib, "__module__": "libcamera._libcamera", "__qualname__": name, **extra}
    attrs.setdefault("__doc__", template.__doc__)
    return type(name, (template,), attrs)


def _int_enum(name: str, members: Sequence[tuple[str, int]], qualname: str) -> type[enum.IntEnum]:
    result = enum.IntEnum(name, list(members), module="libcamera._libcamera", qualname=qualname)  # type: ignore[misc]
    return result


def _strict_enum(name: str, members: Sequence[tuple[str, int]], qualname: str) -> type[enum.Enum]:
    """An ``enum class`` of libcamera: members do not compare equal to ints (pybind11's strict enums)."""
    result = enum.Enum(name, list(members), module="libcamera._libcamera", qualname=qualname)  # type: ignore[misc]
    return result


class Lib:
    """The classes and id objects of one fake ``libcamera._libcamera`` module, bound to one fake kernel."""

    def __init__(self, kernel: KernelPort) -> None:
        self.kernel = kernel
        self.token = object()
        self.Point = _derive(Point, self, "Point")
        self.Size = _derive(Size, self, "Size")
        self.SizeRange = _derive(SizeRange, self, "SizeRange")
        self.Rectangle = _derive(Rectangle, self, "Rectangle")
        self.PixelFormat = _derive(PixelFormat, self, "PixelFormat")
        self.ColorSpace = _derive(
            ColorSpace,
            self,
            "ColorSpace",
            Primaries=_strict_enum(
                "Primaries", [("Raw", 0), ("Smpte170m", 1), ("Rec709", 2), ("Rec2020", 3)], "ColorSpace.Primaries"
            ),
            TransferFunction=_strict_enum(
                "TransferFunction", [("Linear", 0), ("Srgb", 1), ("Rec709", 2)], "ColorSpace.TransferFunction"
            ),
            YcbcrEncoding=_strict_enum(
                "YcbcrEncoding", [("Null", 0), ("Rec601", 1), ("Rec709", 2), ("Rec2020", 3)], "ColorSpace.YcbcrEncoding"
            ),
            Range=_strict_enum("Range", [("Full", 0), ("Limited", 1)], "ColorSpace.Range"),
        )
        self.Transform = _derive(Transform, self, "Transform")
        self.Orientation = _strict_enum(
            "Orientation", [(name, i) for i, name in enumerate(ORIENTATION_BITS, start=1)], "Orientation"
        )
        self.StreamRole = _strict_enum(
            "StreamRole", [("Raw", 0), ("StillCapture", 1), ("VideoRecording", 2), ("Viewfinder", 3)], "StreamRole"
        )
        self.ControlType = _int_enum("ControlType", _defs.CONTROL_TYPES, "ControlType")
        self.ControlId = _derive(ControlId, self, "ControlId")
        self.ControlInfo = _derive(ControlInfo, self, "ControlInfo")
        self.SensorConfiguration = _derive(SensorConfiguration, self, "SensorConfiguration")
        self.StreamFormats = _derive(StreamFormats, self, "StreamFormats")
        self.Stream = _derive(Stream, self, "Stream")
        self.StreamConfiguration = _derive(StreamConfiguration, self, "StreamConfiguration")
        self.CameraConfiguration = _derive(
            CameraConfiguration,
            self,
            "CameraConfiguration",
            Status=_int_enum("Status", [("Valid", 0), ("Adjusted", 1), ("Invalid", 2)], "CameraConfiguration.Status"),
        )
        self.FrameMetadata = _derive(
            FrameMetadata,
            self,
            "FrameMetadata",
            # The real binding registers Success, Error and Cancelled; the pipeline's FrameStartup (3) reaches
            # Python as an unnamed value of the enum. Here it has a name so that it can exist at all.
            Status=_int_enum(
                "Status", [("Success", 0), ("Error", 1), ("Cancelled", 2), ("Startup", 3)], "FrameMetadata.Status"
            ),
            Plane=_derive(FrameMetadataPlane, self, "FrameMetadata.Plane"),
        )
        self.FrameBuffer = _derive(
            FrameBuffer, self, "FrameBuffer", Plane=_derive(FrameBufferPlane, self, "FrameBuffer.Plane")
        )
        self.Request = _derive(
            Request,
            self,
            "Request",
            Status=_int_enum("Status", [("Pending", 0), ("Complete", 1), ("Cancelled", 2)], "Request.Status"),
            Reuse=_int_enum("Reuse", [("Default", 0), ("ReuseBuffers", 1)], "Request.Reuse"),
        )
        self.Camera = _derive(Camera, self, "Camera")
        self.CameraManager = _derive(CameraManager, self, "CameraManager")
        self.FrameBufferAllocator = _derive(FrameBufferAllocator, self, "FrameBufferAllocator")

        type_by_name = {name: self.ControlType[name] for name, _ in _defs.CONTROL_TYPES}
        self.control_ids: dict[str, ControlId] = {
            d.name: self.ControlId(d, type_by_name[d.type_name]) for d in _defs.CONTROLS
        }
        self.property_ids: dict[str, ControlId] = {
            d.name: self.ControlId(d, type_by_name[d.type_name]) for d in _defs.PROPERTIES
        }
        self.controls = self._namespace("controls", _defs.CONTROLS, self.control_ids)
        self.properties = self._namespace("properties", _defs.PROPERTIES, self.property_ids)
        self.formats = type(
            "formats",
            (),
            {"__module__": "libcamera._libcamera", **{n: self.PixelFormat(n) for n in _defs.PIXEL_FORMATS}},
        )

    def _namespace(self, mode: str, defs: Sequence[_defs.ControlDef], ids: dict[str, ControlId]) -> type:
        groups: dict[str, dict[str, Any]] = {"libcamera": {}, "draft": {}, "rpi": {}}
        for d in defs:
            group = groups[d.vendor]
            group[d.name] = ids[d.name]
            if d.enum:
                group[f"{d.name}Enum"] = _int_enum(f"{d.name}Enum", d.enum, f"{mode}.{d.name}Enum")
        top = dict(groups["libcamera"])
        for vendor in ("draft", "rpi"):
            if groups[vendor] or mode == "controls":
                top[vendor] = type(vendor, (), {"__module__": "libcamera._libcamera", **groups[vendor]})
        return type(mode, (), {"__module__": "libcamera._libcamera", **top})

    # ---------------------------------------------------------------------------------- control value conversion

    def from_python(self, cid: ControlId, value: Any) -> Any:
        """Cast a Python value to the control's C++ type as the bindings' ``pyToControlValue`` does.

        Returns the fake's plain representation: bool/int/float/str, tuples for arrays, ``(x, y, w, h)`` for a
        Rectangle, ``(w, h)`` for a Size, ``(x, y)`` for a Point.
        """
        kind = cid.definition.type_name
        if isinstance(value, (list, tuple)) and kind not in ("Bool", "String", "Size"):
            return tuple(self._cast_scalar(kind, item) for item in value)
        return self._cast_scalar(kind, value)

    def _cast_scalar(self, kind: str, value: Any) -> Any:
        if kind == "Bool":
            if value is None or isinstance(value, (bool, int, float)):
                return bool(value)
        elif kind in ("Integer32", "Integer64", "Byte"):
            limits = {"Integer32": (-(2**31), 2**31), "Integer64": (-(2**63), 2**63), "Byte": (0, 256)}[kind]
            if not isinstance(value, float) and hasattr(value, "__index__"):
                number = value.__index__()
                if limits[0] <= number < limits[1]:
                    return number
        elif kind == "Float":
            if isinstance(value, (int, float)) or (hasattr(value, "__float__") and not isinstance(value, str)):
                return float32(float(value))
        elif kind == "String":
            if isinstance(value, str):
                return value
        elif kind == "Rectangle":
            if isinstance(value, Rectangle):
                return value.as_tuple()
        elif kind == "Size":
            if isinstance(value, Size):
                return (value.width, value.height)
        elif kind == "Point" and isinstance(value, Point):
            return (value.x, value.y)
        raise cast_error(value)

    def to_python(self, cid: ControlId, value: Any) -> Any:
        """The Python object the bindings' ``controlValueToPy`` makes of a control value."""
        kind = cid.definition.type_name

        def one(item: Any) -> Any:
            if kind == "Rectangle":
                return self.Rectangle(*item)
            if kind == "Point":
                return self.Point(*item)
            if kind == "Float":
                return float32(item)
            return item

        if kind == "Size":
            return self.Size(*value)
        if kind in ("Rectangle", "Point"):
            if not value:
                return ()
            if isinstance(value[0], tuple):
                return tuple(one(item) for item in value)
            return one(value)
        if isinstance(value, tuple):
            return tuple(one(item) for item in value)
        return one(value)
