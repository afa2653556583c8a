"""BSON values to plain JSON values, for XCom and return values.

ObjectId and UUID become strings, datetimes ISO 8601 strings (UTC when naive, as BSON
dates are), Decimal128 a string (no precision lost), Timestamp ``{"t", "i"}``, Int64 an
int, binary data base64, and anything else BSON knows its relaxed Extended JSON form.
bson is imported when a value needs it, never at import time.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import json
import uuid
from collections.abc import Mapping
from typing import Any

JsonValue = Any
_PLAIN = (str, int, float, bool, type(None))


def to_jsonable(value: Any) -> JsonValue:
    """A copy of ``value`` made of dicts, lists, strings, numbers, booleans and None."""
    if isinstance(value, _PLAIN):
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, datetime.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        return aware.isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    return _bson_to_jsonable(value)


def _bson_to_jsonable(value: Any) -> JsonValue:
    from bson import json_util
    from bson.decimal128 import Decimal128
    from bson.objectid import ObjectId
    from bson.timestamp import Timestamp

    if isinstance(value, (ObjectId, Decimal128)):
        return str(value)
    if isinstance(value, Timestamp):
        return {"t": value.time, "i": value.inc}
    return json.loads(json_util.dumps(value, json_options=json_util.RELAXED_JSON_OPTIONS))
