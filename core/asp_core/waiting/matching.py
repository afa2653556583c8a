"""What sampled documents must satisfy: a MongoDB query (``match``) and a ``check_fn``.

Queries are evaluated by `mongoquery <https://pypi.org/project/mongoquery/>`_, a library made
for matching MongoDB queries against Python documents (no mocking library at run time). The
supported operators are :data:`SUPPORTED_OPERATORS`; anything else (``$expr``, ``$where``,
``$text``, geo operators, and ``$mod`` and ``$type``, which mongoquery 1.4 evaluates unlike the
server) is refused when the query is checked, before any command is sent, and so is a
``$regex`` that does not compile. ``$options`` (and a compiled pattern as a value) are turned
into mongoquery's ``"/pattern/flags"`` form. Differences from the server, measured:

- ``{"field": None}`` does not match a document that lacks ``field``; write
  ``{"field": {"$exists": False}}``.
- Comparison operators and ``$regex`` do not look inside arrays (equality and ``$in`` do):
  ``{"a": {"$gt": 2}}`` does not match ``{"a": [1, 5]}``; write
  ``{"a": {"$elemMatch": {"$gt": 2}}}``.

``check_fn`` is a callable or the dotted path of one; a trigger gets the dotted path.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from asp_core.errors import AspInputError

#: ``fn(value) -> bool``, or the dotted path of one.
CheckFn = Callable[[Any], Any] | str

#: Query operators a ``match`` may use (mongoquery evaluates each as the server does).
SUPPORTED_OPERATORS: frozenset[str] = frozenset(
    {
        "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin",
        "$exists", "$regex", "$options", "$size", "$all", "$elemMatch",
        "$not", "$and", "$or", "$nor", "$comment",
    }
)  # fmt: skip


def matches(query: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    """Whether ``document`` satisfies the MongoDB query ``query``."""
    from mongoquery import Query

    return bool(Query(_prepared(query)).match(document))


def _prepared(value: Any) -> Any:
    """``value`` with regular expressions in mongoquery's ``"/pattern/flags"`` form: a
    ``{"$regex": p, "$options": o}`` pair, or a compiled pattern given as a value."""
    if isinstance(value, re.Pattern):
        return {"$regex": _slashed(value.pattern, _flags(value))}
    if isinstance(value, Mapping):
        prepared = {key: _prepared(item) for key, item in value.items() if key != "$options"}
        if "$regex" in value:
            pattern = value["$regex"]
            if isinstance(pattern, re.Pattern):
                prepared["$regex"] = _slashed(pattern.pattern, _flags(pattern))
            elif "$options" in value:
                prepared["$regex"] = _slashed(str(pattern), str(value["$options"]))
        return prepared
    if isinstance(value, (list, tuple)):
        return [_prepared(item) for item in value]
    return value


def _slashed(pattern: str, options: str) -> str:
    return f"/{pattern}/{options}"


def _flags(pattern: re.Pattern[str]) -> str:
    flags = {re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s", re.VERBOSE: "x"}
    return "".join(letter for flag, letter in flags.items() if pattern.flags & flag)


def check_query(query: Any, label: str = "match") -> None:
    """Raise AspInputError unless ``query`` is a query document of supported operators."""
    if not isinstance(query, Mapping):
        raise AspInputError(f"{label} must be a document, not {type(query).__name__}.")
    unsupported = sorted(_operators(query) - SUPPORTED_OPERATORS)
    if unsupported:
        raise AspInputError(
            f"{label} is not a valid query: {', '.join(unsupported)} is not supported "
            f"(supported: {', '.join(sorted(SUPPORTED_OPERATORS))})."
        )
    for pattern in _regexes(query):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise AspInputError(
                f"{label} is not a valid query: $regex {pattern!r}: {exc}."
            ) from None
    try:
        matches(query, {})
    except Exception as exc:
        raise AspInputError(f"{label} is not a valid query: {exc!r}") from None


def _regexes(value: Any) -> list[str]:
    """Every ``$regex`` string anywhere in ``value``."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "$regex" and isinstance(item, str):
                found.append(item)
            else:
                found.extend(_regexes(item))
    elif isinstance(value, (list, tuple)):
        for item in value:
            found.extend(_regexes(item))
    return found


def _operators(value: Any) -> set[str]:
    """Every ``$``-key anywhere in ``value`` (the operators a query uses)."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("$"):
                found.add(key)
            found |= _operators(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found |= _operators(item)
    return found


def resolve_callable(spec: Any, label: str = "check_fn") -> Callable[..., Any]:
    """``spec`` if callable, else the callable its dotted path names."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or "." not in spec.strip(". "):
        raise AspInputError(f"{label} must be a callable or a dotted path, not {spec!r}.")
    module, _, attribute = spec.strip().rpartition(".")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise AspInputError(f"{label} {spec!r} cannot be imported: {exc}") from None
    if not callable(found):
        raise AspInputError(f"{label} {spec!r} is not callable.")
    return found


def callable_path(spec: Any, label: str = "check_fn") -> str:
    """The dotted path of ``spec``, for a trigger: a path as given, or a module-level
    function's ``module.name``; lambdas, nested functions and functions of DAG files
    (which the triggerer cannot import) are refused."""
    if isinstance(spec, str):
        resolve_callable(spec, label)
        return spec.strip()
    module = getattr(spec, "__module__", None) or ""
    path = f"{module}.{getattr(spec, '__qualname__', '')}"
    importable = module not in ("", "__main__") and not module.startswith("unusual_prefix_")
    if not importable or "<" in path or _resolves_to(path, label) is not spec:
        raise AspInputError(
            f"{label} {spec!r} cannot travel to the triggerer: in deferrable mode give a "
            "dotted path, or a function defined at the top level of an importable module "
            "(not a lambda, a nested function or a function of a DAG file)."
        )
    return path


def _resolves_to(path: str, label: str) -> Any:
    try:
        return resolve_callable(path, label)
    except AspInputError:
        return None
