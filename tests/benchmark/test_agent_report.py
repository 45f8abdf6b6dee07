"""benchmarks/agent_report.py: the numbers it ships in sidecars and writes into the README."""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from baselines.harness.results import COLUMNS

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        "agent_report", ROOT / "benchmarks" / "agent_report.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = _load()


def test_bench_scores_are_means_t_intervals_and_per_call_times(tmp_path):
    costs = {"ppo:x": [0.5, 0.7, 0.6], "bcd": [0.6, 0.8, 0.7]}
    with open(tmp_path / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
        w.writeheader()
        for method, values in costs.items():
            for seed, c in zip((20000, 20001, 20002), values, strict=True):
                w.writerow(
                    {k: "" for k in COLUMNS}
                    | dict(method=method, seed=seed, normalized_cost=c, steps=4, rounds=4,
                           epochs_per_round=3, timescale="round", config_sha256="abc",
                           decision_time_s=0.002 if method == "bcd" else 0.0005)
                )  # fmt: skip
    scores = report.bench_scores(tmp_path)
    # mean 0.6, std 0.1, t(0.975, 2) = 4.302653: half-width 4.302653 x 0.1 / sqrt(3)
    assert scores["ppo:x"]["mean_normalized_cost"] == pytest.approx(0.6)
    assert scores["ppo:x"]["ci95"] == pytest.approx(4.302653 * 0.1 / math.sqrt(3), abs=1e-6)
    assert scores["bcd"]["decision_ms"] == pytest.approx(2.0)  # the CSV's per-call mean, in ms
    assert scores["bcd"]["per_seed"] == {"20000": 0.6, "20001": 0.8, "20002": 0.7}


def test_paired_gap_is_the_mean_relative_difference_with_its_t_interval():
    agent = {"1": 0.9, "2": 1.1, "3": 1.0}
    other = {"1": 1.0, "2": 1.0, "3": 1.0}
    gap, ci = report.paired_gap(agent, other)
    d = np.array([-10.0, 10.0, 0.0])
    assert gap == pytest.approx(0.0, abs=1e-12)
    assert ci == pytest.approx(4.302653 * d.std(ddof=1) / math.sqrt(3), abs=1e-5)


def test_the_readme_block_is_current_with_the_shipped_sidecars():
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- agents:start -->\n", 1)[1].split("<!-- agents:end -->", 1)[0]
    assert block == report.readme_block(), "run: python benchmarks/agent_report.py readme"


def test_every_shipped_agent_is_in_the_table_with_its_score():
    table = report.table()
    for path in sorted(report.SHIPPED.glob("*.zip")):
        assert f"`{path.stem}`" in table
