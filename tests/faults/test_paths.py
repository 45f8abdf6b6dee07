"""Paths no file can have (longer than the file system allows) are bad input: one line, exit 2.

Found by the long CLI fuzz: a 300-character scenario name or --out ended in an OSError
traceback (pathlib's is_file/exists raise ENAMETOOLONG on Python 3.11).
"""

from __future__ import annotations

import pytest

from splitenv.cli import main
from tests.faults.conftest import one_error_line

LONG = "x" * 300
CASES = [
    ["state", "--scenario", LONG, "--seed", "0"],
    ["evaluate", "--scenario", f"{LONG}.yaml", "--seed", "0", "--decision", "default"],
    ["evaluate", "--scenario", "scct", "--seed", "0", "--decision", LONG],
    ["solvers", "--scenario", LONG],
    ["bench", "--scenario", "scct", "--methods", "equal", "--seeds", "0", "-q", "--out", LONG],
    ["run", "--seeds", "1", "-q", "--out", LONG],
    ["train", "--scenario", LONG, "--timesteps", "10", "--out", "runs"],
    ["calibrate", "--scenario", "fedsllm", "--merge", LONG, LONG, "--out", "m"],
]  # fmt: skip


@pytest.mark.parametrize("argv", CASES, ids=[f"{i}-{a[0]}" for i, a in enumerate(CASES)])
def test_a_path_too_long_is_one_line_and_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = one_error_line(err)
    assert line.startswith(f"splitenv {argv[0]}: error:"), line
    assert len(line) < 1000, "one short line"
    assert not any(tmp_path.iterdir()), "nothing was created"
