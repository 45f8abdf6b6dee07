"""Summary statistics of a benchmark, its markdown tables and the conclusion they support.

Per scenario and method over the seeds: mean, standard deviation and the 95 % confidence
interval of the mean objective (Student's t with n - 1 degrees of freedom), the mean
normalized cost (cost / the reference on the same episode: the preset's default decision),
the paired gaps to ``exact`` (where it ran) and to the best method, the share of feasible
episodes and the mean decision time per step.

The best method is the one with the lowest mean normalized cost, and the gap to best is
the mean over the common seeds of the paired difference of normalized costs, relative to the
best's mean normalized cost, with its 95 % t-interval (scaled alike). With the same seeds for
every method the gap is the normalized column's difference over the best's value, so the two
columns never disagree, and a method differs significantly from the best when its gap's
interval excludes 0 (:func:`conclusion`).
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
    """Statistics of one method on one scenario (objective in the scenario's unit).

    ``gap_to_best`` and ``gap_to_best_ci95`` are fractions of the best's normalized cost
    (paired differences of normalized costs); ``gap_to_exact`` is the paired mean of
    cost / exact - 1.
    """

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
    gap_to_best_ci95: float = float("nan")
    best: str = ""


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


def _relative_difference(values: dict[int, float], ref: dict[int, float]) -> tuple[float, float]:
    """Mean over the common seeds of value - reference, and its 95 % t half-width.

    Both are divided by the reference's mean over those seeds.
    """
    common = sorted(set(values) & set(ref))
    if not common:
        return float("nan"), float("nan")
    mean, _, half = t_interval([values[s] - ref[s] for s in common])
    scale = float(np.mean([ref[s] for s in common]))
    return mean / scale, half / scale


def _by_seed(rows: Sequence[dict[str, Any]], column: str) -> dict[int, float]:
    return {int(r["seed"]): float(r[column]) for r in rows}


def summarize(rows: Sequence[dict[str, Any]]) -> list[MethodSummary]:
    """Per (scenario, config, timescale, method) statistics, in the order the rows come."""
    groups: dict[tuple[str, str, str], dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        key = (str(row["scenario"]), str(row["config_sha256"]), str(row["timescale"]))
        groups.setdefault(key, {}).setdefault(str(row["method"]), []).append(row)
    out = []
    for (scenario, sha, timescale), by_method in groups.items():
        objective = {m: _by_seed(rs, "objective") for m, rs in by_method.items()}
        normalized = {m: _by_seed(rs, "normalized_cost") for m, rs in by_method.items()}
        means = {m: float(np.mean(list(v.values()))) for m, v in normalized.items()}
        best = min(means, key=lambda m: means[m])
        exact = "exact" if "exact" in by_method else next(
            (m for m in by_method if is_exact_reference(m)), None
        )  # fmt: skip
        for m, rs in by_method.items():
            mean, std, half = t_interval([float(r["objective"]) for r in rs])
            norm, _, norm_half = t_interval([float(r["normalized_cost"]) for r in rs])
            gap, gap_half = _relative_difference(normalized[m], normalized[best])
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
                    gap_to_best=gap,
                    feasible=float(np.mean([str(r["feasible"]).lower() == "true" for r in rs])),
                    decision_time_s=float(np.mean([float(r["decision_time_s"]) for r in rs])),
                    config_sha256=sha,
                    timescale=timescale,
                    gap_to_best_ci95=gap_half,
                    best=best,
                )
            )
    return out


def _num(x: float, digits: int = 5) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}g}"


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:+.2f} %"


def _gap_cell(s: MethodSummary) -> str:
    if s.method == s.best:
        return "best"
    ci = f" ± {100 * s.gap_to_best_ci95:.2f}" if math.isfinite(s.gap_to_best_ci95) else ""
    return f"{100 * s.gap_to_best:+.2f}{ci} %" if math.isfinite(s.gap_to_best) else "n/a"


def summary_markdown(summary: Sequence[MethodSummary], units: dict[str, str] | None = None) -> str:
    """The summary as markdown: one table per scenario, one row per method, its conclusion.

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
            f"mean: the episode's total cost ({(units or {}).get(scenario, 's')}), lower is "
            "better; normalized: cost / the reference on the same episode (1 = as good as "
            "the preset's default decision); gap to best: paired difference of normalized "
            "costs to the best method, in % of the best's, ± its 95 % interval.",
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
                     *([_pct(s.gap_to_exact)] if exact else []), _gap_cell(s),
                     f"{100 * s.feasible:.0f} %", f"{1e3 * s.decision_time_s:.1f}"]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", conclusion(rows), ""]
    return "\n".join(lines)


def significantly_worse(s: MethodSummary) -> bool | None:
    """Whether the paired 95 % interval of the gap to best lies above 0 (None: no interval)."""
    if s.method == s.best:
        return False
    if not (math.isfinite(s.gap_to_best) and math.isfinite(s.gap_to_best_ci95)):
        return None
    return s.gap_to_best - s.gap_to_best_ci95 > 0


def conclusion(rows: Sequence[MethodSummary]) -> str:
    """One block's conclusion: the best method, and which others differ from it significantly.

    A method differs significantly when the paired 95 % t-interval of its gap to the best
    excludes 0; with one seed there is no interval and nothing is decided.
    """
    best = next(s for s in rows if s.method == s.best)
    n = max(s.n for s in rows)
    head = (
        f"**Conclusion** ({n} seed{'s' if n != 1 else ''}, paired 95 % intervals): lowest cost "
        f"`{best.method}` (normalized {best.normalized:.4f})."
    )
    same = [s for s in rows if s.method != best.method and s.gap_to_best == 0 == s.gap_to_best_ci95]
    worse = [s for s in rows if significantly_worse(s)]
    tied = [
        s
        for s in rows
        if significantly_worse(s) is False and s.method != best.method and s not in same
    ]
    unknown = [s for s in rows if significantly_worse(s) is None]
    parts = [head]
    if same:
        parts.append(
            "The same cost on every seed: " + ", ".join(f"`{s.method}`" for s in same) + "."
        )
    if worse:
        parts.append(
            "Significantly worse: "
            + ", ".join(f"`{s.method}` ({_gap_cell(s)})" for s in worse) + "."
        )  # fmt: skip
    if tied:
        parts.append(
            "Not distinguishable from it at this number of seeds: "
            + ", ".join(f"`{s.method}` ({_gap_cell(s)})" for s in tied) + "."
        )  # fmt: skip
    if unknown:
        parts.append(
            "Undecided (one seed or a missing value gives no interval): "
            + ", ".join(f"`{s.method}`" for s in unknown) + "."
        )  # fmt: skip
    return " ".join(parts)


def scenario_key(s: MethodSummary) -> tuple[str, str, str]:
    """The grouping key of a summary row."""
    return (s.scenario, s.config_sha256, s.timescale)
