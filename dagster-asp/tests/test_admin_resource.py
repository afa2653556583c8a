"""``AspAdmin``: one credential of two kinds, checked with messages that name fields and never
values, the core's client made on first use and closed at the run's end, one token for the
credential across runs of the process."""

import asyncio
import re

import dagster as dg
import pytest

from asp_core.admin import AdminClient, ApiKey, AsyncAdminClient, ServiceAccount
from asp_core.errors import AspConnectionConfigError
from asp_emulator import Workspace
from dagster_asp import AspAdmin
from dagster_support.admin import admin_resource


@pytest.fixture(scope="module")
def ws():
    with Workspace(admin_api=True) as workspace:
        yield workspace


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({}, "give a service account (client_id, client_secret) or an API key"),
        ({"client_id": "id"}, "client_secret is missing"),
        ({"private_key": "pk-value"}, "public_key is missing"),
        ({"client_id": "id", "client_secret": "s", "public_key": "p", "private_key": "k"},
         "not both"),
    ],
)  # fmt: skip
def test_a_credential_is_one_whole_service_account_or_api_key(fields, words):
    resource = AspAdmin(project_id="p", **fields)
    with pytest.raises(AspConnectionConfigError, match=re.escape(words)) as caught:
        resource.get_client()
    assert str(caught.value).startswith("Connection 'asp_admin': ")
    assert "pk-value" not in str(caught.value)


def test_the_secrets_are_kept_out_of_repr():
    account = AspAdmin(project_id="p", client_id="id", client_secret="sa-secret-value")
    key = AspAdmin(project_id="p", public_key="pub", private_key="key-secret-value")
    assert "sa-secret-value" not in repr(account)
    assert "key-secret-value" not in repr(key)
    assert isinstance(account.credential(), ServiceAccount)
    assert isinstance(key.credential(), ApiKey)
    assert "key-secret-value" not in repr(key.credential())


@pytest.mark.parametrize("api_key", [False, True], ids=["service_account", "api_key"])
def test_a_run_uses_one_client_and_closes_it_at_the_end(ws, api_key):
    seen: list[AdminClient] = []

    @dg.asset
    def workspaces(asp_admin: AspAdmin) -> int:
        client = asp_admin.get_client()
        assert asp_admin.get_client() is client
        seen.append(client)
        return len(client.list_workspaces())

    resource = admin_resource(ws, api_key=api_key)
    result = dg.materialize([workspaces], resources={"asp_admin": resource})
    assert result.success
    assert result.output_for_node("workspaces") >= 1
    (client,) = seen
    with pytest.raises(RuntimeError, match="client has been closed"):
        client.list_workspaces()


def test_one_token_for_the_credential_across_runs(ws):
    resource = admin_resource(ws)

    @dg.asset
    def twice(asp_admin: AspAdmin) -> None:
        client = asp_admin.get_client()
        client.list_workspaces()
        client.get_workspace(ws.workspace_name)

    issued = ws.admin_tokens_issued
    for _ in range(3):
        assert dg.materialize([twice], resources={"asp_admin": resource}).success
    assert ws.admin_tokens_issued == issued + 1


def test_an_async_asset_gets_an_async_client_closed_at_the_end(ws):
    seen: list[AsyncAdminClient] = []

    @dg.asset
    async def names(asp_admin: AspAdmin) -> list[str]:
        client = asp_admin.get_async_client()
        seen.append(client)
        return [w["name"] for w in await client.list_workspaces()]

    result = dg.materialize([names], resources={"asp_admin": admin_resource(ws)})
    assert result.success
    assert ws.workspace_name in result.output_for_node("names")
    (client,) = seen
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="client has been closed"):
            loop.run_until_complete(client.list_workspaces())
    finally:
        loop.close()


def test_the_responses_this_suite_sees_are_checked_against_atlas_openapi(ws, asp_admin_conformance):
    """The Dagster suite's Admin API responses go through the same OpenAPI check as the
    main suite's (dagster-asp/pyproject.toml names the document)."""
    assert asp_admin_conformance is not None
    before = asp_admin_conformance.checker.checked
    with dg.build_resources({"admin": admin_resource(ws)}) as resources:
        resources.admin.get_client().list_workspaces()
    assert asp_admin_conformance.problems() == []
    assert asp_admin_conformance.checker.checked > before
