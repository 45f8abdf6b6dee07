"""Exact optimum of SCCT's per-state problem (splits, integer subcarriers, shares).

For one state the engine's objective (round scope) is

    max_n d0_n(s_n, beta_n) + T J (d4 + max_n [d1_n(s_n) + d2_n(beta_n) + d3_n(s_n, alpha_n)])

(SCCT (12)-(20)) under (21-1)-(21-7). :func:`scct_exact` solves it exactly with
:func:`baselines.papers.scct.opt.solve`: a level iteration on the min-max chain value V whose
inner step is a DP over devices with the subcarrier budget K (each device picks its
(split, beta) option minimising the share it needs to finish by V), and an
enumeration of the migration bound (the max migration is added to the round, so it
couples the devices; see that module). The split is a per-device option; the device
memory (21-6) removes options. The edge memory (21-7) couples the splits: when it
cannot bind (the preset: 6 TB) it is ignored; if it might, the optimum is checked
against it and a ValueError says so when violated (not supported).

Cost: a DP is O(N K^2) per level; meant for small instances (the tests use N <= 4,
K <= 12) and as the reference for optimality gaps (SPEC Sec. 9).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.base import BaseSolver, SolveStats
from baselines.papers.scct.opt import Problem, solve
from splitenv.allocation.scct_tables import build_tables
from splitenv.config import Scenario
from splitenv.model import Decision, State, evaluate


def scct_exact(
    scn: Scenario, state: State, tol: float = 1e-9, split: Any = None
) -> tuple[Decision, float, float]:
    """Exact optimum of the per-state SCCT problem.

    Args:
        scn: an SCCT-type scenario.
        state: the state (``prev_split`` drives migration).
        tol: relative tolerance of the lower-bound certificate on the chain level V*.
        split: per-device splits to impose (the allocation alone is then optimized).

    Returns:
        (decision, objective, lower_bound): the optimal decision, its objective as the
        engine evaluates it, and a certified lower bound of the optimum
        (``objective - lower_bound`` is within ``tol`` of V* scaled by T J).
    """
    tab = build_tables(scn, state)
    n, k = scn.n_devices, tab.n_subchannels
    c = tab.device_s[:, None, :] + tab.link_s
    mig = tab.migration_s if tab.has_migration else None
    allowed = tab.device_memory_ok
    if split is not None:  # only the imposed split's row is an option for each device
        allowed = allowed & (tab.split == np.asarray(split)[None, :])
    problem = Problem(tab.edge_s, c, mig, allowed, tab.weights)
    if k < 1:
        raise ValueError("scct_exact needs at least one subcarrier")
    best = solve(problem, tol=tol)
    if best is None:
        raise ValueError("no memory-feasible split for some device: the problem is infeasible")
    split = tab.split[best.option, np.arange(n)]
    edge_mem = tab.edge_memory_bytes[best.option, np.arange(n)].sum()
    if edge_mem > scn.memory.edge_memory_bytes:
        raise ValueError(
            f"the optimum without (21-7) needs {edge_mem:.4g} B of edge memory > "
            f"memory.edge_memory_bytes = {scn.memory.edge_memory_bytes:.4g}: a binding edge memory "
            "is not supported by scct_exact"
        )
    decision = Decision(split=split, subchannels=best.beta, compute_share=best.alpha)
    ev = evaluate(scn, state, decision)
    return decision, float(ev.objective[0]), float(best.lower_bound)


class ScctExact(BaseSolver):
    """The exact per-state optimum (:func:`scct_exact`), for small instances.

    Args:
        tol: relative tolerance of the lower-bound certificate.
    """

    name = "scct_exact"

    kind = "exact"

    reference = "SCCT (12)-(21), per state"
    family = "scct"

    def __init__(self, tol: float = 1e-9) -> None:
        self.tol = tol

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Exact decision; ``stats.extra['lower_bound']`` certifies it."""
        decision, objective, lower = scct_exact(
            scenario, state, tol=options.get("tol", self.tol), split=options.get("split")
        )
        stats.extra.update(lower_bound=lower, objective=objective)
        return decision
