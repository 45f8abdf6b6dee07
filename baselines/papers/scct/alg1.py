"""``scct_alg1``: SCCT Algorithm 1 for a fixed split (the kernel is the core's inner allocator)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from baselines.base import BaseSolver, SolveStats
from splitenv.allocation.scct_alg1 import alg1_decision
from splitenv.config import Scenario
from splitenv.model import Decision, State


class ScctAlg1(BaseSolver):
    """SCCT Algorithm 1 for a fixed split (the preset's default split, or ``split``).

    Args:
        split: split value or (N,) vector; ``None`` = the preset's default split.
    """

    name = "scct_alg1"

    kind = "paper's method"

    reference = "SCCT Alg. 1, P1-1..P1-3 (22)-(25)"
    family = "scct"

    def __init__(self, split: int | NDArray[np.int64] | None = None) -> None:
        self.split = split

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Greedy subcarriers and optimal shares for ``options['split']`` or the default split."""
        decision, obj = alg1_decision(scenario, state, options.get("split", self.split))
        stats.iterations = int(decision.subchannels.sum() - decision.subchannels.size)
        stats.extra["objective_tables"] = obj
        return decision
