"""Parameter sweeps over the benchmark harness, and the files of a reproduced figure.

A sweep runs the same methods on the same seeded instances at every point of one
swept parameter (each point is a set of config overrides), through
:func:`baselines.harness.run.run_jobs`, so sweeps run in parallel and give the same
numbers for any number of workers. A reproduced figure is three files side by side:
``NAME.png``, ``NAME.csv`` (the tidy rows it was drawn from) and ``NAME.md`` (the
paper's claim next to ours, with the numbers of the run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baselines.harness.jobs import Job
from baselines.harness.results import write_csv
from baselines.harness.run import run_jobs
from baselines.harness.summary import t_interval
from splitenv.errors import ConfigError
from splitenv.instances import instance_set

SWEEP_COLUMNS = ("x", "method", "seed", "y", "y_rel", "objective", "latency_s", "round_latency_mean_s",
                 "feasible", "config_sha256")  # fmt: skip


@dataclass(frozen=True)
class Size:
    """How big a reproduction is: seeds per point and episode length.

    Attributes:
        seeds: instances per point (the first ones of the scenario's test set).
        rounds: rounds per episode.
        epochs_per_round: epochs per round.
        full: the paper's sweep points (else a reduced subset).
    """

    seeds: int
    rounds: int
    epochs_per_round: int
    full: bool = False


@dataclass(frozen=True)
class Reproduction:
    """A paper's figures as a plug-in (entry-point group ``splitenv.reproductions``).

    Attributes:
        draw: ``draw(ctx) -> files written`` (PNG, CSV and caption of each figure).
        reduced: the size of the default run (a few seeds, short episodes, few points).
        full: the paper's size (``--full``).
    """

    draw: Callable[[Context], list[Path]]
    reduced: Size
    full: Size


@dataclass
class Context:
    """Where a reproduction writes and how it runs."""

    out: Path
    size: Size
    workers: int = 1
    progress: bool = True
    train_model: str = "minilm"  # what SFT's time-to-accuracy figure trains (reproduce_sft)
    points: int | None = None  # sweep points per figure (None: all); see ``pick``

    def pick(self, points: Sequence[Any]) -> list[Any]:
        """``points`` reduced to ``self.points`` evenly spaced ones, first and last kept."""
        if self.points is None or self.points >= len(points):
            return list(points)
        if self.points == 1:
            return [points[0]]
        step = (len(points) - 1) / (self.points - 1)
        return [points[round(i * step)] for i in range(self.points)]


def instance_seeds(scenario: str, n: int) -> list[int]:
    """The first ``n`` seeds of the scenario's test instance set.

    Raises:
        ConfigError: ``n`` outside 1..20 (the size of the set).
    """
    seeds = instance_set(scenario, "test")
    if not 1 <= n <= len(seeds):
        raise ConfigError(f"--seeds {n}; allowed: 1..{len(seeds)} (the test instance set)")
    return seeds[:n]


def sweep(
    ctx: Context,
    scenario: str,
    points: Sequence[tuple[float, dict[str, Any]]],
    methods: Sequence[str],
    job_fn: Callable[[Job], Any],
    timescale: str = "joint",
) -> list[tuple[float, Job, Any]]:
    """Run ``job_fn`` for every point x method x seed; return (x, job, result) in that order."""
    seeds = instance_seeds(scenario, ctx.size.seeds)
    keyed = [
        (x, Job(scenario, m, s, tuple(sorted(over.items())), timescale, ctx.size.rounds,
                ctx.size.epochs_per_round))
        for x, over in points
        for m in methods
        for s in seeds
    ]  # fmt: skip
    results = run_jobs([j for _, j in keyed], ctx.workers, progress=ctx.progress, job_fn=job_fn)
    return [(x, job, res) for (x, job), res in zip(keyed, results, strict=True)]


Series = dict[str, list[tuple[float, float, float]]]


def aggregate(records: Sequence[dict[str, Any]], y: str) -> Series:
    """{method: [(x, mean of y, 95 % CI half-width), ...]} over the seeds of each point."""
    groups: dict[str, dict[float, list[float]]] = {}
    for r in records:
        groups.setdefault(r["method"], {}).setdefault(float(r["x"]), []).append(float(r[y]))
    out: Series = {}
    for method, by_x in groups.items():
        out[method] = []
        for x, values in by_x.items():
            mean, _, half = t_interval(values)
            out[method].append((x, mean, half))
    return out


def relative(records: Sequence[dict[str, Any]], reference: str, y: str = "y") -> None:
    """Add ``y_rel``: each row's ``y`` over the reference method's at the same x and seed."""
    ref = {(float(r["x"]), r["seed"]): float(r[y]) for r in records if r["method"] == reference}
    for r in records:
        r["y_rel"] = float(r[y]) / ref[(float(r["x"]), r["seed"])]


def means(series: Series) -> dict[str, dict[float, float]]:
    """{method: {x: mean}}."""
    return {m: {x: mean for x, mean, _ in pts} for m, pts in series.items()}


def series_table(series: Series, x_label: str, fmt: str = "{:.4g}") -> str:
    """Markdown table: one row per x, one column per method, cells ``mean ± CI``."""
    methods = list(series)
    xs = sorted({x for pts in series.values() for x, _, _ in pts})
    cell = {(m, x): (mean, half) for m, pts in series.items() for x, mean, half in pts}
    lines = [
        f"| {x_label} | " + " | ".join(methods) + " |",
        "| ---: | " + " | ".join("---:" for _ in methods) + " |",
    ]
    for x in xs:
        cells = []
        for m in methods:
            mean, half = cell.get((m, x), (float("nan"), float("nan")))
            ci = "" if half != half else f" ± {fmt.format(half)}"  # NaN with one seed
            cells.append(fmt.format(mean) + ci)
        lines.append(f"| {x:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: how a claim fares in a run: it holds, it fails, or the seeds cannot separate the methods
VERDICTS = {True: "holds", False: "fails", None: "undecided"}
#: the check lines of a caption start with one of these markers
MARKS = {True: "[x]", False: "[ ]", None: "[?]"}


def check_line(text: str, holds: bool | None, n_seeds: int | None = None) -> str:
    """One line of a caption's checks: the claim and the verdict of our run.

    ``holds`` None means undecided: the paired 95 % intervals do not separate the methods at
    this number of seeds (``n_seeds``, named in the line with what to run instead).
    """
    line = f"- {MARKS[holds]} {text}: **{VERDICTS[holds]}**"
    if holds is None:
        seeds = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}" if n_seeds else "these seeds"
        line += (
            f" (the 95 % paired interval includes 0 at {seeds}: too few to decide; try --seeds 10)"
        )
    return line


def check_lines(caption: str) -> list[str]:
    """The check lines of a caption, as plain text (``claim: verdict``), for terminals and figures.

    A check whose text continues on the next lines (an explanation) is joined into one line.
    """
    out: list[str] = []
    inside = False
    for line in caption.splitlines():
        stripped = line.strip()
        if stripped.startswith(("- [x]", "- [ ]", "- [?]")):
            out.append(stripped[2:].replace("**", ""))
            inside = True
        elif inside and stripped and not stripped.startswith(("#", "|", "- ")):
            out[-1] += " " + stripped.replace("**", "")
        else:
            inside = False
    return out


def paired_below(
    records: Sequence[dict[str, Any]], a: str, b: str | Sequence[str], y: str = "y"
) -> bool | None:
    """Whether ``a``'s y is below ``b``'s at every x, decided by paired 95 % t-intervals.

    For each x the differences ``y_a - y_b`` over the common seeds give a t-interval; ``b``
    may name several methods (``a`` must be below each). True: every interval lies below 0;
    False: at some x the interval lies at or above 0 (``a`` is not below there, identical
    included); None: undecided (an interval straddles 0, or one seed gives no interval).
    """
    others = [b] if isinstance(b, str) else list(b)
    values: dict[tuple[str, float], dict[Any, float]] = {}
    for r in records:
        values.setdefault((r["method"], float(r["x"])), {})[r["seed"]] = float(r[y])
    decided = True
    for (method, x), by_seed in values.items():
        if method != a:
            continue
        for other in others:
            ref = values.get((other, x), {})
            common = sorted(set(by_seed) & set(ref))
            mean, _, half = t_interval([by_seed[s] - ref[s] for s in common])
            if half != half:  # NaN: one seed
                decided = False
            elif mean + half < 0:
                continue
            elif mean - half >= 0:
                return False
            else:
                decided = False
    return True if decided else None


def write_figure_files(
    ctx: Context,
    name: str,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    caption: str,
    draw: Callable[[Path, list[str]], Path],
) -> list[Path]:
    """Write ``NAME.csv`` (rows), ``NAME.png`` and ``NAME.md`` (caption) under ``out``.

    ``draw(path, notes)`` draws the PNG; ``notes`` are the caption's checks (claim and
    verdict, :func:`check_lines`), which the figure carries under its panels.
    """
    ctx.out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path, md_path = (ctx.out / f"{name}.{ext}" for ext in ("csv", "png", "md"))
    write_csv(rows, csv_path, columns)
    draw(png_path, check_lines(caption))
    md_path.write_text(caption.rstrip() + "\n")
    return [png_path, csv_path, md_path]


def setup_text(ctx: Context, scenario: str, methods: Sequence[str], extra: str = "") -> str:
    """The caption's setup paragraph."""
    size = ctx.size
    scale = "full size (the paper's sweep points)" if size.full else "reduced size (see --full)"
    return (
        f"Setup: preset `{scenario}`, methods {', '.join(f'`{m}`' for m in methods)}, "
        f"{size.seeds} seed(s) per point (test instance set), episodes of {size.rounds} "
        f"round(s) x {size.epochs_per_round} epoch(s), timescale `joint` (the method decides "
        f"every field), {scale}. "
        f"Every number is the cost engine's, through the env. CIs: 95 %, Student t over "
        f"seeds. {extra}"
    ).rstrip()


def records(
    results: Sequence[tuple[float, Job, Any]], y: Callable[[float, dict], float]
) -> list[dict]:
    """Sweep results as rows: each job's CSV row with its x, method, seed and y."""
    rows = []
    for x, job, row in results:
        rows.append({**row, "x": x, "method": job.method, "seed": job.seed, "y": y(x, row)})
    return rows
