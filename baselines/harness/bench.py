"""The ``splitenv bench`` pipeline: run the jobs, write the CSV, the summary and the figures.

The harness in one call: :func:`bench` runs planned jobs (:mod:`baselines.harness.jobs`)
with :func:`baselines.harness.run.run_jobs`, writes ``results.csv``
(:mod:`baselines.harness.results`), ``summary.md`` (what is compared, :mod:`baselines.harness.explain`; the tables and their
conclusions, :mod:`baselines.harness.summary`) and one
bar chart per scenario (:mod:`baselines.harness.figures`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baselines.harness.explain import preamble
from baselines.harness.jobs import Job
from baselines.harness.matrix import matrix, matrix_markdown
from baselines.harness.results import COLUMNS, write_csv
from baselines.harness.run import run_jobs
from baselines.harness.summary import MethodSummary, scenario_key, summarize, summary_markdown

OBJECTIVE_UNITS = {"latency": "s", "card_cost": "CARD cost U, no unit"}


@dataclass
class BenchOutput:
    """What ``bench`` produced."""

    rows: list[dict[str, Any]]
    summary: list[MethodSummary]
    markdown: str
    csv_path: Path
    summary_path: Path
    figures: list[Path]


def bench(
    jobs: Sequence[Job],
    out: str | Path,
    workers: int = 1,
    backend: str = "local",
    progress: bool = True,
    figures: bool = True,
) -> BenchOutput:
    """Run the jobs, write ``results.csv``, ``summary.md`` and one bar chart per scenario."""
    from splitenv.scenarios import load_scenario

    rows = run_jobs(jobs, workers=workers, backend=backend, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "results.csv"
    write_csv(rows, csv_path, COLUMNS)
    units, scenarios = {}, {}
    for job in jobs:
        scn = load_scenario(job.scenario, dict(job.overrides))
        units[scn.name] = OBJECTIVE_UNITS.get(scn.objective.kind, scn.objective.kind)
        scenarios[scn.name] = scn
    summary = summarize(rows)
    markdown = preamble(rows, scenarios) + "\n" + summary_markdown(summary, units)
    if len({r["scenario"] for r in rows}) > 1:  # several scenarios: the methods x scenarios matrix
        markdown += "\n" + matrix_markdown(matrix(rows))
    summary_path = out / "summary.md"
    summary_path.write_text(markdown)
    paths: list[Path] = []
    if figures:
        from baselines.harness.figures import method_bars

        for key in dict.fromkeys(scenario_key(s) for s in summary):
            part = [s for s in summary if scenario_key(s) == key]
            path = out / f"bench_{key[0]}_{key[1][:8]}_{key[2]}.png"
            method_bars(part, path, unit=units.get(key[0], "s"))
            paths.append(path)
        paths += _anytime_figures(jobs, out)
    return BenchOutput(rows, summary, markdown, csv_path, summary_path, paths)


def _anytime_figures(jobs: Sequence[Job], out: Path) -> list[Path]:
    """One anytime figure per scenario: its solvers on the first seed's first state."""
    from baselines.harness.anytime import anytime_figure, anytime_solves
    from splitenv.scenarios import load_scenario

    paths = []
    for name in dict.fromkeys(job.scenario for job in jobs):
        mine = [job for job in jobs if job.scenario == name]
        scn = load_scenario(name, dict(mine[0].overrides))
        methods = list(dict.fromkeys(job.method for job in mine))
        curves = anytime_solves(scn, methods, mine[0].seed)
        path = out / f"anytime_{scn.name}_{scn.sha256()[:8]}.png"
        paths.append(anytime_figure(curves, path, title=f"{scn.name}: best objective found"))
    return paths
