"""The README's Python snippets run and print what the README says they print.

Every ```python block of the Usage section is followed by a ```text block with its output.
The blocks run in order in one namespace (the second uses the first's imports); numbers
are compared to 6 significant digits, the rest of the text exactly.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+")


def usage_blocks() -> list[tuple[str, str]]:
    """(code, expected output) pairs of the README's Usage section."""
    text = README.read_text()
    section = text.split("## Usage\n", 1)[1].split("\n## ", 1)[0]
    pairs = re.findall(r"```python\n(.*?)```\s*```text\n(.*?)```", section, re.DOTALL)
    assert len(pairs) >= 2, "each Usage snippet is followed by its output"
    return pairs


def same_output(got: str, expected: str) -> bool:
    """Equal text, with numbers equal to a relative 1e-6."""
    if NUMBER.sub("#", " ".join(got.split())) != NUMBER.sub("#", " ".join(expected.split())):
        return False
    a = [float(x) for x in NUMBER.findall(" ".join(got.split()))]
    b = [float(x) for x in NUMBER.findall(" ".join(expected.split()))]
    return len(a) == len(b) and all(
        x == pytest.approx(y, rel=1e-6) for x, y in zip(a, b, strict=True)
    )


def test_same_output_compares_numbers_approximately():
    assert same_output("reward -0.9719 ok", "reward -0.9718 ok") is False
    assert same_output("reward -0.97180000001 ok", "reward  -0.9718 ok")
    assert not same_output("reward -0.9718 ko", "reward -0.9718 ok")


def test_readme_usage_snippets_print_their_documented_output():
    pytest.importorskip("alns")
    namespace: dict = {}
    for code, expected in usage_blocks():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(README), "exec"), namespace)
        assert same_output(out.getvalue(), expected), (
            f"README snippet printed:\n{out.getvalue()}\nthe README says:\n{expected}"
        )
