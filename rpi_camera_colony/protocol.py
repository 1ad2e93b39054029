"""Control protocol: versioned JSON messages between the conductor and its agents.

Every message is one JSON object with ``v`` (protocol version), ``type`` and ``id``. Types:

- agent -> conductor: ``hello`` (on connect), ``heartbeat`` (live status), ``reply`` (answer to a command),
  ``time_request`` (clock synchronisation), ``error`` (the conductor sent something the agent cannot use).
- conductor -> agent: ``command`` (``command`` names one of :data:`COMMANDS`, ``args`` is an object),
  ``hello_request`` (asks an agent the conductor does not know yet to introduce itself), ``time_reply``
  (``conductor_us``: the conductor's clock when it answered, see :mod:`rpi_camera_colony.clock`), ``error``.

A reply is ``{ok, error, state, data}``. Nothing is ever unpickled; messages over :data:`MAX_MESSAGE_BYTES` are
refused with an error reply.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from rpi_camera_colony.exc import ProtocolError

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 1 << 20
#: Hard limit set on the sockets themselves (a peer sending more is disconnected by ZeroMQ).
SOCKET_MAX_MESSAGE_BYTES = 16 << 20

COMMANDS = frozenset(
    {"configure", "preview", "start", "stop", "close", "status", "ping", "inject_ttl_in", "sync_box", "annotate"}
)
MESSAGE_TYPES = frozenset(
    {"hello", "heartbeat", "reply", "error", "command", "hello_request", "time_request", "time_reply"}
)


def new_id() -> str:
    return uuid.uuid4().hex


def encode(message: dict[str, Any]) -> bytes:
    """Serialise a message (adds ``v``).

    Raises:
        ProtocolError: if it is not JSON-serialisable or is larger than :data:`MAX_MESSAGE_BYTES`.
    """
    try:
        data = json.dumps({"v": PROTOCOL_VERSION, **message}, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise ProtocolError(f"message cannot be sent as JSON: {err}") from None
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes is larger than the limit of {MAX_MESSAGE_BYTES} bytes")
    return data


def decode(data: bytes) -> dict[str, Any]:
    """Parse and check one message.

    Raises:
        ProtocolError: saying what is wrong (too large, not JSON, not an object, wrong version, bad type or id).
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes is larger than the limit of {MAX_MESSAGE_BYTES} bytes")
    try:
        message = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError("message is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ProtocolError(f"message is not valid JSON: {err}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"message must be a JSON object, not {type(message).__name__}")
    version = message.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r} is not supported (this side speaks {PROTOCOL_VERSION})")
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {kind!r} (known: {', '.join(sorted(MESSAGE_TYPES))})")
    if not isinstance(message.get("id"), str) or not message["id"]:
        raise ProtocolError("message has no 'id' string")
    if kind == "command":
        if message.get("command") not in COMMANDS:
            raise ProtocolError(f"unknown command {message.get('command')!r} (known: {', '.join(sorted(COMMANDS))})")
        if not isinstance(message.get("args", {}), dict):
            raise ProtocolError("command 'args' must be a JSON object")
    return message


def peek_id(data: bytes) -> Optional[str]:
    """The ``id`` of a message that failed :func:`decode`, if one can be read, so the error reply can name it."""
    try:
        message = json.loads(data[:MAX_MESSAGE_BYTES].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    value = message.get("id") if isinstance(message, dict) else None
    return value if isinstance(value, str) else None


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
    topic = f"{record.get('instance', '')}.{record.get('level', 'INFO')}".encode()
    payload = json.dumps({"v": PROTOCOL_VERSION, **record}, separators=(",", ":"), default=str).encode()
    if len(payload) > MAX_MESSAGE_BYTES:
        record = {**record, "msg": str(record.get("msg", ""))[: MAX_MESSAGE_BYTES // 2] + " [truncated]"}
        payload = json.dumps({"v": PROTOCOL_VERSION, **record}, separators=(",", ":"), default=str).encode()
    return [topic, payload]


def decode_log(data: bytes) -> dict[str, Any]:
    """Parse one log record payload.

    Raises:
        ProtocolError: if it is not a log record of this protocol version.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"log record of {len(data)} bytes is larger than the limit of {MAX_MESSAGE_BYTES} bytes")
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProtocolError(f"log record is not JSON: {err}") from None
    if not isinstance(record, dict) or record.get("type") != "log" or record.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("not a log record of this protocol version")
    for key in ("instance", "level", "msg"):
        if not isinstance(record.get(key), str):
            raise ProtocolError(f"log record has no '{key}' string")
    return record
