"""Connection assets and ops under adversity, against the emulated Admin API: a connection
being deleted by an earlier teardown, a replace whose answers are lost, a silent Admin API
(the step's ``timeout`` holds), and the same requests and words as the Airflow operators
(``tests/integration/airflow_admin/test_admin_adversity.py`` asserts the same figures):
one core decides, each orchestrator translates."""

import time

import dagster as dg
import pytest

from asp_emulator import Workspace
from dagster_asp import AspConnectionSpec, asp_deploy_connection_op, build_asp_connection_assets
from dagster_support.admin import admin_resource, after_requests, requests_since, writes
from dagster_support.processors import unique

HTTPS = {"type": "Https", "url": "https://hooks.example/adversity"}
KAFKA = {
    "type": "Kafka",
    "bootstrapServers": "broker-1:9092",
    "authentication": {"mechanism": "SCRAM-256", "username": "solar"},
}
#: The requests of each deploy, the same in Airflow (the token left out).
REQUESTS = {
    "create": {"GET connection": 1, "POST connections": 1},
    "again, secrets sent": {"GET connection": 1, "PATCH connection": 1},
    "replace": {"GET connection": 3, "DELETE connection": 1, "POST connections": 1},
}


@pytest.fixture(scope="module")
def slow():
    """Connections READY and deletions done only when the test says so."""
    with Workspace(admin_api=True, admin_ready_delay=3600, admin_delete_delay=3600) as ws:
        yield ws


@pytest.fixture(scope="module")
def quick():
    """Connections READY and deletions done at once."""
    with Workspace(admin_api=True) as ws:
        yield ws


def deploy(
    ws: Workspace, spec: AspConnectionSpec, timeout: float = 30
) -> dg.ExecuteInProcessResult:
    assets = build_asp_connection_assets(
        ws.workspace_name, [spec], poll_interval=0.05, timeout=timeout
    )
    return dg.materialize(assets, resources={"asp_admin": admin_resource(ws)}, raise_on_error=False)


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    (event,) = result.get_step_failure_events()
    data = event.step_failure_data.user_failure_data
    assert data is not None  # a dg.Failure: no retries
    return data.description or ""


def sent(ws: Workspace, before: dict) -> dict:
    return {k: n for k, n in requests_since(ws, before).items() if "token" not in k}


def made(ws: Workspace, name: str) -> None:
    client = admin_resource(ws).get_client()
    client.create_connection(ws.workspace_name, {"name": name, **HTTPS})
    client.close()
    ws.finish_admin_transitions()


def test_a_connection_being_deleted_is_created_again_once_gone(slow):
    name = unique("reborn")
    made(slow, name)
    with admin_resource(slow).get_client() as client:
        client.delete_connection(slow.workspace_name, name)  # an earlier run's teardown
    before = slow.admin_request_counts()
    with (
        after_requests(slow, "GET connection", 2, slow.finish_admin_transitions),
        after_requests(slow, "POST connections", 1, slow.finish_admin_transitions),
    ):
        result = deploy(slow, AspConnectionSpec(name, HTTPS))
    assert result.success  # was: waited READY while DELETING, then "gone"
    assert (metadata(result)["asp/action"], metadata(result)["asp/state"]) == ("create", "READY")
    assert writes(requests_since(slow, before)) == {"POST connections": 1}


@pytest.mark.parametrize("lost", ["DELETE", "POST"])
def test_a_replace_whose_answers_are_lost_deletes_once_and_creates_once(slow, lost):
    name = unique(f"swap-{lost.lower()}")
    made(slow, name)
    path = "*/connections" if lost == "POST" else f"*/connections/{name}"
    slow.inject_admin_fault(lost, path, status=503, after_effect=True)
    before = slow.admin_request_counts()
    with (
        after_requests(slow, "GET connection", 2, slow.finish_admin_transitions),
        after_requests(slow, "POST connections", 1, slow.finish_admin_transitions),
    ):
        result = deploy(slow, AspConnectionSpec(name, {"type": "Sample"}, allow_replace=True))
    slow.clear_admin_faults()
    assert result.success
    values = metadata(result)
    assert (values["asp/action"], values["asp/changed"]) == ("replace", ["type"])
    assert writes(requests_since(slow, before)) == {"DELETE connection": 1, "POST connections": 1}


TIMEOUT = 2.0
#: The step's timeout, one request's timeout (capped by it), and room for a slow machine.
BOUND = 2 * TIMEOUT + 2.0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "*/connections/*"), ("POST", "*/connections")],
    ids=["look", "create"],
)
def test_a_silent_admin_api_costs_the_step_its_timeout(slow, method, path):
    slow.inject_admin_fault(method, path, silent=True, times=-1)
    started = time.monotonic()
    result = deploy(slow, AspConnectionSpec(unique("silent"), HTTPS), timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    slow.clear_admin_faults()
    assert not result.success
    assert elapsed < BOUND  # was: the resource's deadline (300 s a call)
    (event,) = result.get_step_failure_events()
    assert "AdminTimeoutError" in str(event.step_failure_data.error)  # retryable


def test_the_requests_are_the_airflow_operators(quick, monkeypatch):
    monkeypatch.setenv("DG_ADVERSITY_PASSWORD", "adversity-kafka-password")
    name = unique("parity")
    kafka = AspConnectionSpec(
        name, KAFKA, secrets={"authentication.password": "DG_ADVERSITY_PASSWORD"}
    )
    for run, spec in [
        ("create", kafka),
        ("again, secrets sent", kafka),
        ("replace", AspConnectionSpec(name, HTTPS, allow_replace=True)),
    ]:
        before = quick.admin_request_counts()
        assert deploy(quick, spec).success, run
        assert sent(quick, before) == REQUESTS[run], run


def test_the_words_are_the_airflow_operators(quick):
    name = unique("worded")
    assert deploy(quick, AspConnectionSpec(name, HTTPS)).success
    refused = failure(deploy(quick, AspConnectionSpec(name, {"type": "Sample"})))
    assert refused == (
        f"Connection {name!r} of workspace {quick.workspace_name!r}: type cannot change in "
        "place; deleting and creating it stops the processors that use it, so it is not done "
        "unless allow_replace=True."
    )
    reader = admin_resource(quick, role="GROUP_READ_ONLY")
    assets = build_asp_connection_assets(
        quick.workspace_name, [AspConnectionSpec(unique("ro"), HTTPS)]
    )
    before = quick.admin_request_counts()
    forbidden = failure(
        dg.materialize(assets, resources={"asp_admin": reader}, raise_on_error=False)
    )
    path = f"/api/atlas/v2/groups/{quick.project_id}/streams/{quick.workspace_name}/connections"
    assert forbidden.startswith(f"POST {path} answered 403")
    assert "needs the Project Owner or Project Stream Processing Owner role" in forbidden
    assert sent(quick, before)["POST connections"] == 1  # once: no retry


def test_the_op_refuses_a_definition_before_anything_is_sent(quick):
    @dg.job(resource_defs={"asp_admin": admin_resource(quick)})
    def one():
        asp_deploy_connection_op()

    before = quick.admin_request_counts()
    result = one.execute_in_process(
        run_config={"ops": {"asp_deploy_connection_op": {"config": {
            "workspace_name": quick.workspace_name, "connection_name": "n",
            "definition": {**HTTPS, "name": "other"}}}}},
        raise_on_error=False,
    )  # fmt: skip
    assert "names 'other' but the connection is 'n'" in failure(result)
    assert requests_since(quick, before) == {}
