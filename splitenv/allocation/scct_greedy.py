"""SCCT Algorithm 1 compiled: the KKT share root and the greedy, row by row (numba).

Paper: SCCT Sec. IV-A, Algorithm 1 (greedy subcarriers, lines 1-13) with the KKT-optimal edge
compute shares of P1-3 (24) re-optimised inside every candidate evaluation. The rules (the
candidate bounds, the tie tolerance, the tie breaks) are those of
:mod:`splitenv.allocation.scct_batch`, whose driver calls this kernel, and of the one-state
kernel :mod:`splitenv.allocation.scct_alg1` (tests/allocation compares them bit for bit).

Why compiled: the greedy takes K - N steps of a few dozen operations on N numbers per row;
as numpy operations on (rows, N) arrays it paid ~150 array calls per step (about 0.5 ms per
row at N = 10, K = 200; ~30 ms per call for a few rows). Here every row runs its own steps
in one loop. The arithmetic is numpy's, in numpy's order, so the bits are those of the
array version: every sum over devices is numpy's pairwise summation (:func:`psum`: blocks of
eight partial sums for up to 128 numbers, halves beyond), maxima and selections are exact,
and divisions by zero give inf / NaN as in numpy (``error_model="numpy"``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_INF = np.inf
#: Newton's stop: a step below 4 ulp of the iterate (scct_kkt.share_root)
_STOP = 4 * np.finfo(float).eps
#: relative tolerance of an objective tie (scct_batch)
_TIE = 1e-12
#: Newton iterations at most
MAX_ITER = 100


@njit(cache=True, error_model="numpy")
def psum(x):  # type: ignore[no-untyped-def]
    """``x.sum()`` of a contiguous float64 vector, bit for bit: numpy's pairwise summation."""
    n = x.shape[0]
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = x[0], x[1], x[2], x[3]
        r4, r5, r6, r7 = x[4], x[5], x[6], x[7]
        i = 8
        top = n - n % 8
        while i < top:
            r0 += x[i]
            r1 += x[i + 1]
            r2 += x[i + 2]
            r3 += x[i + 3]
            r4 += x[i + 4]
            r5 += x[i + 5]
            r6 += x[i + 6]
            r7 += x[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += x[i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return psum(x[:half]) + psum(x[half:])


@njit(cache=True, error_model="numpy")
def _fmax(a, b):  # type: ignore[no-untyped-def]
    """np.maximum of two floats (the first if equal or NaN)."""
    return a if (a >= b or a != a) else b


@njit(cache=True, error_model="numpy")
def root(a, c, start, work, max_iter=MAX_ITER):  # type: ignore[no-untyped-def]
    """V solving ``sum_{a_n > 0} a_n / (V - c_n) = 1`` for one row (scct_kkt.share_root).

    Newton's method on ``F(V) = 1 / sum_n a_n / (V - c_n)`` from ``start`` (NaN: the left end
    ``max_n (c_n + a_n)``), kept in ``[max_n (c_n + a_n), max_n c_n + sum_n a_n]``, stopped
    at a step below 4 ulp; ``-inf`` without edge work, ``inf`` if the bracket is not finite.
    ``work``: scratch of length 2 N; ``max_iter``: Newton iterations at most.
    """
    n = a.shape[0]
    term, quot = work[:n], work[n : 2 * n]
    lo, cmax, any_pos = -_INF, -_INF, False
    for i in range(n):
        if a[i] > 0:
            any_pos = True
            lo = _fmax(lo, c[i] + a[i])
            cmax = _fmax(cmax, c[i])
    hi = cmax + psum(a)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _INF if any_pos else -_INF
    v = lo
    if start == start:  # not NaN: np.minimum(np.maximum(start, lo), hi)
        v = _fmax(start, lo)
        if not (v <= hi or v != v):
            v = hi
    for _ in range(max_iter):
        for i in range(n):
            gap = v - (c[i] if a[i] > 0 else -_INF)
            term[i] = a[i] / gap
            quot[i] = term[i] / gap
        s = psum(term)
        new = v + s * (s - 1.0) / psum(quot)
        if new < lo:
            new = lo
        elif new > hi:
            new = 0.5 * (v + hi)
        step = abs(new - v)
        v = new
        if step <= _STOP * abs(new):
            break
    return v


@njit(cache=True, error_model="numpy")
def _bounds(x, a, c, cn, floor, out, work):  # type: ignore[no-untyped-def]
    """Each candidate's lower bound of its share root: one Newton step at ``x`` (scct_batch).

    F is concave, so the Newton iterate from a point of its domain lies left of the root;
    outside the domain the floor max_k (c_k + a_k) holds. ``work``: scratch of length 4 N.
    """
    n = a.shape[0]
    t0, t1, q0, q1 = work[:n], work[n : 2 * n], work[2 * n : 3 * n], work[3 * n : 4 * n]
    nbad = 0
    for i in range(n):
        pos = a[i] > 0
        g0 = x - (c[i] if pos else -_INF)
        g1 = x - (cn[i] if pos else -_INF)
        t0[i] = a[i] / g0
        t1[i] = a[i] / g1
        q0[i] = t0[i] / g0
        q1[i] = t1[i] / g1
        if g0 <= 0 and pos:
            nbad += 1
    s0, r0 = psum(t0), psum(q0)
    for i in range(n):
        pos = a[i] > 0
        g0 = x - (c[i] if pos else -_INF)
        g1 = x - (cn[i] if pos else -_INF)
        s = s0 - t0[i] + t1[i]
        s2 = r0 - q0[i] + q1[i]
        newton = x + s * (s - 1.0) / s2
        bad = 1 if (g0 <= 0 and pos) else 0
        invalid = (nbad - bad > 0) or (pos and g1 <= 0) or not np.isfinite(newton)
        out[i] = floor[i] if invalid else _fmax(newton, floor[i])


@njit(cache=True, error_model="numpy")
def _objective(chain, zmax, mig, const, w_chain):  # type: ignore[no-untyped-def]
    """SCCT (20) if the candidate gets the subcarrier: const + migration + w x largest chain."""
    return const + mig + w_chain * _fmax(chain, zmax)


@njit(cache=True, error_model="numpy")
def _argmin(x):  # type: ignore[no-untyped-def]
    """np.argmin: the first minimum (the first NaN if any)."""
    best, at = x[0], 0
    if best != best:
        return 0
    for i in range(1, x.shape[0]):
        if x[i] != x[i]:
            return i
        if x[i] < best:
            best, at = x[i], i
    return at


@njit(cache=True, error_model="numpy")
def _step(a, c, cn, m, mn, v, const, w_mig, w_chain, mig_on, scratch, work, member, rootwork):  # type: ignore[no-untyped-def]
    """One exact greedy step of one row (SCCT Alg. 1 lines 5-12): (the winner, its root).

    Scratch: ``scratch`` (7, N), ``work`` (4 N), ``member`` (N,) booleans, ``rootwork`` (2 N).
    """
    n = a.shape[0]
    floor, zmax, mig, lower = scratch[0], scratch[1], scratch[2], scratch[3]
    obj, low2, trial = scratch[4], scratch[5], scratch[6]
    # what the candidates share (scct_batch._Lockstep._fixed_terms)
    p_first, p_second = -_INF, -_INF
    z_first, z_second = -_INF, -_INF
    m_first, m_second = -_INF, -_INF
    idle = False
    for i in range(n):
        p = c[i] + a[i] if a[i] > 0 else -_INF
        if p >= p_first:
            p_second, p_first = p_first, p
        elif p > p_second:
            p_second = p
        if a[i] <= 0:
            idle = True
            z = c[i]
        else:
            z = -_INF
        if z >= z_first:
            z_second, z_first = z_first, z
        elif z > z_second:
            z_second = z
        if m[i] >= m_first:
            m_second, m_first = m_first, m[i]
        elif m[i] > m_second:
            m_second = m[i]
    for i in range(n):
        pos = a[i] > 0
        p = c[i] + a[i] if pos else -_INF
        without = (p_second if p >= p_first else p_first) if n >= 2 else -_INF
        floor[i] = _fmax(without, cn[i] + a[i]) if pos else p_first
        if idle:
            z = -_INF if pos else c[i]
            z_without = (z_second if z >= z_first else z_first) if n >= 2 else -_INF
            zmax[i] = z_first if pos else _fmax(z_without, cn[i])
        else:
            zmax[i] = -_INF
        if mig_on:
            m_without = (m_second if m[i] >= m_first else m_first) if n >= 2 else -_INF
            mig[i] = w_mig * _fmax(m_without, mn[i])
        else:
            mig[i] = 0.0
    _bounds(v, a, c, cn, floor, lower, work)
    for i in range(n):
        obj[i] = _objective(lower[i], zmax[i], mig[i], const, w_chain)
    j = _argmin(obj)
    for i in range(n):
        trial[i] = c[i]
    trial[j] = cn[j]
    v_j = root(a, trial, lower[j], rootwork)
    exact = _objective(v_j, zmax[j], mig[j], const, w_chain)
    limit = exact + _TIE * abs(exact)
    obj[j] = _INF
    maybe = False
    for i in range(n):
        if obj[i] <= limit:
            maybe = True
    if not maybe:
        return j, v_j
    # the bounds at the winner's root exclude more; the rest get their exact roots
    _bounds(v_j, a, c, cn, floor, low2, work)
    close = False
    for i in range(n):
        obj[i] = _INF if i == j else _objective(low2[i], zmax[i], mig[i], const, w_chain)
        if obj[i] <= limit:
            close = True
    if not close:
        return j, v_j
    # tie break (scct_batch._Lockstep._tie_break): the lowest exact objective; within the
    # tolerance the largest drop of the device's own chain, then the lowest index
    roots = low2  # the members' exact roots (the bounds at V_j are not read again)
    for i in range(n):
        member[i] = i == j or obj[i] <= limit
    for i in range(n):
        if member[i]:
            for q in range(n):
                trial[q] = c[q]
            trial[i] = cn[i]
            roots[i] = root(a, trial, lower[i], rootwork)
            obj[i] = _objective(roots[i], zmax[i], mig[i], const, w_chain)
        else:
            obj[i] = _INF
    best = obj[0]
    for i in range(1, n):
        if obj[i] < best or obj[i] != obj[i]:  # np.min (NaN propagates)
            best = obj[i] if best == best else best
    top = best + _TIE * abs(best)
    drop_max = -_INF
    for i in range(n):
        member[i] = member[i] and obj[i] <= top  # tied
        if member[i]:
            drop_max = _fmax(drop_max, c[i] - cn[i])
    for i in range(n):
        if member[i] and c[i] - cn[i] == drop_max:
            return i, roots[i]
    return j, v_j


@njit(cache=True, error_model="numpy")
def run_rows(a, base, mig, mig_on, const, w_mig, w_chain, known, beta, c, cn, m, mn, v, steps):  # type: ignore[no-untyped-def]
    """Advance every row's greedy as far as its tables reach (SCCT Alg. 1, lines 4-13).

    State per row (kept by the caller between calls): counts ``beta``, chain parts ``c`` =
    ``base[beta]`` and ``cn`` = ``base[beta + 1]``, migration ``m``/``mn`` likewise, the
    current root ``v`` and ``steps`` taken (-1: not started). A row stops when done (K - N
    steps) or when its next step reads a count beyond ``known`` (the caller tabulates more
    and calls again). Returns the number of rows not done.
    """
    rows, k1, n = base.shape
    k = k1 - 1
    total = k - n
    scratch = np.empty((7, n))
    work = np.empty(4 * n)
    member = np.zeros(n, dtype=np.bool_)
    rootwork = np.empty(2 * n)
    pending = 0
    for r in range(rows):
        if steps[r] < 0:  # line 1-3: one subcarrier each
            for i in range(n):
                beta[r, i] = 1
                c[r, i] = base[r, 1, i]
                cn[r, i] = base[r, 2, i] if 2 <= k else _INF
                m[r, i] = mig[r, 1, i] if mig_on else 0.0
                mn[r, i] = (mig[r, 2, i] if 2 <= k else _INF) if mig_on else 0.0
            v[r] = root(a[r], c[r], np.nan, rootwork)
            steps[r] = 0
        while steps[r] < total:
            need = 0
            for i in range(n):
                need = max(need, beta[r, i])
            if min(need + 2, k) > known[r]:
                break
            j, v_new = _step(
                a[r], c[r], cn[r], m[r], mn[r], v[r], const[r], w_mig, w_chain, mig_on,
                scratch, work, member, rootwork,
            )  # fmt: skip
            beta[r, j] += 1
            nxt = beta[r, j] + 1
            c[r, j] = cn[r, j]
            cn[r, j] = base[r, nxt, j] if nxt <= k else _INF
            if mig_on:
                m[r, j] = mn[r, j]
                mn[r, j] = mig[r, nxt, j] if nxt <= k else _INF
            v[r] = v_new
            steps[r] += 1
        if steps[r] < total:
            pending += 1
    return pending


@njit(cache=True, error_model="numpy")
def roots_rows(a, c, start, max_iter):  # type: ignore[no-untyped-def]
    """:func:`root` of every row of (R, N) ``a`` and ``c`` with (R,) starts (NaN: none)."""
    rows, n = c.shape
    out = np.empty(rows)
    work = np.empty(2 * n)
    for r in range(rows):
        out[r] = root(a[r], c[r], start[r], work, max_iter)
    return out
