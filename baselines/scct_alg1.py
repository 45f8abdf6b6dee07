"""``scct_alg1``: SCCT Algorithm 1 for a fixed split (the kernel is the core's inner allocator)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from baselines.base import SolveStats, Timer, finish, register
from splitenv.allocation.scct_alg1 import alg1_decision
from splitenv.config import Scenario
from splitenv.model import State


@register("scct_alg1")
class ScctAlg1:
    """SCCT Algorithm 1 for a fixed split (the preset's default split, or ``split``).

    Args:
        split: split value or (N,) vector; ``None`` = the preset's default split.
    """

    def __init__(self, split: int | NDArray[np.int64] | None = None) -> None:
        self.split = split

    def solve(self, scenario: Scenario, state: State, rng: np.random.Generator, **options: Any):
        """Greedy subcarriers and optimal shares for ``options['split']`` or the default split."""
        with Timer() as t:
            decision, obj = alg1_decision(scenario, state, options.get("split", self.split))
        beta = decision.subchannels
        stats = SolveStats(
            wall_time_s=t.elapsed, iterations=int(beta.sum() - beta.size), evaluations=1
        )
        stats.extra["objective_tables"] = obj
        return finish(scenario, state, decision, stats)
