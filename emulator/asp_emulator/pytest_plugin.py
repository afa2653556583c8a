"""pytest fixtures, registered through the ``pytest11`` entry point: installing
``asp-emulator`` is enough, no ``pytest_plugins`` line.

``asp_workspace`` is one emulated workspace for the whole session; ``asp_workspace_factory``
makes extra ones (other users, reply shapes, TLS files) and stops them at the end.

With the ini option ``asp_admin_openapi`` (the path of Atlas's OpenAPI document, ``.yaml`` or
``.yaml.gz``, relative to the ini file; needs ``openapi-core``), every Admin API response any
workspace of the session gives is validated against it
(:mod:`asp_emulator.admin.conformance`): a test during whose setup, call or teardown a
response did not conform fails, naming the request and what is wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from asp_emulator.admin import exchanges
from asp_emulator.workspace import Workspace

if TYPE_CHECKING:
    from asp_emulator.admin.conformance import Conformance

_INI = "asp_admin_openapi"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INI,
        "Atlas's OpenAPI document (.yaml or .yaml.gz, relative to the ini file) that every "
        "Admin API response of the session is validated against (needs openapi-core)",
        default="",
    )


class AdminConformance:
    """Records Admin API exchanges; checks them once each test phase ends (the document
    is loaded at the first one: sessions without the Admin API never load it)."""

    def __init__(self, spec: Path) -> None:
        self.spec = spec
        self._checker: Conformance | None = None
        self._lock = threading.Lock()
        self._pending: list[exchanges.Exchange] = []
        self.stop = exchanges.observe(self._record)

    @property
    def checker(self) -> Conformance:
        """The check (openapi-core and the document, loaded on first use)."""
        if self._checker is None:
            from asp_emulator.admin.conformance import Conformance

            self._checker = Conformance(self.spec)
        return self._checker

    def _record(self, exchange: exchanges.Exchange) -> None:
        with self._lock:
            self._pending.append(exchange)

    def problems(self) -> list[str]:
        """What is wrong with the responses recorded since the last call."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return []
        return [problem for exchange in pending for problem in self.checker.check(exchange)]

    def _fail_on_problems(self, when: str) -> None:
        problems = self.problems()
        if problems:
            listed = "\n  ".join(problems)
            pytest.fail(
                f"Admin API responses that break Atlas's OpenAPI document ({when}):\n  {listed}",
                pytrace=False,
            )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        result = yield
        self._fail_on_problems("setup")
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        result = yield
        self._fail_on_problems("the test")
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        result = yield
        self._fail_on_problems("teardown")
        return result


def pytest_configure(config: pytest.Config) -> None:
    value = str(config.getini(_INI) or "")
    if not value:
        return
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    config.pluginmanager.register(AdminConformance(base / value), "asp_admin_conformance")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin("asp_admin_conformance")
    if isinstance(plugin, AdminConformance):
        plugin.stop()


@pytest.fixture(scope="session")
def asp_admin_conformance(request: pytest.FixtureRequest) -> AdminConformance | None:
    """The session's OpenAPI check of Admin API responses (None without ``asp_admin_openapi``)."""
    plugin = request.config.pluginmanager.get_plugin("asp_admin_conformance")
    return plugin if isinstance(plugin, AdminConformance) else None


@pytest.fixture(scope="session")
def asp_workspace_factory() -> Iterator[Callable[..., Workspace]]:
    """Start workspaces with any ``Workspace`` arguments; all are stopped after the session."""
    started: list[Workspace] = []

    def make(**kwargs: Any) -> Workspace:
        workspace = Workspace(**kwargs).start()
        started.append(workspace)
        return workspace

    yield make
    for workspace in started:
        workspace.stop()


@pytest.fixture(scope="session")
def asp_workspace(asp_workspace_factory: Callable[..., Workspace]) -> Workspace:
    """A running workspace (user ``admin``/``admin-password`` with ``atlasAdmin``)."""
    return asp_workspace_factory()
