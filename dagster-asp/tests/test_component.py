"""``AspProcessorsComponent``: scaffolded, loaded from YAML, materialized against the emulator;
a bad YAML fails at load with the core's words and sends nothing; no secret in the
definitions."""

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster.components.core.package_entry import discover_entry_point_package_objects
from dagster.components.testing import create_defs_folder_sandbox

from asp_emulator import Workspace
from dagster_asp import AspProcessorsComponent, AspWorkspace
from dagster_support.component import defs_yaml, set_workspace_env
from dagster_support.processors import CLUSTER, SOLAR, unique
from dagster_support.workspaces import PASSWORD


def solar(name: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "pipeline": [
            SOLAR,
            {"$match": {"obs.watts": {"$gt": 100}}},
            {"$merge": {"into": {"connectionName": CLUSTER, "db": "energy", "coll": name}}},
        ],
        **extra,
    }


def test_registered_through_the_entry_point():
    objects = discover_entry_point_package_objects()
    assert any(
        key.namespace == "dagster_asp" and key.name == "AspProcessorsComponent" for key in objects
    )


def test_scaffolded_yaml_loads(monkeypatch, asp_workspace: Workspace):
    set_workspace_env(monkeypatch, asp_workspace)
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=AspProcessorsComponent)
        text = (path / "defs.yaml").read_text()
        assert "type: dagster_asp.components.component.AspProcessorsComponent" in text
        assert "#  - name: solar_high" in text
        assert '"{{ env.ASP_PASSWORD }}"' in text
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, AspProcessorsComponent)
            assert component.processors == []
            resource = (defs.resources or {})["asp"]
            assert isinstance(resource, AspWorkspace)
            assert resource.port == asp_workspace.port


def test_materialize_from_yaml(monkeypatch, asp_workspace: Workspace):
    asp_workspace.add_connection(CLUSTER)
    set_workspace_env(monkeypatch, asp_workspace)
    name = unique("comp")
    body = defs_yaml(
        [solar(name)],
        poll_interval=0.1,
        timeout=60,
        sensors={"state": {"assets": [f"{CLUSTER}/energy/{name}"]}, "stats": {}},
    )
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(AspProcessorsComponent, defs_yaml_contents=body)
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            key = dg.AssetKey([CLUSTER, "energy", name])
            assets = [defs.get_assets_def(key)]
            assert {s.name for s in defs.sensors or []} == {"asp_state_sensor", "asp_stats_sensor"}
            for expected in (["create", "start"], []):
                result = dg.materialize(assets, resources=dict(defs.resources or {}))
                assert result.success
                meta = result.get_asset_materialization_events()[0].materialization.metadata
                assert meta["asp/steps"].value == expected
                assert meta["asp/state"].value == "STARTED"
                checks = result.get_asset_check_evaluations()
                assert {c.check_name for c in checks if c.passed} == {
                    "processor_running",
                    "dlq_not_growing",
                }
    assert asp_workspace.processors()[name] == "STARTED"


def test_checks_off_and_state_sensor_by_job_name(monkeypatch, asp_workspace: Workspace):
    set_workspace_env(monkeypatch, asp_workspace)
    body = defs_yaml(
        [solar(unique("nochk"))], checks=False, sensors={"state": {"job": "remediate"}}
    )
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(AspProcessorsComponent, defs_yaml_contents=body)
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            (assets,) = defs.assets or []
            assert isinstance(assets, dg.AssetsDefinition)
            assert not list(assets.check_specs)
            (sensor,) = defs.sensors or []
            assert sensor.job_name == "remediate"


@pytest.mark.parametrize(
    ("processor", "words"),
    [
        ({"name": "x", "pipline": [SOLAR]}, "pipline"),
        (
            solar("x", desired_state="PAUSED"),
            "desired_state of 'x' must be STARTED or STOPPED, not 'PAUSED'.",
        ),
        (solar("  "), "name"),
        (solar("x", options={"tire": "SP10"}), "options of 'x': unknown tire"),
    ],
    ids=["unknown-field", "bad-desired-state", "blank-name", "unknown-option"],
)
def test_bad_yaml_fails_at_load_and_sends_nothing(
    monkeypatch, asp_workspace: Workspace, processor, words
):
    set_workspace_env(monkeypatch, asp_workspace)
    accepted = asp_workspace.connections_accepted
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            AspProcessorsComponent, defs_yaml_contents=defs_yaml([processor])
        )
        with (
            pytest.raises(Exception) as caught,  # noqa: PT011 - the words matter
            sandbox.load_component_and_build_defs(defs_path=path),
        ):
            pass
    assert words in _messages(caught.value)
    assert asp_workspace.connections_accepted == accepted


def test_blank_name_has_the_core_words(monkeypatch, asp_workspace: Workspace):
    from asp_core import arguments
    from asp_core.errors import AspInputError

    with pytest.raises(AspInputError) as core:
        arguments.processor_name("  ", "name")
    set_workspace_env(monkeypatch, asp_workspace)
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            AspProcessorsComponent, defs_yaml_contents=defs_yaml([solar("  ")])
        )
        with (
            pytest.raises(Exception) as caught,  # noqa: PT011 - the words matter
            sandbox.load_component_and_build_defs(defs_path=path),
        ):
            pass
    assert str(core.value) in _messages(caught.value)


def test_no_secret_in_the_definitions(monkeypatch, asp_workspace: Workspace):
    set_workspace_env(monkeypatch, asp_workspace)
    name = unique("sec")
    dlq = {"connectionName": CLUSTER, "db": "d", "coll": "q"}
    body = defs_yaml(
        [solar(name, options={"dlq": dlq})],
        sensors={"state": {"assets": [f"{CLUSTER}/energy/{name}"]}, "stats": {}},
    )
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(AspProcessorsComponent, defs_yaml_contents=body)
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            resource = (defs.resources or {})["asp"]
            assert isinstance(resource, AspWorkspace)
            assert resource.password != PASSWORD  # an EnvVar, read at run time
            snap = RepositorySnap.from_def(defs.get_repository_def())
            text = dg.serialize_value(snap)
    assert "ASP_PASSWORD" in text
    assert PASSWORD not in text


def _messages(exc: BaseException) -> str:
    """The messages of an exception and its causes."""
    found = []
    seen: BaseException | None = exc
    while seen is not None:
        found.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    return "\n".join(found)
