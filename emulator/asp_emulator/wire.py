"""MongoDB wire protocol framing: parse requests, build replies. Pure, no I/O.

Only what a workspace needs: OP_MSG for every command, and the legacy OP_QUERY on
``admin.$cmd`` that pymongo releases before 4.18 use for their first handshake.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import bson
from bson.codec_options import CodecOptions

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

HEADER = struct.Struct("<iiii")
HEADER_SIZE = HEADER.size
MAX_MESSAGE_SIZE = 48_000_000
MAX_BSON_SIZE = 16 * 1024 * 1024

_CHECKSUM_PRESENT = 1 << 0
_MORE_TO_COME = 1 << 1
_EXHAUST_ALLOWED = 1 << 16
# Bits 0-15 are "required": a receiver must refuse a message with a required bit it does not know.
_KNOWN_REQUIRED_BITS = _CHECKSUM_PRESENT | _MORE_TO_COME

_CODEC: CodecOptions[dict[str, Any]] = CodecOptions()  # naive UTC datetimes, as the engine uses
_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")


class ProtocolError(Exception):
    """The bytes are not a message we can answer: the connection must be closed."""


class NestingTooDeep(ProtocolError):
    """A document nested too deep to decode: answered with an error, not a closed connection."""


def nesting_exceeds(document: Any, limit: int) -> bool:
    """Whether documents and arrays in ``document`` nest deeper than ``limit`` levels
    (``document`` itself is level 1). Iterative: no recursion whatever the depth."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


@dataclass(frozen=True)
class Header:
    """A message header."""

    length: int
    request_id: int
    response_to: int
    op_code: int


@dataclass(frozen=True)
class Request:
    """A decoded command request."""

    request_id: int
    op_code: int
    body: dict[str, Any]
    more_to_come: bool = False

    @property
    def command_name(self) -> str:
        """The command's name: the first key of the body."""
        return next(iter(self.body), "")

    @property
    def database(self) -> str:
        """The database the command runs on."""
        return str(self.body.get("$db", "admin"))


def parse_header(data: bytes, max_size: int = MAX_MESSAGE_SIZE) -> Header:
    """Parse and sanity-check the 16-byte header of a message of at most ``max_size``
    bytes."""
    if len(data) != HEADER_SIZE:
        raise ProtocolError("truncated header")
    length, request_id, response_to, op_code = HEADER.unpack(data)
    if length < HEADER_SIZE + 5:
        raise ProtocolError(f"message length {length} is too small")
    if length > max_size:
        raise ProtocolError(f"message length {length} exceeds {max_size}")
    return Header(length, request_id, response_to, op_code)


def parse_request(header: Header, payload: bytes) -> Request:
    """Decode the message that follows ``header``."""
    if len(payload) != header.length - HEADER_SIZE:
        raise ProtocolError("truncated message")
    if header.op_code == OP_MSG:
        return _parse_op_msg(header, payload)
    if header.op_code == OP_QUERY:
        return _parse_op_query(header, payload)
    raise ProtocolError(f"unsupported opCode {header.op_code}")


def _decode_document(data: bytes, offset: int) -> tuple[dict[str, Any], int]:
    if offset + 4 > len(data):
        raise ProtocolError("truncated BSON document")
    (size,) = _INT32.unpack_from(data, offset)
    if size < 5 or offset + size > len(data) or size > MAX_BSON_SIZE:
        raise ProtocolError("invalid BSON document size")
    try:
        doc = bson.decode(data[offset : offset + size], codec_options=_CODEC)
    except Exception as exc:  # bson raises several types for malformed input
        if "recursion" in str(exc):
            raise NestingTooDeep("the document is nested too deep to decode") from exc
        raise ProtocolError(f"malformed BSON: {exc}") from exc
    return doc, offset + size


def _read_cstring(data: bytes, offset: int) -> tuple[str, int]:
    end = data.find(b"\x00", offset)
    if end < 0:
        raise ProtocolError("unterminated string")
    try:
        return data[offset:end].decode("utf-8"), end + 1
    except UnicodeDecodeError as exc:
        raise ProtocolError("invalid UTF-8 in string") from exc


def _parse_op_msg(header: Header, payload: bytes) -> Request:
    (flags,) = _UINT32.unpack_from(payload, 0)
    if flags & 0xFFFF & ~_KNOWN_REQUIRED_BITS:
        raise ProtocolError(f"unknown required OP_MSG flag bits {flags:#x}")
    end = len(payload) - (4 if flags & _CHECKSUM_PRESENT else 0)
    offset = 4
    body: dict[str, Any] | None = None
    sequences: dict[str, list[dict[str, Any]]] = {}
    while offset < end:
        kind = payload[offset]
        offset += 1
        if kind == 0:
            if body is not None:
                raise ProtocolError("more than one body section")
            body, offset = _decode_document(payload[:end], offset)
        elif kind == 1:
            if offset + 4 > end:
                raise ProtocolError("truncated document sequence")
            (size,) = _INT32.unpack_from(payload, offset)
            section_end = offset + size
            if size < 5 or section_end > end:
                raise ProtocolError("invalid document sequence size")
            identifier, position = _read_cstring(payload[:section_end], offset + 4)
            docs = []
            while position < section_end:
                doc, position = _decode_document(payload[:section_end], position)
                docs.append(doc)
            sequences[identifier] = docs
            offset = section_end
        else:
            raise ProtocolError(f"unknown OP_MSG section kind {kind}")
    if body is None:
        raise ProtocolError("OP_MSG without a body section")
    body.update(sequences)
    return Request(header.request_id, OP_MSG, body, bool(flags & _MORE_TO_COME))


def _parse_op_query(header: Header, payload: bytes) -> Request:
    if len(payload) < 4:
        raise ProtocolError("truncated OP_QUERY")
    namespace, offset = _read_cstring(payload, 4)
    offset += 8  # numberToSkip, numberToReturn
    query, _ = _decode_document(payload, offset)
    if not namespace.endswith(".$cmd"):
        raise ProtocolError(f"OP_QUERY is only answered on <db>.$cmd, not {namespace!r}")
    # Legacy commands may be wrapped as {$query: {...}, $readPreference: ...}.
    if "$query" in query and isinstance(query["$query"], dict):
        query = query["$query"]
    query.setdefault("$db", namespace[: -len(".$cmd")])
    return Request(header.request_id, OP_QUERY, query)


def build_reply(request: Request, reply: dict[str, Any], request_id: int) -> bytes:
    """Encode ``reply`` in the form that answers ``request`` (OP_MSG or OP_REPLY)."""
    body = bson.encode(reply)
    if request.op_code == OP_QUERY:
        payload = struct.pack("<iqii", 0, 0, 0, 1) + body
        op_code = OP_REPLY
    else:
        payload = _UINT32.pack(0) + b"\x00" + body
        op_code = OP_MSG
    return (
        HEADER.pack(HEADER_SIZE + len(payload), request_id, request.request_id, op_code) + payload
    )


def build_op_msg(body: dict[str, Any], request_id: int, *, flags: int = 0) -> bytes:
    """Encode a client-side OP_MSG (used by tests and benchmarks that speak raw bytes)."""
    payload = _UINT32.pack(flags) + b"\x00" + bson.encode(body)
    return HEADER.pack(HEADER_SIZE + len(payload), request_id, 0, OP_MSG) + payload
