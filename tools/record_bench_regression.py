"""Re-record the bench regression fixture (tests/fixtures/bench_regression/) from the current code.

The fixture holds what ``splitenv bench`` writes for five presets, seeds 0-2, two rounds, at the
``joint`` and ``round`` timescales. This script runs the replay ``tests/benchmark/test_regression.py``
runs, the methods each scenario has in the fixture, and writes the results over the fixture's
CSVs. Re-record only when numbers move on purpose, and say why in the commit and the fixture's
README; before writing, the script prints every column that moved beyond the test's tolerance,
scenario and method by scenario and method, so that the reason can be checked against it.

Usage (from the repository root, with the project's venv)::

    .venv/bin/python tools/record_bench_regression.py            # show what moved, write
    .venv/bin/python tools/record_bench_regression.py --dry-run  # show what moved only
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test's command line and tolerance: one source

from splitenv.cli import main as splitenv_main  # noqa: E402
from tests.benchmark.test_regression import COMMON, FIXTURES, RTOL, WALL_CLOCK  # noqa: E402


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A results CSV's header and rows."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def replay(timescale: str, recorded: list[dict[str, str]], out: Path) -> list[dict[str, str]]:
    """The bench of every scenario of the recording, with its recorded methods."""
    methods: dict[str, list[str]] = {}
    for r in recorded:
        names = methods.setdefault(r["scenario"], [])
        if r["method"] not in names:
            names.append(r["method"])
    rows: list[dict[str, str]] = []
    for scenario, names in methods.items():
        folder = out / timescale / scenario
        argv = ["bench", *COMMON, "--scenario", scenario, "--methods", ",".join(names)]
        if splitenv_main([*argv, "--timescale", timescale, "--out", str(folder)]) != 0:
            sys.exit(f"splitenv {' '.join(argv)} failed")
        rows += read(folder / "results.csv")[1]
    return rows


def moved(old: dict[str, str], new: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Columns of a row whose values differ beyond the test's RTOL (wall-clock ones left out)."""
    out = {}
    for key, want in old.items():
        got = new.get(key, "")
        if key in WALL_CLOCK or want == got:
            continue
        try:
            a, b = [float(x) for x in want.split()], [float(x) for x in got.split()]
            same = len(a) == len(b) and all(
                math.isclose(x, y, rel_tol=RTOL) for x, y in zip(a, b, strict=True)
            )
        except ValueError:
            same = False
        if not same:
            out[key] = (want, got)
    return out


def main() -> None:
    """Replay both timescales, print what moved, write the fixture (unless ``--dry-run``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print what moved, write nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for timescale in ("joint", "round"):
            path = FIXTURES / f"{timescale}.csv"
            header, old = read(path)
            new = replay(timescale, old, Path(tmp))
            keys = [(r["scenario"], r["method"], r["seed"]) for r in old]
            if [(r["scenario"], r["method"], r["seed"]) for r in new] != keys:
                sys.exit(f"{path}: the replay's rows are not the recording's")
            for o, n in zip(old, new, strict=True):
                diff = moved(o, n)
                if diff:
                    print(f"{timescale} {o['scenario']}/{o['method']}/seed {o['seed']}: {diff}")
            if not args.dry_run:
                with path.open("w", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
                    writer.writeheader()
                    writer.writerows({k: r.get(k, "") for k in header} for r in new)
                print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
