"""Exact min-max allocation for one SCCT state: splits (optional), subcarriers and shares.

The per-state problem (SCCT P1-1 + P1-2 jointly, and P1-5 for one state)::

    min  const + w_mig * max_n d0_n(x_n) + w_chain * max_n (c_n(x_n) + a_n(x_n) / alpha_n)
    s.t. sum_n beta_n <= K, sum_n alpha_n <= 1, memory (21-6),

where x_n = (s_n, beta_n) is device n's option. Method:

1. **Level iteration on V** (a Dinkelbach-type scheme, exact in finitely many steps).
   For a target max-chain level V, device n needs the share
   ``alpha_n(x_n; V) = a_n / (V - c_n(x_n))`` (inf if V <= c_n; 0 for a_n = 0 when
   c_n <= V). Let ``Phi(V) = min_x sum_n alpha_n(x_n; V)`` over budget-feasible x; V is
   achievable iff Phi(V) <= 1, and Phi strictly decreases. From V_t take
   ``x = argmin Phi(V_t)`` and set V_{t+1} = V(x), the exact level of x (its share root).
   Then V_{t+1} <= V_t, with equality only if Phi(V_t) = 1, i.e. V_t is optimal.
   Phi(V) is evaluated exactly: with one option per device and convex alpha_n(beta)
   (c_n convex decreasing in beta: 1 / rate of a concave rate) by marginal allocation
   (the K largest share drops), otherwise by a DP over devices with the budget K.
2. **Migration** couples the devices through its own max. We enumerate the migration
   bound M: options with d0_n > M are removed, V*(M) is solved as above, and
   ``w_mig * M_act + w_chain * V*(M)`` (M_act = the solution's actual max migration)
   is exact for every bound in [M_act, M]; then M drops below M_act. Since V*(M)
   grows as M falls, we stop once ``w_mig * M_floor + w_chain * V*(M)`` reaches the best.

Tolerance: the returned allocation's objective is exact (to rounding). The lower bound
is certified: for every explored migration level Phi(V*(M) (1 - tol)) > 1 is checked,
and the bound is the least of ``w_mig * M_act + w_chain * V*(M) (1 - tol)`` over the
levels and the pruning bound, so ``objective - lower_bound <= tol * w_chain * V*``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from splitenv.allocation.scct_kkt import optimal_shares, share_root
from splitenv.allocation.scct_tables import Weights

Array = NDArray[np.float64]


@dataclass
class Problem:
    """Options of every device for one state.

    Attributes:
        a: (O, N) edge time at full share of option o.
        c: (O, K + 1, N) rest of the chain for option o and beta subcarriers.
        mig: (O, K + 1, N) migration time, or ``None``.
        allowed: (O, N) option is memory-feasible.
        weights: objective coefficients.
    """

    a: Array
    c: Array
    mig: Array | None
    allowed: NDArray[np.bool_]
    weights: Weights

    @property
    def n_sub(self) -> int:
        """K."""
        return self.c.shape[1] - 1


@dataclass
class Allocation:
    """Option index, subcarriers, shares and the exact objective of an allocation."""

    option: NDArray[np.int64]
    beta: NDArray[np.int64]
    alpha: Array
    chain: float
    migration: float
    objective: float
    lower_bound: float = -np.inf


def chain_level(a: Array, c: Array, start: Array | None = None) -> Array:
    """Max chain with optimal shares: max(share root, chains without edge work), last axis."""
    zero = np.max(np.where(a > 0, -np.inf, c), axis=-1)
    return np.maximum(share_root(a, c, start=start), zero)


def _need(a: Array, c: Array, v: float) -> Array:
    """Share each option needs to finish by v (inf if it cannot)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(c < v, a / (v - c), np.inf)
    return np.where(a > 0, need, np.where(c <= v, 0.0, np.inf))


def _marginal(f: Array, k: int) -> tuple[NDArray[np.int64], float] | None:
    """Min sum_n f_n(beta_n), sum beta <= k, for convex nonincreasing f (K + 1, N); else None."""
    with np.errstate(invalid="ignore"):
        drop = f[:-1] - f[1:]
    drop = np.where(np.isinf(f[:-1]) & np.isfinite(f[1:]), np.inf, drop)
    drop = np.where(np.isnan(drop), np.inf, drop)  # inf - inf: both infeasible, still mandatory
    if np.any(drop[1:] > drop[:-1] * (1 + 1e-12) + 1e-300):
        return None
    flat = drop.ravel()
    k = min(k, flat.size)
    top = np.argpartition(-flat, k - 1)[:k] if k < flat.size else np.arange(flat.size)
    beta = np.bincount(top % f.shape[1], minlength=f.shape[1])
    total = float(f[beta, np.arange(f.shape[1])].sum())
    return beta.astype(np.int64), total


def _dp(f: Array, k: int) -> tuple[NDArray[np.int64], float]:
    """Min sum_n f_n(beta_n) with sum beta <= k by DP over devices (f: (rows, N), beta < rows)."""
    n = f.shape[1]
    if f.shape[0] < k + 1:
        f = np.vstack([f, np.full((k + 1 - f.shape[0], n), np.inf)])
    budgets = np.arange(k + 1)
    idx = budgets[:, None] - budgets[None, :]
    valid = idx >= 0
    idx = np.where(valid, idx, 0)
    best = np.zeros(k + 1)
    choice = np.zeros((n, k + 1), dtype=np.int64)
    for i in range(n):
        table = np.where(valid, best[idx], np.inf) + f[:, i][None, :]
        choice[i] = np.argmin(table, axis=1)
        best = table[budgets, choice[i]]
    beta = np.zeros(n, dtype=np.int64)
    left = int(np.argmin(best))
    total = float(best[left])
    for i in range(n - 1, -1, -1):
        beta[i] = choice[i, left]
        left -= beta[i]
    return beta, total


def min_share_sum(
    p: Problem, v: float, cap: float, rows: int | None = None
) -> tuple[NDArray[np.int64], NDArray[np.int64], float]:
    """Phi(v): the allocation minimising the total share needed to finish by v (migration <= cap).

    ``rows`` limits beta to 0..rows - 1 as a speed-up; if a device then uses every row,
    the full range is solved instead, so the result is the same.
    """
    k = p.n_sub
    r = k + 1 if rows is None or rows >= k + 1 else rows
    c = p.c[:, :r]
    need = _need(p.a[:, None, :], c, v)
    if not p.allowed.all():
        need = np.where(p.allowed[:, None, :], need, np.inf)
    if p.mig is not None and np.isfinite(cap):
        need = np.where(p.mig[:, :r] <= cap, need, np.inf)
    if p.a.shape[0] == 1:
        option, f = np.zeros(need.shape[1:], dtype=np.int64), need[0]
        res = _marginal(f, k)
    else:
        option = np.argmin(need, axis=0)  # (rows, N): best option for each beta
        f = np.take_along_axis(need, option[None], axis=0)[0]
        res = None
    beta, total = res if res is not None else _dp(f, k)
    if r < k + 1 and np.any(beta >= r - 1):
        return min_share_sum(p, v, cap, None)
    cols = np.arange(f.shape[1])
    return option[beta, cols], beta, total


def _evaluate(
    p: Problem, option: NDArray[np.int64], beta: NDArray[np.int64], start: float | None = None
) -> tuple[float, float]:
    """(max chain with optimal shares, max migration) of an allocation."""
    cols = np.arange(option.shape[0])
    a, c = p.a[option, cols], p.c[option, beta, cols]
    zero = float(np.max(np.where(a > 0, -np.inf, c)))
    root = share_root(a, c, start=None if start is None else np.asarray(start))
    chain = max(float(root), zero)
    mig = float(p.mig[option, beta, cols].max()) if p.mig is not None else 0.0
    return chain, mig


def _level_iteration(
    p: Problem,
    cap: float,
    start: tuple[NDArray[np.int64], NDArray[np.int64]] | None,
    tol: float | None,
) -> tuple[NDArray[np.int64], NDArray[np.int64], float, float] | None:
    """(option, beta, V*, certified lower bound of V*) under a migration cap; None if infeasible."""
    v = np.inf
    if start is not None:
        option, beta = start
        v, mig = _evaluate(p, option, beta)
        if p.mig is not None and mig > cap:
            v = np.inf
    if not np.isfinite(v):  # a level every option meets: the first step finds a finite allocation
        finite = p.c[np.isfinite(p.c)]
        level = 2.0 * (float(finite.max()) + float(p.a.sum(axis=0).max())) + 1.0
        option, beta, total = min_share_sum(p, level, cap)
        if not np.isfinite(total):
            return None
        v = _evaluate(p, option, beta)[0]
    eps = 4 * np.finfo(float).eps
    for _ in range(200):
        rows = int(2 * beta.max() + 3)
        nxt_option, nxt_beta, total = min_share_sum(p, v, cap, rows)
        if np.isfinite(total):
            v_new = _evaluate(p, nxt_option, nxt_beta, start=v)[0]
            if v_new < v * (1 - eps) if v > 0 else v_new < v - eps * abs(v):
                option, beta, v = nxt_option, nxt_beta, v_new
                continue
        if tol is None:
            return option, beta, v, -np.inf
        # certify: no allocation reaches v (1 - tol); otherwise continue from one that does
        lower = v * (1 - tol) if v > 0 else v - tol * abs(v)
        nxt_option, nxt_beta, total = min_share_sum(p, lower, cap, rows)
        if total > 1.0:
            return option, beta, v, lower
        option, beta = nxt_option, nxt_beta
        v = min(v, _evaluate(p, option, beta)[0])
    return option, beta, v, -np.inf


def solve(
    p: Problem,
    start: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
    tol: float | None = 1e-9,
    shares: bool = True,
) -> Allocation | None:
    """Exact optimum of the per-state problem (module docstring); None if nothing is feasible.

    Args:
        p: the problem.
        start: a warm-start allocation (option, beta).
        tol: relative tolerance of the certified lower bound on V*; ``None`` skips the
            certificate (the optimum is the same, ``lower_bound`` is then -inf).
        shares: compute the optimal shares of the result (else ``alpha`` is empty).
    """
    w = p.weights
    use_mig = p.mig is not None and w.w_mig > 0 and bool(np.any(p.mig > 0))
    q = p if use_mig else Problem(p.a, p.c, None, p.allowed, w)
    if use_mig and p.mig is not None:
        masked = np.where(p.allowed[:, None, :], p.mig, np.inf)
        floor = float(masked.min(axis=(0, 1)).max())
        levels = np.unique(masked[np.isfinite(masked)])
    best: Allocation | None = None
    lower_all = np.inf
    cap = np.inf
    while True:
        res = _level_iteration(q, cap, start, tol)
        if res is None:
            break
        option, beta, chain, lower = res
        start = (option, beta)
        mig = _evaluate(q, option, beta, start=chain)[1] if use_mig else 0.0
        obj = float(w.combine(mig, chain))
        lower_all = min(lower_all, float(w.combine(mig, lower)))
        if best is None or obj < best.objective:
            best = Allocation(option, beta, np.empty(0), chain, mig, obj)
        if not use_mig or float(w.combine(floor, chain)) >= best.objective:
            if use_mig:
                lower_all = min(lower_all, float(w.combine(floor, lower)))
            break
        below = levels[levels < mig]
        if below.size == 0:
            break
        cap = float(below[-1])
    if best is not None:
        best.lower_bound = lower_all
        if shares:
            cols = np.arange(best.option.shape[0])
            best.alpha = optimal_shares(q.a[best.option, cols], q.c[best.option, best.beta, cols])[
                0
            ]
    return best
