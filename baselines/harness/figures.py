"""Figures of benchmarks and paper reproductions (matplotlib, Agg, no pyplot state).

matplotlib is the optional extra ``splitenv[plot]``; it is imported inside the
functions, and a missing install raises an error naming the extra.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: (mean, 95 % CI half-width) per sweep point
Points = Sequence[tuple[float, float, float]]


def _figure(ncols: int = 1, width: float = 6.4, height: float = 4.2) -> tuple[Any, Any]:
    """A new Figure with ``ncols`` axes, rendered by Agg (no pyplot, no global backend)."""
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise ModuleNotFoundError('figures need matplotlib: pip install "splitenv[plot]"') from None
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def method_bars(summary: Sequence[Any], path: str | Path, unit: str = "s") -> Path:
    """Bars per method with 95 % CIs: the mean episode cost, and the mean normalized cost.

    One scenario's summary rows. The left panel's CIs carry the spread of the instances;
    the right panel divides each episode's cost by equal allocation on the same episode,
    so its CIs show how consistently a method beats (below 1) or loses to equal shares.
    """
    fig, axes = _figure(ncols=2, width=max(4.8, 0.9 * len(summary) + 1.5))
    names = [s.method for s in summary]
    x = np.arange(len(names))
    panels = [
        ([s.mean for s in summary], [s.ci95 for s in summary], f"mean episode cost ({unit})"),
        (
            [s.normalized for s in summary],
            [s.normalized_ci95 for s in summary],
            "mean cost / equal allocation (-)",
        ),
    ]
    for ax, (mean_list, ci_list, label) in zip(axes, panels, strict=True):
        means = np.array(mean_list, dtype=float)
        cis = np.array([_finite(c) for c in ci_list])
        ax.bar(x, means, yerr=cis, capsize=5, color="tab:blue", alpha=0.8, ecolor="black")
        lo, hi = float((means - cis).min()), float((means + cis).max())
        pad = 0.2 * (hi - lo) if hi > lo else 0.05 * abs(hi) or 1.0
        ax.set_ylim(lo - pad, hi + 2 * pad)  # zoomed: methods often differ by a few percent
        for xi, m, c in zip(x, means, cis, strict=True):
            ax.annotate(f"{m:.4g}", (xi, m + c), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8)  # fmt: skip
        ax.set_xticks(x, names, rotation=20, ha="right")
        ax.set_xlabel("method")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    s0 = summary[0]
    fig.suptitle(
        f"{s0.scenario}, timescale {s0.timescale}: mean ± 95 % CI over "
        f"{max(s.n for s in summary)} seeds (axes zoomed, not from 0)"
    )
    return _save(fig, path)


def sweep_plot(
    panels: Sequence[tuple[Mapping[str, Sequence[tuple[float, float, float]]], str, bool]],
    path: str | Path,
    *,
    x_label: str,
    title: str,
    logx: bool = False,
) -> Path:
    """Lines of mean ± 95 % CI against a swept parameter, one per method, in one or more panels.

    Args:
        panels: (series, y label with unit, log y axis) per panel; a series maps each
            method to ``[(x, mean, ci half-width), ...]``.
        path: the PNG to write.
        x_label: x-axis label with its unit.
        title: figure title.
        logx: logarithmic x axis (base 2: sweeps that double).
    """
    fig, axes = _figure(ncols=len(panels), width=5.4 if len(panels) > 1 else 6.4)
    markers = "osD^vP*X"
    for ax, (series, y_label, logy) in zip(axes, panels, strict=True):
        xs_all = sorted({p[0] for pts in series.values() for p in pts})
        span = (xs_all[-1] - xs_all[0]) if len(xs_all) > 1 else 1.0
        k = len(series)
        for i, (name, pts) in enumerate(series.items()):
            xs, ys, cis = (np.array([p[j] for p in pts], dtype=float) for j in range(3))
            shift = i - (k - 1) / 2  # dodge the markers so that equal values stay visible
            xs = xs * 2 ** (0.02 * shift) if logx else xs + 0.008 * span * shift
            ax.errorbar(xs, ys, yerr=np.nan_to_num(cis), marker=markers[i % len(markers)],
                        capsize=3, label=name, alpha=0.85)  # fmt: skip
        if logx:
            ax.set_xscale("log", base=2)
        if logy:
            ax.set_yscale("log")
        ax.set_xticks(xs_all, [f"{x:g}" for x in xs_all])
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(alpha=0.3)
        ax.legend(title="method", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def time_to_accuracy_plot(
    rows: Sequence[Mapping[str, Any]], path: str | Path, *, target: float, title: str
) -> Path:
    """Accuracy against simulated time, a line per (method, provider); the target and the stops.

    Args:
        rows: one per round with ``method``, ``provider``, ``time_s``, ``accuracy`` and
            ``terminated``.
        path: the PNG to write.
        target: the accuracy that ends an episode (dashed line).
        title: figure title.
    """
    fig, axes = _figure(ncols=1, width=7.2, height=4.4)
    ax = axes[0]
    styles = {"train": ("-", "o"), "table": ("--", "s"), "surrogate": (":", "^")}
    keys = list(dict.fromkeys((r["method"], r["provider"]) for r in rows))
    methods = list(dict.fromkeys(m for m, _ in keys))
    for method, provider in keys:
        pts = [r for r in rows if r["method"] == method and r["provider"] == provider]
        ls, marker = styles.get(provider, ("-", "D"))
        # one method: a color per provider; several: a color per method, a line style per provider
        index = list(styles).index(provider) if provider in styles else 3
        color = f"C{index}" if len(methods) == 1 else f"C{methods.index(method)}"
        xs = [0.0] + [float(r["time_s"]) for r in pts]
        ys = [np.nan] + [float(r["accuracy"]) for r in pts]
        label = provider if len(methods) == 1 else f"{method} / {provider}"
        ax.plot(xs, ys, ls=ls, marker=marker, ms=4, color=color, label=label, alpha=0.9)
        stop = next((r for r in pts if r["terminated"]), None)
        if stop is not None:
            ax.axvline(float(stop["time_s"]), color=color, ls=ls, lw=0.8, alpha=0.5)
    ax.axhline(target, color="k", ls="--", lw=0.8, label=f"target {target:.3f}")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="accuracy provider")
    fig.suptitle(title)
    return _save(fig, path)


def per_device_rounds(
    rounds: Sequence[int],
    panels: Sequence[tuple[str, np.ndarray, float]],
    path: str | Path,
    title: str,
) -> Path:
    """Panels of per-device values over rounds (CARD Fig. 3: cut layer, server frequency).

    Args:
        rounds: the round numbers (x).
        panels: (y label with unit, array of shape (rounds, devices), offset) per panel;
            device n's curve is drawn shifted by ``(n - (N - 1) / 2) * offset`` so that
            equal values stay visible (say so in the label when the offset is not 0).
        path: the PNG to write.
        title: figure title.
    """
    fig, axes = _figure(ncols=len(panels), width=5.6)
    for ax, (label, values, offset) in zip(axes, panels, strict=True):
        values = np.asarray(values, dtype=float)
        n_dev = values.shape[1]
        for n in range(n_dev):
            shift = (n - (n_dev - 1) / 2) * offset
            # shrinking markers: a curve hidden under an equal one still shows its marker rim
            ax.plot(rounds, values[:, n] + shift, marker="osD^v"[n % 5], ms=9 - 1.2 * (n % 5),
                    ls=("-", "--", ":", "-.")[n % 4], label=f"device {n + 1}")  # fmt: skip
        ax.set_xticks(list(rounds))
        ax.set_xlabel("training round")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def grouped_bars(
    panels: Sequence[tuple[str, Mapping[str, tuple[float, float]]]],
    path: str | Path,
    title: str,
) -> Path:
    """One bar panel per metric, one bar per method, with 95 % CIs (CARD Fig. 4).

    Args:
        panels: (y label with unit, {method: (mean, ci half-width)}) per panel.
        path: the PNG to write.
        title: figure title.
    """
    fig, axes = _figure(ncols=len(panels), width=4.8)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for ax, (label, values) in zip(axes, panels, strict=True):
        names = list(values)
        means = np.array([values[k][0] for k in names])
        cis = np.array([_finite(values[k][1]) for k in names])
        x = np.arange(len(names))
        ax.bar(x, means, yerr=cis, capsize=5, color=colors[: len(names)], ecolor="black")
        for xi, m in zip(x, means, strict=True):
            ax.annotate(f"{m:.4g}", (xi, m), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8)  # fmt: skip
        ax.set_xticks(x, names, rotation=15, ha="right")
        ax.set_xlabel("method")
        ax.set_ylabel(label)
        ax.set_ylim(0, 1.15 * float((means + cis).max()))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)
