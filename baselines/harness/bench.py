"""The ``splitenv bench`` pipeline: run the jobs, journal each result, write CSV, summary and figures.

The harness in one call: :func:`bench` checks and locks the output folder before any work
(:func:`baselines.harness.outdir.open_out`), runs the planned jobs
(:mod:`baselines.harness.jobs`) with :func:`baselines.harness.run.run_jobs`, appends each
finished job's row to ``journal.jsonl`` as it completes (:mod:`baselines.harness.journal`),
and at the end writes ``results.csv`` (:mod:`baselines.harness.results`), ``summary.md``
(what is compared, :mod:`baselines.harness.explain`; the tables, :mod:`baselines.harness.summary`;
the methods x scenarios matrix, :mod:`baselines.harness.matrix`) and one bar chart per scenario
(:mod:`baselines.harness.figures`) from the journal, each renamed into place.

With ``resume`` the jobs the journal already holds are skipped. An interrupt (Ctrl-C,
SIGTERM) cancels the queued jobs, waits for none, writes the finished rows as a partial
result marked incomplete (``bench.json``, and the first line of ``summary.md``) and raises
:class:`~splitenv.errors.Interrupted` naming the command that resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from baselines.harness.episode import run_job
from baselines.harness.explain import preamble
from baselines.harness.jobs import Job
from baselines.harness.journal import JOURNAL, Journal, job_keys
from baselines.harness.matrix import matrix, matrix_markdown
from baselines.harness.outdir import OutDir, open_out, replace_atomically
from baselines.harness.results import COLUMNS, write_csv
from baselines.harness.run import run_jobs
from baselines.harness.summary import MethodSummary, scenario_key, summarize, summary_markdown
from splitenv.errors import Interrupted, JobError
from splitenv.lifecycle import interrupts

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
    #: jobs taken from the journal of an earlier run (``resume``)
    resumed: int = 0


def bench(
    jobs: Sequence[Job],
    out: str | Path,
    workers: int = 1,
    backend: str = "local",
    progress: bool = True,
    figures: bool = True,
    resume: bool = False,
    overwrite: bool = False,
    command: str = "",
    job_fn: Callable[[Job], dict[str, Any]] | None = None,
) -> BenchOutput:
    """Run the jobs, journal each row, write ``results.csv``, ``summary.md`` and the bar charts.

    Args:
        jobs: the planned jobs (:func:`baselines.harness.jobs.plan`).
        out: the output folder: missing or empty, else ``resume`` or ``overwrite`` is needed.
        workers: worker processes.
        backend: ``local`` or ``ray``.
        progress: show a progress bar.
        figures: draw one bar chart per scenario.
        resume: skip the jobs journaled in ``out`` by an earlier run.
        overwrite: delete the bench's files in ``out`` first.
        command: the command line that ran this bench (the resume hint repeats it).
        job_fn: what plays a job (default :func:`~baselines.harness.episode.run_job`).

    Raises:
        ConfigError: a bad ``out`` (a file, locked by another bench, non-empty without
            ``resume`` / ``overwrite``).
        Interrupted: Ctrl-C or SIGTERM; the partial result is written and marked incomplete.
        JobError: a job failed; the finished ones stay journaled for ``resume``.
    """
    with open_out(out, resume=resume, overwrite=overwrite) as folder:
        journal = Journal(folder.path / JOURNAL)
        journal.open()
        keys = job_keys(jobs)
        previous = journal.read()
        rows = {i: previous[k] for i, k in enumerate(keys) if k in previous}
        todo = [i for i in range(len(jobs)) if i not in rows]
        resume_hint = _resume_command(command)
        folder.write_status(
            status="running", jobs=len(jobs), done=len(rows), command=command, resume=resume_hint
        )

        def record(j: int, row: dict[str, Any]) -> None:
            journal.append(keys[todo[j]], row)
            rows[todo[j]] = row

        try:
            with interrupts():
                run_jobs(
                    [jobs[i] for i in todo], workers=workers, backend=backend,
                    progress=progress, job_fn=job_fn or run_job, on_result=record,
                )  # fmt: skip
        except KeyboardInterrupt:
            # the journal is the record: an interrupt may land between a job's append and
            # ``rows`` learning of it, so the partial result is read back from the journal
            stored = journal.read()
            rows = {i: stored[k] for i, k in enumerate(keys) if k in stored}
            _write_partial(folder, jobs, rows, figures=False, hint=resume_hint)
            raise Interrupted(
                f"{len(rows)} of {len(jobs)} jobs done; partial results in {folder.path} "
                f"(marked incomplete in bench.json and summary.md); resume with: {resume_hint}"
            ) from None
        except JobError as exc:
            folder.write_status(status="failed", done=len(rows), error=str(exc))
            raise JobError(
                f"{exc} ({len(rows)} finished jobs are journaled in {folder.path}; "
                f"continue with: {resume_hint})"
            ) from None
        final = journal.read()  # the results as stored: the files below come from the journal
        result = _write_results(folder, jobs, [final[k] for k in keys], figures)
        result.resumed = len(jobs) - len(todo)
        folder.write_status(status="complete", done=len(jobs))
        return result


def _resume_command(command: str) -> str:
    if not command:
        return "the same bench call with resume=True"
    parts = command.split()
    parts = [p for p in parts if p != "--overwrite"]
    return " ".join(parts if "--resume" in parts else [*parts, "--resume"])


def _write_partial(
    folder: OutDir, jobs: Sequence[Job], rows: dict[int, dict[str, Any]], figures: bool, hint: str
) -> None:
    """The finished rows as CSV and summary, marked incomplete."""
    done = [rows[i] for i in sorted(rows)]
    note = (
        f"**INCOMPLETE**: interrupted after {len(done)} of {len(jobs)} jobs; "
        f"resume with: `{hint}`\n\n"
    )
    _write_results(folder, jobs, done, figures, note=note)
    folder.write_status(status="incomplete", done=len(done))


def _units(jobs: Sequence[Job]) -> dict[str, str]:
    from splitenv.scenarios import load_scenario

    units = {}
    for config in dict.fromkeys((job.scenario, job.overrides) for job in jobs):
        scn = load_scenario(config[0], dict(config[1]))
        units[scn.name] = OBJECTIVE_UNITS.get(scn.objective.kind, scn.objective.kind)
    return units


def _scenarios(jobs: Sequence[Job]) -> dict[str, Any]:
    from splitenv.scenarios import load_scenario

    out = {}
    for config in dict.fromkeys((job.scenario, job.overrides) for job in jobs):
        scn = load_scenario(config[0], dict(config[1]))
        out[scn.name] = scn
    return out


def _write_results(
    folder: OutDir, jobs: Sequence[Job], rows: list[dict[str, Any]], figures: bool, note: str = ""
) -> BenchOutput:
    """``results.csv``, ``summary.md`` and the figures of ``rows``, each renamed into place."""
    out = folder.path
    units = _units(jobs)
    summary = summarize(rows) if rows else []
    if rows:
        markdown = note + preamble(rows, _scenarios(jobs)) + "\n" + summary_markdown(summary, units)
        if len({r["scenario"] for r in rows}) > 1:  # several scenarios: methods x scenarios
            markdown += "\n" + matrix_markdown(matrix(rows))
    else:
        markdown = note + "No job finished.\n"
    paths: list[Path] = []
    if figures:
        from baselines.harness.figures import method_bars

        for key in dict.fromkeys(scenario_key(s) for s in summary):
            part = [s for s in summary if scenario_key(s) == key]
            path = out / f"bench_{key[0]}_{key[1][:8]}_{key[2]}.png"
            paths.append(replace_atomically(path, _bars(method_bars, part, units.get(key[0], "s"))))
        if not note:  # the anytime figures re-solve one state per method: complete runs only
            paths += _anytime_figures(jobs, out)
    summary_path = replace_atomically(out / "summary.md", lambda p: p.write_text(markdown))
    csv_path = replace_atomically(out / "results.csv", lambda p: write_csv(rows, p, COLUMNS))
    return BenchOutput(rows, summary, markdown, csv_path, summary_path, paths)


def _bars(
    draw: Callable[..., Path], part: list[MethodSummary], unit: str
) -> Callable[[Path], Path]:
    """``draw(part, path, unit)`` as a writer of one path."""
    return lambda path: draw(part, path, unit=unit)


def _anytime_figures(jobs: Sequence[Job], out: Path) -> list[Path]:
    """One anytime figure per scenario: its solvers on the first seed's first state."""
    from baselines.harness.anytime import ANYTIME_BUDGET, anytime_figure, anytime_solves
    from splitenv.scenarios import load_scenario

    paths = []
    for name in dict.fromkeys(job.scenario for job in jobs):
        mine = [job for job in jobs if job.scenario == name]
        scn = load_scenario(name, dict(mine[0].overrides))
        methods = list(dict.fromkeys(job.method for job in mine))
        curves = anytime_solves(scn, methods, mine[0].seed)
        path = out / f"anytime_{scn.name}_{scn.sha256()[:8]}.png"
        title = (
            f"{scn.name}: best objective found (general methods: {ANYTIME_BUDGET} evaluations each)"
        )
        paths.append(replace_atomically(path, partial(anytime_figure, curves, title=title)))
    return paths
