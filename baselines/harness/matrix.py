"""The methods x scenarios matrix of a benchmark, and anytime curves of solves.

The matrix pivots the per-scenario summary (:func:`baselines.harness.summary.summarize`):
one row per method, one column per scenario, each cell the mean normalized cost (episode
cost / the reference's, the preset's default decision, on the same episode) with its 95 % t interval, the paired gap to
the exact reference where one ran, and the mean decision time per step. Every number is
recomputed from the benchmark's rows.

An anytime curve is a list of (evaluations, best objective) pairs: a solver's
``stats.extra["anytime"]`` when it records one, else its per-iteration ``stats.trace``
spread evenly over ``stats.evaluations`` (:func:`anytime_curve`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from baselines.harness.summary import summarize


@dataclass(frozen=True)
class Cell:
    """One (method, scenario) entry of the matrix."""

    method: str
    scenario: str
    n: int
    normalized: float
    normalized_ci95: float
    gap_to_exact: float
    decision_time_s: float


def matrix(rows: Sequence[dict[str, Any]]) -> list[Cell]:
    """Every (method, scenario) cell of a benchmark's rows (one timescale and config each)."""
    return [
        Cell(
            s.method,
            s.scenario,
            s.n,
            s.normalized,
            s.normalized_ci95,
            s.gap_to_exact,
            s.decision_time_s,
        )
        for s in summarize(rows)
    ]


def _cell_text(c: Cell) -> str:
    ci = f" ± {c.normalized_ci95:.4f}" if math.isfinite(c.normalized_ci95) else ""
    gap = f" · {100 * c.gap_to_exact:+.2f} % to exact" if math.isfinite(c.gap_to_exact) else ""
    return f"{c.normalized:.4f}{ci}{gap} · {1e3 * c.decision_time_s:.1f} ms"


def matrix_markdown(cells: Sequence[Cell]) -> str:
    """The matrix as one markdown table: methods as rows, scenarios as columns."""
    scenarios = list(dict.fromkeys(c.scenario for c in cells))
    methods = list(dict.fromkeys(c.method for c in cells))
    at = {(c.method, c.scenario): c for c in cells}
    lines = [
        "### Methods x scenarios",
        "",
        "Mean normalized cost (cost / the reference's on the same episode: the preset's "
        "default decision, so `equal` is 1 at the joint timescale; lower is better) ± 95 % CI, "
        "the paired gap to the exact reference where it ran, and the mean decision time per "
        "step; n/a: the method was not run on the scenario.",
        "",
        "| method | " + " | ".join(scenarios) + " |",
        "| --- |" + " --- |" * len(scenarios),
    ]
    for m in methods:
        texts = [_cell_text(at[(m, s)]) if (m, s) in at else "n/a" for s in scenarios]
        lines.append(f"| {m} | " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"


def anytime_curve(stats: Any) -> list[tuple[float, float]]:
    """(evaluations, best objective so far) pairs of a solve's statistics.

    ``stats.extra["anytime"]`` if the method records it; else the per-iteration trace, the
    i-th of k entries placed at (i + 1) / k of ``stats.evaluations`` (iterations of equal
    cost); a solve with no trace is one point at its evaluations.
    """
    recorded = stats.extra.get("anytime")
    if recorded:
        return [(float(e), float(b)) for e, b in recorded]
    trace = list(stats.trace)
    if not trace:
        return []
    k, total = len(trace), float(max(stats.evaluations, len(trace)))
    return [((i + 1) * total / k, float(b)) for i, b in enumerate(trace)]
