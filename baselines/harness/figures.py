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


def _notes(fig: Any, notes: Sequence[str]) -> None:
    """Lines under the panels (wrapped to the figure's width), e.g. claims with our verdicts."""
    if not notes:
        return
    import textwrap

    width = int(13 * fig.get_figwidth())  # characters of 8 pt text per line
    text = "\n".join(textwrap.fill(n, width, subsequent_indent="    ") for n in notes)
    fig.supxlabel(text, fontsize=8, x=0.01, ha="left", multialignment="left")


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def wrap_label(name: str, width: int = 24) -> str:
    """A method name broken into lines of at most ``width`` characters (paths at ``/``)."""
    pieces = [p for p in name.replace("/", "/\u200b").replace(":", ":\u200b").split("\u200b") if p]
    lines, line = [], ""
    for piece in pieces:
        while len(piece) > width:  # a piece longer than a line is cut
            if line:
                lines.append(line)
                line = ""
            lines.append(piece[:width])
            piece = piece[width:]
        if len(line) + len(piece) > width and line:
            lines.append(line)
            line = ""
        line += piece
    if line:
        lines.append(line)
    return "\n".join(lines)


def split_outliers(values: Sequence[float], factor: float = 1.5) -> tuple[list[int], list[int]]:
    """Indices of the regular values and of the outliers (above ``factor`` x the median).

    A non-finite value counts as an outlier; all values are regular when fewer than three.
    """
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    if finite.sum() < 3:
        return list(range(len(v))), []
    limit = factor * float(np.median(v[finite]))
    out = [i for i in range(len(v)) if not finite[i] or v[i] > limit]
    return [i for i in range(len(v)) if i not in out], out


def _hbars(ax: Any, labels: list[str], means: np.ndarray, cis: np.ndarray, color: Any) -> None:
    """Horizontal bars from 0 with 95 % CIs and their values, the first method on top."""
    y = np.arange(len(labels))
    ax.barh(y, means, xerr=cis, capsize=4, color=color, alpha=0.85, ecolor="black")
    for yi, m, c in zip(y, means, cis, strict=True):
        ax.annotate(f"{m:.4g}", (m + c, yi), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8)  # fmt: skip
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # the first method on top
    ax.set_xlim(0, 1.18 * float(np.nanmax(means + cis)) or 1.0)
    ax.grid(axis="x", alpha=0.3)


def _gaps(ax: Any, rows: Sequence[Any]) -> None:
    """Paired gaps to the best with 95 % intervals; red where the interval excludes 0."""
    y = np.arange(len(rows))
    gaps = np.array([100 * s.gap_to_best for s in rows], dtype=float)
    cis = np.array([100 * _finite(s.gap_to_best_ci95) for s in rows])
    worse = [(g - c) > 0 for g, c in zip(gaps, cis, strict=True)]
    colors = ["tab:red" if w else "tab:gray" for w in worse]
    ax.axvline(0, color="black", lw=0.8)
    for yi, g, c, color in zip(y, gaps, cis, colors, strict=True):
        ax.errorbar([g], [yi], xerr=[c], fmt="o", color=color, ecolor=color, capsize=4, ms=5)
    ax.set_yticks(y, [""] * len(rows))  # the rows of the bar panel on its left
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)


def method_bars(summary: Sequence[Any], path: str | Path, unit: str = "s") -> Path:
    """Draw :func:`method_figure` of one scenario's summary rows to ``path`` (PNG)."""
    return _save(method_figure(summary, unit), path)


def method_figure(summary: Sequence[Any], unit: str = "s") -> Any:
    """One scenario's methods: normalized cost (bars from 0) and paired gaps to the best.

    Left: mean cost / the reference on the same episode (the preset's default decision) with
    its 95 % CI, as horizontal bars from 0 (names of any length fit, wrapped). Right: the
    paired gap to the best method (difference of normalized costs, % of the best's) with
    its 95 % interval, red where it excludes 0 (significantly worse). Methods above 1.5x
    the median normalized cost (``random``, say) get their own row of panels on their own
    scale instead of squashing the others. ``unit`` is the objective's (costs and references
    share it; the normalized values have none).
    """
    keep, out = split_outliers([s.normalized for s in summary])
    groups = [[summary[i] for i in keep]] + ([[summary[i] for i in out]] if out else [])
    heights = [sum(wrap_label(s.method).count("\n") + 1.2 for s in g) * 0.28 + 0.6 for g in groups]
    fig, axes = _figure_grid(len(groups), 2, width=5.2, heights=heights)
    for row, group in enumerate(groups):
        labels = [wrap_label(s.method) for s in group]
        means = np.array([s.normalized for s in group], dtype=float)
        cis = np.array([_finite(s.normalized_ci95) for s in group])
        _hbars(axes[row][0], labels, means, cis, "tab:blue" if row == 0 else "tab:orange")
        axes[row][0].axvline(1.0, color="black", ls="--", lw=0.8)
        _gaps(axes[row][1], group)
        if row == 1:
            axes[row][0].set_title("outliers (own scale)", fontsize=9, loc="left")
    axes[-1][0].set_xlabel(f"cost / reference (costs in {unit}); lower is better")
    axes[-1][1].set_xlabel("paired gap to the best (% of its cost); lower is better")
    s0 = summary[0]
    fig.suptitle(
        f"{s0.scenario}, timescale {s0.timescale}: mean ± 95 % CI over "
        f"{max(s.n for s in summary)} seeds (dashed: the reference, 1.0; red: worse than "
        f"{s0.best or 'the best'} with 95 % confidence)",
        fontsize=9,
    )
    return fig


def _figure_grid(nrows: int, ncols: int, width: float, heights: Sequence[float]) -> tuple[Any, Any]:
    """A Figure with an nrows x ncols grid of axes whose rows are ``heights`` inches tall."""
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise ModuleNotFoundError('figures need matplotlib: pip install "splitenv[plot]"') from None
    total = sum(heights) + 1.0
    fig = Figure(figsize=(width * ncols, total), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw={"height_ratios": heights})
    return fig, axes


def sweep_plot(
    panels: Sequence[tuple[Mapping[str, Sequence[tuple[float, float, float]]], str, bool]],
    path: str | Path,
    *,
    x_label: str,
    title: str,
    logx: bool = False,
    notes: Sequence[str] = (),
) -> Path:
    """Lines of mean ± 95 % CI against a swept parameter, one per method, in one or more panels.

    Args:
        panels: (series, y label with unit, log y axis) per panel; a series maps each
            method to ``[(x, mean, ci half-width), ...]``.
        path: the PNG to write.
        x_label: x-axis label with its unit.
        title: figure title.
        logx: logarithmic x axis (base 2: sweeps that double).
        notes: lines drawn under the panels (the paper's claims and our verdicts).
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
    _notes(fig, notes)
    return _save(fig, path)


def time_to_accuracy_plot(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    target: float,
    title: str,
    notes: Sequence[str] = (),
) -> Path:
    """Accuracy against simulated time, a line per (method, provider); the target and the stops.

    Args:
        rows: one per round with ``method``, ``provider``, ``time_s``, ``accuracy`` and
            ``terminated``.
        path: the PNG to write.
        target: the accuracy that ends an episode (dashed line).
        title: figure title.
        notes: lines drawn under the panel (claims and verdicts).
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
    _notes(fig, notes)
    return _save(fig, path)


def per_device_rounds(
    rounds: Sequence[int],
    panels: Sequence[tuple[str, np.ndarray, float]],
    path: str | Path,
    title: str,
    notes: Sequence[str] = (),
) -> Path:
    """Panels of per-device values over rounds (CARD Fig. 3: cut layer, server frequency).

    Args:
        rounds: the round numbers (x).
        panels: (y label with unit, array of shape (rounds, devices), offset) per panel;
            device n's curve is drawn shifted by ``(n - (N - 1) / 2) * offset`` so that
            equal values stay visible (say so in the label when the offset is not 0).
        path: the PNG to write.
        title: figure title.
        notes: lines drawn under the panels (claims and verdicts).
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
    _notes(fig, notes)
    return _save(fig, path)


def grouped_bars(
    panels: Sequence[tuple[str, Mapping[str, tuple[float, float]]]],
    path: str | Path,
    title: str,
    notes: Sequence[str] = (),
) -> Path:
    """One bar panel per metric, one bar per method, with 95 % CIs (CARD Fig. 4).

    Args:
        panels: (y label with unit, {method: (mean, ci half-width)}) per panel.
        path: the PNG to write.
        title: figure title.
        notes: lines drawn under the panels (claims and verdicts).
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
        ax.set_xticks(x, [wrap_label(n, 16) for n in names], fontsize=8)
        ax.set_xlabel("method")
        ax.set_ylabel(label)
        ax.set_ylim(0, 1.15 * float((means + cis).max()))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    _notes(fig, notes)
    return _save(fig, path)
