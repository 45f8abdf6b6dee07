"""Classical solvers: every paper's algorithm and baselines, generic heuristics, exact references.

All solvers implement :class:`baselines.base.Solver` and are scored only through
the cost engine. ``make_solver(name, **kwargs)`` builds one by its registered
name; ``available()`` lists them.
"""

from baselines.base import (
    Solution,
    Solver,
    SolveStats,
    applicable_solvers,
    available,
    make_solver,
    register,
)

__all__ = [
    "Solution",
    "SolveStats",
    "Solver",
    "applicable_solvers",
    "available",
    "make_solver",
    "register",
]
