"""``lookahead``: a snapshot solver with foresight about split migrations (issue 13).

The classical methods re-solve every round on that round's first state (snapshot methods,
:mod:`baselines.harness.policy`): with ``objective_scope: round`` a split change pays its
migration (SCCT (18)) in the round it happens, so a snapshot method moves only when one
round's gain covers the migration. ``lookahead`` plans the split for the rest of the episode
assuming the round's state persists: among split vectors x it minimizes

    J(x) = C(x | s_prev) + (R - 1) C(x | x)

where R is the number of rounds left (this one included), ``C(x | p)`` the round cost of x
(the engine's round objective, T + lambda E with the migration from p counted once) on the
round's first state, and ``C(x | x)`` the same without migration (a later round in the same
state). A move whose migration costs more than one round's gain but less than the gain over
the rounds left is thus taken at once, where a snapshot method waits for a round whose gain
alone covers it (or never moves). With R = 1 it is a snapshot method itself (``rounds_left=1``).

Each candidate is scored as the environment at the round timescale charges it: its split
with the snapshot solver's other large fields (rank, compression), the small-timescale
fields from the env's inner allocator (``allocator``, default ``paper``: equal shares on the
flagship), on the round's state; the later rounds with every device present (churn is
transient: a device away at the round start is back within a few epochs, and planning for
its absence would park it at a split that costs once it returns). The search:

1. the snapshot solver (``inner``, default ``bcd``) on the state: its rank and compression
   for every candidate, its split as a start;
2. coordinate descent over the devices' splits (every memory-feasible value of one device,
   re-scored, the best kept; sweeps until none improves), three times: on the steady cost
   ``C(x | x)`` from the previous split (the split worth moving to), then on ``J`` from the
   previous split and from that target (a move of several devices costs the slowest
   migration only, SCCT (18) as a barrier, so moving them together can pay where one alone
   does not);
3. the least ``J`` among the previous split, the snapshot's and the three descents.

Options: ``rounds_left`` (R >= 1; default 1, the snapshot), ``allocator`` (an allocator
name or callable), ``split`` (a fixed split: the inner solver's answer, as the epoch
timescale asks). :class:`~baselines.harness.policy.SolverPolicy` passes the env's rounds left
and inner allocator (``plans_ahead``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from baselines.base import BaseSolver, SolveStats, make_solver
from baselines.methods.common import memory_feasible_splits
from baselines.methods.evaluator import score
from splitenv import allocation
from splitenv.config import Scenario
from splitenv.errors import ConfigError
from splitenv.model import Decision, State, StateBatch, enabled_fields, evaluate_batch
from splitenv.spaces import LARGE

#: most sweeps of one coordinate descent (each sweep tries every device once)
MAX_SWEEPS = 20
#: relative improvement below which a candidate is not better
TOL = 1e-9


class Lookahead(BaseSolver):
    """Split planning over the rounds left, around a snapshot solver (module docstring).

    Args:
        inner: the snapshot solver whose rank and compression it keeps (a registered name).
    """

    name = "lookahead"

    kind = "general"

    reference = "ours (issue 13): migration SCCT (18) against the rounds left"

    #: :class:`~baselines.harness.policy.SolverPolicy` passes ``rounds_left`` and ``allocator``
    plans_ahead: ClassVar[bool] = True

    def __init__(self, inner: str = "bcd") -> None:
        self.inner_name = inner
        self.inner = make_solver(inner)

    @classmethod
    def applies_to(cls, scenario: Scenario) -> bool:
        """Per-device splits whose change costs a migration, in a per-round objective."""
        return (
            scenario.schedule.migration
            and scenario.schedule.objective_scope == "round"
            and "split" in enabled_fields(scenario)
            and not scenario.decision.shared_split
        )

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        rounds_left = options.pop("rounds_left", 1)
        spec = options.pop("allocator", "paper")
        fixed = options.pop("split", None)
        if options:
            raise ConfigError(
                f"unknown option {sorted(options)[0]!r} for method 'lookahead'; allowed: "
                "rounds_left, allocator, split"
            )
        if isinstance(rounds_left, bool) or not isinstance(rounds_left, (int, np.integer)):
            raise ConfigError(f"rounds_left = {rounds_left!r}; allowed: an integer >= 1")
        if rounds_left < 1:
            raise ConfigError(f"rounds_left = {rounds_left!r}; allowed: an integer >= 1")
        if fixed is not None:  # the round's split is in force: nothing to plan
            return self.inner.solve(scenario, state, rng, split=fixed).decision.take(0)
        snap = self.inner.solve(scenario, state, rng)
        stats.evaluations += snap.stats.evaluations
        plan = _Plan(scenario, state, snap.decision, allocation.resolve(spec), int(rounds_left) - 1)
        best = plan.best()
        stats.evaluations += plan.evaluations
        stats.iterations = plan.sweeps
        stats.extra.update(
            inner=self.inner_name,
            rounds_left=int(rounds_left),
            planned_cost=plan.value(best),
            snapshot_split=snap.decision.split[0].tolist(),
        )
        return plan.decision(best)


class _Plan:
    """The candidates' costs on one state (module docstring): J and its descents."""

    def __init__(
        self, scn: Scenario, state: State, snap: Decision, allocator: Any, later: int
    ) -> None:
        self.scn, self.state, self.allocator, self.later = scn, state, allocator, later
        fields = set(enabled_fields(scn))
        self.large = {
            f: np.asarray(getattr(snap, f)[0])
            for f in LARGE
            if f in fields and f != "split" and getattr(snap, f) is not None
        }
        self.snapshot = np.asarray(snap.split[0], dtype=np.int64)
        self.prev = np.asarray(state.prev_split, dtype=np.int64)
        # a device without a previous split (-1) moves for free: it starts at the snapshot's
        self.start = np.where(self.prev >= 0, self.prev, self.snapshot)
        lo, _ = scn.decision.split_range
        self.values = [lo + np.flatnonzero(ok) for ok in memory_feasible_splits(scn, state).T]
        self.evaluations = 0
        self.sweeps = 0
        self._first = StateBatch.stack([state])
        # churn is transient (a device away now is back within a few epochs): the later
        # rounds are planned with every device present
        self._steady = StateBatch.stack([state.replace(active=np.ones(state.n_devices, bool))])

    def best(self) -> NDArray[np.int64]:
        """The least-J split among the starts and the descents."""
        target = self.descend(self.start, steady=True)
        candidates = np.stack(
            [self.start, self.snapshot, target, self.descend(self.start), self.descend(target)]
        )
        return candidates[int(np.argmin(self.planned(candidates)))]

    def descend(self, start: NDArray[np.int64], steady: bool = False) -> NDArray[np.int64]:
        """Coordinate descent of J (or of the steady cost) from ``start``."""
        cost = self.steady if steady else self.planned
        x = start.copy()
        value = float(cost(x[None])[0])
        for _ in range(MAX_SWEEPS):
            self.sweeps += 1
            moved = False
            for n in range(self.scn.n_devices):
                rows = np.repeat(x[None], len(self.values[n]), axis=0)
                rows[:, n] = self.values[n]
                values = cost(rows)
                k = int(np.argmin(values))
                if values[k] < value - TOL * abs(value):
                    x, value, moved = rows[k], float(values[k]), True
            if not moved:
                break
        return x

    def planned(self, splits: NDArray[np.int64]) -> NDArray[np.float64]:
        """J of each row: this round from the previous split, then R - 1 rounds in place."""
        first = self.round_cost(self._first, splits, np.broadcast_to(self.prev, splits.shape))
        if self.later == 0:
            return first
        return first + self.later * self.steady(splits)

    def steady(self, splits: NDArray[np.int64]) -> NDArray[np.float64]:
        """The round cost of each row in a later round: no migration, every device present."""
        return self.round_cost(self._steady, splits, splits)

    def value(self, split: NDArray[np.int64]) -> float:
        """J of one split."""
        return float(self.planned(split[None])[0])

    def round_cost(
        self, batch: StateBatch, splits: NDArray[np.int64], prev: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """The score (:func:`~baselines.methods.evaluator.score`) of each split row from ``prev``.

        ``batch``: the one state they are scored on (the round's, or the steady rounds').
        """
        rows = splits.shape[0]
        states = batch.take(np.zeros(rows, dtype=np.int64))
        states = dataclasses.replace(states, prev_split=np.asarray(prev, dtype=np.int64))
        ev = evaluate_batch(self.scn, states, self._decisions(states, splits))
        self.evaluations += rows
        return score(ev)

    def _decisions(self, states: StateBatch, splits: NDArray[np.int64]) -> Decision:
        rows = splits.shape[0]
        large = {f: np.broadcast_to(v, (rows, *v.shape)).copy() for f, v in self.large.items()}
        large["split"] = np.asarray(splits, dtype=np.int64)
        fields = allocation.allocate_rows(self.allocator, self.scn, states, large)
        fields.update(large)
        return Decision(**fields)  # type: ignore[arg-type]

    def decision(self, split: NDArray[np.int64]) -> Decision:
        """The chosen split with the large fields and its allocation on the round's state."""
        return self._decisions(self._first, split[None]).take(0)
