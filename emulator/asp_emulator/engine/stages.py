"""Per-document pipeline stages, evaluated with mongomock.

Each operator maps one input document to zero or more output documents and raises
``DocumentError`` for a document it cannot process (that document goes to the DLQ).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from mongomock import OperationFailure, helpers
from mongomock.aggregate import process_pipeline

from asp_emulator.engine.errors import DocumentError
from asp_emulator.engine.expressions import (
    compile_query,
    contains_meta,
    substitute_meta,
)
from asp_emulator.engine.schema import compile_json_schema

Doc = dict[str, Any]

VALIDATION_REASON = "Input document found to be invalid in $validate stage"
"""``errInfo.reason`` of a document refused by ``$validate`` (as in the Atlas docs)."""

PLACEHOLDER_META: dict[str, Any] = {
    "source": {"type": "inmemory", "ts": None},
    "window": {"start": None, "end": None},
}
"""Stream metadata used when dry-running a stage at compile time."""

# mongomock messages that mean "this spec can never work", as opposed to "this document
# made the expression fail"; they turn into compile-time errors.
_SPEC_ERRORS = (
    "Unrecognized expression",
    "unknown operator",
    "unknown top level operator",
    "Bad projection",
    "Invalid $addFields",
    "is missing for $replaceRoot",
    "must be an expression in an object",
    "valid operator",
)


def operator_name(stage: str) -> str:
    """The ``operatorStats`` name of a stage, e.g. ``"$addFields"`` -> ``"AddFieldsOperator"``."""
    return stage[1].upper() + stage[2:] + "Operator"


def describe(exc: BaseException) -> str:
    """A one-line reason for an evaluation error."""
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, OperationFailure) else f"{type(exc).__name__}: {text}"


def to_mongomock_stage(name: str, spec: Any) -> dict[str, Any]:
    """Rewrite stages mongomock lacks into equivalent ones it has."""
    if name == "$unset":
        fields = [spec] if isinstance(spec, str) else list(spec)
        return {"$project": dict.fromkeys(fields, 0)}
    if name == "$replaceWith":
        return {"$replaceRoot": {"newRoot": spec}}
    return {name: spec}


def check_spec(run: Callable[[], object]) -> None:
    """Dry-run a stage on an empty document; raise ``ValueError`` if its spec is unusable."""
    try:
        run()
    except NotImplementedError as exc:
        raise ValueError(f"{exc} (not supported by the emulator)") from exc
    except OperationFailure as exc:
        if any(marker in str(exc) for marker in _SPEC_ERRORS):
            raise ValueError(f"{exc} (or not supported by the emulator)") from exc
    except Exception:  # the empty document may legitimately fail an expression
        return


class DocumentOperator:
    """Base class: one stage applied to one document at a time."""

    kind = "document"

    def __init__(self, index: int, stage: str, spec: Any) -> None:
        self.index = index
        self.stage = stage
        self.spec = spec
        self.stats_name = operator_name(stage)
        self.uses_meta = contains_meta(spec)

    def _run(self, doc: Doc, spec: Any) -> list[Doc]:
        raise NotImplementedError

    def apply(self, doc: Doc, meta: Mapping[str, Any] | None = None) -> list[Doc]:
        """Output documents for ``doc``; ``meta`` is the stream metadata (for ``$meta``)."""
        spec = substitute_meta(self.spec, meta or PLACEHOLDER_META) if self.uses_meta else self.spec
        try:
            return self._run(doc, spec)
        except DocumentError:
            raise
        except Exception as exc:
            raise DocumentError(f"{self.stage} failed: {describe(exc)}") from exc

    def check(self) -> None:
        """Raise ``ValueError`` when the spec cannot work on any document."""
        spec = substitute_meta(self.spec, PLACEHOLDER_META) if self.uses_meta else self.spec
        check_spec(lambda: self._run({}, spec))


class MatchOperator(DocumentOperator):
    """``$match``: keep documents matching a query (``$jsonSchema`` included)."""

    def __init__(self, index: int, stage: str, spec: Any) -> None:
        super().__init__(index, stage, spec)
        self._predicate = compile_query(spec)  # ValueError for a malformed query

    def _run(self, doc: Doc, spec: Any) -> list[Doc]:
        predicate = compile_query(spec) if self.uses_meta else self._predicate
        return [doc] if predicate(doc) else []


class MongomockOperator(DocumentOperator):
    """A transforming stage run by ``mongomock.aggregate.process_pipeline`` on one document.

    Used for ``$project``, ``$addFields``/``$set``, ``$unset`` and ``$replaceRoot``/
    ``$replaceWith``.
    """

    def _run(self, doc: Doc, spec: Any) -> list[Doc]:
        stage = to_mongomock_stage(self.stage, spec)
        return list(process_pipeline([doc], None, [stage], None))


class ValidateOperator(DocumentOperator):
    """``$validate``: documents failing ``validator`` are discarded or sent to the DLQ."""

    def __init__(self, index: int, stage: str, spec: Any) -> None:
        super().__init__(index, stage, spec)
        if not isinstance(spec, Mapping) or not isinstance(spec.get("validator"), Mapping):
            raise ValueError("$validate requires a 'validator' document")
        unknown = set(spec) - {"validator", "validationAction"}
        if unknown:
            raise ValueError(f"$validate: unknown field {sorted(unknown)[0]!r}")
        self.action = spec.get("validationAction", "discard")
        if self.action not in ("discard", "dlq"):
            raise ValueError(
                f"$validate.validationAction must be 'discard' or 'dlq', got {self.action!r}"
            )
        validator = spec["validator"]
        self._predicate = compile_query(validator)
        schema = validator.get("$jsonSchema")
        self._explain = compile_json_schema(schema) if isinstance(schema, Mapping) else None

    def _run(self, doc: Doc, spec: Any) -> list[Doc]:
        predicate = compile_query(spec["validator"]) if self.uses_meta else self._predicate
        if predicate(doc):
            return [doc]
        if self.action == "discard":
            return []
        detail = self._explain(doc) if self._explain is not None else None
        raise DocumentError(f"{VALIDATION_REASON}: {detail}" if detail else VALIDATION_REASON)


class UnwindOperator(DocumentOperator):
    """``$unwind``: one output per array element, at most ``max_outputs`` per input.

    Written here rather than run by mongomock, whose ``$unwind`` deep-copies the whole
    document, array included, once per element: quadratic in the array's length.
    """

    def __init__(self, index: int, stage: str, spec: Any, max_outputs: int | None) -> None:
        super().__init__(index, stage, spec)
        options = spec if isinstance(spec, Mapping) else {"path": spec}
        unknown = set(options) - {"path", "includeArrayIndex", "preserveNullAndEmptyArrays"}
        if unknown:
            raise ValueError(f"$unwind: unknown field {sorted(unknown)[0]!r}")
        self.path = str(options["path"])[1:]
        self.index_field = options.get("includeArrayIndex")
        if self.index_field is not None and (
            not isinstance(self.index_field, str) or not self.index_field
        ):
            raise ValueError("$unwind.includeArrayIndex must be a non-empty field name")
        self.preserve = bool(options.get("preserveNullAndEmptyArrays", False))
        self.max_outputs = max_outputs

    def _run(self, doc: Doc, spec: Any) -> list[Doc]:
        try:
            value = helpers.get_value_by_dot(doc, self.path)
        except KeyError:
            return [doc] if self.preserve else []
        if value is None or value == []:
            if not self.preserve:
                return []
            if value == []:
                doc = copy.deepcopy(doc)
                helpers.delete_value_by_dot(doc, self.path)
            return [doc]
        items: list[tuple[int | None, Any]] = (
            list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        )
        if self.max_outputs is not None and len(items) > self.max_outputs:
            raise DocumentError(
                f"$unwind of {len(items):,} elements would make more documents than the "
                f"emulator's limit of {self.max_outputs:,} per input "
                "(Limits.max_documents_per_input)"
            )
        helpers.set_value_by_dot(doc, self.path, None)
        try:
            hollow = copy.deepcopy(doc)  # the document without its array, copied once
        finally:
            helpers.set_value_by_dot(doc, self.path, value)
        out = []
        for position, item in items:
            new = copy.deepcopy(hollow)
            helpers.set_value_by_dot(new, self.path, copy.deepcopy(item))
            if self.index_field is not None:
                helpers.set_value_by_dot(new, self.index_field, position)
            out.append(new)
        return out


def build_document_operator(
    index: int, stage: str, spec: Any, *, max_outputs: int | None = None
) -> DocumentOperator:
    """The operator for a per-document stage; ``ValueError`` when the spec is malformed.

    ``max_outputs`` bounds the documents one input may become (``$unwind``).
    """
    if stage == "$match":
        if not isinstance(spec, Mapping):
            raise ValueError("$match must be a document")
        operator: DocumentOperator = MatchOperator(index, stage, spec)
    elif stage == "$validate":
        operator = ValidateOperator(index, stage, spec)
    elif stage == "$unwind":
        _check_shape(stage, spec)
        operator = UnwindOperator(index, stage, spec, max_outputs)
    else:
        _check_shape(stage, spec)
        operator = MongomockOperator(index, stage, spec)
    operator.check()
    return operator


def _check_shape(stage: str, spec: Any) -> None:
    if stage in ("$project", "$addFields", "$set"):
        if not isinstance(spec, Mapping) or not spec:
            raise ValueError(f"{stage} must be a non-empty document")
    elif stage == "$unset":
        fields = [spec] if isinstance(spec, str) else spec
        if not isinstance(fields, list) or not fields:
            raise ValueError("$unset must be a field name or a non-empty array of field names")
        if not all(isinstance(f, str) and f for f in fields):
            raise ValueError("$unset must be a field name or a non-empty array of field names")
    elif stage == "$replaceRoot":
        if not isinstance(spec, Mapping) or "newRoot" not in spec:
            raise ValueError("$replaceRoot requires a 'newRoot' expression")
    elif stage == "$replaceWith":
        if not isinstance(spec, (Mapping, str)):
            raise ValueError("$replaceWith must be an expression that evaluates to a document")
    elif stage == "$unwind":
        path = spec.get("path") if isinstance(spec, Mapping) else spec
        if not isinstance(path, str) or not path.startswith("$"):
            raise ValueError("$unwind requires a field path starting with '$'")
