"""The core's errors at Dagster's boundary: the one mapping assets and ops share.

An error the core marks :class:`~asp_core.errors.Unretryable` (bad input, a missing
processor, a definition conflict, a processor FAILED for good) becomes
``dg.Failure(description=<the core's words>, allow_retries=False)``: the run fails at once,
without its retries. A failure to reach or log in to the workspace becomes the core's
:class:`~asp_core.errors.AspConnectionError` in plain words (retryable). Anything else
propagates as it is (retryable). The password never appears in a message.
"""

import contextlib
from collections.abc import Iterator
from typing import Optional

import dagster as dg

from asp_core.diagnosis import connection_error
from asp_core.errors import Unretryable
from asp_core.settings import WorkspaceSettings


def as_failure(exc: Unretryable, settings: Optional[WorkspaceSettings] = None) -> dg.Failure:  # noqa: UP045
    """The ``Failure`` (no retries) for an error no retry can fix, with the core's words."""
    words = str(exc)
    if settings is not None:
        words = settings.scrub(words)
    return dg.Failure(description=words, allow_retries=False)


@contextlib.contextmanager
def dagster_errors(settings: Optional[WorkspaceSettings] = None) -> Iterator[None]:  # noqa: UP045
    """Raise the core's errors inside as Dagster expects them (see the module)."""
    try:
        yield
    except Unretryable as exc:
        raise as_failure(exc, settings) from exc
    except Exception as exc:
        explained = None if settings is None else connection_error(exc, settings)
        if explained is None:
            raise
        raise explained from exc
