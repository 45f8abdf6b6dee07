"""The anytime figure: best objective against engine evaluations, one line per method.

Drawn per scenario from solves of the same instance (:func:`anytime_solves`), each
curve from :func:`baselines.harness.matrix.anytime_curve`. matplotlib is the optional
extra ``splitenv[plot]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from baselines.harness.matrix import anytime_curve

#: the evaluation budget every budgeted (general) method gets in the anytime figure
ANYTIME_BUDGET = 2000


def anytime_solves(
    scenario: Any, methods: Sequence[str], seed: int, budget: int = ANYTIME_BUDGET, **options: Any
) -> dict[str, list[tuple[float, float]]]:
    """Each registered solver among ``methods`` solves the seed's first state; its curve.

    The general methods (:class:`baselines.methods.general.GeneralMethod`) all get the same
    evaluation ``budget``, so their curves compare at equal budgets; the other methods run as
    they are (their curves end at the evaluations they used). Methods that are not solvers
    (agents) or refuse the instance (ValueError naming why, e.g. an exact method on a large
    one) are left out; a solve without a trace is one point (its evaluations, its objective).
    """
    from baselines.base import available, make_solver, solver_class
    from baselines.methods.general import GeneralMethod
    from splitenv.scenarios import sample_state

    state = sample_state(scenario, seed)
    out = {}
    for name in methods:
        if name not in available():
            continue
        budgeted = issubclass(solver_class(name), GeneralMethod)
        solver = make_solver(name, budget=budget) if budgeted else make_solver(name)
        try:
            sol = solver.solve(scenario, state, np.random.default_rng(seed), **options)
        except ValueError:
            continue
        # a method without a trace is one point: its decision at its evaluations
        curve = anytime_curve(sol.stats) or [(float(max(sol.stats.evaluations, 1)), sol.objective)]
        out[name] = curve
    return out


def anytime_figure(
    curves: Mapping[str, Sequence[tuple[float, float]]], path: str | Path, title: str = ""
) -> Path:
    """Best objective vs evaluations, a step line per method (log x), saved to ``path``."""
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise ModuleNotFoundError('figures need matplotlib: pip install "splitenv[plot]"') from None
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for name, curve in curves.items():
        points = [(e, b) for e, b in curve if math.isfinite(b)]
        if not points:
            continue
        x, y = zip(*points, strict=True)
        ax.step(x, y, where="post", marker="o" if len(x) == 1 else None, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("engine evaluations")
    ax.set_ylabel("best objective so far")
    ax.set_title(title)
    if curves:
        ax.legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
