"""A solver: the best split shared by every device, found with one batched engine call."""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.base import BaseSolver, SolveStats
from splitenv import Decision, Scenario, State, evaluate_batch


class BestCommonSplit(BaseSolver):
    """Every device gets the same split; each candidate split is evaluated with equal shares.

    The candidates are the scenario's ``decision.split_range``; the engine evaluates them in one
    vectorized call and the feasible one with the lowest objective wins (the first candidate when
    none is feasible: the report then says infeasible and by how much).
    """

    name = "example_common_split"
    family = None  # any scenario with per-device splits

    def search(
        self,
        scenario: Scenario,
        state: State,
        rng: np.random.Generator,
        stats: SolveStats,
        **options: Any,
    ) -> Decision:
        lo, hi = scenario.decision.split_range
        splits = np.arange(lo, hi + 1)
        batch = Decision(split=np.repeat(splits[:, None], scenario.n_devices, axis=1))
        ev = evaluate_batch(scenario, state, batch)
        objective = np.where(ev.feasible, ev.objective, np.inf)
        best = int(np.argmin(objective))
        stats.evaluations += len(splits)
        stats.iterations = 1
        stats.trace.append(float(ev.objective[best]))
        return Decision(split=np.full(scenario.n_devices, int(splits[best])))
