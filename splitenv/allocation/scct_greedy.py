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

A row's numbers live in one workspace array whose rows the functions index (:data:`_A` ...),
and the step and its bounds are inlined into the row loop (numba's ``inline="always"``):
numba counts a reference of every array argument and every view, an atomic operation each,
which with views and per-vector arguments took a third of the greedy's time (~80 us per row
at N = 10, K = 200 before, ~50 us now; the first compilation takes ~13 s instead of ~7 s).
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

# Rows of a row's workspace, one (_ROWS, N) float64 array: the functions take it whole and
# index its rows (no views, one array argument).
#: the row's a_n (edge time at full share), chain parts c_n(beta_n) and c_n(beta_n + 1),
#: migration d0_n(beta_n) and d0_n(beta_n + 1)
_A, _C, _CN, _M, _MN = 0, 1, 2, 3, 4
#: a step's numbers per candidate: the floor of its root, the largest chain of the devices
#: without edge work, its weighted migration, its root's lower bound, its objective, its
#: bound at the winner's root (then its exact root), and the chain parts it is evaluated at
_FLOOR, _ZMAX, _MIG, _LOWER, _OBJ, _LOW2, _TRIAL = 5, 6, 7, 8, 9, 10, 11
#: Newton terms a_n / gap_n and a_n / gap_n^2, at c (the root's) and at cn
_T0, _T1, _Q0, _Q1 = 12, 13, 14, 15
_ROWS = 16


@njit(cache=True, error_model="numpy")
def psum(x):  # type: ignore[no-untyped-def]
    """``x.sum()`` of a contiguous float64 vector, bit for bit: numpy's pairwise summation.

    The halves recurse on 1-D slices (a recursive function of (workspace, row, lo, hi)
    crashed when numba 0.68 loaded it from its cache).
    """
    n = x.shape[0]
    if n <= 128:
        return _block_sum(x.reshape(1, n), 0, n)
    half = n // 2
    half -= half % 8
    return psum(x[:half]) + psum(x[half:])


@njit(cache=True, error_model="numpy", inline="always")
def _block_sum(w, row, n):  # type: ignore[no-untyped-def]
    """The pairwise sum of up to 128 numbers ``w[row, :n]`` (eight partial sums from eight on)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += w[row, i]
        return res
    r0, r1, r2, r3 = w[row, 0], w[row, 1], w[row, 2], w[row, 3]
    r4, r5, r6, r7 = w[row, 4], w[row, 5], w[row, 6], w[row, 7]
    i = 8
    top = n - n % 8
    while i < top:
        r0 += w[row, i]
        r1 += w[row, i + 1]
        r2 += w[row, i + 2]
        r3 += w[row, i + 3]
        r4 += w[row, i + 4]
        r5 += w[row, i + 5]
        r6 += w[row, i + 6]
        r7 += w[row, i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += w[row, i]
        i += 1
    return res


@njit(cache=True, error_model="numpy", inline="always")
def _sum(w, row):  # type: ignore[no-untyped-def]
    """:func:`psum` of workspace row ``row``, without a view up to 128 devices."""
    n = w.shape[1]
    return _block_sum(w, row, n) if n <= 128 else psum(w[row])


@njit(cache=True, error_model="numpy")
def _fmax(a, b):  # type: ignore[no-untyped-def]
    """np.maximum of two floats (the first if equal or NaN)."""
    return a if (a >= b or a != a) else b


@njit(cache=True, error_model="numpy")
def root(w, c, start, asum, max_iter=MAX_ITER):  # type: ignore[no-untyped-def]
    """V solving ``sum_{a_n > 0} a_n / (V - c_n) = 1`` for one row (scct_kkt.share_root).

    ``a`` is workspace row :data:`_A`, ``c`` row ``c`` (the terms go to rows _T0 and _Q0),
    ``asum`` the row's ``psum(a)``. Newton's method on ``F(V) = 1 / sum_n a_n / (V - c_n)``
    from ``start`` (NaN: the left end ``max_n (c_n + a_n)``), kept in
    ``[max_n (c_n + a_n), max_n c_n + sum_n a_n]``, stopped at a step below 4 ulp; ``-inf``
    without edge work, ``inf`` if the bracket is not finite. ``max_iter``: Newton iterations
    at most.
    """
    n = w.shape[1]
    lo, cmax, any_pos = -_INF, -_INF, False
    for i in range(n):
        if w[_A, i] > 0:
            any_pos = True
            lo = _fmax(lo, w[c, i] + w[_A, i])
            cmax = _fmax(cmax, w[c, i])
    hi = cmax + asum
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _INF if any_pos else -_INF
    v = lo
    if start == start:  # not NaN: np.minimum(np.maximum(start, lo), hi)
        v = _fmax(start, lo)
        if not (v <= hi or v != v):
            v = hi
    for _ in range(max_iter):
        for i in range(n):
            gap = v - (w[c, i] if w[_A, i] > 0 else -_INF)
            w[_T0, i] = w[_A, i] / gap
            w[_Q0, i] = w[_T0, i] / gap
        s = _sum(w, _T0)
        new = v + s * (s - 1.0) / _sum(w, _Q0)
        if new < lo:
            new = lo
        elif new > hi:
            new = 0.5 * (v + hi)
        step = abs(new - v)
        v = new
        if step <= _STOP * abs(new):
            break
    return v


@njit(cache=True, error_model="numpy", inline="always")
def _bounds(w, x, out):  # type: ignore[no-untyped-def]
    """Each candidate's lower bound of its share root: one Newton step at ``x`` (scct_batch).

    F is concave, so the Newton iterate from a point of its domain lies left of the root;
    outside the domain the floor max_k (c_k + a_k) holds. Into workspace row ``out``.
    """
    n = w.shape[1]
    nbad = 0
    for i in range(n):
        pos = w[_A, i] > 0
        g0 = x - (w[_C, i] if pos else -_INF)
        g1 = x - (w[_CN, i] if pos else -_INF)
        w[_T0, i] = w[_A, i] / g0
        w[_T1, i] = w[_A, i] / g1
        w[_Q0, i] = w[_T0, i] / g0
        w[_Q1, i] = w[_T1, i] / g1
        if g0 <= 0 and pos:
            nbad += 1
    s0, r0 = _sum(w, _T0), _sum(w, _Q0)
    for i in range(n):
        pos = w[_A, i] > 0
        g0 = x - (w[_C, i] if pos else -_INF)
        g1 = x - (w[_CN, i] if pos else -_INF)
        s = s0 - w[_T0, i] + w[_T1, i]
        s2 = r0 - w[_Q0, i] + w[_Q1, i]
        newton = x + s * (s - 1.0) / s2
        bad = 1 if (g0 <= 0 and pos) else 0
        invalid = (nbad - bad > 0) or (pos and g1 <= 0) or not np.isfinite(newton)
        w[out, i] = w[_FLOOR, i] if invalid else _fmax(newton, w[_FLOOR, i])


@njit(cache=True, error_model="numpy")
def _objective(w, i, chain, const, w_chain):  # type: ignore[no-untyped-def]
    """SCCT (20) if candidate ``i`` gets the subcarrier: const + migration + w x largest chain."""
    return const + w[_MIG, i] + w_chain * _fmax(chain, w[_ZMAX, i])


@njit(cache=True, error_model="numpy")
def _argmin(w, row):  # type: ignore[no-untyped-def]
    """np.argmin of workspace row ``row``: the first minimum (the first NaN if any)."""
    best, at = w[row, 0], 0
    if best != best:
        return 0
    for i in range(1, w.shape[1]):
        x = w[row, i]
        if x != x:
            return i
        if x < best:
            best, at = x, i
    return at


@njit(cache=True, error_model="numpy")
def _trial(w, i):  # type: ignore[no-untyped-def]
    """Workspace row _TRIAL: the chain parts with candidate ``i``'s subcarrier."""
    for q in range(w.shape[1]):
        w[_TRIAL, q] = w[_C, q]
    w[_TRIAL, i] = w[_CN, i]


@njit(cache=True, error_model="numpy", inline="always")
def _step(w, member, v, asum, const, w_mig, w_chain, mig_on):  # type: ignore[no-untyped-def]
    """One exact greedy step of one row (SCCT Alg. 1 lines 5-12): (the winner, its root).

    ``w``: the row's workspace; ``member``: (N,) booleans; ``asum``: ``psum(a)``.
    """
    n = w.shape[1]
    # what the candidates share (scct_batch._Lockstep._fixed_terms)
    p_first, p_second = -_INF, -_INF
    z_first, z_second = -_INF, -_INF
    m_first, m_second = -_INF, -_INF
    idle = False
    for i in range(n):  # the two largest of each (a -inf entry would change neither)
        a, c = w[_A, i], w[_C, i]
        if a > 0:
            p = c + a
            if p >= p_first:
                p_second, p_first = p_first, p
            elif p > p_second:
                p_second = p
        elif a <= 0:  # (not NaN)
            idle = True
            if c >= z_first:
                z_second, z_first = z_first, c
            elif c > z_second:
                z_second = c
        if mig_on:
            m = w[_M, i]
            if m >= m_first:
                m_second, m_first = m_first, m
            elif m > m_second:
                m_second = m
    for i in range(n):
        a, c, cn = w[_A, i], w[_C, i], w[_CN, i]
        pos = a > 0
        p = c + a if pos else -_INF
        without = (p_second if p >= p_first else p_first) if n >= 2 else -_INF
        w[_FLOOR, i] = _fmax(without, cn + a) if pos else p_first
        if idle:
            z = -_INF if pos else c
            z_without = (z_second if z >= z_first else z_first) if n >= 2 else -_INF
            w[_ZMAX, i] = z_first if pos else _fmax(z_without, cn)
        else:
            w[_ZMAX, i] = -_INF
        if mig_on:
            m = w[_M, i]
            m_without = (m_second if m >= m_first else m_first) if n >= 2 else -_INF
            w[_MIG, i] = w_mig * _fmax(m_without, w[_MN, i])
        else:
            w[_MIG, i] = 0.0
    _bounds(w, v, _LOWER)
    for i in range(n):
        w[_OBJ, i] = _objective(w, i, w[_LOWER, i], const, w_chain)
    j = _argmin(w, _OBJ)
    _trial(w, j)
    v_j = root(w, _TRIAL, w[_LOWER, j], asum)
    exact = _objective(w, j, v_j, const, w_chain)
    limit = exact + _TIE * abs(exact)
    w[_OBJ, j] = _INF
    maybe = False
    for i in range(n):
        if w[_OBJ, i] <= limit:
            maybe = True
    if not maybe:
        return j, v_j
    # the bounds at the winner's root exclude more; the rest get their exact roots
    _bounds(w, v_j, _LOW2)
    close = False
    for i in range(n):
        w[_OBJ, i] = _INF if i == j else _objective(w, i, w[_LOW2, i], const, w_chain)
        if w[_OBJ, i] <= limit:
            close = True
    if not close:
        return j, v_j
    # tie break (scct_batch._Lockstep._tie_break): the lowest exact objective; within the
    # tolerance the largest drop of the device's own chain, then the lowest index
    for i in range(n):
        member[i] = i == j or w[_OBJ, i] <= limit
    for i in range(n):  # the members' exact roots into _LOW2 (the bounds at V_j are not read again)
        if member[i]:
            _trial(w, i)
            w[_LOW2, i] = root(w, _TRIAL, w[_LOWER, i], asum)
            w[_OBJ, i] = _objective(w, i, w[_LOW2, i], const, w_chain)
        else:
            w[_OBJ, i] = _INF
    best = w[_OBJ, 0]
    for i in range(1, n):
        o = w[_OBJ, i]
        if o < best or o != o:  # np.min (NaN propagates)
            best = o if best == best else best
    top = best + _TIE * abs(best)
    drop_max = -_INF
    for i in range(n):
        member[i] = member[i] and w[_OBJ, i] <= top  # tied
        if member[i]:
            drop_max = _fmax(drop_max, w[_C, i] - w[_CN, i])
    for i in range(n):
        if member[i] and w[_C, i] - w[_CN, i] == drop_max:
            return i, w[_LOW2, i]
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
    w = np.empty((_ROWS, n))
    member = np.zeros(n, dtype=np.bool_)
    pending = 0
    for r in range(rows):
        if steps[r] < 0:  # line 1-3: one subcarrier each
            for i in range(n):
                beta[r, i] = 1
                c[r, i] = base[r, 1, i]
                cn[r, i] = base[r, 2, i] if 2 <= k else _INF
                m[r, i] = mig[r, 1, i] if mig_on else 0.0
                mn[r, i] = (mig[r, 2, i] if 2 <= k else _INF) if mig_on else 0.0
        for i in range(n):  # the row into the workspace, and back when it stops
            w[_A, i], w[_C, i], w[_CN, i] = a[r, i], c[r, i], cn[r, i]
            w[_M, i], w[_MN, i] = m[r, i], mn[r, i]
        asum = _sum(w, _A)
        if steps[r] < 0:
            v[r] = root(w, _C, np.nan, asum)
            steps[r] = 0
        while steps[r] < total:
            need = 0
            for i in range(n):
                need = max(need, beta[r, i])
            if min(need + 2, k) > known[r]:
                break
            j, v_new = _step(w, member, v[r], asum, const[r], w_mig, w_chain, mig_on)
            beta[r, j] += 1
            nxt = beta[r, j] + 1
            w[_C, j] = w[_CN, j]
            w[_CN, j] = base[r, nxt, j] if nxt <= k else _INF
            if mig_on:
                w[_M, j] = w[_MN, j]
                w[_MN, j] = mig[r, nxt, j] if nxt <= k else _INF
            v[r] = v_new
            steps[r] += 1
        for i in range(n):
            c[r, i], cn[r, i], m[r, i], mn[r, i] = w[_C, i], w[_CN, i], w[_M, i], w[_MN, i]
        if steps[r] < total:
            pending += 1
    return pending


@njit(cache=True, error_model="numpy")
def roots_rows(a, c, start, max_iter):  # type: ignore[no-untyped-def]
    """:func:`root` of every row of (R, N) ``a`` and ``c`` with (R,) starts (NaN: none)."""
    rows, n = c.shape
    out = np.empty(rows)
    w = np.empty((_ROWS, n))
    for r in range(rows):
        for i in range(n):
            w[_A, i], w[_C, i] = a[r, i], c[r, i]
        out[r] = root(w, _C, start[r], _sum(w, _A), max_iter)
    return out
