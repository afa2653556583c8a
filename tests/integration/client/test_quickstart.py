"""The seed's quickstart, sync and async, run as the README shows it.

The code blocks are read from README.md; only the ``uri = ...`` line is replaced by the
emulator's URI.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_block(marker: str) -> str:
    """The fenced Python block that follows ``<!-- marker -->`` in the README."""
    text = README.read_text()
    match = re.search(rf"<!-- {marker} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"README has no {marker} block"
    return match.group(1)


def run_with_uri(code: str, uri: str) -> str:
    lines = code.splitlines()
    uri_lines = [i for i, line in enumerate(lines) if line.startswith("uri = ")]
    assert len(uri_lines) == 1, "the quickstart sets uri on exactly one line"
    lines[uri_lines[0]] = f"uri = {uri!r}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile("\n".join(lines), str(README), "exec"), {"__name__": "quickstart"})
    return out.getvalue()


@pytest.mark.parametrize("marker", ["quickstart-sync", "quickstart-async"])
def test_readme_quickstart_runs_against_the_emulator(workspace, marker: str) -> None:
    output = run_with_uri(readme_block(marker), workspace.uri)
    lines = output.splitlines()
    assert lines[0] == "STARTED 1"
    docs = [ast.literal_eval(line) for line in lines[1:]]
    assert len(docs) == 10
    assert all(doc["obs"]["watts"] > 100 for doc in docs)
    assert "demo" not in workspace.processors()
