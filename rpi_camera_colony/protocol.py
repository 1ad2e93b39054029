"""Control protocol: versioned JSON messages between the conductor and its agents.

Every message is one JSON object with ``v`` (protocol version), ``type`` and ``id``. Types:

- agent -> conductor: ``hello`` (on connect), ``heartbeat`` (live status), ``reply`` (answer to a command),
  ``time_request`` (clock synchronisation), ``error`` (the conductor sent something the agent cannot use).
- conductor -> agent: ``command`` (``command`` names one of :data:`COMMANDS`, ``args`` is an object),
  ``hello_request`` (asks an agent the conductor does not know yet to introduce itself), ``time_reply``
  (``conductor_us``: the conductor's clock when it answered, see :mod:`rpi_camera_colony.clock`), ``error``.

On the log socket (agent PUSH -> conductor PULL): log records (``instance.LEVEL`` topic, JSON record) and live preview
images (:data:`PREVIEW_TOPIC`, JSON header, JPEG; see :class:`PreviewFrame`).

A reply is ``{ok, error, state, data}``. Nothing is ever unpickled. Decoding is total: any bytes give either a
checked message or a :class:`ProtocolError` saying what is wrong; messages over :data:`MAX_MESSAGE_BYTES`, nested
deeper than :data:`MAX_DEPTH`, with integers outside 64 bits or non-finite numbers, are refused.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from rpi_camera_colony import wire_json
from rpi_camera_colony.exc import ProtocolError
from rpi_camera_colony.wire_json import INT_RANGE as INT_RANGE
from rpi_camera_colony.wire_json import MAX_DEPTH as MAX_DEPTH
from rpi_camera_colony.wire_json import MAX_INT_DIGITS as MAX_INT_DIGITS
from rpi_camera_colony.wire_json import MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES

PROTOCOL_VERSION = 1
#: How long an agent waits for its first frame after the start time before it answers 'start' with an error.
FIRST_FRAME_TIMEOUT = 10.0
#: Longest message id accepted (ours are about 20 hex digits).
MAX_ID_LENGTH = 128
#: Hard limit set on the sockets themselves (a peer sending more is disconnected by ZeroMQ).
SOCKET_MAX_MESSAGE_BYTES = 16 << 20

COMMANDS = frozenset(
    {
        "configure",
        "arm",
        "reset",
        "preview",
        "stream",
        "start",
        "stop",
        "close",
        "status",
        "ping",
        "inject_ttl_in",
        "sync_box",
        "annotate",
    }
)
MESSAGE_TYPES = frozenset(
    {"hello", "heartbeat", "reply", "error", "command", "hello_request", "time_request", "time_reply"}
)


_id_prefix = os.urandom(8).hex()
_id_count = itertools.count()


def _new_prefix() -> None:
    global _id_prefix
    _id_prefix = os.urandom(8).hex()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_new_prefix)


def new_id() -> str:
    """A message id, unique to this run of this process: a random prefix and a count (no system call per message,
    as a uuid4 would make)."""
    return f"{_id_prefix}{next(_id_count):x}"


def encode(message: dict[str, Any]) -> bytes:
    """Serialise a message (adds ``v``).

    Raises:
        ProtocolError: if it is not JSON-serialisable or is larger than :data:`MAX_MESSAGE_BYTES`.
    """
    try:
        data = wire_json.dumps({"v": PROTOCOL_VERSION, **message})
    except (TypeError, ValueError, RecursionError) as err:
        raise ProtocolError(f"message cannot be sent as JSON: {str(err)[:200]}") from None
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes is larger than the limit of {MAX_MESSAGE_BYTES} bytes")
    return data


def parse_json(data: bytes, what: str = "message") -> Any:
    """Parse JSON from a peer within the limits (size, depth, number range); never raises anything else.

    Raises:
        ProtocolError: saying what is wrong.
    """
    return wire_json.loads(data, what)


def decode(data: bytes) -> dict[str, Any]:
    """Parse and check one message.

    Raises:
        ProtocolError: saying what is wrong (too large or deep, not JSON, not an object, wrong version, bad type or id).
    """
    message = wire_json.loads(data)
    if not isinstance(message, dict):
        raise ProtocolError(f"message must be a JSON object, not {type(message).__name__}")
    version = message.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ProtocolError(f"protocol version {_shown(version)} is not supported (this side speaks 1)")
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {_shown(kind)} (known: {', '.join(sorted(MESSAGE_TYPES))})")
    request_id = message.get("id")
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_ID_LENGTH:
        raise ProtocolError(f"message has no 'id' string of 1 to {MAX_ID_LENGTH} characters")
    if kind == "command":
        name = message.get("command")
        if not isinstance(name, str) or name not in COMMANDS:
            raise ProtocolError(f"unknown command {_shown(name)} (known: {', '.join(sorted(COMMANDS))})")
        if not isinstance(message.get("args", {}), dict):
            raise ProtocolError("command 'args' must be a JSON object")
    return message


#: Types of the fields of an agent's status (heartbeat, and hello where present); None is allowed for each.
_STATUS_FIELDS: dict[str, tuple[type, ...]] = {
    "state": (str,),
    "clock": (dict,),
    "stats": (dict,),
    "free_disk": (int,),
    "error": (str,),
    "last_summary": (dict,),
    "time": (int, float),
    "instance": (str,),
    "versions": (dict,),
    "host": (dict,),
    "pid": (int,),
    "backend": (str,),
    "protocol": (int,),
    "recording": (dict,),
}
_STAT_NUMBERS = ("frames", "dropped", "bytes", "ttl_out", "ttl_in", "recording_s", "fps", "expected")


def check_status(message: dict[str, Any]) -> dict[str, Any]:
    """Check the fields of a ``hello`` or ``heartbeat`` before the conductor records them; returns the message.

    Raises:
        ProtocolError: naming the first field of the wrong type.
    """
    for key, kinds in _STATUS_FIELDS.items():
        value = message.get(key)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            raise ProtocolError(f"{message.get('type')} field {key!r} = {_shown(value)} has the wrong type")
    for section in ("stats", "last_summary"):
        numbers = message.get(section) or {}
        for key in _STAT_NUMBERS:
            value = numbers.get(key)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise ProtocolError(f"{message.get('type')} field {section}.{key} = {_shown(value)} is not a number")
    return message


@dataclass(frozen=True)
class RecordingCounts:
    """The counts of a recording, running (a status's ``stats``) or finished (its ``last_summary``)."""

    frames: int = 0
    dropped: int = 0
    bytes: int = 0
    ttl_out: int = 0
    ttl_in: int = 0
    recording_s: float = 0.0
    fps: float = 0.0
    expected: int = 0

    @classmethod
    def from_dict(cls, numbers: dict[str, Any]) -> RecordingCounts:
        """Read the counts from checked ``stats`` or ``last_summary`` (missing ones are 0)."""
        return cls(
            frames=int(numbers.get("frames") or 0),
            dropped=int(numbers.get("dropped") or 0),
            bytes=int(numbers.get("bytes") or 0),
            ttl_out=int(numbers.get("ttl_out") or 0),
            ttl_in=int(numbers.get("ttl_in") or 0),
            recording_s=float(numbers.get("recording_s") or 0.0),
            fps=float(numbers.get("fps") or 0.0),
            expected=int(numbers.get("expected") or 0),
        )


@dataclass(frozen=True)
class AgentStatus:
    """An agent's live status: each ``heartbeat`` carries one, and so do the replies to ``status`` and ``start``.

    Built by the agent's camera state machine, read by the conductor once per message (:meth:`from_message`).
    """

    state: str = "idle"  #: idle, settling, configured, armed, previewing, recording, stopped, error, closed
    recording: Optional[dict[str, Any]] = None  #: what is being recorded (names, start time): for a takeover
    stats: dict[str, Any] = field(default_factory=dict)  #: the running recording's counts (empty when not recording)
    clock: dict[str, Any] = field(default_factory=dict)  #: the clock synchronisation's summary
    free_disk: Optional[int] = None  #: bytes free on the data disk
    error: Optional[str] = None
    last_summary: dict[str, Any] = field(default_factory=dict)  #: the summary of the last finished recording
    time: float = 0.0  #: the agent's wall clock when it was made

    def fields(self) -> dict[str, Any]:
        """The status as message fields."""
        return {
            "state": self.state,
            "recording": self.recording,
            "stats": self.stats,
            "clock": self.clock,
            "free_disk": self.free_disk,
            "error": self.error,
            "last_summary": self.last_summary,
            "time": self.time,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> AgentStatus:
        """Read the status in a ``heartbeat`` (or the status part of a ``hello``).

        Raises:
            ProtocolError: naming the first field of the wrong type.
        """
        check_status(message)
        return cls(
            state=str(message.get("state") or "idle"),
            recording=message.get("recording"),
            stats=message.get("stats") or {},
            clock=message.get("clock") or {},
            free_disk=message.get("free_disk"),
            error=message.get("error"),
            last_summary=message.get("last_summary") or {},
            time=float(message.get("time") or 0.0),
        )

    @property
    def counts(self) -> RecordingCounts:
        """The running recording's counts, else the last finished one's."""
        return RecordingCounts.from_dict(self.stats or self.last_summary)


def heartbeat(status: AgentStatus) -> dict[str, Any]:
    return {"type": "heartbeat", "id": new_id(), **status.fields()}


def _shown(value: Any) -> str:
    """A value from a peer, short enough to put in a log line or an error reply."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def peek_id(data: bytes) -> Optional[str]:
    """The ``id`` of a message that failed :func:`decode`, if one can be read, so the error reply can name it."""
    try:
        message = parse_json(data)
    except ProtocolError:
        return None
    value = message.get("id") if isinstance(message, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH else None


def command(name: str, args: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    return {"type": "command", "id": new_id(), "command": name, "args": args or {}}


def reply(
    request_id: str, *, ok: bool, state: str, error: Optional[str] = None, data: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    return {"type": "reply", "id": request_id, "ok": ok, "error": error, "state": state, "data": data or {}}


def error(request_id: Optional[str], message: str) -> dict[str, Any]:
    return {"type": "error", "id": request_id or new_id(), "error": message, "in_reply_to": request_id}


@dataclass(frozen=True)
class Reply:
    """A camera's answer to one command."""

    camera: str
    command: str
    ok: bool
    state: str
    error: Optional[str] = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_message(cls, camera: str, command_name: str, message: dict[str, Any]) -> Reply:
        data = message.get("data")
        return cls(
            camera=camera,
            command=command_name,
            ok=bool(message.get("ok")) and message.get("type") == "reply",
            state=str(message.get("state", "unknown")),
            error=None if message.get("error") is None else str(message.get("error")),
            data=data if isinstance(data, dict) else {},
        )


def encode_log(record: dict[str, Any]) -> list[bytes]:
    """Frames for one log record on the log socket: topic ``instance.LEVEL`` (as the original) and JSON payload."""
    topic = f"{record.get('instance', '')}.{record.get('level', 'INFO')}".encode("utf-8", "backslashreplace")
    payload = wire_json.dumps({"v": PROTOCOL_VERSION, **record}, default=str)
    if len(payload) > MAX_MESSAGE_BYTES:  # cut by bytes: a character of text can take up to 4 (or 6 escaped)
        text = str(record.get("msg", "")).encode("utf-8", "backslashreplace")[: MAX_MESSAGE_BYTES // 8]
        record = {**record, "msg": text.decode("utf-8", "ignore") + " [truncated]"}
        payload = wire_json.dumps({"v": PROTOCOL_VERSION, **record}, default=str)
    return [topic, payload]


def decode_log(data: bytes) -> dict[str, Any]:
    """Parse one log record payload.

    Raises:
        ProtocolError: if it is not a log record of this protocol version.
    """
    record = parse_json(data, "log record")
    if not isinstance(record, dict) or record.get("type") != "log" or record.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("not a log record of this protocol version")
    for key in ("instance", "level", "msg"):
        if not isinstance(record.get(key), str):
            raise ProtocolError(f"log record has no '{key}' string")
    return record


#: First frame of a preview message on the log socket (a log record's first frame is ``instance.LEVEL``).
PREVIEW_TOPIC = b"rcc.preview"
#: Largest preview image accepted (a 320x240 JPEG is about 15 KB).
MAX_PREVIEW_BYTES = 1 << 20


@dataclass(frozen=True)
class PreviewFrame:
    """One live preview image of a camera (a JPEG), as the agent took it from the camera."""

    instance: str
    index: int  #: the camera's frame index it was taken from
    timestamp_us: int  #: that frame's camera timestamp
    sys_time: float  #: time.time() on the agent when the frame was captured
    width: int
    height: int
    jpeg: bytes
    recording: bool = False  #: whether the camera was recording (else previewing)

    def header(self) -> dict[str, Any]:
        return {
            "v": PROTOCOL_VERSION,
            "instance": self.instance,
            "index": self.index,
            "timestamp_us": self.timestamp_us,
            "sys_time": self.sys_time,
            "width": self.width,
            "height": self.height,
            "recording": self.recording,
        }


def encode_preview(frame: PreviewFrame) -> list[bytes]:
    """Frames for one preview image on the log socket: topic, JSON header, JPEG."""
    return [PREVIEW_TOPIC, wire_json.dumps(frame.header()), frame.jpeg]


def decode_preview(frames: list[bytes]) -> PreviewFrame:
    """Parse one preview message (the frames after the topic: header and JPEG).

    Raises:
        ProtocolError: if it is malformed, of another version, or not a JPEG of at most MAX_PREVIEW_BYTES.
    """
    if len(frames) != 2:
        raise ProtocolError(f"a preview message has a header and an image, not {len(frames)} frame(s)")
    header, jpeg = frames
    if len(header) > 4096:
        raise ProtocolError("preview header too large")
    fields = parse_json(header, "preview header")
    if not isinstance(fields, dict) or fields.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("not a preview of this protocol version")
    if not isinstance(fields.get("instance"), str):
        raise ProtocolError("preview header has no 'instance' string")
    for key in ("index", "timestamp_us", "width", "height"):
        value = fields.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ProtocolError(f"preview header: '{key}' must be a whole number >= 0")
    sys_time = fields.get("sys_time")
    if not isinstance(sys_time, (int, float)) or isinstance(sys_time, bool):
        raise ProtocolError("preview header: 'sys_time' must be a number")
    if len(jpeg) > MAX_PREVIEW_BYTES or not jpeg.startswith(b"\xff\xd8"):
        raise ProtocolError(f"preview image: must be a JPEG of at most {MAX_PREVIEW_BYTES} bytes")
    return PreviewFrame(
        instance=fields["instance"],
        index=fields["index"],
        timestamp_us=fields["timestamp_us"],
        sys_time=float(sys_time),
        width=fields["width"],
        height=fields["height"],
        jpeg=bytes(jpeg),
        recording=bool(fields.get("recording")),
    )
