"""Black-box references at the same evaluation budget: random search and differential evolution.

Both search the unit cube of :func:`baselines.methods.search_space.decode` (every point of
it meets the budgets; memory through the per-device split lists), so they need nothing
from the scenario but its enabled fields, and score through the budgeted evaluator.

* ``random_search``: batches of uniform points of the cube (the default decision first).
* ``de``: scipy's :func:`scipy.optimize.differential_evolution` (best1bin, dithered
  mutation, deferred updating so a generation is one engine batch), population
  ``max(5, min(32, D))`` started by Latin hypercube, seeded from ``rng``; it runs until
  the budget is spent (``tol = 0``; when the population has collapsed to one value, scipy
  stops and a new Latin hypercube population restarts it).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import differential_evolution
from scipy.stats import qmc

from baselines.methods.evaluator import Evaluator
from baselines.methods.general import GeneralMethod
from baselines.methods.search_space import Space, decode, dimension

#: points per batch of random search
BATCH = 64


class RandomSearch(GeneralMethod):
    """Uniform random points of the decision cube, in batches of 64, within the budget."""

    name = "random_search"
    default_budget: ClassVar[int] = 2000

    def run(self, space: Space, ev: Evaluator, rng: np.random.Generator) -> None:
        dim = dimension(space)
        while True:
            size = min(BATCH, ev.remaining)
            ev.scores([decode(space, u) for u in rng.random((size, dim))])


class DifferentialEvolution(GeneralMethod):
    """scipy's differential evolution over the decision cube (module docstring)."""

    name = "de"
    default_budget: ClassVar[int] = 2000

    def run(self, space: Space, ev: Evaluator, rng: np.random.Generator) -> None:
        dim = dimension(space)
        pop = max(5, min(32, dim))

        def objective(x: NDArray[np.float64]) -> NDArray[np.float64]:
            cols = np.atleast_2d(x.T) if x.ndim == 2 else x[None]
            return ev.scores([decode(space, u) for u in cols])

        while True:  # restarts from a fresh Latin hypercube when the population collapses
            init = qmc.LatinHypercube(d=dim, seed=rng).random(pop)
            differential_evolution(
                objective,
                bounds=[(0.0, 1.0)] * dim,
                init=init,
                maxiter=max(1, ev.remaining // pop + 1),
                tol=0.0,
                atol=0.0,
                polish=False,
                updating="deferred",
                vectorized=True,
                rng=rng,
            )
