"""The template of the general methods: budget, search space, anytime trace, honest reporting.

``alns``, ``sqp``, ``bcd``, ``de`` and ``random_search`` apply to every scenario
(``family = None``): each builds the :class:`~baselines.methods.search_space.Space` of the
scenario's enabled fields and scores candidates through one budgeted
:class:`~baselines.methods.evaluator.Evaluator`. This template

* takes the evaluation budget (constructor ``budget=`` or solve option ``budget``;
  default: the class's ``default_budget``, or ``budget_per_device`` evaluations per device
  for up to 100 devices where that is more: ``alns``, ``sqp`` and ``bcd`` spend a fixed
  number of evaluations per device on each per-device block, so a flat 3000 runs out before
  the first sweep of ``bcd`` ends at N = 100; beyond 100 devices each evaluation costs more
  and the budget stays at 12000); 0, a negative or a non-integer budget is a ConfigError
  naming ``budget``;
* honours the solve option ``split`` (the env's round split at the epoch timescale): the
  split is then fixed;
* starts every method at the preset's default decision (the env's ``equal`` reference);
* stops the method when the budget is spent (the incumbent is the answer);
* records in :class:`~baselines.base.SolveStats`: ``evaluations``, ``wall_time_s``,
  ``trace`` (best feasible objective after each batch) and ``extra["anytime"]``
  (``[evaluations, best]`` pairs), ``extra["budget"]``;
* re-evaluates the answer with the engine (``finish``); ``extra["trace_gap"]`` is the
  final objective minus the trace's last value (0 unless the engine is not bit-stable);
* never hides infeasibility: without a feasible point, ``extra["feasible"]`` is False,
  ``extra["violations"]`` gives each constraint's excess and ``extra["reason"]`` the cause
  (for example a subchannel pool smaller than the number of active devices), or else the
  constraints the best decision found exceeds and by how much ("energy by 4.87e+04").
"""

from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from baselines.base import BaseSolver, Solution, SolveStats, finish
from baselines.methods.evaluator import BudgetExhausted, Evaluator
from baselines.methods.search_space import Space, point_of, to_decision
from splitenv.config import Scenario
from splitenv.errors import ConfigError
from splitenv.model import Decision, State

#: most active devices for which the scenario's allocator is used by default
AUTO_ALLOCATOR = 10
#: default evaluations per device of alns, sqp and bcd (their floor, 3000, holds up to N = 25)
PER_DEVICE = 120
#: most devices the default budget grows for (beyond, each evaluation costs more in N)
PER_DEVICE_UP_TO = 100


def check_budget(value: Any, method: str) -> int:
    """A positive integer evaluation budget, or a ConfigError naming ``budget``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(
            f"budget = {value!r} for method {method!r}; allowed: a positive integer "
            "(evaluations of the cost engine)"
        )
    return int(value)


class GeneralMethod(BaseSolver):
    """Base of the general methods (module docstring); subclasses implement :meth:`run`.

    Args:
        budget: evaluations of the engine (``None``: :meth:`default_for` the scenario: the
            class's ``default_budget``, or ``budget_per_device`` x min(N, 100) where that
            is more).
        allocator: whether ``bcd``, ``sqp`` and ``alns`` also use the scenario's own
            allocator (``splitenv.allocation`` ``paper``: SCCT Alg. 1, FedsLLM comm block, SFT
            bandwidth SQP, CARD clock) to re-allocate after a discrete move; ``None``
            (default): when at most ``AUTO_ALLOCATOR`` = 10 devices are active. Its cost grows
            fast with N (SFT's Alg. 3 alone takes about 11 s at N = 100); without it the
            methods re-allocate by the engine-only water-filling of
            :mod:`baselines.methods.blocks`. The allocator's own engine calls are not counted
            in the budget (one evaluation per allocation).
    """

    family: ClassVar[str | None] = None
    default_budget: ClassVar[int] = 2000
    #: evaluations per device of the default budget (0: the default does not grow with N)
    budget_per_device: ClassVar[int] = 0

    def __init__(self, budget: int | None = None, allocator: bool | None = None) -> None:
        self.budget = None if budget is None else check_budget(budget, self.name)
        self.allocator = allocator

    def default_for(self, scenario: Scenario) -> int:
        """The default budget: max(default_budget, budget_per_device x min(N, 100))."""
        n = min(scenario.n_devices, PER_DEVICE_UP_TO)
        return max(self.default_budget, self.budget_per_device * n)

    def _budget(self, scenario: Scenario, options: dict[str, Any]) -> int:
        given = options.pop("budget", self.budget)
        return check_budget(self.default_for(scenario) if given is None else given, self.name)

    def solve(
        self, scenario: Scenario, state: State, rng: np.random.Generator, **options: Any
    ) -> Solution:
        """Run the method within its budget; report the trace, consistency and feasibility."""
        budget = self._budget(scenario, options)
        stats = SolveStats()
        start = time.perf_counter()
        ev, space = self._search(scenario, state, rng, budget, options)
        stats.wall_time_s = time.perf_counter() - start
        assert ev.best_point is not None  # the start point is always scored first
        sol = finish(scenario, state, to_decision([ev.best_point]), stats)
        stats.evaluations = ev.used + 1
        stats.trace = [best for _, best in ev.trace]
        stats.extra.update(budget=budget, anytime=[[n, best] for n, best in ev.trace])
        last = stats.trace[-1] if sol.feasible else ev.best_score
        stats.extra["trace_gap"] = float(sol.objective - last) if sol.feasible else 0.0
        stats.extra["feasible"] = sol.feasible
        if not sol.feasible:
            item = sol.evaluation.item(0)
            stats.extra["violations"] = item["violations"]
            reasons = list(space.count_shortage().values())
            if not np.isfinite(sol.objective):
                reasons.append("a device is unserved (infinite latency)")
            excess = ", ".join(f"{k} by {v:.6g}" for k, v in item["violations"].items() if v > 0)
            stats.extra["reason"] = "; ".join(reasons) or (
                "no feasible decision found within the budget"
                + (f"; the best exceeds {excess}" if excess else "")
            )
        return sol

    def _search(
        self,
        scn: Scenario,
        state: State,
        rng: np.random.Generator,
        budget: int,
        options: dict[str, Any],
    ) -> tuple[Evaluator, Space]:
        fixed_split = options.pop("split", None)
        if options:
            raise ConfigError(
                f"unknown option {sorted(options)[0]!r} for method {self.name!r}; allowed: budget, split"
            )
        if fixed_split is not None:
            split = np.broadcast_to(np.asarray(fixed_split, dtype=np.int64), (scn.n_devices,))
            lo, hi = int(split.min()), int(split.max())
            if lo == hi:  # one value: the range collapses, the split leaves the space
                scn = scn.with_overrides(
                    {"decision.split_range": [lo, lo], "decision.default_split": lo}
                )
        space = Space.build(scn, state, self.name)
        if fixed_split is not None and "split" in space.fields:
            start = dict(space.start, split=np.array(split))
            if "edge_split" in start:  # the edge part cannot end before the device part
                start["edge_split"] = np.maximum(start["edge_split"], start["split"])
            start = point_of(scn, state, to_decision([start]))
            fields = tuple(f for f in space.fields if f != "split")
            space = replace(space, fields=fields, start=start)
        auto = int(space.active.sum()) <= AUTO_ALLOCATOR
        space = replace(space, allocator=auto if self.allocator is None else bool(self.allocator))
        ev = Evaluator(scn, state, budget)
        try:
            ev.scores([space.start])
            self.run(space, ev, rng)
        except BudgetExhausted:
            pass
        return ev, space

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """The method's decision (``solve`` adds the reporting; this is the template's hook)."""
        ev, _ = self._search(scenario, state, rng, self._budget(scenario, options), options)
        assert ev.best_point is not None
        return to_decision([ev.best_point])

    @abstractmethod
    def run(self, space: Space, ev: Evaluator, rng: np.random.Generator) -> None:
        """The method: score candidates through ``ev`` until done or the budget is spent."""
