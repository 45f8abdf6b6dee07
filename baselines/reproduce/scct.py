"""SCCT Fig. 9 (Wang et al.): average per-iteration latency against the number of devices."""

from __future__ import annotations

from pathlib import Path

from baselines.harness.episode import run_job
from baselines.reproduce.sweep import (
    SWEEP_COLUMNS,
    Context,
    Reproduction,
    Size,
    aggregate,
    check_line,
    means,
    paired_below,
    records,
    relative,
    series_table,
    setup_text,
    sweep,
    write_figure_files,
)
from splitenv.scenarios import load_scenario

SCCT_METHODS = ("scctt", "scctl", "sccts", "equal")


def scct_fig9(ctx: Context) -> list[Path]:
    """SCCT Fig. 9: average per-iteration latency against the number of devices N."""
    from baselines.harness.figures import sweep_plot

    ns = (10, 20, 30)
    results = sweep(ctx, "scct", [(n, {"network.n_devices": n}) for n in ns], SCCT_METHODS, run_job)
    iters = load_scenario("scct").schedule.iterations_per_epoch
    per_episode = ctx.size.rounds * ctx.size.epochs_per_round * iters
    rows = records(results, lambda x, r: r["latency_s"] / per_episode)
    relative(rows, "equal")
    series = aggregate(rows, "y")
    m = means(series)
    # decided by paired 95 % intervals over the seeds (None: too few seeds to separate them)
    ordering = paired_below(rows, "scctt", ["scctl", "sccts"])
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

{check_line("SCCTT below SCCTL and SCCTS at every N", ordering, ctx.size.seeds)}
{check_line("latency increases with N for every scheme", grows)}

{setup_text(ctx, "scct", SCCT_METHODS)}
"""
    return write_figure_files(
        ctx, "scct_fig9", rows, SWEEP_COLUMNS, caption,
        lambda p, notes: sweep_plot(
            [(series, "per-iteration latency (s)", False),
             (aggregate(rows, "y_rel"), "latency / equal on the same instance (-)", False)],
            p, x_label="number of devices N",
            title="SCCT Fig. 9: average per-iteration latency vs N (CloudO not modelled)",
            notes=notes,
        ),
    )  # fmt: skip


#: the ``splitenv.reproductions`` entry point ``scct``: its figures, reduced and full sizes
REPRODUCTION = Reproduction(scct_fig9, reduced=Size(2, 2, 2), full=Size(10, 4, 3, full=True))
