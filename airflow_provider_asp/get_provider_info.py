"""The provider info Airflow reads through the ``apache_airflow_provider`` entry point.

Cheap to call: it imports no hook, operator, sensor, trigger or pymongo.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_asp import __version__
from airflow_provider_asp.hooks.admin_form import ADMIN_CONN_FIELDS, ADMIN_UI_FIELD_BEHAVIOUR
from airflow_provider_asp.hooks.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR

PACKAGE_NAME = "airflow-provider-asp"
INTEGRATION = "MongoDB Atlas Stream Processing"
#: The ``asp_admin`` connection type's name (``AspAdminHook.hook_name``).
ADMIN_INTEGRATION = "MongoDB Atlas Administration API"


def _integration_entries(*modules: str) -> list[dict[str, Any]]:
    return [{"integration-name": INTEGRATION, "python-modules": list(modules)}]


def get_provider_info() -> dict[str, Any]:
    """Name, versions, connection type (with its form), hooks, operators, sensors,
    triggers, the asset URI scheme of lineage and extra links of this provider."""
    return {
        "package-name": PACKAGE_NAME,
        "name": INTEGRATION,
        "description": (
            "Manage MongoDB Atlas Stream Processing processors, workspaces and connections "
            "from Airflow."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://www.mongodb.com/docs/atlas/atlas-stream-processing/",
                "tags": ["service"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "asp",
                "hook-class-name": "airflow_provider_asp.hooks.asp.AspHook",
                "hook-name": INTEGRATION,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            },
            {
                "connection-type": "asp_admin",
                "hook-class-name": "airflow_provider_asp.hooks.admin.AspAdminHook",
                "hook-name": ADMIN_INTEGRATION,
                "conn-fields": ADMIN_CONN_FIELDS,
                "ui-field-behaviour": ADMIN_UI_FIELD_BEHAVIOUR,
            },
        ],
        "hooks": _integration_entries(
            "airflow_provider_asp.hooks.asp", "airflow_provider_asp.hooks.admin"
        ),
        "operators": _integration_entries(
            "airflow_provider_asp.operators.asp", "airflow_provider_asp.operators.admin"
        ),
        "sensors": _integration_entries(
            "airflow_provider_asp.sensors.asp", "airflow_provider_asp.sensors.admin"
        ),
        "triggers": _integration_entries(
            "airflow_provider_asp.triggers.asp",
            "airflow_provider_asp.triggers.events",
            "airflow_provider_asp.triggers.admin",
        ),
        "asset-uris": [
            {
                "schemes": ["atlas-stream-processing"],
                "handler": "airflow_provider_asp.lineage.assets.sanitize_uri",
                "factory": "airflow_provider_asp.lineage.assets.create_asset",
                "to_openlineage_converter": (
                    "airflow_provider_asp.lineage.assets.convert_asset_to_openlineage"
                ),
            }
        ],
        "extra-links": ["airflow_provider_asp.links.asp.AspProcessorLink"],
    }
