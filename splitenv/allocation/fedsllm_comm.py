"""FedsLLM's communication block: greedy subchannels (Alg. 2) and power control (25).

Zhao, Yang et al., "Efficient Federated Split Learning for LLMs" (FedsLLM, arXiv 2504.14667).
For fixed splits and rank the two subchannel pools decouple (21): the main pool on T1, the
federated pool on T3. :func:`comm_block` runs, in each pool, Alg. 2's greedy assignment
(:func:`~splitenv.allocation.fedsllm_tables.greedy_subchannels`) and the power control of
(25) (exact bisection, :func:`~splitenv.allocation.fedsllm_power.solve_bisection`), keeping
the better of (greedy counts, re-optimized power), (current counts, re-optimized power) and
the current point, so the block never raises T. It is the env's inner allocator for FedsLLM
scenarios and block 1-2 of the BCD of :mod:`baselines.papers.fedsllm`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from splitenv.allocation.fedsllm_power import fit_budget, max_delay, solve_bisection
from splitenv.allocation.fedsllm_tables import FedsTables, Pool, greedy_subchannels
from splitenv.config import Scenario
from splitenv.model.types import equal_counts

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]
#: a power-control method ``(rest, bits, width_hz, snr_coeff, p_max, p_total) -> (t, powers)``
PowerMethod = Callable[
    [ArrayLike, ArrayLike, ArrayLike, ArrayLike, float, float], tuple[Any, Array]
]


@dataclass(frozen=True)
class Point:
    """A FedsLLM decision as table indices: split index per client, rank index, both pools."""

    si: IntArray
    ri: int
    sub: IntArray
    power: Array
    fsub: IntArray
    fpower: Array

    def value(self, tab: FedsTables) -> float:
        """T (17) of this point."""
        return float(
            tab.objective(self.si, self.ri, self.sub, self.power, self.fsub, self.fpower)[0]
        )


def uniform_power(tab: FedsTables) -> Array:
    """Every client at p_max, scaled into the pool budget C5 (uniform PSD over its subchannels)."""
    return fit_budget(np.full(tab.n, min(tab.p_max, tab.p_total / tab.n)), tab.p_max, tab.p_total)


def initial_point(tab: FedsTables, scn: Scenario) -> Point:
    """The preset's default: its split and rank, equal subchannel counts, uniform power."""
    si = np.full(tab.n, int(np.searchsorted(tab.splits, scn.decision.default_split)))
    ri = int(np.searchsorted(tab.ranks, scn.decision.default_rank))
    p = uniform_power(tab)
    return Point(
        si=np.clip(si, 0, len(tab.splits) - 1), ri=min(ri, len(tab.ranks) - 1),
        sub=equal_counts(tab.main.n_subchannels, tab.n), power=p,
        fsub=equal_counts(tab.fed.n_subchannels, tab.n), fpower=p.copy(),
    )  # fmt: skip


def power_control(
    tab: FedsTables,
    pool: Pool,
    rest: Array,
    bits: Array,
    counts: IntArray,
    method: PowerMethod = solve_bisection,
) -> tuple[float, Array]:
    """Min-max delay of one pool for fixed counts (FedsLLM (25)): (delay, powers)."""
    width = counts * pool.subchannel_hz
    _, p = method(rest, bits, width, pool.snr_coeff, tab.p_max, tab.p_total)
    return float(max_delay(rest, bits, width, pool.snr_coeff, p)), p


def comm_block(tab: FedsTables, pt: Point, method: PowerMethod = solve_bisection) -> Point:
    """Alg. 2 then power control (25), in each pool on its own term (T1 main, T3 federated)."""
    fwd = tab.pick(tab.fwd, pt.si, pt.ri)[0]
    up = tab.pick(tab.up_bits, pt.si, pt.ri)[0]
    fed = tab.pick(tab.fed_bits, pt.si, pt.ri)[0]
    zero = np.zeros(tab.n)
    out = {}
    for key, pool, rest, bits, counts, power in (
        ("main", tab.main, fwd, up, pt.sub, pt.power),
        ("fed", tab.fed, zero, fed, pt.fsub, pt.fpower),
    ):
        best = (
            float(max_delay(rest, bits, counts * pool.subchannel_hz, pool.snr_coeff, power)),
            counts,
            power,
        )
        greedy = greedy_subchannels(rest, bits, power, pool)
        for cand in (greedy, counts):
            delay, p = power_control(tab, pool, rest, bits, cand, method)
            if delay < best[0]:
                best = (delay, cand, p)
        out[key] = best
    return replace(
        pt, sub=out["main"][1], power=out["main"][2], fsub=out["fed"][1], fpower=out["fed"][2]
    )
