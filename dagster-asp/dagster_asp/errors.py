"""The core's errors at Dagster's boundary: the one mapping assets and ops share.

An error the core marks :class:`~asp_core.errors.Unretryable` (bad input, a missing
processor, a definition conflict or refusal, a processor FAILED for good, a certificate that
fails verification) becomes ``dg.Failure(description=<the core's words>, allow_retries=False)``:
the run fails at once, without its retries. A failure to reach or log in to the workspace
becomes the core's :class:`~asp_core.errors.AspConnectionError` in plain words (retryable).
Every such error's one-line explanation is logged at ERROR on ``context.log`` first, when
given. Anything else propagates as it is (retryable). The password never appears.
"""

import contextlib
from collections.abc import Iterator
from typing import Any, Optional

import dagster as dg

from asp_core.diagnosis import connection_error
from asp_core.errors import AspError, Unretryable, log_explanation
from asp_core.settings import WorkspaceSettings


def as_failure(exc: Unretryable, settings: Optional[WorkspaceSettings] = None) -> dg.Failure:  # noqa: UP045
    """The ``Failure`` (no retries) for an error no retry can fix, with the core's words."""
    words = str(exc)
    if settings is not None:
        words = settings.scrub(words)
    return dg.Failure(description=words, allow_retries=False)


def _mapped(exc: Exception, settings: Optional[WorkspaceSettings]) -> Optional[AspError]:  # noqa: UP045
    """The core's error for ``exc``: itself, or a failure to connect in plain words."""
    if isinstance(exc, AspError):
        return exc
    return None if settings is None else connection_error(exc, settings)


@contextlib.contextmanager
def dagster_errors(
    settings: Optional[WorkspaceSettings] = None,  # noqa: UP045
    log: Any = None,
) -> Iterator[None]:
    """Raise the core's errors inside as Dagster expects them, after logging their
    explanation on ``log`` (``context.log``) at ERROR (see the module)."""
    try:
        yield
    except dg.Failure:
        raise
    except Exception as exc:
        error = _mapped(exc, settings)
        if error is None:
            raise
        if log is not None:
            log_explanation(log, error)
        if isinstance(error, Unretryable):
            raise as_failure(error, settings) from (exc if error is exc else None)
        if error is exc:
            raise
        raise error from None
