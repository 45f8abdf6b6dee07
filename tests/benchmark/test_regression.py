"""A fixed `splitenv bench` command reproduces the recorded CSV.

The fixture (tests/fixtures/bench_regression/) was first recorded on main before issue 10 and
re-recorded by ``tools/record_bench_regression.py`` when numbers moved on purpose (its README
says when and why); the replay names each scenario's recorded methods (solvers registered
since then are not in the recording). Every column is compared exactly except the wall-clock
columns and the columns in CHANGED, each changed on purpose for the reason given there;
numbers to RTOL.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from splitenv.cli import main

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bench_regression"
COMMON = ["--seeds", "0-2", "--rounds", "2", "--no-figures", "-q"]
WALL_CLOCK = {"wall_time_s", "decision_time_s"}
# column -> why it may differ from the recording (empty: nothing changed on purpose)
CHANGED: dict[str, str] = {}


#: numbers agree to this relative tolerance: numpy's vectorized exp/log differ in the last bit
#: between CPU families, so a bitwise comparison would test the machine, not the code
RTOL = 1e-9


#: (scenario, method) -> (relative tolerance, why its numbers moved on purpose)
CHANGED_ROWS: dict[tuple[str, str], tuple[float, str]] = {}


def _same(want: str, got: str | None, rtol: float = RTOL) -> bool:
    if want == got:
        return True
    try:
        w, g = [float(x) for x in want.split()], [float(x) for x in (got or "").split()]
    except ValueError:
        return False
    return len(w) == len(g) and all(
        math.isclose(a, b, rel_tol=rtol) for a, b in zip(w, g, strict=True)
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("timescale", ["joint", "round"])
def test_bench_reproduces_the_recorded_csv(tmp_path, timescale):
    want = _rows(FIXTURES / f"{timescale}.csv")
    # the recorded methods of each scenario, named: methods added since (the general ones of
    # issue 12) join a scenario's applicable set, and are not part of this recording
    recorded: dict[str, list[str]] = {}
    for r in want:
        methods = recorded.setdefault(r["scenario"], [])
        if r["method"] not in methods:
            methods.append(r["method"])
    got = []
    for scenario, methods in recorded.items():
        out = tmp_path / timescale / scenario
        argv = ["bench", *COMMON, "--scenario", scenario, "--methods", ",".join(methods)]
        assert main([*argv, "--timescale", timescale, "--out", str(out)]) == 0
        got += _rows(out / "results.csv")
    assert [(r["scenario"], r["method"], r["seed"]) for r in got] == [
        (r["scenario"], r["method"], r["seed"]) for r in want
    ]
    skip = WALL_CLOCK | set(CHANGED)
    for w, g in zip(want, got, strict=True):
        rtol = CHANGED_ROWS.get((w["scenario"], w["method"]), (RTOL, ""))[0]
        diff = {k: (w[k], g.get(k)) for k in w if k not in skip and not _same(w[k], g.get(k), rtol)}
        assert not diff, f"{w['scenario']}/{w['method']}/seed {w['seed']}: {diff}"
