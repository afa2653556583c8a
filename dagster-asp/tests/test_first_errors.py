"""Errors a new user meets first, through real Dagster: a refused pipeline names the stage,
an untrusted certificate fails the run at once without retries, every failure logs its one
line at ERROR, a missing processor names the resource and host."""

import time

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from dagster_asp import AspProcessor, build_asp_processor_assets
from dagster_asp.ops import asp_start_processor_op
from dagster_support.processors import unique
from dagster_support.tls import CASES, untrusted_workspaces
from dagster_support.workspaces import PASSWORD, resource_for


def deploy_job(processor, asp):
    assets = build_asp_processor_assets([processor], poll_interval=0.1, timeout=60)
    defs = dg.Definitions(
        assets=assets,
        jobs=[dg.define_asset_job("deploy", op_retry_policy=dg.RetryPolicy(max_retries=2))],
        resources={"asp": asp},
    )
    return defs.resolve_job_def("deploy")


def failure_of(result):
    """The one step failure's ``Failure`` description (None: a retryable error)."""
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    (failure,) = result.get_step_failure_events()
    data = failure.step_failure_data.user_failure_data
    return None if data is None else data.description


def error_logs(instance, result, words):
    """The run's ERROR log messages (user code's, not Dagster's events) that carry ``words``."""
    return [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == 40 and e.dagster_event is None and words in e.user_message
    ]


def test_a_typo_in_a_stage_fails_the_materialization_naming_it(asp_workspace, asp):
    name = unique("dg_typo")
    processor = AspProcessor(
        name,
        [
            {"$source": {"documents": [{"a": 1}]}},
            {"$matchh": {"a": 1}},
            {"$emit": {"connectionName": "__testLog"}},
        ],
    )
    with dg.instance_for_test() as instance:
        result = deploy_job(processor, asp).execute_in_process(
            instance=instance, raise_on_error=False
        )
        description = failure_of(result) or ""
        assert f"Stream processor {name!r}" in description
        assert "stage 2 of 3 (`$matchh`)" in description
        assert "did you mean `$match`?" in description
        assert "stage 1: unknown stage '$matchh'" in description
        assert len(error_logs(instance, result, "did you mean `$match`?")) == 1
    assert name not in asp_workspace.processors()


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory):
    with untrusted_workspaces(str(tmp_path_factory.mktemp("tls"))) as made:
        yield made


@pytest.mark.parametrize("case", CASES)
def test_an_untrusted_certificate_fails_the_run_at_once(untrusted, case):
    workspace, ca_file = untrusted[case]
    asp = resource_for(workspace, tls_ca_file=ca_file, server_selection_timeout_ms=2000)
    processor = AspProcessor(unique("dg_tls"), [{"$source": {"documents": []}}])
    with dg.instance_for_test() as instance:
        started = time.monotonic()
        result = deploy_job(processor, asp).execute_in_process(
            instance=instance, raise_on_error=False
        )
        elapsed = time.monotonic() - started
        description = failure_of(result) or ""
        assert "TLS with 127.0.0.1:" in description
        assert "(is the CA file right?)" in description
        assert len(error_logs(instance, result, "(is the CA file right?)")) == 1
    assert elapsed < 15, elapsed  # 2 s of server selection; the timeout was 60 s


def test_a_wrong_password_is_one_error_line_without_the_password(asp_workspace, capfd):
    wrong = "hunter2-not-the-password"
    asp = resource_for(asp_workspace, password=wrong)
    processor = AspProcessor(unique("dg_pw"), [{"$source": {"documents": []}}])
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            build_asp_processor_assets([processor], timeout=10),
            resources={"asp": asp},
            instance=instance,
            raise_on_error=False,
        )
        assert failure_of(result) is None  # retryable
        words = "Connection 'asp': Authentication failed for user 'admin'"
        assert len(error_logs(instance, result, words)) == 1
        stored = serialize_value(instance.all_logs(result.run_id))
    captured = capfd.readouterr()
    assert wrong not in stored + captured.out + captured.err
    assert PASSWORD not in stored


def test_a_missing_processor_names_the_resource_and_host(asp_workspace, asp):
    name = unique("dg_missing")

    @dg.job(resource_defs={"asp": asp})
    def start():
        asp_start_processor_op()

    config = {"processor_name": name, "poll_interval": 0.1, "timeout": 30}
    with dg.instance_for_test() as instance:
        result = start.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"ops": {"asp_start_processor_op": {"config": config}}},
        )
        where = f"connection 'asp', host {asp_workspace.host}:{asp_workspace.port}"
        expected = f"Stream processor {name!r} does not exist ({where})."
        assert failure_of(result) == expected
        assert len(error_logs(instance, result, expected)) == 1
