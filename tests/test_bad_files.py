"""Files and values from elsewhere are data: each bad one is one line naming it and exit 2.

The probes of issue 14 that used to end in a traceback (decision files holding null, a bare
number, deep nesting, non-UTF-8 bytes, a directory; `true` and 1e308 as splits; a negative
seed) now end in `splitenv CMD: error: ...` naming the file or field, with exit status 2.
"""

from __future__ import annotations

import re

import pytest

from splitenv.cli import main

N = 10  # SCCT's devices


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"null", "must be a JSON object of fields, not NoneType"),
        (b"42", "must be a JSON object of fields, not int"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"split": ', "not JSON"),
        (b'{"split": true}', "holds booleans"),
        (b'{"split": [true' + b", 1" * (N - 1) + b"]}", "holds booleans"),
        (b'{"split": [1e308' + b", 1" * (N - 1) + b"]}", "far outside the allowed range"),
        (b'{"split": [99' + b", 1" * (N - 1) + b"]}", r"outside the allowed range \[1, 12\]"),
    ],
)
def test_bad_decision_files(tmp_path, capsys, content, match):
    path = tmp_path / "decision.json"
    path.write_bytes(content)
    code = main(["evaluate", "--scenario", "scct", "--seed", "0", "--decision", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("splitenv evaluate: error:") and err.count("\n") == 1, err
    assert re.search(match, err), err


def test_directory_missing_file_and_negative_seed(tmp_path, capsys):
    evaluate = ["evaluate", "--scenario", "scct", "--seed", "0"]
    for argv, match in [
        ([*evaluate, "--decision", str(tmp_path)], "is a directory"),
        ([*evaluate, "--decision", str(tmp_path / "nope.json")], "no such file"),
        (["state", "--scenario", "scct", "--seed", "-1"], "seed = -1 must be a non-negative"),
        ([*evaluate, "--decision", "default", "--set", "network.n_devices=10000000"],
         "network.n_devices = 10000000"),
    ]:  # fmt: skip
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err, err


def test_bench_sizes_are_checked_before_any_work(tmp_path, capsys):
    for flag in ("--rounds", "--epochs-per-round"):
        argv = ["bench", "--scenario", "scct", "--methods", "equal", "--seeds", "0", flag, "0",
                "--out", str(tmp_path / flag), "-q"]  # fmt: skip
        assert main(argv) == 2
        assert f"{flag} = 0; allowed: an integer >= 1" in capsys.readouterr().err
        assert not (tmp_path / flag).exists()  # refused before the output folder was made
