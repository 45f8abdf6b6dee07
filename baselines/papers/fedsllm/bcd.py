"""FedsLLM (Zhao, Yang et al., arXiv 2504.14667): BCD over subchannels, power, split and rank.

Problem (18): minimize the total delay T (17) over the subchannels of both pools (each
to exactly one client), the clients' powers (C4 per client, C5 per pool), the split of
every client and the LoRA rank. The paper's Alg. 3 is block-coordinate descent over

1. subchannels, Alg. 2 (:func:`~splitenv.allocation.fedsllm_tables.greedy_subchannels`), in both pools;
2. power control, the convex program (25) (:mod:`splitenv.allocation.fedsllm_power`; the comm block 1-2 is the core's
   :func:`~splitenv.allocation.fedsllm_comm.comm_block`, the env's inner allocator), per pool:
   the main pool on T1, the federated pool on T3 (they decouple, (21));
3. split, exhaustive (26), per client (:func:`~splitenv.allocation.fedsllm_tables.best_split`);
4. rank, exhaustive over the choices with E(r) (27);

repeated until the objective stops falling. The greedy is not a descent step on its
own, so blocks 1-2 keep the better of (greedy counts, re-optimized power), (current
counts, re-optimized power) and the current point; every block is then monotone.

Baselines, quoted from the paper (Sec. VI) with our reading:

* ``fedsllm_a`` "Randomized average allocation of subchannels with uniform subchannel
  transmit PSD on the client side, and randomized split location and rank selection."
* ``fedsllm_b`` "Randomized average allocation of subchannels, uniform subchannel
  transmit PSD on the client side, and the proposed rank and split location selection
  schemes."
* ``fedsllm_c`` "Randomized split location selection using the proposed greedy
  subchannel assignment, power control, and rank selection scheme."
* ``fedsllm_d`` "The proposed greedy subchannel assignment, power control, and split
  location selection scheme with random rank selection."

"Randomized average allocation" = equal counts (floor(K / N) each, the remainder to
random clients); "uniform PSD" = every client at p_max scaled into the pool's budget
C5, spread evenly over its subchannels; random split uniform per client, random rank
uniform over the choices.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from baselines.base import BaseSolver, Solution, SolveStats
from baselines.papers.fedsllm.power_cvxpy import solve_cvxpy
from splitenv.allocation.fedsllm_comm import (
    Point,
    PowerMethod,
    comm_block,
    initial_point,
    uniform_power,
)
from splitenv.allocation.fedsllm_power import rate_bps, solve_bisection
from splitenv.allocation.fedsllm_tables import FedsTables, Pool, best_split, build_tables
from splitenv.config import Scenario
from splitenv.model import Decision, State
from splitenv.model.types import equal_counts

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]
BLOCKS = ("comm", "split", "rank")


def random_average_counts(pool: Pool, n: int, rng: np.random.Generator) -> IntArray:
    """Paper's "randomized average allocation": floor(K / N) each, the rest to random clients."""
    return rng.permutation(equal_counts(pool.n_subchannels, n))


def random_splits(tab: FedsTables, rng: np.random.Generator) -> IntArray:
    """A split index per client, uniform over the splits finite (memory-feasible) at every rank."""
    ok = np.all(np.isfinite(tab.fwd), axis=1)  # (S, N)
    return np.array(
        [rng.choice(np.flatnonzero(ok[:, k]) if ok[:, k].any() else [0]) for k in range(tab.n)]
    )


#: power-control methods of the comm block: the exact bisection, or the paper's CVX program
POWER_METHODS: dict[str, PowerMethod] = {"bisection": solve_bisection, "cvxpy": solve_cvxpy}


def _comm_block(tab: FedsTables, pt: Point, method: str) -> Point:
    """Alg. 2 then power control (25) (:func:`splitenv.allocation.fedsllm_comm.comm_block`)."""
    if method not in POWER_METHODS:
        raise ValueError(f"power = {method!r}; allowed: 'bisection' (exact) or 'cvxpy'")
    return comm_block(tab, pt, POWER_METHODS[method])


def _split_block(tab: FedsTables, pt: Point) -> Point:
    """Exhaustive split per client for the current rates and rank (26)."""
    rate_main = rate_bps(pt.sub * tab.main.subchannel_hz, tab.main.snr_coeff, pt.power)
    rate_fed = rate_bps(pt.fsub * tab.fed.subchannel_hz, tab.fed.snr_coeff, pt.fpower)
    return replace(pt, si=best_split(tab, pt.ri, rate_main, rate_fed, pt.si))


def _rank_block(tab: FedsTables, pt: Point) -> Point:
    """Exhaustive rank with E(r) (27); the current rank is kept on ties."""
    ri = np.arange(len(tab.ranks))
    si = np.repeat(pt.si[None], len(ri), axis=0)
    v = tab.objective(si, ri, pt.sub, pt.power, pt.fsub, pt.fpower)
    best = int(np.argmin(v))
    return replace(pt, ri=best) if v[best] < v[pt.ri] else pt


def bcd(
    tab: FedsTables,
    start: Point,
    blocks: tuple[str, ...] = BLOCKS,
    *,
    power: str = "bisection",
    tol: float = 1e-9,
    max_iter: int = 50,
) -> tuple[Point, list[float]]:
    """FedsLLM Alg. 3 over the given blocks until T falls by less than ``tol`` (relative).

    Returns:
        The final point and the objective after each sweep (the first entry is ``start``'s).
    """
    unknown = set(blocks) - set(BLOCKS)
    if unknown:
        raise ValueError(f"unknown BCD blocks {sorted(unknown)}; allowed: {BLOCKS}")
    pt, trace = start, [start.value(tab)]
    for _ in range(max_iter):
        if "comm" in blocks:
            pt = _comm_block(tab, pt, power)
        if "split" in blocks:
            pt = _split_block(tab, pt)
        if "rank" in blocks:
            pt = _rank_block(tab, pt)
        trace.append(pt.value(tab))
        if trace[-1] >= trace[-2] * (1.0 - tol):
            break
    return pt, trace


class _FedsSolver(BaseSolver):
    """Shared method: tables from the engine, a start point, BCD over some blocks."""

    family = "fedsllm"
    blocks: tuple[str, ...] = BLOCKS

    def __init__(self, power: str = "bisection", tol: float = 1e-9, max_iter: int = 50) -> None:
        if power not in ("bisection", "cvxpy"):
            raise ValueError(f"power = {power!r}; allowed: 'bisection' (exact) or 'cvxpy'")
        self.power, self.tol, self.max_iter = power, tol, max_iter

    def start(self, tab: FedsTables, scn: Scenario, rng: np.random.Generator) -> Point:
        """The start point (random blocks of a baseline are drawn here)."""
        return initial_point(tab, scn)

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Run the method; ``stats.extra['predicted']`` is T (17) from the tables."""
        tab = build_tables(scenario, state)
        pt = self.start(tab, scenario, rng)
        trace: list[float] = []
        if self.blocks:
            pt, trace = bcd(
                tab, pt, self.blocks, power=self.power, tol=self.tol, max_iter=self.max_iter
            )
        stats.iterations, stats.trace = max(len(trace) - 1, 0), trace
        stats.evaluations = len(tab.splits) * len(tab.ranks) + 1
        stats.extra["predicted"] = pt.value(tab)
        return tab.decision(pt.si, pt.ri, pt.sub, pt.power, pt.fsub, pt.fpower)

    def solve(
        self, scenario: Scenario, state: State, rng: np.random.Generator, **options: Any
    ) -> Solution:
        """The template's solve, plus the tables' error against the engine."""
        sol = super().solve(scenario, state, rng, **options)
        predicted = sol.stats.extra.pop("predicted")
        sol.stats.extra["surrogate_rel_err"] = abs(sol.objective - predicted) / abs(sol.objective)
        return sol


class FedsllmBCD(_FedsSolver):
    """FedsLLM Alg. 3: BCD over subchannels (Alg. 2), power (25), split (26) and rank (27).

    Args:
        power: ``"bisection"`` (exact 1-D method) or ``"cvxpy"`` (the convex program (25)).
        tol: stop when a sweep lowers T by less than this fraction.
        max_iter: sweeps at most.
    """

    name = "fedsllm_bcd"

    kind = "paper's method"

    reference = "FedsLLM Alg. 3, (18)-(27)"
    blocks = BLOCKS


class FedsllmA(_FedsSolver):
    """Baseline (a): random average subchannels, uniform PSD, random split and rank."""

    name = "fedsllm_a"

    kind = "baseline"

    reference = "FedsLLM Sec. VI (a)"
    blocks = ()

    def start(self, tab: FedsTables, scn: Scenario, rng: np.random.Generator) -> Point:
        """Everything random or uniform; nothing is optimized."""
        p = uniform_power(tab)
        return Point(
            si=random_splits(tab, rng), ri=int(rng.integers(len(tab.ranks))),
            sub=random_average_counts(tab.main, tab.n, rng), power=p,
            fsub=random_average_counts(tab.fed, tab.n, rng), fpower=p.copy(),
        )  # fmt: skip


class FedsllmB(_FedsSolver):
    """Baseline (b): random average subchannels and uniform PSD; split and rank optimized."""

    name = "fedsllm_b"

    kind = "baseline"

    reference = "FedsLLM Sec. VI (b)"
    blocks = ("split", "rank")

    def start(self, tab: FedsTables, scn: Scenario, rng: np.random.Generator) -> Point:
        """Random average counts, uniform power, the preset's split and rank to start from."""
        pt = initial_point(tab, scn)
        return replace(
            pt,
            sub=random_average_counts(tab.main, tab.n, rng),
            fsub=random_average_counts(tab.fed, tab.n, rng),
        )


class FedsllmC(_FedsSolver):
    """Baseline (c): random split; subchannels, power and rank optimized."""

    name = "fedsllm_c"

    kind = "baseline"

    reference = "FedsLLM Sec. VI (c)"
    blocks = ("comm", "rank")

    def start(self, tab: FedsTables, scn: Scenario, rng: np.random.Generator) -> Point:
        """The preset's start with a random split per client."""
        return replace(initial_point(tab, scn), si=random_splits(tab, rng))


class FedsllmD(_FedsSolver):
    """Baseline (d): random rank; subchannels, power and split optimized."""

    name = "fedsllm_d"

    kind = "baseline"

    reference = "FedsLLM Sec. VI (d)"
    blocks = ("comm", "split")

    def start(self, tab: FedsTables, scn: Scenario, rng: np.random.Generator) -> Point:
        """The preset's start with a random rank."""
        return replace(initial_point(tab, scn), ri=int(rng.integers(len(tab.ranks))))
