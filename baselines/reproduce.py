"""The papers' figures, drawn from sweeps of the benchmark harness (``splitenv reproduce PAPER``).

| paper | figures | module |
| --- | --- | --- |
| scct | Fig. 9: per-iteration latency vs N (SCCTT, SCCTL, SCCTS, equal; CloudO not modelled) | here |
| sft | Fig. 10: round delay vs total bandwidth (SQP, equal, random bandwidth) | here |
| sft | accuracy vs simulated time with real training (train / table / surrogate providers) | :mod:`baselines.reproduce_sft` |
| card | Fig. 3: cut and server frequency per device over rounds; Fig. 4: delay and energy per method | :mod:`baselines.reproduce_card` |
| fedsllm | Figs. 5-8: total delay vs bandwidth, client FLOPs/cycle, server capability, client power | :mod:`baselines.reproduce_fedsllm` |

Each figure is written as ``NAME.png``, ``NAME.csv`` (the rows it was drawn from) and
``NAME.md`` (caption: the paper's claim, our numbers, which claims hold). The default
size is reduced (few seeds, short episodes, fewer sweep points) so that ``scct`` and
``card`` run in the test suite; ``full=True`` takes the paper's sweep points, 10 seeds
and the env's default episode (4 rounds x 3 epochs).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from baselines.benchmark import run_job
from baselines.sweeps import (
    Context,
    Size,
    aggregate,
    check_line,
    means,
    relative,
    series_table,
    setup_text,
    sweep,
    write_figure_files,
)
from splitenv._fields import ConfigError
from splitenv.scenarios import load_scenario

#: paper -> (reduced size, full size)
SIZES = {
    "scct": (Size(2, 2, 2), Size(10, 4, 3, full=True)),
    "sft": (Size(3, 2, 2), Size(10, 4, 3, full=True)),
    "card": (Size(3, 6, 1), Size(10, 20, 1, full=True)),
    "fedsllm": (Size(2, 1, 2), Size(10, 4, 3, full=True)),
}
SWEEP_COLUMNS = ("x", "method", "seed", "y", "y_rel", "objective", "latency_s", "round_latency_mean_s",
                 "feasible", "config_sha256")  # fmt: skip


def _records(results, y: Callable[[float, dict], float]) -> list[dict]:
    rows = []
    for x, job, row in results:
        rows.append({**row, "x": x, "method": job.method, "seed": job.seed, "y": y(x, row)})
    return rows


# --- SCCT Fig. 9 ---------------------------------------------------------------------------

SCCT_METHODS = ("scctt", "scctl", "sccts", "equal")


def scct_fig9(ctx: Context) -> list[Path]:
    """SCCT Fig. 9: average per-iteration latency against the number of devices N."""
    from baselines.figures import sweep_plot

    ns = (10, 20, 30)
    results = sweep(ctx, "scct", [(n, {"network.n_devices": n}) for n in ns], SCCT_METHODS, run_job)
    iters = load_scenario("scct").schedule.iterations_per_epoch
    per_episode = ctx.size.rounds * ctx.size.epochs_per_round * iters
    rows = _records(results, lambda x, r: r["latency_s"] / per_episode)
    relative(rows, "equal")
    series = aggregate(rows, "y")
    m = means(series)
    ordering = all(m["scctt"][n] < min(m["scctl"][n], m["sccts"][n]) for n in ns)
    grows = all(m[k][10] < m[k][20] < m[k][30] for k in SCCT_METHODS)
    cut = {n: 100 * (1 - m["scctt"][n] / min(m["scctl"][n], m["sccts"][n])) for n in ns}
    caption = f"""# SCCT Fig. 9: average per-iteration latency vs number of devices

**Paper** (Sec. V, Fig. 9; no numbers survive in the text): "the average per-iteration latency
also increases with the number of edge devices"; "CloudO exhibits the lowest latency"; "SCCTT
has the second-lowest latency, lower than SCCTL and SCCTS, due to its highest resource
utilization". **CloudO is not modelled** in splitenv (the paper gives it no latency model), so
it is not drawn; `equal` (default split, equal subcarriers and shares) is added as reference.

**Ours**: per-iteration latency = episode latency / ({per_episode} iterations), in s:

{series_table(series, "N", "{:.4f}")}

The same, divided by `equal` on the same instance (paired, so the CIs leave out the spread of
the instances):

{series_table(aggregate(rows, "y_rel"), "N", "{:.4f}")}

SCCTT below the better of SCCTL and SCCTS by {", ".join(f"{cut[n]:.1f} % (N = {n})" for n in ns)}.

{check_line("SCCTT below SCCTL and SCCTS at every N", ordering)}
{check_line("latency increases with N for every scheme", grows)}

{setup_text(ctx, "scct", SCCT_METHODS)}
"""
    return write_figure_files(
        ctx, "scct_fig9", rows, SWEEP_COLUMNS, caption,
        lambda p: sweep_plot(
            [(series, "per-iteration latency (s)", False),
             (aggregate(rows, "y_rel"), "latency / equal on the same instance (-)", False)],
            p, x_label="number of devices N",
            title="SCCT Fig. 9: average per-iteration latency vs N (CloudO not modelled)",
        ),
    )  # fmt: skip


# --- SFT Fig. 10 ---------------------------------------------------------------------------

SFT_METHODS = ("sft_sqp", "sft_equal_bw", "sft_random_bw")


def sft_fig10(ctx: Context) -> list[Path]:
    """SFT Fig. 10: per-round delay against the total bandwidth (Alg. 3 vs equal vs random)."""
    from baselines.figures import sweep_plot

    mhz = (5, 10, 15, 20, 25, 30) if ctx.size.full else (5, 15, 30)
    points = [(b, {"network.bandwidth_hz": b * 1e6}) for b in mhz]
    results = sweep(ctx, "sft", points, SFT_METHODS, run_job)
    rows = _records(results, lambda x, r: r["round_latency_mean_s"])
    relative(rows, "sft_equal_bw")
    series = aggregate(rows, "y")
    m = means(series)
    sqp, eq, rnd = (m[k] for k in SFT_METHODS)
    best = all(sqp[b] < min(eq[b], rnd[b]) for b in mhz)
    falls = all(sqp[a] >= sqp[b] for a, b in pairwise(mhz))
    vs_eq = ", ".join(f"{100 * (1 - sqp[b] / eq[b]):.1f} % ({b} MHz)" for b in mhz)
    vs_rnd = ", ".join(f"{100 * (1 - sqp[b] / rnd[b]):.1f} %" for b in mhz)
    caption = f"""# SFT Fig. 10: delay per round vs total bandwidth

**Paper** (Sec. VI, Fig. 10): "under various system bandwidth conditions, the proposed two-stage
optimization algorithm consistently outperforms the baselines [equal and random bandwidth] ...
even under a constrained 5 MHz bandwidth, the proposed algorithm reduces communication delay by
up to 53.1% in each fine-tuning round" (baseline not named; the 5-30 MHz range is implied).

**Ours**: mean round delay (s), cut l = 5, rho = 0.2, q = 3 (the preset's configuration) for all
three; only the bandwidth split differs:

{series_table(series, "B (MHz)", "{:.4g}")}

Divided by equal bandwidth on the same instance:

{series_table(aggregate(rows, "y_rel"), "B (MHz)", "{:.4g}")}

Reduction of the round delay by Alg. 3 (SQP): vs equal {vs_eq}; vs random {vs_rnd}. Ours is the
whole round's delay, not only its communication part; with the preset's fixed SNR the devices
differ by compute only, so the gain over equal bandwidth is smaller than the paper's 53.1 %.

{check_line("SQP below equal and random bandwidth at every B", best)}
{check_line("SQP's delay does not grow with B", falls)}

{setup_text(ctx, "sft", SFT_METHODS)}
"""
    return write_figure_files(
        ctx, "sft_fig10", rows, SWEEP_COLUMNS, caption,
        lambda p: sweep_plot(
            [(series, "mean delay per round (s), log scale", True),
             (aggregate(rows, "y_rel"), "delay / equal bandwidth (-), log scale", True)],
            p, x_label="total bandwidth B (MHz)",
            title="SFT Fig. 10: delay per round vs total bandwidth",
        ),
    )  # fmt: skip


# --- dispatch ------------------------------------------------------------------------------


def _sft(ctx: Context) -> list[Path]:
    files = sft_fig10(ctx)
    from baselines.reproduce_sft import sft_time_to_accuracy

    return files + sft_time_to_accuracy(ctx)


def _card(ctx: Context) -> list[Path]:
    from baselines.reproduce_card import card_figs

    return card_figs(ctx)


def _fedsllm(ctx: Context) -> list[Path]:
    from baselines.reproduce_fedsllm import fedsllm_figs

    return fedsllm_figs(ctx)


PAPERS: dict[str, Callable[[Context], list[Path]]] = {
    "scct": scct_fig9,
    "sft": _sft,
    "card": _card,
    "fedsllm": _fedsllm,
}


def reproduce(
    paper: str,
    out: str | Path,
    n_seeds: int | None = None,
    full: bool = False,
    workers: int = 1,
    progress: bool = True,
    train_model: str = "minilm",
    points: int | None = None,
) -> list[Path]:
    """Draw a paper's figures under ``out``; return the files written (PNG, CSV, caption each).

    ``train_model`` is what SFT's time-to-accuracy figure really trains: ``minilm``
    (default), ``tiny`` (seconds; a smoke run) or ``none`` (no training episode).
    ``points`` (fedsllm only) keeps that many evenly spaced sweep points per figure, the
    first and last included (a smoke run of Figs. 5-8); None keeps them all.

    Raises:
        ConfigError: unknown paper, a bad number of seeds or points, or an unknown train model.
    """
    if paper not in PAPERS:
        raise ConfigError(f"unknown paper {paper!r}; papers: {', '.join(PAPERS)}")
    from baselines.reproduce_sft import TRAIN_MODELS

    if train_model not in TRAIN_MODELS:
        raise ConfigError(f"train_model = {train_model!r}; allowed: {', '.join(TRAIN_MODELS)}")
    if points is not None and (paper != "fedsllm" or points < 1):
        raise ConfigError(f"points = {points!r}; allowed: an integer >= 1, for fedsllm only")
    size = SIZES[paper][1 if full else 0]
    if n_seeds is not None:
        size = Size(n_seeds, size.rounds, size.epochs_per_round, size.full)
    return PAPERS[paper](Context(Path(out), size, workers, progress, train_model, points))
