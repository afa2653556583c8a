"""MongoDB ``$jsonSchema`` evaluation with the ``jsonschema`` package (draft 4 + ``bsonType``)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import bson
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from jsonschema import Draft4Validator, validators
from jsonschema.exceptions import (
    SchemaError,
    ValidationError,
)

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, (bool, Int64))


_BSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "double": lambda v: isinstance(v, float),
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, (list, tuple)),
    "binData": lambda v: isinstance(v, (bytes, bson.Binary)),
    "undefined": lambda v: False,
    "objectId": lambda v: isinstance(v, ObjectId),
    "bool": lambda v: isinstance(v, bool),
    "date": lambda v: isinstance(v, datetime.datetime),
    "null": lambda v: v is None,
    "regex": lambda v: isinstance(v, (Regex, re.Pattern)),
    "dbPointer": lambda v: isinstance(v, bson.DBRef),
    "javascript": lambda v: isinstance(v, bson.Code),
    "symbol": lambda v: False,
    "int": lambda v: _is_int(v) and _INT32_MIN <= v <= _INT32_MAX,
    "timestamp": lambda v: isinstance(v, Timestamp),
    "long": lambda v: isinstance(v, Int64) or (_is_int(v) and not _INT32_MIN <= v <= _INT32_MAX),
    "decimal": lambda v: isinstance(v, (Decimal128, Decimal)),
    "minKey": lambda v: isinstance(v, bson.MinKey),
    "maxKey": lambda v: isinstance(v, bson.MaxKey),
    "number": lambda v: isinstance(v, (int, float, Decimal128)) and not isinstance(v, bool),
}
BSON_TYPE_NAMES = frozenset(_BSON_TYPES)


def _bson_type(
    validator: Any, types: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    names = [types] if isinstance(types, str) else list(types)
    if not any(_BSON_TYPES[name](instance) for name in names):
        yield ValidationError(f"{instance!r} is not of bsonType {types!r}")


_BSON_TYPE_META_SCHEMA = {
    "anyOf": [
        {"enum": sorted(BSON_TYPE_NAMES)},
        {"type": "array", "items": {"enum": sorted(BSON_TYPE_NAMES)}, "minItems": 1},
    ]
}

_META_SCHEMA = dict(Draft4Validator.META_SCHEMA)
_META_SCHEMA["properties"] = {
    **Draft4Validator.META_SCHEMA["properties"],
    "bsonType": _BSON_TYPE_META_SCHEMA,
}

MongoSchemaValidator = validators.create(
    meta_schema=_META_SCHEMA,
    validators={**Draft4Validator.VALIDATORS, "bsonType": _bson_type},
    type_checker=Draft4Validator.TYPE_CHECKER,
    format_checker=Draft4Validator.FORMAT_CHECKER,
    version="mongodb-jsonschema",
)
"""Draft 4 plus MongoDB's ``bsonType`` keyword; ``$ref`` is not part of MongoDB's dialect."""


def compile_json_schema(schema: Any) -> Callable[[Any], str | None]:
    """Compile a ``$jsonSchema`` document into ``check(doc) -> None | error message``.

    Raises ``ValueError`` when the schema itself is malformed.
    """
    if not isinstance(schema, Mapping):
        raise ValueError("$jsonSchema must be an object")
    try:
        MongoSchemaValidator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"invalid $jsonSchema: {exc.message}") from exc
    validator = MongoSchemaValidator(schema)

    def check(doc: Any) -> str | None:
        error = next(iter(validator.iter_errors(doc)), None)
        return None if error is None else error.message

    return check
