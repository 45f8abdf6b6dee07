"""Exact optimum of FedsLLM's problem (18): the reference for optimality gaps.

Meant for small instances (N <= 4, ~8 subchannels per pool); thanks to the bound below it
also solves the preset itself (N = 5, 20 + 20 subchannels) in well under a second,
solving 1-2 of its 805,255 (split vector, rank) pairs exactly.

The decision space, as the engine models it: a subchannel count per client in each pool
(the subchannels of a pool are alike, so counts are the whole assignment; every client
needs at least one in each pool, since it uploads activations and LoRA), a power per
client and pool (C4, C5), a split per client and one rank.

Search. Given split vector s and rank r, the pools decouple ((21): T1 depends only on
the main pool, T3 only on the federated one), so

    T*(s, r) = E(r) (I (T1*(s, r) + sum_k server_k + max_k t_B_k) + T3*(s, r)),

where T1* (T3*) is the minimum over every composition of the pool's subchannels (all of
them are used: more band never slows a client) of the exact min-max power control
(:func:`~splitenv.allocation.fedsllm_power.solve_bisection`). Enumerating the product of the two
pools' compositions would give the same value.

Split vectors are handled by branch and bound over all of them: a lower bound replaces
T1* (T3*) by the delay each client would have alone with every spare subchannel and
p_max; candidates are solved exactly in increasing bound order until the bound reaches
the incumbent. The optimum is usually the smallest split, unless the server is slow;
the bound finds that first and prunes the rest.
``prune=False`` solves every (s, r) exactly (used by the tests on tiny instances to
confirm the pruning).

Tolerance: the power bisection brackets each pool's t* to a relative ``rtol`` (1e-13);
everything else is enumerated, so the returned T is the optimum to about 1e-12.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from baselines.base import BaseSolver, SolveStats
from splitenv.allocation.fedsllm_power import rate_bps, solve_bisection
from splitenv.allocation.fedsllm_tables import FedsTables, Pool, build_tables, split_grid
from splitenv.config import Scenario
from splitenv.model import Decision, State

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]


def compositions(total: int, n: int) -> IntArray:
    """Every way to write ``total`` as an ordered sum of ``n`` positive integers, (M, n)."""
    if total < n:
        raise ValueError(f"{total} subchannels cannot give each of {n} clients one")
    rows = []
    for bars in itertools.combinations(range(1, total), n - 1):
        edges = (0, *bars, total)
        rows.append([edges[i + 1] - edges[i] for i in range(n)])
    return np.array(rows, dtype=np.int64)


def _pool_optimum(
    tab: FedsTables, pool: Pool, comps: IntArray, rest: Array, bits: Array, rtol: float
):
    """Exact min over compositions of the pool's min-max delay, for C candidates at once.

    Args:
        tab: the tables (power limits).
        pool: the pool.
        comps: its compositions, (M, N).
        rest: delay before the upload, (C, N) per candidate.
        bits: bits to upload, (C, N).
        rtol: bisection tolerance.

    Returns:
        (delay (C,), counts (C, N), powers (C, N)).
    """
    width = comps[None, :, :] * pool.subchannel_hz  # (1, M, N)
    t, p = solve_bisection(
        rest[:, None, :], bits[:, None, :], width, pool.snr_coeff, tab.p_max, tab.p_total, rtol=rtol
    )  # (C, M), (C, M, N)
    best = np.argmin(t, axis=1)
    rows = np.arange(len(best))
    return t[rows, best], comps[best], p[rows, best]


class FedsllmExact(BaseSolver):
    """Exact FedsLLM optimum by enumeration (compositions x splits x ranks) and exact power control.

    Args:
        prune: branch and bound over split vectors (exact); False solves every one.
        rtol: relative tolerance of the power bisection.
        max_compositions: refuse pools with more compositions than this.
        max_candidates: refuse instances with more (split vector, rank) pairs than this.
        batch: candidates solved per vectorized step (fewer when the pools have many
            compositions).
    """

    name = "fedsllm_exact"

    kind = "exact"

    reference = "FedsLLM (18)"
    family = "fedsllm"

    def __init__(
        self,
        prune: bool = True,
        rtol: float = 1e-13,
        max_compositions: int = 20_000,
        max_candidates: int = 5_000_000,
        batch: int = 64,
    ) -> None:
        self.prune, self.rtol = prune, rtol
        self.max_compositions, self.max_candidates, self.batch = (
            max_compositions,
            max_candidates,
            batch,
        )

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Return the optimal decision; ``stats.extra`` has the optimum and the work done."""
        tab = build_tables(scenario, state)
        best, solved, n_cand = self._search(tab)
        value, si, ri, sub, power, fsub, fpower = best
        stats.iterations = solved
        stats.evaluations = len(tab.splits) * len(tab.ranks) + 1
        stats.extra.update(optimum=value, exactly_solved=solved, candidates=n_cand,
                           pruned=n_cand - solved, rtol=self.rtol)  # fmt: skip
        return tab.decision(si, ri, sub, power, fsub, fpower)

    def _search(self, tab: FedsTables):
        n, n_s, n_r = tab.n, len(tab.splits), len(tab.ranks)
        comps = {
            "main": compositions(tab.main.n_subchannels, n),
            "fed": compositions(tab.fed.n_subchannels, n),
        }
        for key, c in comps.items():
            if len(c) > self.max_compositions:
                raise ValueError(
                    f"{key} pool has {len(c)} compositions"
                    f" > max_compositions = {self.max_compositions}"
                )
        n_cand = n_s**n * n_r
        if n_cand > self.max_candidates:
            raise ValueError(
                f"{n_cand} (split vector, rank) pairs > max_candidates = {self.max_candidates}"
            )
        bound = self._lower_bounds(tab)  # (R, S^N)
        order = np.argsort(bound, axis=None, kind="stable")
        best: tuple = (np.inf, None, None, None, None, None, None)
        solved = 0
        widest = max(len(c) for c in comps.values()) * n
        cap = max(1, min(self.batch, 200_000 // widest))  # bounds the (C, M, N) bisection arrays
        start, batch = 0, 1  # batches grow from one: the best bound is usually the optimum
        while start < len(order):
            idx = order[start : start + batch]
            start, batch = start + len(idx), min(2 * batch, cap)
            ri, vi = np.unravel_index(idx, bound.shape)
            if self.prune:
                keep = bound[ri, vi] < best[0]
                if not keep.any():
                    break
                ri, vi = ri[keep], vi[keep]
            si = np.stack(np.unravel_index(vi, (n_s,) * n), axis=-1)
            t1, sub, power = _pool_optimum(
                tab,
                tab.main,
                comps["main"],
                tab.pick(tab.fwd, si, ri),
                tab.pick(tab.up_bits, si, ri),
                self.rtol,
            )
            t3, fsub, fpower = _pool_optimum(
                tab,
                tab.fed,
                comps["fed"],
                np.zeros(si.shape),
                tab.pick(tab.fed_bits, si, ri),
                self.rtol,
            )
            value = tab.combine(si, ri, t1, t3)
            solved += len(value)
            k = int(np.argmin(value))
            if value[k] < best[0]:
                best = (float(value[k]), si[k], int(ri[k]), sub[k], power[k], fsub[k], fpower[k])
        return best, solved, n_cand

    @staticmethod
    def _lower_bounds(tab: FedsTables) -> Array:
        """T with each client's uploads at their best possible rates (all spare subchannels, p_max).

        Returns:
            (R, S^N): rank index x flat split-vector index (C order over the clients).
        """
        n = tab.n
        best = {
            key: rate_bps(
                (pool.n_subchannels - n + 1) * pool.subchannel_hz, pool.snr_coeff, tab.p_max
            )
            for key, pool in (("main", tab.main), ("fed", tab.fed))
        }
        out = []
        with np.errstate(divide="ignore"):
            for ri in range(len(tab.ranks)):
                a1 = tab.fwd[:, ri, :] + tab.up_bits[:, ri, :] / best["main"]
                a3 = tab.fed_bits[:, ri, :] / best["fed"]
                out.append(split_grid(tab, ri, a1, a3).ravel())
        return np.stack(out)
