"""``alns``: adaptive large neighbourhood search over the discrete decisions (the `alns` package).

The search state is a whole point; destroy operators free part of its discrete decisions,
repair operators set them again and the continuous inner step re-allocates:

| destroy | frees |
| --- | --- |
| ``random_devices`` | a fraction gamma ~ U[0.1, 0.3] of the active devices (at least one) |
| ``worst_devices`` | the same number of devices with the longest round times |
| ``globals`` | the global choices (rank, bits, a shared split) and one random device |

| repair | sets the freed decisions |
| --- | --- |
| ``random`` | uniformly: memory-feasible splits, edge splits, global values; the freed devices' subchannel counts redistributed at random among them |
| ``greedy`` | by enumeration: each global choice, then each freed device's split and edge split (best response, combined best-first) |

Inner step after every repair: the scenario's allocator for the small-timescale fields
when the space allows it (:class:`~baselines.methods.general.GeneralMethod`), else one
round of water-filling of every pooled resource (:func:`baselines.methods.blocks.rebalance`). Operator weights adapt by
``RouletteWheel`` (scores 25 / 5 / 1 / 0 for new best / better / accepted / rejected,
decay 0.8); acceptance is simulated annealing fitted to accept a 5 % worse solution with
probability 0.5 at the start, cooling exponentially to 1e-3 of that temperature over the
expected iterations. All
randomness comes from ``rng`` (the ALNS object and the operators share it).

The search stops after 60 iterations or when half the budget is spent (a hard cap: an
iteration that overruns it ends the search, not the method); ``sqp``'s continuous step
(:func:`baselines.methods.sqp.slsqp_step`), ``bcd``'s descent
(:func:`baselines.methods.bcd.descend`: water-filling, transfers and grids over every
continuous field) and ``sqp``'s Nelder-Mead polish (:func:`baselines.methods.sqp.simplex_step`,
which moves across the kinks of the max over devices) polish the best point with the rest.

Default budget: 3000 evaluations, or 120 per device for N from 25 to 100 (12000 beyond).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from baselines.methods import blocks
from baselines.methods.bcd import descend
from baselines.methods.evaluator import BudgetExhausted, Evaluator
from baselines.methods.general import PER_DEVICE, GeneralMethod
from baselines.methods.search_space import COUNTS, Point, Space, copy_point
from baselines.methods.sqp import simplex_step, slsqp_step
from splitenv.errors import MissingExtraError

try:
    from alns import ALNS
    from alns.accept import SimulatedAnnealing
    from alns.select import RouletteWheel
except ModuleNotFoundError as exc:  # the optional extra: listed as unavailable
    raise MissingExtraError(
        f'the alns method needs {exc.name}: pip install "splitenv[solvers]"'
    ) from exc

#: share of the budget kept for the final continuous descent
POLISH = 0.5
#: most ALNS iterations (each may run the scenario's allocator, whose calls the budget does
#: not see)
ITERATIONS = 60


class SearchState:
    """An ALNS state: a point, its score, its devices' round times, and what is freed."""

    def __init__(
        self, point: Point, value: float, times: np.ndarray, free: tuple[Any, ...] = ()
    ) -> None:
        self.point, self.value, self.times, self.free = point, value, times, free

    def objective(self) -> float:
        return self.value


class Operators:
    """Destroy and repair operators over one space and evaluator (module docstring)."""

    def __init__(self, space: Space, ev: Evaluator) -> None:
        self.space, self.ev = space, ev
        self.on = np.flatnonzero(space.active)
        self.globals = [
            f
            for f in space.fields
            if f in ("rank", "quant_bits") or (f == "split" and space.shared_split)
        ]
        self.device_fields = [
            f for f in space.has("split", "edge_split") if not (f == "split" and space.shared_split)
        ]

    def scored(self, point: Point) -> SearchState:
        point = (
            blocks.allocated(self.space, point)
            or blocks.rebalance(self.space, self.ev, [point], 1)[0]
        )
        scores, terms = self.ev.evaluate([point])
        return SearchState(point, float(scores[0]), terms["round_s"][0])

    def _size(self, rng: np.random.Generator) -> int:
        return max(1, int(np.ceil(rng.uniform(0.1, 0.3) * len(self.on))))

    def random_devices(self, state: SearchState, rng: np.random.Generator) -> SearchState:
        devices = tuple(rng.choice(self.on, size=self._size(rng), replace=False).tolist())
        return SearchState(state.point, state.value, state.times, devices)

    def worst_devices(self, state: SearchState, rng: np.random.Generator) -> SearchState:
        order = self.on[np.argsort(-state.times[self.on], kind="stable")]
        return SearchState(
            state.point, state.value, state.times, tuple(order[: self._size(rng)].tolist())
        )

    def free_globals(self, state: SearchState, rng: np.random.Generator) -> SearchState:
        return SearchState(
            state.point, state.value, state.times, ("globals", int(rng.choice(self.on)))
        )

    def random(self, state: SearchState, rng: np.random.Generator) -> SearchState:
        point, sp = copy_point(state.point), self.space
        devices = [n for n in state.free if n != "globals"]
        if "globals" in state.free:
            for f in self.globals:
                values = sp.global_values(f)
                v = values[rng.integers(len(values))]
                point = blocks.with_value(point, f, None, v)
        for f in self.device_fields:
            for n in devices:
                values = sp.device_values(f, int(n), point)
                point = blocks.with_value(point, f, int(n), values[rng.integers(len(values))])
        for f in sp.has(*COUNTS):
            idx = np.array(devices, dtype=np.int64)
            total = int(point[f][idx].sum())
            if len(idx) > 1 and total >= len(idx):
                point[f][idx] = 1 + rng.multinomial(
                    total - len(idx), rng.dirichlet(np.ones(len(idx)))
                )
        return self.scored(point)

    def greedy(self, state: SearchState, rng: np.random.Generator) -> SearchState:
        point, sp, ev = state.point, self.space, self.ev
        value = np.inf
        if "globals" in state.free:
            for f in self.globals:
                point, value = blocks.global_choice(sp, ev, point, value, f)
        devices = [int(n) for n in state.free if n != "globals"]
        mask = np.zeros(sp.n, dtype=bool)
        mask[devices] = True
        sub = replace(sp, active=sp.active & mask)
        for f in self.device_fields:
            point, value = blocks.device_choice(sub, ev, point, value, f)
        return self.scored(point)


class GeneralAlns(GeneralMethod):
    """ALNS over the discrete decisions with the allocator as inner step (module docstring)."""

    name = "alns"
    default_budget: ClassVar[int] = 3000
    budget_per_device: ClassVar[int] = PER_DEVICE

    def run(self, space: Space, ev: Evaluator, rng: np.random.Generator) -> None:
        ops = Operators(space, ev)
        init = ops.scored(space.start)
        point, value = init.point, init.value
        if ops.globals or ops.device_fields:
            # the search's share of the budget is a hard cap: an iteration that overruns it
            # stops the search, not the polish
            total, ev.budget = ev.budget, ev.budget - int(POLISH * ev.budget)
            try:
                self._alns(ops, init, ev, rng, ITERATIONS)
            except BudgetExhausted:
                pass
            finally:
                ev.budget = total
            assert ev.best_point is not None  # init was scored
            point, value = copy_point(ev.best_point), ev.best_score
        point, value = slsqp_step(space, ev, point, value)
        point, value = simplex_step(space, ev, point, value, ev.remaining // 2)
        descend(space, ev, point, value)

    @staticmethod
    def _alns(
        ops: Operators, init: SearchState, ev: Evaluator, rng: np.random.Generator,
        iterations: int = 0,
    ) -> SearchState:  # fmt: skip
        alns = ALNS(rng)
        for op, name in (
            (ops.random_devices, "random_devices"),
            (ops.worst_devices, "worst_devices"),
            (ops.free_globals, "globals"),
        ):
            alns.add_destroy_operator(op, name=name)
        alns.add_repair_operator(ops.random, name="random")
        alns.add_repair_operator(ops.greedy, name="greedy")
        expected = iterations
        start = 0.05 * max(init.value, 1e-12) / np.log(2.0)  # accepts 5 % worse w.p. 0.5
        accept = SimulatedAnnealing(start, start * 1e-3, 1e-3 ** (1.0 / expected), "exponential")
        select = RouletteWheel([25.0, 5.0, 1.0, 0.0], 0.8, 3, 2)

        count = [0]

        def stop(rng: np.random.Generator, best: Any, current: Any) -> bool:
            count[0] += 1
            return ev.remaining <= 0 or count[0] > iterations

        result = alns.iterate(init, select, accept, stop)
        best: SearchState = result.best_state
        return best
