"""The methods x scenarios matrix (values recomputed from rows), anytime curves and figure."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from baselines.base import SolveStats
from baselines.harness.matrix import anytime_curve, matrix, matrix_markdown


def _row(scenario, method, seed, objective, reference, time_s=0.002):
    return {
        "scenario": scenario, "config_sha256": "c" * 64, "timescale": "round", "seed": seed,
        "method": method, "objective": objective, "reference_cost": reference,
        "normalized_cost": objective / reference, "feasible": "true", "decision_time_s": time_s,
    }  # fmt: skip


ROWS = [
    *(_row("a", "equal", s, 10.0 + s, 10.0 + s) for s in range(3)),
    *(_row("a", "exact", s, 8.0 + s, 10.0 + s, 0.5) for s in range(3)),
    *(_row("a", "random", s, [12.0, 13.0, 15.0][s], 10.0 + s) for s in range(3)),
    *(_row("b", "equal", s, 4.0, 4.0) for s in range(3)),
    *(_row("b", "random", s, [5.0, 6.0, 4.4][s], 4.0) for s in range(3)),
]


def test_cells_are_recomputed_from_the_rows():
    cells = {(c.method, c.scenario): c for c in matrix(ROWS)}
    assert set(cells) == {("equal", "a"), ("exact", "a"), ("random", "a"), ("equal", "b"),
                          ("random", "b")}  # fmt: skip
    norm = np.array([12 / 10, 13 / 11, 15 / 12])
    c = cells[("random", "a")]
    half = stats.t.ppf(0.975, 2) * norm.std(ddof=1) / math.sqrt(3)
    assert c.normalized == pytest.approx(norm.mean()) and c.normalized_ci95 == pytest.approx(half)
    gap = np.mean([12 / 8 - 1, 13 / 9 - 1, 15 / 10 - 1])  # paired over seeds
    assert c.gap_to_exact == pytest.approx(gap)
    assert cells[("exact", "a")].decision_time_s == pytest.approx(0.5)
    assert math.isnan(cells[("random", "b")].gap_to_exact)  # no exact ran on b
    assert cells[("random", "b")].normalized == pytest.approx(np.mean([5 / 4, 6 / 4, 4.4 / 4]))


def test_markdown_has_a_row_per_method_and_a_column_per_scenario():
    text = matrix_markdown(matrix(ROWS))
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[0] == "| method | a | b |"
    exact = next(line for line in lines if line.startswith("| exact "))
    assert exact.endswith("| n/a |")  # exact did not run on b
    random_a = next(line for line in lines if line.startswith("| random ")).split(" | ")[1]
    # (12/10 + 13/11 + 15/12) / 3 = 1.2106; gaps (0.5 + 0.444 + 0.5) / 3 = +48.15 %
    assert random_a == "1.2106 ± 0.0877 · +48.15 % to exact · 2.0 ms"


def test_anytime_curve_prefers_the_recorded_pairs_else_spreads_the_trace():
    recorded = SolveStats(evaluations=50, trace=[9.0], extra={"anytime": [(10, 5.0), (50, 4.0)]})
    assert anytime_curve(recorded) == [(10.0, 5.0), (50.0, 4.0)]
    traced = SolveStats(evaluations=40, trace=[9.0, 7.0, 7.0, 6.0])
    assert anytime_curve(traced) == [(10.0, 9.0), (20.0, 7.0), (30.0, 7.0), (40.0, 6.0)]
    assert anytime_curve(SolveStats(evaluations=3)) == []


def test_anytime_figure_draws_a_line_per_method(tmp_path):
    pytest.importorskip("matplotlib")
    from baselines.harness.anytime import anytime_figure, anytime_solves
    from splitenv.scenarios import load_scenario

    scn = load_scenario("splitlora", {"network.n_devices": 3})
    curves = anytime_solves(scn, ["equal", "random", "exact", "ppo:none"], seed=0)
    assert set(curves) == {"equal", "random"}  # exact refuses a 3-device flagship; ppo no solver
    assert len(curves["equal"]) == 1 and curves["equal"][0][0] == 1.0  # no trace: one point
    curves["traced"] = [(10.0, 9.0), (20.0, 7.0), (40.0, float("inf"))]
    path = anytime_figure(curves, tmp_path / "anytime.png", title="splitlora")
    assert path.is_file() and path.stat().st_size > 1000


def test_anytime_solves_give_every_general_method_the_same_budget():
    from baselines.harness.anytime import anytime_solves
    from splitenv.scenarios import load_scenario

    curves = anytime_solves(
        load_scenario("splitllm"), ["bcd", "de", "random_search"], 0, budget=120
    )
    assert set(curves) == {"bcd", "de", "random_search"}
    for name, curve in curves.items():
        evals = [n for n, _ in curve]
        best = [b for _, b in curve]
        assert evals[-1] <= 120, name  # the shared budget bounds every curve
        assert all(b2 <= b1 for b1, b2 in itertools.pairwise(best)), name  # best so far never rises
