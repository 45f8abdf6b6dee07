"""Classical solvers and the benchmark harness, on top of the splitenv core.

| folder | what |
| --- | --- |
| :mod:`baselines.base` | the Solver protocol, the :class:`~baselines.base.BaseSolver` template, the registry |
| :mod:`baselines.methods` | generic methods: equal, random, fixed split, the exact dispatcher |
| :mod:`baselines.papers` | one subpackage per paper: its kernels and registered solvers |
| :mod:`baselines.harness` | the ``splitenv bench`` harness: jobs, runs, CSV, summary, figures |
| :mod:`baselines.reproduce` | the papers' figures (``splitenv reproduce``) |
| :mod:`baselines.cli` | the commands this package adds to ``splitenv`` (entry points) |

Solvers are scored only through the cost engine. ``make_solver(name, **kwargs)`` builds one
by its registered name (the ``splitenv.solvers`` entry points); ``available()`` lists them.
"""

from baselines.base import (
    BaseSolver,
    Solution,
    Solver,
    SolveStats,
    applicable_solvers,
    available,
    make_solver,
    unavailable,
)
from baselines.harness.policy import SolverPolicy, run_episode

__all__ = [
    "BaseSolver",
    "Solution",
    "SolveStats",
    "Solver",
    "SolverPolicy",
    "applicable_solvers",
    "available",
    "make_solver",
    "run_episode",
    "unavailable",
]
