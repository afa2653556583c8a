"""Provider registration, the connection form Airflow reads, and parse-time cost."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

from airflow_provider_asp.get_provider_info import get_provider_info
from airflow_provider_asp.hooks.admin import AspAdminHook
from airflow_provider_asp.hooks.admin_form import ADMIN_CONN_FIELDS, ADMIN_UI_FIELD_BEHAVIOUR
from airflow_provider_asp.hooks.asp import AspHook
from airflow_provider_asp.hooks.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR


def test_provider_info_names_the_installed_distribution():
    info = get_provider_info()
    assert importlib.metadata.distribution(info["package-name"]).name == "airflow-provider-asp"
    conn_type, admin_type = info["connection-types"]
    assert conn_type["connection-type"] == AspHook.conn_type == "asp"
    assert conn_type["hook-class-name"] == "airflow_provider_asp.hooks.asp.AspHook"
    assert admin_type["connection-type"] == AspAdminHook.conn_type == "asp_admin"
    assert admin_type["hook-class-name"] == "airflow_provider_asp.hooks.admin.AspAdminHook"
    assert info["operators"][0]["python-modules"] == [
        "airflow_provider_asp.operators.asp",
        "airflow_provider_asp.operators.admin",
    ]
    listed = {
        module
        for key in ("hooks", "operators", "sensors", "triggers")
        for e in info[key]
        for module in e["python-modules"]
    }
    assert all(importlib.util.find_spec(module) for module in listed)


def test_airflow_cli_lists_the_provider_and_its_connection_type():
    env = os.environ.copy()
    run = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    hooks = {row["connection_type"]: row for row in json.loads(run.stdout)}
    assert hooks["asp"]["class"] == "airflow_provider_asp.hooks.asp.AspHook"
    assert hooks["asp"]["package_name"] == "airflow-provider-asp"
    assert hooks["asp"]["hook_name"] == "MongoDB Atlas Stream Processing"
    assert hooks["asp_admin"]["class"] == "airflow_provider_asp.hooks.admin.AspAdminHook"
    assert hooks["asp_admin"]["hook_name"] == "MongoDB Atlas Administration API"


def test_ui_reads_the_declarative_form():
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "asp"]
    assert meta.hook_name == "MongoDB Atlas Stream Processing"
    extra_fields = meta.extra_fields or {}
    assert set(extra_fields) == set(CONN_FIELDS)
    fields = meta.standard_fields
    assert fields is not None
    assert fields.host is not None
    assert fields.url_schema is not None
    assert fields.host.title == "Workspace hostname"
    assert fields.url_schema.hidden
    assert extra_fields["tls_allow_invalid_certificates"]["schema"]["type"] == [
        "boolean",
        "null",
    ]


def test_ui_reads_the_admin_connection_form():
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "asp_admin"]
    assert meta.hook_name == "MongoDB Atlas Administration API"
    assert set(meta.extra_fields or {}) == set(ADMIN_CONN_FIELDS)
    fields = meta.standard_fields
    assert fields is not None
    assert fields.login is not None
    assert fields.login.title == "Client ID or public key"
    assert fields.host is not None
    assert fields.host.hidden
    legacy = AspAdminHook.get_ui_field_behaviour()
    assert legacy["relabeling"] == ADMIN_UI_FIELD_BEHAVIOUR["relabeling"]


def test_legacy_field_behaviour_matches_the_declarative_one():
    legacy = AspHook.get_ui_field_behaviour()
    assert legacy["hidden_fields"] == UI_FIELD_BEHAVIOUR["hidden-fields"]
    assert legacy["relabeling"] == UI_FIELD_BEHAVIOUR["relabeling"]
    assert legacy["placeholders"] == UI_FIELD_BEHAVIOUR["placeholders"]


def test_importing_operators_at_parse_time_loads_no_pymongo_and_no_connection():
    code = (
        "import sys\n"
        "from airflow_provider_asp.operators.asp import AspStartProcessorOperator\n"
        "op = AspStartProcessorOperator(task_id='t', processor_name='p', asp_conn_id='nope')\n"
        "print(sorted(m for m in ('pymongo', 'bson', 'airflow_provider_asp.hooks.asp')"
        " if m in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_providers_manager_shows_the_documentation_url():
    from airflow.providers_manager import ProvidersManager

    provider = ProvidersManager().providers["airflow-provider-asp"]
    assert provider.data["documentation-url"] == "https://pypi.org/project/airflow-provider-asp/"
