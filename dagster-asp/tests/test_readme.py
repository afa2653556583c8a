"""The README's examples run, against their own emulators, and print what they say."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
EXAMPLES = re.findall(r"<!-- (example-[\w-]+) -->\n```python\n(.*?)```", README.read_text(), re.S)


def expected_lines(code: str) -> list[str]:
    """The ``# ...`` comments that follow a ``print`` (on its line or the lines after)."""
    expected, after_print = [], False
    for line in code.splitlines():
        stripped = line.strip()
        if "print(" in line:
            after_print = True
            if "  # " in line:
                expected.append(line.split("  # ", 1)[1].strip())
        elif after_print and stripped.startswith("# "):
            expected.append(stripped[2:])
        else:
            after_print = False
    return expected


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_the_example_runs_and_prints_what_it_says(name, code):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, name, "exec"), {})
    printed = {line.strip() for line in out.getvalue().splitlines()}
    expected = expected_lines(code)
    assert expected
    assert set(expected) <= printed, out.getvalue()
