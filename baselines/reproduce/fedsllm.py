"""FedsLLM Figs. 5-8 (Zhao, Yang et al., "Efficient Federated Split Learning for LLMs").

Total delay ``T = E(r) (I t_loc + max_k t_fed)`` (FedsLLM (17)) of ``fedsllm_bcd`` and
baselines a-d against the total bandwidth, the client FLOPs per cycle, the main
server's capability and the client's maximum power. T is the engine's objective of
each step's applied decision (recorded by :func:`baselines.harness.episode.play`), averaged
over the steps: the env's reward is one round's latency, which leaves out the rounds
to accuracy E(r) and so the rank trade-off the figures are about.

Sweep values are ours (the paper gives no axis ranges): B in 5..30 MHz
(both pools), client FLOPs/cycle 4..64 (f_k in [1, 1.6] GHz), main server x0.25..x4
around 100 TFLOP/s, client p_max 10..30 dBm with the pool's total limit kept at 2.5 p_max
(the preset's 0.5 W for 0.2 W).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from baselines.harness.episode import play
from baselines.harness.jobs import Job
from baselines.reproduce.sweep import (
    Context,
    Reproduction,
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
from splitenv.model import Decision, evaluate

METHODS = ("fedsllm_bcd", "fedsllm_a", "fedsllm_b", "fedsllm_c", "fedsllm_d")
COLUMNS = ("x", "method", "seed", "y", "y_rel", "total_delay_s", "rank", "mean_split")
BASELINES = {
    "fedsllm_a": "a: random subchannels, uniform PSD, random split and rank",
    "fedsllm_b": "b: random subchannels, uniform PSD, optimized split and rank",
    "fedsllm_c": "c: random split, the rest optimized",
    "fedsllm_d": "d: random rank, the rest optimized",
}


def total_delay(job: Job) -> dict[str, Any]:
    """Mean over the episode's steps of the engine's total delay T of the applied decision."""
    episode = play(job, record=True)
    scn = episode.env.scenario
    totals, ranks, splits = [], [], []
    for state, fields in episode.decisions:
        ev = evaluate(scn, state, Decision(**fields))
        totals.append(float(ev.objective[0]))
        ranks.append(float(ev.decision.rank[0]))
        splits.append(float(ev.decision.split[0].mean()))
    return {"total_delay_s": float(np.mean(totals)), "rank": float(np.mean(ranks)),
            "mean_split": float(np.mean(splits))}  # fmt: skip


def _figure(
    ctx: Context,
    fig: int,
    x_label: str,
    points: Sequence[tuple[float, dict[str, Any]]],
    claim: str,
    checks: Callable[[dict[str, dict[float, float]], list[float]], list[str]],
    logx: bool = False,
) -> list[Path]:
    from baselines.harness.figures import sweep_plot

    points = ctx.pick(points)
    results = sweep(ctx, "fedsllm", points, METHODS, total_delay)
    rows = [
        {**res, "x": x, "method": job.method, "seed": job.seed, "y": res["total_delay_s"] / 3600}
        for x, job, res in results
    ]
    relative(rows, "fedsllm_bcd")
    series, rel = aggregate(rows, "y"), aggregate(rows, "y_rel")
    xs = [x for x, _ in points]
    m = means(series)
    every = all(m["fedsllm_bcd"][x] <= min(m[b][x] for b in BASELINES) for x in xs)
    falls = all(v[a] >= v[b] for v in m.values() for a, b in pairwise(xs))
    caption = f"""# FedsLLM Fig. {fig}: total delay vs {x_label}

**Paper** (Sec. V, Fig. {fig}; no numbers survive in the text): {claim}

**Ours**: mean total delay T (h) per decision, ± 95 % CI over seeds:

{series_table(series, x_label, "{:.3g}")}

Divided by `fedsllm_bcd`'s T on the same instance:

{series_table(rel, x_label, "{:.3f}")}

{check_line("BCD at or below every baseline at every point", every)}
{check_line("every curve non-increasing along the sweep", falls)}
{chr(10).join(checks(m, xs))}

Baselines: {"; ".join(BASELINES.values())}.

{setup_text(ctx, "fedsllm", METHODS)} T is the engine's objective (17) of each applied
decision, averaged over the episode's steps.
"""
    return write_figure_files(
        ctx, f"fedsllm_fig{fig}", rows, COLUMNS, caption,
        lambda p, notes: sweep_plot(
            [(series, "total delay T (h), log scale", True),
             (rel, "T / T of fedsllm_bcd (-), log scale", True)],
            p, x_label=x_label, title=f"FedsLLM Fig. {fig}: total delay vs {x_label}", logx=logx,
            notes=notes,
        ),
    )  # fmt: skip


def _gap(m: dict[str, dict[float, float]], name: str, x: float) -> float:
    return m[name][x] - m["fedsllm_bcd"][x]


def fedsllm_figs(ctx: Context) -> list[Path]:
    """FedsLLM Figs. 5-8."""
    full = ctx.size.full
    files: list[Path] = []
    pts: list[tuple[float, dict[str, Any]]]

    mhz = (5, 10, 15, 20, 25, 30) if full else (10, 20, 30)
    pts = [(b, {"network.bandwidth_hz": b * 1e6, "network.fed_bandwidth_hz": b * 1e6}) for b in mhz]

    def fig5(m, xs):
        x0 = 20 if 20 in xs else xs[len(xs) // 2]
        cut = 100 * (1 - m["fedsllm_bcd"][x0] / m["fedsllm_a"][x0])
        narrows = all(_gap(m, "fedsllm_b", a) >= _gap(m, "fedsllm_b", b) for a, b in pairwise(xs))
        return [check_line(f"about 60 % below baseline a at {x0} MHz (ours {cut:.1f} %)",
                           abs(cut - 60) <= 15),
                check_line("the gap to baseline b narrows as B grows", narrows)]  # fmt: skip

    files += _figure(ctx, 5, "total bandwidth B (MHz)", pts,
                     '"significantly reduces latency by approximately 60% compared to the '
                     'unoptimized baseline a"; "latency decreases as the total bandwidth '
                     'increases"; "the performance gap between the proposed solution and '
                     'baseline b gradually narrows".', fig5)  # fmt: skip

    cycles = (4, 8, 16, 32, 64) if full else (8, 16, 32)
    pts = [(c, {"compute.device_flops": [1e9 * c, 1.6e9 * c]}) for c in cycles]

    def fig6(m, xs):
        narrows = all(_gap(m, "fedsllm_c", a) >= _gap(m, "fedsllm_c", b) for a, b in pairwise(xs))
        return [check_line("the gap to baseline c narrows as clients get faster", narrows)]

    files += _figure(ctx, 6, "client FLOPs per GPU cycle", pts,
                     '"The latency of all schemes decreases as the number of floating-point '
                     'operations per GPU cycle increases ... the latency gap between baseline c '
                     '(unoptimized split location) and the proposed solution gradually narrows".',
                     fig6, logx=True)  # fmt: skip

    factors = (0.25, 0.5, 1, 2, 4) if full else (0.25, 1, 4)
    pts = [(100 * f, {"compute.edge_flops": 100e12 * f}) for f in factors]

    def fig7(m, xs):
        d_above = all(m["fedsllm_d"][x] > m["fedsllm_b"][x] for x in xs)
        grows = all(_gap(m, "fedsllm_b", a) <= _gap(m, "fedsllm_b", b) for a, b in pairwise(xs))
        return [check_line("baseline d above baseline b (rank matters more)", d_above),
                check_line("the gap to baseline b grows with the server's capability", grows)]  # fmt: skip

    files += _figure(ctx, 7, "main-server capability (TFLOP/s)", pts,
                     '"The proposed solution consistently achieves the lowest latency, with '
                     'training latency decreasing as the computational capability of the main '
                     'server increases"; "The significant increase in latency for baseline d '
                     'compared to baseline b illustrates that optimizing the rank has a greater '
                     'impact"; "the performance improvement from optimizing power control and '
                     'subchannel assignment increases as the main server\'s computational '
                     'capability grows".', fig7, logx=True)  # fmt: skip

    dbm = (10, 15, 20, 25, 30) if full else (10, 20, 30)
    total = 10 * np.log10(2.5)
    pts = [(p, {"network.device_power_dbm": float(p), "network.total_power_dbm": p + total})
           for p in dbm]  # fmt: skip
    files += _figure(ctx, 8, "client max transmit power (dBm)", pts,
                     '"As the maximum transmit power increases, the delay decreases ... The '
                     'proposed scheme significantly reduces training delay compared to the '
                     'baseline method."', lambda m, xs: [])  # fmt: skip
    return files


#: the ``splitenv.reproductions`` entry point ``fedsllm``: its figures, reduced and full sizes
REPRODUCTION = Reproduction(fedsllm_figs, reduced=Size(2, 1, 2), full=Size(10, 4, 3, full=True))
