"""The core's errors at Airflow's boundary: what no retry can fix fails the task at once
(``AirflowFailException``) and keeps its own class, message and attributes; the rest is
left retryable."""

from __future__ import annotations

import pickle

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_asp.errors import airflow_errors, for_airflow
from airflow_provider_asp.sensors.asp import AspProcessorStateSensor
from asp_core.errors import (
    AspInputError,
    AspProcessorFailedError,
    AspProcessorFailedFatalError,
    AspProcessorNotFoundError,
    AspUncertainOutcomeError,
)


def test_an_unretryable_error_becomes_an_airflow_fail_exception_of_its_own_class():
    error = for_airflow(AspProcessorNotFoundError("solar"))
    assert isinstance(error, AirflowFailException)
    assert isinstance(error, AspProcessorNotFoundError)
    assert type(error).__name__ == "AspProcessorNotFoundError"
    assert str(error) == "Stream processor 'solar' does not exist."
    assert error.processor_name == "solar"
    assert type(for_airflow(AspProcessorNotFoundError("other"))) is type(error)  # one class
    assert type(pickle.loads(pickle.dumps(error))) is AspProcessorNotFoundError


@pytest.mark.parametrize(
    "error",
    [
        AspProcessorFailedError("p", "broker down", 1, True),
        AspUncertainOutcomeError("start may still take effect"),
        RuntimeError("boom"),
    ],
)
def test_retryable_errors_are_left_as_they_are(error):
    assert for_airflow(error) is error
    assert not isinstance(error, AirflowFailException)


def test_the_wrapper_keeps_the_traceback_and_the_return_value():
    @airflow_errors
    def refuses(value: int) -> int:
        if value < 0:
            raise AspInputError("value must not be negative")
        return value

    assert refuses(3) == 3
    with pytest.raises(AirflowFailException, match="must not be negative") as caught:
        refuses(-1)
    assert caught.traceback[-1].name == "refuses"
    fatal = for_airflow(AspProcessorFailedFatalError("p", "m", 7, False))
    assert isinstance(fatal, AspProcessorFailedFatalError)
    assert isinstance(fatal, AirflowFailException)
    assert fatal.error_code == 7


def test_every_entry_point_of_a_task_class_is_wrapped_once():
    for name in ("execute", "poke", "execute_complete"):
        method = AspProcessorStateSensor.__dict__.get(name) or getattr(
            AspProcessorStateSensor, name
        )
        assert getattr(method, "__asp_airflow_errors__", False), name
        assert not getattr(method.__wrapped__, "__asp_airflow_errors__", False), name
