"""Checks Admin API responses against Atlas's published OpenAPI document (openapi-core).

Test-only: needs ``openapi-core`` (not a dependency of the emulator). The document is
``openapi/atlas-api-transformed.yaml`` of ``mongodb/atlas-sdk-go``, plain or gzipped; only
its paths under ``prefix`` (the streams endpoints) and what they reference are loaded.

What a response must be, for the operation its method and path name in the document:

- a status the operation declares, in a media type declared for that status, with a body
  that its schema accepts. Schemas are read strictly: an object schema that does not say
  ``additionalProperties`` accepts no property it does not list, and a ``writeOnly``
  property (a password) is never accepted in a response;
- or one of :data:`UNDECLARED_ERRORS`, which Atlas answers on any endpoint though the document
  declares them per operation only here and there (a request the endpoint's rules refuse,
  version negotiation in ``Accept``, the body's media type and size, conflicts, an
  unserved method, maintenance): then an Atlas error document (the ``ApiError`` schema, in
  ``application/json``) whose ``error`` is the status.

A path the document does not have must be answered 404 or 405 with an error document.
``/api/oauth/token`` (not in the document) must answer RFC 6749's token or error document.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from asp_emulator.admin.exchanges import Exchange

PREFIX = "/api/atlas/v2/groups/{groupId}/streams"
TOKEN_PATH = "/api/oauth/token"
#: statuses Atlas answers on any endpoint, declared by the operation or not
UNDECLARED_ERRORS = frozenset({400, 405, 406, 409, 413, 415, 503})
_ERROR_MEDIA = "application/json"
_API_ERROR_FIELDS = {"badRequestDetail", "detail", "error", "errorCode", "parameters", "reason"}
_PARAM = re.compile(r"\{([^}/]+)\}")


@dataclass(frozen=True)
class Template:
    """One path of the document: its text, its regex and how literal it is."""

    text: str
    regex: re.Pattern[str]
    literal: int


class Conformance:
    """Validates :class:`Exchange` s against the document at ``spec_path``."""

    def __init__(self, spec_path: str | Path, prefix: str = PREFIX) -> None:
        path = Path(spec_path)
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        full = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        self.spec = _subset(_plain(full), prefix)
        self.paths: dict[str, dict[str, Any]] = self.spec["paths"]
        media = {m for m in _media_types(self.paths) if m.endswith("+json")}
        config = Config(
            spec_validator_cls=None,
            extra_media_type_deserializers={m: json.loads for m in media},
        )
        self.api = OpenAPI.from_dict(self.spec, config=config)
        self.templates = sorted(
            (Template(text, _regex(text), len(_PARAM.sub("", text))) for text in self.paths),
            key=lambda t: -t.literal,
        )
        self.checked = 0

    # -- one exchange ------------------------------------------------------------------------
    def check(self, exchange: Exchange) -> list[str]:
        """What is wrong with ``exchange``'s response (empty: it conforms)."""
        self.checked += 1
        where = f"{exchange.method} {exchange.path} -> {exchange.status}"
        return [f"{where}: {problem}" for problem in self._problems(exchange)]

    def _problems(self, exchange: Exchange) -> Iterator[str]:
        if exchange.path == TOKEN_PATH:
            yield from _token_problems(exchange)
            return
        match = self.match(exchange.path)
        if match is None:
            if exchange.status not in (404, 405):
                yield "a path the document does not have must be answered 404 or 405"
            yield from _error_problems(exchange)
            return
        template, params = match
        operation = self.paths[template.text].get(exchange.method.lower())
        if operation is None:
            if exchange.status != 405:
                yield f"{exchange.method} is not an operation of {template.text}: expected 405"
            yield from _error_problems(exchange)
            return
        declared = {str(code) for code in operation.get("responses", {})}
        if str(exchange.status) in declared:
            yield from self._validate(exchange, template.text, params, exchange.status)
        elif exchange.status in UNDECLARED_ERRORS:
            yield from _error_problems(exchange)
        else:
            yield (
                f"status {exchange.status} is not declared for {exchange.method} "
                f"{template.text} (declared: {', '.join(sorted(declared))})"
            )

    def match(self, path: str) -> tuple[Template, dict[str, str]] | None:
        """The document's path ``path`` is an instance of, and its parameters."""
        for template in self.templates:
            found = template.regex.fullmatch(path)
            if found is not None:
                return template, found.groupdict()
        return None

    def _validate(
        self, exchange: Exchange, template: str, params: dict[str, str], status: int
    ) -> Iterator[str]:
        request = MockRequest(
            "https://cloud.mongodb.com",
            exchange.method,
            exchange.path,
            path_pattern=template,
            view_args=params,
            args=dict(exchange.query),
        )
        content_type = _header(exchange.response_headers, "Content-Type")
        media = content_type.split(";")[0].strip().lower()
        body = exchange.response_body
        if body is None:
            return  # streamed: not checked here
        if media.endswith("+gzip"):
            if body[:2] != b"\x1f\x8b":
                yield f"{media} but the body is not gzip"
        elif body and media.endswith("json"):
            try:
                json.loads(body)
            except ValueError:
                yield f"{media} but the body is not JSON"
                return
        response = MockResponse(
            body,
            status_code=status,
            content_type=media,
            headers=exchange.response_headers,
        )
        try:
            self.api.validate_response(request, response)
        except Exception as exc:  # openapi-core's errors carry the schema errors as cause
            yield _describe(exc)
        if status >= 400:
            yield from _error_problems(exchange, schema_checked=True)


def _describe(exc: Exception) -> str:
    cause = exc.__cause__
    errors = getattr(cause, "schema_errors", None) or getattr(exc, "schema_errors", None)
    if errors:
        return "; ".join(
            f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}" for e in errors
        )
    return f"{type(exc).__name__}: {exc}"


def _error_problems(exchange: Exchange, *, schema_checked: bool = False) -> Iterator[str]:
    """An Atlas error document: ``application/json``, ``error`` (the status, int) and
    ``errorCode`` (str) required, ``detail``/``reason`` strings, ``parameters`` a list."""
    media = _header(exchange.response_headers, "Content-Type").split(";")[0].strip()
    if media != _ERROR_MEDIA:
        yield f"an error must be {_ERROR_MEDIA}, not {media or 'untyped'}"
    try:
        doc = json.loads(exchange.response_body or b"")
    except ValueError:
        yield "an error's body must be an Atlas error document (JSON)"
        return
    if not isinstance(doc, dict):
        yield "an error's body must be a JSON object"
        return
    if doc.get("error") != exchange.status:
        yield f"error document says error={doc.get('error')!r}, the status is {exchange.status}"
    if schema_checked:
        return
    if not isinstance(doc.get("errorCode"), str):
        yield "error document without a string errorCode"
    for key in ("detail", "reason"):
        if key in doc and not isinstance(doc[key], str):
            yield f"error document's {key} is not a string"
    if "parameters" in doc and not isinstance(doc["parameters"], list):
        yield "error document's parameters is not a list"
    unknown = set(doc) - _API_ERROR_FIELDS
    if unknown:
        yield f"error document has fields ApiError does not: {sorted(unknown)}"


def _token_problems(exchange: Exchange) -> Iterator[str]:
    """RFC 6749 section 5.1 (200) and 5.2 (400/401) documents, in ``application/json``."""
    media = _header(exchange.response_headers, "Content-Type").split(";")[0].strip()
    if media != "application/json":
        yield f"a token endpoint answers application/json, not {media}"
    try:
        doc = json.loads(exchange.response_body or b"")
    except ValueError:
        yield "the token endpoint's body is not JSON"
        return
    if exchange.status == 200:
        if not isinstance(doc.get("access_token"), str) or doc.get("token_type") != "Bearer":
            yield "a token answer needs access_token and token_type Bearer"
        if not isinstance(doc.get("expires_in"), int):
            yield "a token answer needs an integer expires_in"
    elif exchange.status in (400, 401, 413, 415, 429, 503):
        if exchange.status in (400, 401) and not isinstance(doc.get("error"), str):
            yield "a token error needs an error string (RFC 6749 5.2)"
    else:
        yield f"the token endpoint does not answer {exchange.status}"


def _header(headers: dict[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


def _regex(template: str) -> re.Pattern[str]:
    parts = _PARAM.split(template)
    pattern = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(pattern)


# -- the document --------------------------------------------------------------------------
def _plain(node: Any) -> Any:
    """YAML's dates (in keys and values) as strings: the document as JSON would have it."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if node is None or isinstance(node, (str, int, float, bool)):
        return node
    return str(node)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _subset(spec: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The paths starting with ``prefix``, the components they reference (transitively),
    object schemas made strict."""
    paths = {p: item for p, item in spec["paths"].items() if p.startswith(prefix)}
    components: dict[str, dict[str, Any]] = {}
    todo, seen = list(_refs(paths)), set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/")
        target = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = target
        todo.extend(_refs(target))
    subset = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": [{"url": "https://cloud.mongodb.com"}],
        "paths": paths,
        "components": components,
    }
    _strict(subset["components"].get("schemas", {}))
    _strict(paths)
    return subset


def _strict(node: Any) -> None:
    """``additionalProperties: false`` on every object schema listing ``properties``
    without saying ``additionalProperties`` (the document's schemas are closed in fact)."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)


def _media_types(paths: dict[str, Any]) -> Iterator[str]:
    for item in paths.values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                yield from (response.get("content") or {}).keys()
            yield from ((operation.get("requestBody") or {}).get("content") or {}).keys()
