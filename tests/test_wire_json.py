"""JSON on the wire: orjson where installed, the standard library elsewhere, with the same results and limits."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpi_camera_colony import protocol, wire_json
from rpi_camera_colony.exc import ProtocolError


@pytest.fixture(params=["orjson", "standard library"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test runs with orjson (a dependency wherever it has a wheel) and with the standard library's json."""
    if request.param == "standard library":
        monkeypatch.setattr(wire_json, "orjson", None)
    elif not wire_json.fast():
        if platform.machine() == "armv6l" and os.environ.get("CI") != "true":
            pytest.skip("orjson has no wheel for armv6 (a Pi Zero or Pi 1): the standard library's json is used there")
        pytest.fail("orjson is a dependency of the package: it must be installed here")
    yield request.param


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"[9223372036854775807, -9223372036854775808]", None),  # the 64-bit limits themselves
        (b"[9223372036854775808]", "outside the 64-bit range"),
        (b"[-9223372036854775809]", "outside the 64-bit range"),
        (b"[18446744073709551615]", "outside the 64-bit range"),  # orjson alone would take it (unsigned)
        (b"[18446744073709551616]", "outside the 64-bit range"),  # orjson alone would make it a float
        (b"[" + b"9" * 5000 + b"]", "outside the 64-bit range"),
        (b"[1e400]", "too large"),
        (b"[-1e400]", "too large"),
        (b"[NaN]", "NaN is not a JSON number"),
        (b"[Infinity]", "Infinity is not a JSON number"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not valid JSON"),
        (b"[" * 17 + b"]" * 17, "nested more than 16"),
        (b"[" * 16 + b"]" * 16, None),
        (b"[" * 2000 + b"]" * 2000, "nested more than 16"),
        (b'{"a": 1, "a": 2}', None),
        (b'  [1.5, 1e-400, "\\u00e9"]  ', None),
        (b"{" + b" " * wire_json.MAX_MESSAGE_BYTES + b"}", "larger than the limit"),
    ],
)
def test_both_ways_read_the_same_and_refuse_the_same(backend: str, data: bytes, fragment: str | None) -> None:
    if fragment is None:
        assert wire_json.loads(data) == json.loads(data)
    else:
        with pytest.raises(ProtocolError, match=fragment):
            wire_json.loads(data)


def test_writing_is_compact_and_the_same_both_ways(backend: str) -> None:
    value = {
        "id": "x",
        "n": [1, -2, 2**62, 0.5],
        "nested": {"ok": True, "none": None, "text": "é☃"},
        "tuple": (1, 2),
        3: "three",
        "numpy": [np.float64(1.25), np.int64(7), np.float32(0.5)],
    }
    data = wire_json.dumps(value)
    assert b" " not in data  # compact
    assert json.loads(data) == {
        "id": "x",
        "n": [1, -2, 2**62, 0.5],
        "nested": {"ok": True, "none": None, "text": "é☃"},
        "tuple": [1, 2],
        "3": "three",
        "numpy": [1.25, 7, 0.5],
    }


def test_a_number_that_is_not_finite_is_sent_as_null(backend: str) -> None:
    assert json.loads(wire_json.dumps({"fps": math.nan, "a": [math.inf, -math.inf, 1.0]})) == {
        "fps": None,
        "a": [None, None, 1.0],
    }
    message = protocol.decode(protocol.encode(protocol.reply("r", ok=True, state="idle", data={"x": math.nan})))
    assert message["data"] == {"x": None}


def test_text_with_a_lone_surrogate_is_written_escaped_and_read_back(backend: str) -> None:
    # orjson refuses such text (not UTF-8); a peer can send it escaped, and an answer may echo it
    value = {"id": "a\udcffb", "msg": ["\ud800"]}
    data = wire_json.dumps(value)
    assert b"\\udcff" in data and wire_json.loads(data) == value
    message = protocol.decode(protocol.encode(protocol.error("a\udcffb", "refused")))
    assert message["in_reply_to"] == "a\udcffb"
    topic, payload = protocol.encode_log({"type": "log", "instance": "cam\udcff", "level": "INFO", "msg": "x\ud800"})
    assert topic == b"cam\\udcff.INFO" and protocol.decode_log(payload)["msg"] == "x\ud800"


def test_numpy_arrays_large_numbers_and_loops_are_written_alike(backend: str) -> None:
    assert json.loads(wire_json.dumps({"a": np.array([1.5, np.nan]), "b": np.arange(3)})) == {
        "a": [1.5, None],
        "b": [0, 1, 2],
    }
    assert json.loads(wire_json.dumps([2**64])) == [2**64]  # written; any reader here refuses it (64 bits)
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError):
        wire_json.dumps(loop)
    with pytest.raises(ProtocolError, match="cannot be sent as JSON"):
        protocol.encode({"type": "reply", "id": "x", "data": loop})


def test_what_cannot_be_written_is_a_protocol_error(backend: str) -> None:
    with pytest.raises(ProtocolError, match="cannot be sent as JSON"):
        protocol.encode({"type": "reply", "id": "x", "data": object()})
    assert json.loads(wire_json.dumps({"a": object()}, default=lambda _: "shown"))["a"] == "shown"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=wire_json.INT_RANGE[0], max_value=wire_json.INT_RANGE[1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20, alphabet=st.characters(exclude_categories=["Cs"])),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_what_one_side_writes_the_other_reads_back_whichever_json_each_has(value: Any) -> None:
    fast = getattr(wire_json, "orjson")  # noqa: B009 - the module's optional import, swapped for the test
    try:
        written_fast = wire_json.dumps(value)
        setattr(wire_json, "orjson", None)  # noqa: B010
        written_slow = wire_json.dumps(value)
        assert wire_json.loads(written_fast) == value and wire_json.loads(written_slow) == value
    finally:
        setattr(wire_json, "orjson", fast)  # noqa: B010
    assert wire_json.loads(written_slow) == value and wire_json.loads(written_fast) == value
