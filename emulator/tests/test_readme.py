"""The examples of the emulator's README run as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def example(marker: str) -> str:
    """The fenced Python block that follows ``<!-- marker -->``."""
    match = re.search(rf"<!-- {marker} -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, f"the README has no {marker} block"
    return match.group(1)


def run(code: str) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    return out.getvalue().splitlines()


@pytest.mark.parametrize(
    ("marker", "printed"),
    [
        ("example-python", ["{'p': 'STARTED'}"]),
        ("example-x509", ["[{'user': 'CN=etl,OU=pipelines,O=acme', 'db': '$external'}]"]),
        ("example-admin", ["200 READY True"]),
    ],
)
def test_readme_example_runs(marker: str, printed: list[str]) -> None:
    assert run(example(marker)) == printed
