"""Atlas's error answers: an HTTP status, an ``errorCode``, a ``detail`` and its
``parameters`` (what the detail names)."""

from __future__ import annotations

from collections.abc import Sequence


class ApiError(Exception):
    """An Atlas error answer: HTTP ``status``, ``errorCode`` and ``detail``."""

    def __init__(self, status: int, code: str, detail: str, parameters: Sequence[str] = ()) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.parameters = list(parameters)
