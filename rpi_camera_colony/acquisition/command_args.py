"""The checks of a command's arguments, as the agent receives them from the network: each gives the value to use or
raises the error that the reply carries, naming the argument and what it must be."""

from __future__ import annotations

import time
from typing import Any, Optional

from rpi_camera_colony.clock import conductor_now_us
from rpi_camera_colony.exc import ConfigError, ProtocolError, RecordingError

#: A start time (or a sync box edge) must be within this many µs of now on the conductor's clock.
MAX_START_OFFSET_US = 3_600_000_000


def number(args: dict[str, Any], key: str, low: float, high: float, unit: str) -> Optional[float]:
    """An optional number argument in ``low..high``.

    Raises:
        ConfigError: naming the argument and its range.
    """
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError([f"{key} = {value!r}: must be a number of {unit} in {low:g}..{high:g}"])
    return float(value)


def configure_options(args: dict[str, Any]) -> dict[str, Any]:
    """``configure``'s options besides the settings: data_path, max_acquisition_time, disk_space_check.

    Raises:
        ConfigError: naming a bad one.
    """
    data_path = args.get("data_path")
    if data_path is not None and (not isinstance(data_path, str) or not data_path):
        raise ConfigError([f"data_path = {data_path!r}: must be a non-empty path"])
    check = args.get("disk_space_check")
    if check is not None and not isinstance(check, str):
        raise ConfigError([f"disk_space_check = {check!r}: must be a name"])
    max_time = number(args, "max_acquisition_time", 0, float("inf"), "seconds")
    return {"data_path": data_path, "max_acquisition_time": max_time, "disk_space_check": check}


def start_at(args: dict[str, Any]) -> Optional[int]:
    """The start time asked for (conductor clock, microseconds), or None.

    Raises:
        RecordingError: if it is not a whole number, or not within an hour of now.
    """
    value = args.get("start_at_us")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordingError(f"start_at_us = {value!r}: must be a whole number of microseconds")
    if abs(value - conductor_now_us()) > MAX_START_OFFSET_US:
        raise RecordingError(
            f"start_at_us = {value}: {(value - conductor_now_us()) / 1e6:.0f} s from now on the conductor's "
            f"clock; a start time must be within {MAX_START_OFFSET_US / 3.6e9:.0f} h of now"
        )
    return value


def notice_us(args: dict[str, Any]) -> int:
    """``start``'s notice: how long before the start time, beyond its own start lead, a camera must have it (µs; the
    conductor's time to move the start for every camera). 0 when not given.

    Raises:
        RecordingError: if it is not a whole number from 0 to 10 s.
    """
    value = args.get("notice_us", 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000_000:
        raise RecordingError(f"notice_us = {value!r}: must be a whole number of microseconds from 0 to 10000000")
    return value


def start_names(args: dict[str, Any]) -> dict[str, Any]:
    """``start``'s names: acquisition_name, acquisition_time, acquisition_group (text), file_time (text or None).

    Raises:
        RecordingError: naming one that is not text.
    """
    names: dict[str, Any] = {
        key: args.get(key, "") for key in ("acquisition_name", "acquisition_time", "acquisition_group")
    }
    names["file_time"] = args.get("file_time")
    for key, value in names.items():
        if not isinstance(value, str) and not (key == "file_time" and value is None):
            raise RecordingError(f"{key} = {value!r}: must be text")
    return names


def sync_box_edges(args: dict[str, Any]) -> list[tuple[float, int]]:
    """``sync_box``'s edges as (time.monotonic() seconds, level): the box and a simulated camera share the machine,
    so the conductor's wall clock maps to monotonic time directly.

    Raises:
        ProtocolError: for a malformed list, over 100000 edges, or edges not within an hour of now.
    """
    edges = args.get("edges")
    if not isinstance(edges, list) or not all(
        isinstance(e, list) and len(e) == 2 and isinstance(e[0], int) and e[1] in (0, 1) for e in edges
    ):
        raise ProtocolError("sync_box needs 'edges': a list of [conductor_us, level]")
    if len(edges) > 100_000:
        raise ProtocolError(f"{len(edges)} edges: at most 100000")
    now = conductor_now_us()
    if any(abs(t - now) > MAX_START_OFFSET_US for t, _ in edges):
        raise ProtocolError("sync_box edges must be within an hour of now on the conductor's clock")
    wall_minus_monotonic = time.time() - time.monotonic()
    return [(t / 1e6 - wall_minus_monotonic, level) for t, level in edges]


def edge_count(args: dict[str, Any]) -> int:
    """``inject_ttl_in``'s count (1..10000, default 1).

    Raises:
        ProtocolError: for anything else.
    """
    count = args.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10_000:
        raise ProtocolError(f"count = {count!r}: must be a whole number in 1..10000")
    return count
