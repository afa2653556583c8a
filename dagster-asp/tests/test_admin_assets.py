"""A workspace and its connections as assets, against the emulated Admin API: created from
nothing, unchanged on the second materialization (GETs only), updated where the definition
differs, a FAILED connection and a missing role failing at once in Atlas's words, and no
secret in what Dagster records."""

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from asp_emulator import Workspace
from dagster_asp import (
    AspAdmin,
    AspConnectionSpec,
    AspWorkspaceSpec,
    build_asp_connection_assets,
    build_asp_workspace_asset,
    connection_asset_key,
    workspace_asset_key,
)
from dagster_support.admin import admin_resource, requests_since, writes
from dagster_support.processors import unique

KAFKA_PASSWORD = "kafka-secret-never-recorded"


@pytest.fixture(scope="module")
def ws():
    """One emulated project; connections turn READY and deletions finish a moment after
    their request, so every deploy waits."""
    with Workspace(admin_api=True, admin_ready_delay=0.2, admin_delete_delay=0.2) as workspace:
        yield workspace


@pytest.fixture
def admin(ws) -> AspAdmin:
    return admin_resource(ws)


def kafka(name: str, **kwargs) -> AspConnectionSpec:
    return AspConnectionSpec(
        name,
        {
            "type": "Kafka",
            "bootstrapServers": "broker1.example.com:9092,broker2.example.com:9092",
            "authentication": {"mechanism": "SCRAM-512", "username": "etl"},
            "security": {"protocol": "SASL_SSL"},
        },
        secrets={"authentication.password": "DG_KAFKA_PASSWORD"},
        **kwargs,
    )


def https(name: str, url: str = "https://hooks.example.com/in") -> AspConnectionSpec:
    return AspConnectionSpec(name, {"type": "Https", "url": url})


def materialize(assets, admin, **kwargs):
    return dg.materialize(assets, resources={"asp_admin": admin}, raise_on_error=False, **kwargs)


def metadata_by_key(result) -> dict:
    return {
        event.asset_key: {k: v.value for k, v in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }


def test_a_stack_from_nothing_then_unchanged_sends_no_write(ws, admin, monkeypatch):
    monkeypatch.setenv("DG_KAFKA_PASSWORD", KAFKA_PASSWORD)
    name = unique("dgws")
    workspace = build_asp_workspace_asset(AspWorkspaceSpec(name, tier="SP10"))
    connections = build_asp_connection_assets(
        name,
        [kafka("events", update_secrets=False), https("hooks")],
        deps=[workspace.key],
        poll_interval=0.05,
        timeout=30,
    )
    before = ws.admin_request_counts()
    first = materialize([workspace, *connections], admin)
    assert first.success
    sent = requests_since(ws, before)
    assert writes(sent) == {"POST workspaces": 1, "POST connections": 2}
    assert sent["GET connection"] > 2  # one look each, then the READY waits
    meta = metadata_by_key(first)
    assert meta[workspace_asset_key(name)]["asp/action"] == "create"
    events = meta[connection_asset_key(name, "events")]
    assert events["asp/action"] == "create"
    assert events["asp/state"] == "READY"
    assert events["asp/secrets_sent"] == ["authentication.password"]
    assert meta[connection_asset_key(name, "hooks")]["asp/state"] == "READY"

    before = ws.admin_request_counts()
    second = materialize([workspace, *connections], admin)
    assert second.success
    assert requests_since(ws, before) == {"GET workspace": 1, "GET connection": 2}
    for values in metadata_by_key(second).values():
        assert values["asp/action"] == "none"
        assert values["asp/changed"] == []
        assert "asp/secrets_sent" not in values


def test_a_changed_definition_is_one_patch_naming_the_field(ws, admin):
    name = unique("dgupd")
    ws_asset = build_asp_workspace_asset(AspWorkspaceSpec(name))
    assert materialize([ws_asset], admin).success
    before_spec = build_asp_connection_assets(name, [https("hooks")], poll_interval=0.05)
    assert materialize(before_spec, admin).success
    after_spec = build_asp_connection_assets(
        name, [https("hooks", "https://hooks.example.com/v2")], poll_interval=0.05
    )
    before = ws.admin_request_counts()
    result = materialize(after_spec, admin)
    assert result.success
    assert writes(requests_since(ws, before)) == {"PATCH connection": 1}
    (values,) = metadata_by_key(result).values()
    assert (values["asp/action"], values["asp/changed"]) == ("update", ["url"])

    bigger = build_asp_workspace_asset(AspWorkspaceSpec(name, tier="SP50"))
    before = ws.admin_request_counts()
    result = materialize([bigger], admin)
    assert writes(requests_since(ws, before)) == {"PATCH workspace": 1}
    (values,) = metadata_by_key(result).values()
    assert values["asp/action"] == "update"
    assert values["asp/changed"] == ["streamConfig.tier"]


def test_secrets_reach_atlas_but_no_record_of_the_run(ws, monkeypatch):
    client_id, client_secret = ws.service_account(role="GROUP_OWNER")
    monkeypatch.setenv("DG_CLIENT_SECRET", client_secret)
    monkeypatch.setenv("DG_KAFKA_PASSWORD", KAFKA_PASSWORD)
    admin = AspAdmin(
        project_id=ws.project_id,
        client_id=client_id,
        client_secret=dg.EnvVar("DG_CLIENT_SECRET"),
        base_url=ws.admin_url,
        ca_file=ws.ca_file,
    )
    assert client_secret not in repr(admin)
    name = unique("dgsec")
    assert materialize([build_asp_workspace_asset(AspWorkspaceSpec(name))], admin).success
    assets = build_asp_connection_assets(name, [kafka("events")], poll_interval=0.05)
    with dg.instance_for_test() as instance:
        runs = [materialize(assets, admin, instance=instance) for _ in range(2)]
        assert all(run.success for run in runs)
        records = [
            serialize_value(entry) for run in runs for entry in instance.all_logs(run.run_id)
        ]
        snapshots = [serialize_value(instance.get_run_by_id(run.run_id)) for run in runs]
    # update_secrets=True (the default): the unchanged connection gets its secret again
    second = metadata_by_key(runs[1])[connection_asset_key(name, "events")]
    assert (second["asp/action"], second["asp/secrets_sent"]) == (
        "update",
        ["authentication.password"],
    )
    text = "\n".join(records + snapshots)
    assert "asp/secrets_sent" in text  # the records were read
    assert KAFKA_PASSWORD not in text
    assert client_secret not in text


def test_a_failed_connection_fails_at_once_in_the_cores_words(ws, admin, monkeypatch):
    monkeypatch.setenv("DG_KAFKA_PASSWORD", KAFKA_PASSWORD)
    name = unique("dgfail")
    assert materialize([build_asp_workspace_asset(AspWorkspaceSpec(name))], admin).success
    spec = kafka("events", update_secrets=False)
    assets = build_asp_connection_assets(name, [spec], poll_interval=0.05, timeout=600)
    assert materialize(assets, admin).success
    ws.fail_admin_connection("events", "SASL authentication failed", workspace=name)
    before = ws.admin_request_counts()
    result = materialize(assets, admin)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    data = failure.step_failure_data.user_failure_data
    assert data is not None  # a dg.Failure: no retries
    assert data.description == (
        f"connection 'events' of workspace {name!r} is FAILED: "
        "Atlas reports the connection FAILED without a message"
    )
    # the plan's look judges it FAILED (as the Airflow operators do): nothing sent, no wait
    assert requests_since(ws, before) == {"GET connection": 1}
    assert KAFKA_PASSWORD not in str(result.all_events)


def test_a_read_only_credential_fails_at_once_naming_the_role(ws):
    reader = admin_resource(ws, role="GROUP_READ_ONLY", api_key=True)
    before = ws.admin_request_counts()
    result = materialize([build_asp_workspace_asset(AspWorkspaceSpec(unique("dgro")))], reader)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    data = failure.step_failure_data.user_failure_data
    assert data is not None
    assert "answered 403" in (data.description or "")
    assert "Project Owner or Project Stream Processing Owner" in (data.description or "")
    assert requests_since(ws, before) == {"GET workspace": 2, "POST workspaces": 1}  # Digest


def test_a_type_change_is_refused_unless_replacing_is_allowed(ws, admin):
    name = unique("dgrep")
    assert materialize([build_asp_workspace_asset(AspWorkspaceSpec(name))], admin).success
    assert materialize(build_asp_connection_assets(name, [https("sink")], poll_interval=0.05),
                       admin).success  # fmt: skip
    sample = {"type": "Sample"}
    refused = materialize(
        build_asp_connection_assets(name, [AspConnectionSpec("sink", sample)]), admin
    )
    (failure,) = refused.get_step_failure_events()
    data = failure.step_failure_data.user_failure_data
    assert data is not None
    assert "type cannot change in place" in (data.description or "")
    assert "allow_replace=True" in (data.description or "")

    before = ws.admin_request_counts()
    replaced = materialize(
        build_asp_connection_assets(
            name, [AspConnectionSpec("sink", sample, allow_replace=True)], poll_interval=0.05
        ),
        admin,
    )
    assert replaced.success
    assert writes(requests_since(ws, before)) == {
        "DELETE connection": 1,
        "POST connections": 1,
    }
    (values,) = metadata_by_key(replaced).values()
    assert (values["asp/action"], values["asp/state"]) == ("replace", "READY")


def test_loading_the_assets_sends_nothing(ws):
    before = ws.admin_request_counts()
    defs = dg.Definitions(
        assets=[
            build_asp_workspace_asset(AspWorkspaceSpec("somewhere")),
            *build_asp_connection_assets("somewhere", [https("a"), https("b")]),
        ],
        resources={"asp_admin": admin_resource(ws)},
    )
    assert len(defs.resolve_asset_graph().get_all_asset_keys()) == 3
    assert ws.admin_request_counts() == before


def test_a_definition_with_a_secret_is_refused_when_declared():
    with pytest.raises(ValueError, match=r"secret field\(s\) authentication.password"):
        AspConnectionSpec("k", {"type": "Kafka", "authentication": {"password": "x"}})
    with pytest.raises(ValueError, match="names 'other' but the connection is 'k'"):
        AspConnectionSpec("k", {"type": "Https", "name": "other"})
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="repeat"):
        build_asp_connection_assets("w", [https("a"), https("a")])
