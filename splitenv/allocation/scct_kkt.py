"""SCCT compute shares (P1-3, (24)-(25)): the exact KKT solution.

Paper: SCCT Sec. IV-A, problems P1-2 (23) and P1-3 (24) with Lagrangian (25)
(the printed Lagrangian's typos fixed). For fixed splits and
subcarriers write, per device, ``a_n`` = edge compute time at full share (16) and
``c_n = d1 + d2`` (12), (15). The KKT conditions make every constraint (24-4) tight: all
devices with edge work finish together at V, ``alpha_n = a_n / (V - c_n)`` and
``sum alpha_n = 1``; V is the unique root on ``(max c_n, inf)`` of
``sum_n a_n / (V - c_n) = 1``. We solve it by Newton's method on the reciprocal
``F(V) = 1 / sum_n a_n / (V - c_n)``, which is concave and increasing (a harmonic sum of
affine functions), so Newton from the left point ``V0 = max_n (c_n + a_n)`` rises
monotonically to the root, and a bracket guards against rounding. This is the paper's
"Newton's method on the KKT conditions" reduced to its one free variable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.allocation.scct_greedy import roots_rows

Array = NDArray[np.float64]
_EPS = np.finfo(float).eps


def share_root(a: Array, c: Array, start: Array | None = None, max_iter: int = 100) -> Array:
    """V solving ``sum_{a_n > 0} a_n / (V - c_n) = 1`` over the last axis (SCCT (24), KKT).

    Newton's method on the concave, increasing ``F(V) = 1 / sum_n a_n / (V - c_n)``: from a
    point left of the root the iterates rise monotonically to it; from a point right of it
    one step lands left of it (concavity). Iterates are kept in the bracket
    ``[max_n (c_n + a_n), max_n c_n + sum_n a_n]``, whose ends bound the root (alpha_n <= 1;
    every term <= a_n / sum a). Each element stops at its own convergence (a step below
    4 ulp), never when the whole batch has: an element's value does not depend on the other
    elements it is solved with, so the one-state kernel (:mod:`splitenv.allocation.scct_alg1`)
    and the batched one (:mod:`splitenv.allocation.scct_batch`) give the same bits.

    Args:
        a: (..., N) edge time at full share, >= 0 (zeros take no share); broadcasts
            against ``c``.
        c: (..., N) the rest of each device's chain.
        start: optional (...) starting point, on either side of the root (NaN: no start).
        max_iter: Newton iterations at most.

    Returns:
        (...) V; ``-inf`` for rows without edge work, ``inf`` if a working device has c = inf.
    """
    a = np.asarray(a, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if a.ndim == 1 and c.ndim == 1:
        return np.asarray(_root_1d(a, c, start))
    return share_root_nd(a, c, None if start is None else np.asarray(start), max_iter)


def share_root_nd(a: Array, c: Array, start: Array | None, max_iter: int = 100) -> Array:
    """:func:`share_root` on (..., N) arrays: each row by the compiled root.

    :func:`splitenv.allocation.scct_greedy.root`, row by row (the same Newton iteration, the
    same bracket and stop, numpy's pairwise sums), so a row's value does not depend on the
    rows it is solved with.
    """
    a, c = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(c, dtype=np.float64))
    lead = a.shape[:-1]
    starts = np.full(lead, np.nan) if start is None else np.broadcast_to(start, lead)
    n = a.shape[-1]
    out = roots_rows(
        np.ascontiguousarray(a.reshape(-1, n)),
        np.ascontiguousarray(c.reshape(-1, n)),
        np.ascontiguousarray(starts, dtype=np.float64).reshape(-1),
        int(max_iter),
    )
    return out.reshape(lead)


def _root_1d(a: Array, c: Array, start: Any, max_iter: int = 100) -> float:
    """share_root for one row, with Python floats for the scalar steps (same iteration)."""
    pos = a > 0
    if not pos.any():
        return -np.inf
    ap, cp = a[pos], c[pos]
    lo = float((cp + ap).max())
    hi = float(cp.max()) + float(ap.sum())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return np.inf
    v = lo if start is None else min(max(float(start), lo), hi)
    for _ in range(max_iter):
        gap = v - cp
        term = ap / gap
        s = float(term.sum())
        new = v + s * (s - 1.0) / float((term / gap).sum())
        new = lo if new < lo else (0.5 * (v + hi) if new > hi else new)
        if abs(new - v) <= 4 * _EPS * abs(new):
            return new
        v = new
    return v


def optimal_shares(a: Array, c: Array) -> tuple[Array, float]:
    """Exact solution of SCCT P1-3 (24): ``min_alpha max_n (c_n + a_n / alpha_n)``, sum alpha <= 1.

    Args:
        a: (N,) edge compute time of each device at full share (a_n = 0: no edge work).
        c: (N,) device compute plus transfer time of each device.

    Returns:
        (alpha, V): shares ``a_n / (V - c_n)`` summing to one, and the common finish time
        V of the devices with edge work (``-inf`` if none has any).
    """
    a = np.asarray(a, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    v = float(share_root(a, c))
    pos = a > 0
    if not np.isfinite(v):
        alpha = a / a.sum() if pos.any() else np.zeros_like(a)
        return alpha, v
    alpha = np.minimum(
        np.where(pos, a / np.where(pos, v - c, 1.0), 0.0), 1.0
    )  # rounding at V = c + a
    total = alpha.sum()
    if total > 1.0:  # rounding: never hand out more than the whole edge
        alpha = alpha / total
    return alpha, v


def optimal_shares_rows(a: Array, c: Array) -> Array:
    """:func:`optimal_shares` per row: (R, N) shares ``a_n / (V - c_n)`` of SCCT P1-3 (24)."""
    v = share_root(a, c)
    pos = a > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.minimum(np.where(pos, a / np.where(pos, v[:, None] - c, 1.0), 0.0), 1.0)
        total = alpha.sum(axis=-1, keepdims=True)
        alpha = np.where(total > 1.0, alpha / total, alpha)  # never more than the whole edge
        fallback = np.where(pos.any(axis=-1, keepdims=True), a / a.sum(axis=-1, keepdims=True), 0.0)
    return np.where(np.isfinite(v)[:, None], alpha, fallback)
