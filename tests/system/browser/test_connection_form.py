"""The ``asp`` connection form in Airflow's real UI: what it shows, Test, Save, Edit.

In Airflow 3.3 the "Test Connection" button lives on the row of a saved connection (the
add/edit dialog has none), so the test saves the connection first, tests it from the
list, then edits in a wrong password and tests again.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_asp.get_provider_info import INTEGRATION
from airflow_provider_asp.hooks.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from asp_emulator import Workspace
from tests.support.browser import PASSWORD, PROCESSORS, AirflowServer
from tests.support.processes import (
    listening_sockets,
    non_loopback_addresses,
    playwright_installed,
)

# Without Playwright the module still collects: the ``browser`` fixture then skips the UI
# test (or fails it with ASP_BROWSER_TESTS=1) and the loopback test runs.
if TYPE_CHECKING or playwright_installed():
    from playwright.sync_api import Locator, Page, expect

CONN_ID = "asp_ui"
WRONG_PASSWORD = "Ui-Not-The-Password-9931"
#: Airflow's own labels for the standard fields.
STANDARD_LABELS = {
    "host": "Host",
    "port": "Port",
    "login": "Login",
    "password": "Password",
    "schema": "Schema",
}
STANDARD_SHOWN = [f for f in STANDARD_LABELS if f not in UI_FIELD_BEHAVIOUR["hidden-fields"]]


def test_api_server_listens_on_loopback_only(airflow_server: AirflowServer) -> None:
    """Every listening socket of the server's process group is on 127.0.0.1, and the
    port does not answer on this machine's other addresses."""
    sockets = listening_sockets(airflow_server.pgid)
    assert ("127.0.0.1", airflow_server.port) in sockets, sockets
    assert all(address == "127.0.0.1" for address, _ in sockets), sockets
    for address in non_loopback_addresses():
        with socket.socket(socket.AF_INET) as sock:
            sock.settimeout(2)
            assert sock.connect_ex((address, airflow_server.port)) != 0, (
                f"the API server answers on {address}:{airflow_server.port}"
            )


def _label(field: str) -> str:
    return str(UI_FIELD_BEHAVIOUR["relabeling"].get(field, STANDARD_LABELS[field]))


def _group(dialog: Locator, label: str) -> Locator:
    """The form row (``role=group``) whose label reads exactly ``label``."""
    return dialog.get_by_role("group").filter(has=dialog.page.get_by_text(label, exact=True))


def _check_standard_fields(dialog: Locator) -> None:
    standard = dialog.get_by_role("region", name="Standard Fields")
    expect(standard).to_be_visible()
    placeholders = UI_FIELD_BEHAVIOUR["placeholders"]
    for field in STANDARD_SHOWN:
        box = standard.get_by_label(_label(field), exact=True)
        expect(box).to_be_visible()
        expect(box).to_have_attribute("name", field)
        if field in placeholders:
            expect(box).to_have_attribute("placeholder", placeholders[field])
    expect(standard.get_by_label(_label("password"), exact=True)).to_have_attribute(
        "type", "password"
    )
    for field in UI_FIELD_BEHAVIOUR["hidden-fields"]:
        expect(dialog.locator(f'[name="{field}"]')).to_have_count(0)
        expect(dialog.get_by_text(STANDARD_LABELS[field], exact=True)).to_have_count(0)
    for field in UI_FIELD_BEHAVIOUR["relabeling"]:
        # Airflow's own label is replaced, not shown next to ours.
        expect(standard.get_by_text(STANDARD_LABELS[field], exact=True)).to_have_count(0)


def _check_extra_fields(dialog: Locator) -> None:
    """Every conn-field with its label, description, widget and default.

    The 3.3 UI renders placeholders for standard fields only: those declared for extra
    fields (``tls_ca_file``, ...) are dropped by Airflow, so they are not checked here.
    The extra fields' labels are not tied to their inputs (``for`` points elsewhere), so
    inputs are found by their ``element_<field>`` name or their role inside the row.
    """
    for field, spec in CONN_FIELDS.items():
        label = spec["label"]
        group = _group(dialog, label)
        expect(group).to_have_count(1)
        expect(group.get_by_text(label, exact=True)).to_be_visible()
        expect(group.get_by_text(spec["description"], exact=True)).to_be_visible()
        kind = spec["schema"]["type"][0]
        default = spec["schema"].get("default")
        if kind == "integer":
            expect(group.get_by_role("spinbutton", name=label, exact=True)).to_be_visible()
        elif kind == "boolean":
            box = group.get_by_role("checkbox", name=label, exact=True)
            expect(box).to_have_count(1)
            expect(box).to_be_checked(checked=bool(default))
        else:
            box = group.locator(f'input[name="element_{field}"]')
            expect(box).to_be_visible()
            expect(box).to_have_value(default or "")


def _toast(page: Page, title: str) -> Locator:
    return page.get_by_role("status").filter(has_text=title)


def test_connection_form(
    page: Page,
    airflow_server: AirflowServer,
    workspace: Workspace,
    shot: Callable[[str], Path],
) -> None:
    base = airflow_server.url
    processors = len(workspace.processors())
    assert processors == len(PROCESSORS)

    # -- Admin > Connections, through the menu --------------------------------------------
    page.goto(f"{base}/")
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    shot("home")
    page.get_by_role("button", name="Admin", exact=True).click()
    page.get_by_role("menuitem", name="Connections", exact=True).click()
    expect(page).to_have_url(re.compile(r"/connections$"))
    add = page.get_by_role("button", name="Add Connection")
    expect(add).to_be_visible()
    shot("connections")

    # -- Add Connection, type picked by its hook name --------------------------------------
    add.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Add Connection")).to_be_visible()
    dialog.get_by_role("textbox", name="Connection ID", exact=True).fill(CONN_ID)
    dialog.get_by_role("combobox", name="Connection Type").fill(INTEGRATION)
    page.get_by_role("option", name=INTEGRATION, exact=True).click()
    _check_standard_fields(dialog)
    shot("add-standard-fields")

    standard = dialog.get_by_role("region", name="Standard Fields")
    standard.get_by_label(_label("host"), exact=True).fill(workspace.host)
    standard.get_by_label(_label("port"), exact=True).fill(str(workspace.port))
    standard.get_by_label(_label("login"), exact=True).fill(workspace.username)
    standard.get_by_label(_label("password"), exact=True).fill(PASSWORD)
    shot("add-standard-filled")

    # The sections are an accordion: opening "Extra Fields" closes "Standard Fields".
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    _check_extra_fields(dialog)
    dialog.locator('input[name="element_tls_ca_file"]').fill(workspace.ca_file)
    # Bounded, so an unreachable workspace fails the Test quickly instead of after 30 s.
    timeout_label = CONN_FIELDS["server_selection_timeout_ms"]["label"]
    dialog.get_by_role("spinbutton", name=timeout_label, exact=True).fill("5000")
    shot("add-extra-fields-filled")

    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(_toast(page, "Create Connection Request Submitted")).to_be_visible()

    # -- in the list, stored as expected ------------------------------------------------------
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=CONN_ID, exact=True))
    expect(row).to_have_count(1)
    for value in ("asp", workspace.host, str(workspace.port)):
        expect(row.get_by_role("cell", name=value, exact=True)).to_be_visible()
    shot("saved-in-list")

    stored = page.request.get(f"{base}/api/v2/connections/{CONN_ID}")
    assert stored.ok, stored.status
    assert PASSWORD not in stored.text()
    body: dict[str, Any] = stored.json()
    extra = json.loads(body["extra"])
    assert body["conn_type"] == "asp"
    assert body["login"] == workspace.username
    assert extra["tls_ca_file"] == workspace.ca_file
    assert extra["server_selection_timeout_ms"] == 5000
    assert extra["auth_source"] == "admin"
    assert set(extra) <= set(CONN_FIELDS), "extras are stored un-prefixed"

    # -- Test: success, with the processor count ----------------------------------------------
    row.get_by_role("button", name="Test Connection").click()
    success = _toast(page, "Test Connection Successful")
    expect(success).to_be_visible()
    expect(success).to_contain_text(f"{processors} stream processor(s)")
    expect(success).to_contain_text(f"{workspace.host}:{workspace.port}")
    expect(success).to_contain_text(f"as '{workspace.username}'")
    shot("test-success")

    # -- Edit: a wrong password ----------------------------------------------------------------
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Edit Connection")).to_be_visible()
    password = dialog.get_by_label(_label("password"), exact=True)
    expect(password).to_have_value("***")  # the UI never gets the stored password back
    password.fill(WRONG_PASSWORD)
    shot("edit-wrong-password")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(_toast(page, "Update Connection Request Submitted")).to_be_visible()

    # -- Test: authentication failure, without the password ------------------------------------
    row.get_by_role("button", name="Test Connection").click()
    failure = _toast(page, "Test Connection Failed")
    expect(failure).to_be_visible()
    expect(failure).to_contain_text(f"Authentication failed for user '{workspace.username}'")
    expect(failure).to_contain_text(f"{workspace.host}:{workspace.port}")
    shot("test-failure")
    shown = page.locator("body").inner_text()
    assert WRONG_PASSWORD not in shown
    assert PASSWORD not in shown
