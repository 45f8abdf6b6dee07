"""Helpers shared by solvers; every cost still comes from the engine."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.model import State
from splitenv.model.engine import feasible_splits


def split_values(scn: Scenario) -> NDArray[np.int64]:
    """All split values of the preset's range."""
    lo, hi = scn.decision.split_range
    return np.arange(lo, hi + 1)


def memory_feasible_splits(scn: Scenario, state: State) -> NDArray[np.bool_]:
    """(n_splits, N) mask: split value k fits device n's memory (the engine's memory model).

    A device away at the decision (churn) counts as present: it keeps the split chosen now
    when it returns within the round, and must then hold it, while the engine charges an
    absent device no memory at all (so its own mask allows every split). Without this the
    general methods gave an away device a split beyond its memory, infeasible at its return
    (10-15 % of the rounds of ``splitlora_dynamic``).
    """
    if not state.active.all():
        state = state.replace(active=np.ones_like(state.active))
    return feasible_splits(scn, state)


def max_feasible_split(scn: Scenario, state: State) -> NDArray[np.int64]:
    """Largest memory-feasible split per device (the range's minimum where none fits)."""
    values = split_values(scn)
    ok = memory_feasible_splits(scn, state)
    idx = np.where(ok.any(axis=0), ok.shape[0] - 1 - np.argmax(ok[::-1], axis=0), 0)
    return values[idx]


def random_composition(
    total: int, n: int, rng: np.random.Generator, minimum: int = 0
) -> NDArray[np.int64]:
    """Random nonnegative integers (each >= minimum) summing to ``total``, uniform over Dirichlet(1) shares."""
    rest = total - minimum * n
    if rest < 0:
        raise ValueError(f"cannot give {minimum} of {total} items to each of {n} devices")
    return minimum + rng.multinomial(rest, rng.dirichlet(np.ones(n)))
