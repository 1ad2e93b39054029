"""JSON as it crosses the network: compact out, checked in.

:func:`dumps` makes compact UTF-8 JSON; a number that is not finite (NaN, infinity) is sent as ``null``.
:func:`loads` parses what a peer sent within limits: at most :data:`MAX_MESSAGE_BYTES`, nesting at most
:data:`MAX_DEPTH`, integers within 64 bits, finite numbers only; anything else is a
:class:`~rpi_camera_colony.exc.ProtocolError` saying what is wrong.

orjson does the work where it is installed (every message of the command path is encoded and decoded once on each
side, and the standard library's json is most of a command's cost there); where it is not (a machine with no wheel
for it), the standard library gives the same results. A message orjson refuses, or one with a number too long for
64 bits (which orjson would read as a float), goes the standard library's way, which names the fault exactly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, Optional

from rpi_camera_colony.exc import ProtocolError

try:
    import orjson
except ImportError:  # no wheel for this machine: the standard library does the same, more slowly
    orjson = None  # type: ignore[assignment]

_OPTIONS = 0 if orjson is None else orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

MAX_MESSAGE_BYTES = 1 << 20
#: Deepest nesting of objects and arrays a message may have (ours have 4 at most).
MAX_DEPTH = 16
#: Integers must fit in 64 bits (the largest we send are microsecond times, about 2**51).
MAX_INT_DIGITS = 19
INT_RANGE = (-(1 << 63), (1 << 63) - 1)

#: A run of digits as long as the largest 64-bit integer's: such a message is read the careful way.
_LONG_NUMBER = re.compile(rb"\d{%d}" % MAX_INT_DIGITS)


def fast() -> bool:
    """Whether orjson is in use."""
    return orjson is not None


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (the standard library's way to match orjson's)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def dumps(value: Any, default: Optional[Callable[[Any], Any]] = None) -> bytes:
    """Compact UTF-8 JSON of ``value`` (keys that are numbers become strings, numpy numbers and arrays are numbers and
    lists, a number that is not finite is null).

    Raises:
        TypeError: if something in it cannot be written as JSON (and ``default`` does not turn it into something
            that can).
        ValueError: if it contains itself.
    """
    if orjson is not None:
        try:
            return orjson.dumps(value, default=default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            pass  # e.g. text with a lone surrogate, which orjson refuses: the standard library writes it escaped
    return _standard_dumps(value, default)


def _standard_dumps(value: Any, default: Optional[Callable[[Any], Any]]) -> bytes:
    def other(item: Any) -> Any:
        if type(item).__module__ == "numpy" and hasattr(item, "tolist"):  # as orjson writes numpy values
            return _finite(item.tolist())
        if default is None:
            raise TypeError(f"Type is not JSON serializable: {type(item).__name__}")
        return default(item)

    def write(value: Any) -> bytes:
        try:  # UTF-8 as orjson writes it (the same size), unless the text has a lone surrogate: then escaped
            return json.dumps(value, separators=(",", ":"), allow_nan=False, default=other, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return json.dumps(value, separators=(",", ":"), allow_nan=False, default=other).encode()

    try:
        return write(value)
    except ValueError as err:
        if "Out of range float" not in str(err):
            raise
        return write(_finite(value))  # a NaN or an infinity somewhere: null, as orjson writes it


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ProtocolError(f"an integer of {len(text)} digits is outside the 64-bit range")
    value = int(text)
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise ProtocolError(f"integer {value} is outside the 64-bit range")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ProtocolError(f"number {text[:40]} is too large")
    return value


def _refuse_constant(name: str) -> Any:
    raise ProtocolError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    """Nesting depth of objects and arrays (iterative: a hostile message cannot exhaust the stack here)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _careful(data: bytes, what: str) -> Any:
    """The standard library's parse, with every limit checked as it reads."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"{what} is not UTF-8 text") from None
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant)
    except ProtocolError as err:
        raise ProtocolError(f"{what}: {err}") from None
    except RecursionError:
        raise ProtocolError(f"{what} is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, MemoryError, TypeError) as err:  # JSONDecodeError is a ValueError
        raise ProtocolError(f"{what} is not valid JSON: {str(err)[:200]}") from None


def loads(data: bytes, what: str = "message") -> Any:
    """Parse JSON from a peer within the limits (size, depth, number range); never raises anything else.

    Raises:
        ProtocolError: saying what is wrong (``what`` names the thing, e.g. "log record").
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"{what} of {len(data)} bytes is larger than the limit of {MAX_MESSAGE_BYTES} bytes")
    if orjson is None or _LONG_NUMBER.search(data):
        value = _careful(data, what)
    else:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = _careful(data, what)  # says exactly what is wrong (or reads what orjson alone refuses)
    # No deeper than its count of opening brackets: most messages have too few to need the walk.
    if data.count(b"{") + data.count(b"[") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise ProtocolError(f"{what} is nested more than {MAX_DEPTH} levels deep")
    return value
