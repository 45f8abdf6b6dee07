"""Summary statistics of a benchmark and its markdown table.

Per scenario and method over the seeds: mean, standard deviation and the 95 %
confidence interval of the mean objective (Student's t with n - 1 degrees of
freedom), the mean normalized cost (cost / equal allocation on the same episode),
the paired gaps to ``exact`` (where it ran) and to the best method (lowest mean),
the share of feasible episodes and the mean decision time per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from baselines.harness.jobs import is_exact_reference


@dataclass
class MethodSummary:
    """Statistics of one method on one scenario (objective in the scenario's unit)."""

    scenario: str
    method: str
    n: int
    mean: float
    std: float
    ci95: float
    normalized: float
    normalized_ci95: float
    gap_to_exact: float
    gap_to_best: float
    feasible: float
    decision_time_s: float
    config_sha256: str
    timescale: str


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean, sample standard deviation and half-width of the t confidence interval of the mean.

    With one value the deviation and the half-width are NaN.
    """
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return float(x.mean()), float("nan"), float("nan")
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * std / math.sqrt(x.size))
    return float(x.mean()), std, half


def _paired_gap(values: dict[int, float], ref: dict[int, float]) -> float:
    """Mean over the common seeds of value / reference - 1."""
    common = sorted(set(values) & set(ref))
    if not common:
        return float("nan")
    return float(np.mean([values[s] / ref[s] - 1.0 for s in common]))


def summarize(rows: Sequence[dict[str, Any]]) -> list[MethodSummary]:
    """Per (scenario, config, timescale, method) statistics, in the order the rows come."""
    groups: dict[tuple[str, str, str], dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        key = (str(row["scenario"]), str(row["config_sha256"]), str(row["timescale"]))
        groups.setdefault(key, {}).setdefault(str(row["method"]), []).append(row)
    out = []
    for (scenario, sha, timescale), by_method in groups.items():
        objective = {
            m: {int(r["seed"]): float(r["objective"]) for r in rs} for m, rs in by_method.items()
        }
        means = {m: float(np.mean(list(v.values()))) for m, v in objective.items()}
        best = min(means, key=lambda m: means[m])
        exact = "exact" if "exact" in by_method else next(
            (m for m in by_method if is_exact_reference(m)), None
        )  # fmt: skip
        for m, rs in by_method.items():
            mean, std, half = t_interval([float(r["objective"]) for r in rs])
            norm, _, norm_half = t_interval([float(r["normalized_cost"]) for r in rs])
            out.append(
                MethodSummary(
                    scenario=scenario,
                    method=m,
                    n=len(rs),
                    mean=mean,
                    std=std,
                    ci95=half,
                    normalized=norm,
                    normalized_ci95=norm_half,
                    gap_to_exact=_paired_gap(objective[m], objective[exact])
                    if exact
                    else float("nan"),
                    gap_to_best=_paired_gap(objective[m], objective[best]),
                    feasible=float(np.mean([str(r["feasible"]).lower() == "true" for r in rs])),
                    decision_time_s=float(np.mean([float(r["decision_time_s"]) for r in rs])),
                    config_sha256=sha,
                    timescale=timescale,
                )
            )
    return out


def _num(x: float, digits: int = 5) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}g}"


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:+.2f} %"


def summary_markdown(summary: Sequence[MethodSummary], units: dict[str, str] | None = None) -> str:
    """The summary as markdown: one table per scenario, one row per method.

    The gap-to-exact column is left out of a table where no exact reference ran.
    """
    lines: list[str] = []
    for key in dict.fromkeys(scenario_key(s) for s in summary):
        scenario, sha, timescale = key
        rows = [s for s in summary if scenario_key(s) == key]
        exact = any(math.isfinite(s.gap_to_exact) for s in rows)
        header = ["method", "n", "mean", "std", "95 % CI", "normalized",
                  *(["gap to exact"] if exact else []), "gap to best", "feasible", "decision ms"]  # fmt: skip
        lines += [
            f"### {scenario} (config {sha[:12]}, timescale {timescale}, {max(s.n for s in rows)} seeds)",
            "",
            f"Objective: the episode's total cost ({(units or {}).get(scenario, 's')}); "
            "normalized = cost / equal allocation on the same episode; gaps are paired over seeds.",
            "",
            "| " + " | ".join(header) + " |",
            "| --- |" + " ---: |" * (len(header) - 1),
        ]
        for s in rows:
            ci = "n/a" if not math.isfinite(s.ci95) else f"± {_num(s.ci95, 3)}"
            norm = f"{s.normalized:.4f}" + (
                f" ± {s.normalized_ci95:.4f}" if math.isfinite(s.normalized_ci95) else ""
            )
            cells = [s.method, str(s.n), _num(s.mean), _num(s.std, 3), ci, norm,
                     *([_pct(s.gap_to_exact)] if exact else []), _pct(s.gap_to_best),
                     f"{100 * s.feasible:.0f} %", f"{1e3 * s.decision_time_s:.1f}"]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def scenario_key(s: MethodSummary) -> tuple[str, str, str]:
    """The grouping key of a summary row."""
    return (s.scenario, s.config_sha256, s.timescale)
