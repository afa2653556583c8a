"""The core's errors at Airflow's boundary.

An error the core marks :class:`~asp_core.errors.Unretryable` (bad input, a missing
processor, a definition conflict, a processor FAILED for good) must fail the task at once,
without its retries: Airflow does that for ``AirflowFailException``. :func:`for_airflow`
makes such an error one, keeping its own class too (``except AspProcessorNotFoundError``
still catches it), its message, attributes and traceback. Every operator and sensor entry
point passes through :func:`airflow_errors` (``AspTaskMixin`` wraps them), which also logs
every core error's one-line explanation at ERROR on the task's log, once, before Airflow
prints its traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from asp_core.errors import AspError, Unretryable, log_explanation

F = TypeVar("F", bound=Callable[..., Any])


_FAILING: dict[type[BaseException], type[BaseException]] = {}


def _failing(cls: type[BaseException]) -> type[BaseException]:
    """``cls`` that is also an ``AirflowFailException`` (one per class); pickles as ``cls``."""
    made = _FAILING.get(cls)
    if made is not None:
        return made

    def __reduce__(self: BaseException) -> Any:
        return (cls, self.args, self.__dict__ or None)

    namespace: dict[str, Any] = {
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "__reduce__": __reduce__,
    }
    made = _FAILING[cls] = type(cls.__name__, (cls, AirflowFailException), namespace)
    return made


def for_airflow(exc: BaseException) -> BaseException:
    """``exc`` itself, made an ``AirflowFailException`` when no retry can fix it."""
    original: type[BaseException] = exc.__class__
    if issubclass(original, Unretryable) and not issubclass(original, AirflowFailException):
        exc.__class__ = _failing(original)
    return exc


def airflow_errors(method: F) -> F:
    """``method`` (of an operator or sensor) logging the core's errors' explanations at
    ERROR and raising its unretryable errors as ``AirflowFailException``s."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except AspError as exc:
            log = getattr(args[0], "log", None) if args else None
            if log is not None:
                log_explanation(log, exc)
            for_airflow(exc)
            raise

    wrapper.__asp_airflow_errors__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


#: The methods through which Airflow enters a task.
ENTRY_POINTS = ("execute", "resume", "execute_complete", "poke")


class AirflowErrorsMixin:
    """Wraps every entry point (:data:`ENTRY_POINTS`) a subclass defines in
    :func:`airflow_errors`: the core's errors are logged once and its unretryable ones fail
    the task without retries."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ENTRY_POINTS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__asp_airflow_errors__", False):
                setattr(cls, name, airflow_errors(method))
