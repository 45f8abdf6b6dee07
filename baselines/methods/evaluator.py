"""Budgeted, traced access to the engine for the general methods.

Every candidate a general method scores goes through :class:`Evaluator`, which

* counts evaluations (one per decision row) against the method's budget and raises
  :class:`BudgetExhausted` once it is spent (after scoring what still fitted), so any
  method stops wherever it is and returns the incumbent;
* keeps the incumbent: the best point by :func:`score` (feasible points by objective,
  then infeasible ones by total violation);
* records the anytime trace: after each batch, (evaluations so far, best feasible
  objective; inf until a feasible point is found).

Scores come only from :func:`splitenv.evaluate_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from baselines.methods.search_space import Point, copy_point, to_decision
from splitenv.config import Scenario
from splitenv.model import Evaluation, State, evaluate_batch

#: an infeasible decision scores INFEASIBLE x (1 + its normalized violation)
INFEASIBLE = 1e30
#: devices x rows per engine call (memory: splitenv.limits caps n_devices x batch)
CHUNK_CELLS = 200_000


class BudgetExhausted(Exception):
    """The evaluation budget is spent; the incumbent is the method's answer."""


def score(ev: Evaluation) -> NDArray[np.float64]:
    """Objective where feasible; else INFEASIBLE x (1 + sum of v / (1 + v) over violations)."""
    viol = np.zeros(ev.batch_size)
    for v in ev.violations.values():
        viol += v / (1.0 + v)
    bad = ~ev.feasible
    return np.where(bad, INFEASIBLE * (1.0 + viol), ev.objective)


@dataclass
class Evaluator:
    """The engine behind a budget (module docstring).

    Args:
        scn: the scenario.
        state: the epoch's state.
        budget: evaluations allowed.
    """

    scn: Scenario
    state: State
    budget: int
    used: int = 0
    best_score: float = np.inf
    best_point: Point | None = None
    best_feasible: bool = False
    trace: list[tuple[int, float]] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        """Evaluations left."""
        return self.budget - self.used

    def scores(self, points: list[Point], scenario: Scenario | None = None) -> NDArray[np.float64]:
        """Scores of ``points`` (see :meth:`evaluate`)."""
        return self.evaluate(points, scenario)[0]

    def evaluate(
        self, points: list[Point], scenario: Scenario | None = None
    ) -> tuple[NDArray[np.float64], dict[str, NDArray[Any]]]:
        """Scores and per-device terms of ``points``; updates the incumbent and the trace.

        Args:
            points: the candidates.
            scenario: another scenario to score them in (the relaxation of subchannel
                counts of :mod:`baselines.methods.sqp`); such points never become the
                incumbent, but they count against the budget.

        Raises:
            BudgetExhausted: no evaluation left, or the batch did not fit (the part that
                fitted is scored and can become the incumbent first).
        """
        if self.remaining <= 0:
            raise BudgetExhausted
        truncated = len(points) > self.remaining
        points = points[: self.remaining]
        scn = scenario or self.scn
        out_s, out_round = [], []
        chunk = max(1, CHUNK_CELLS // self.scn.n_devices)
        for at in range(0, len(points), chunk):
            part = points[at : at + chunk]
            ev = evaluate_batch(scn, self.state, to_decision(part))
            s = score(ev)
            out_s.append(s)
            out_round.append(ev.per_device["round_s"])
            if scenario is None:
                self._offer(part, s, ev.feasible)
        self.used += len(points)
        best = self.best_score if self.best_feasible else np.inf
        self.trace.append((self.used, float(best)))
        if truncated:
            raise BudgetExhausted
        return np.concatenate(out_s), {"round_s": np.concatenate(out_round)}

    def _offer(self, points: list[Point], s: NDArray[np.float64], ok: NDArray[np.bool_]) -> None:
        i = int(np.argmin(s))
        if s[i] < self.best_score:
            self.best_score, self.best_point = float(s[i]), copy_point(points[i])
            self.best_feasible = bool(ok[i])
