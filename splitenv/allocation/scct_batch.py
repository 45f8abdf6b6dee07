"""SCCT Algorithm 1 on R states at once: the greedy in lockstep across rows (the env's kernel).

Paper: SCCT Sec. IV-A, Algorithm 1 (greedy subcarriers, lines 1-13) with the KKT-optimal
edge compute shares of P1-3 (24) re-optimised inside every candidate evaluation, exactly as
the one-state kernel :mod:`splitenv.allocation.scct_alg1` (its docstring states the rule, the
objective and the tie rules; the same test compares both with the plain step-by-step greedy).

Every row runs the same sequence of array operations on its own data, so row r's result does
not depend on the other rows: a one-row call gives the same bits (the single env calls this
with its round's epochs, the vector env with the K x T rows of a round step). Per iteration,
every unfinished row

1. proposes its next ``CHUNK`` winners (largest marginal share drops at its current V),
   computes the proposals' share roots at once and verifies them with the one-Newton-step
   lower bounds of every other candidate (the speculation of ``scct_alg1._Greedy``); a row
   commits its verified prefix;
2. rows whose first proposal fails take one exact step (SCCT Alg. 1, lines 5-12): the
   candidate with the lowest objective bound, its exact root, and exact roots of every
   candidate the bounds cannot exclude; ties (1e-12 relative) to the largest drop of the
   device's own chain time, then the lowest index.

Newton's iterations (:func:`share_root_rows`) stop per element, never per batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.allocation.scct_tables import _weights, check_scenario
from splitenv.config import Scenario
from splitenv.model import Decision, evaluate_batch
from splitenv.model.state import StateBatch

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]
_EPS = np.finfo(float).eps
#: proposals verified per row and iteration
CHUNK = 16
#: elements (rows x (K + 1) x N) of one table-building engine call
TABLE_ELEMENTS = 1 << 20
_TIE = 1e-12


def share_root_rows(a: Array, c: Array, start: Array | None = None, max_iter: int = 100) -> Array:
    """V with ``sum_{a_n > 0} a_n / (V - c_n) = 1`` per row of the last axis (SCCT (24), KKT).

    The iteration of :func:`splitenv.allocation.scct_kkt.share_root` (Newton on the concave
    reciprocal, bracketed), with one difference: each element stops at its own convergence
    (a step below 4 ulp), so an element's value never depends on the others in the batch.

    Args:
        a: (..., N) edge time at full share (broadcasts against ``c``).
        c: (..., N) the rest of each device's chain.
        start: optional (...) start.
        max_iter: iterations at most.

    Returns:
        (...) V; ``-inf`` where no device has edge work, ``inf`` where a working one has
        c = inf.
    """
    pos = np.broadcast_to(a > 0, c.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        ce = np.where(pos, c, -np.inf)
        lo = np.max(np.where(pos, c + a, -np.inf), axis=-1)
        hi = np.max(ce, axis=-1) + np.sum(a, axis=-1)
    ok = np.isfinite(lo) & np.isfinite(hi)
    ce = np.where(ok[..., None], ce, -np.inf)
    lo, hi = np.where(ok, lo, 0.0), np.where(ok, hi, 1.0)
    v = lo if start is None else np.clip(np.where(np.isnan(start), lo, start), lo, hi)
    active = ok.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(max_iter):
            if not active.any():
                break
            gap = v[..., None] - ce
            term = a / gap
            s = term.sum(axis=-1)
            new = v + s * (s - 1.0) / (term / gap).sum(axis=-1)
            new = np.where(new < lo, lo, np.where(new > hi, 0.5 * (v + hi), new))
            step = np.abs(new - v)
            v = np.where(active, new, v)
            active &= ~(step <= 4 * _EPS * np.abs(new))
    return np.where(ok, v, np.where(pos.any(axis=-1), np.inf, -np.inf))


def optimal_shares_rows(a: Array, c: Array) -> Array:
    """Shares ``a_n / (V - c_n)`` of SCCT P1-3 (24) per row, (R, N) (``scct_kkt.optimal_shares``)."""
    v = share_root_rows(a, c)
    pos = a > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.minimum(np.where(pos, a / np.where(pos, v[:, None] - c, 1.0), 0.0), 1.0)
        total = alpha.sum(axis=-1, keepdims=True)
        alpha = np.where(total > 1.0, alpha / total, alpha)  # never more than the whole edge
        fallback = np.where(pos.any(axis=-1, keepdims=True), a / a.sum(axis=-1, keepdims=True), 0.0)
    return np.where(np.isfinite(v)[:, None], alpha, fallback)


def _max_without(x: Array) -> Array:
    """Max of the last axis of ``x`` without entry n (a tied maximum stays the maximum)."""
    if x.shape[-1] < 2:
        return np.full(x.shape, -np.inf)
    top2 = np.partition(x, x.shape[-1] - 2, axis=-1)[..., -2:]
    first, second = top2[..., 1:], top2[..., :1]
    return np.where(x >= first, second, first)


class _Lockstep:
    """The greedy state of R rows: counts, chain times, migration, V (see the module docstring)."""

    def __init__(
        self, a: Array, base: Array, mig: Array | None, const: Array, w_mig: float, w_chain: float
    ) -> None:
        r, k1, n = base.shape
        self.k, self.n = k1 - 1, n
        self.a, self.pos, self.base, self.const = a, a > 0, base, const
        self.w_mig, self.w_chain = w_mig, w_chain
        self.mig = mig if w_mig and mig is not None and np.any(mig) else None
        self.cols = np.arange(n)
        rows = np.arange(r)
        self.beta = np.ones((r, n), dtype=np.int64)
        self.c, self.cn = self.gather(base, rows, self.beta), self.gather(base, rows, self.beta + 1)
        self.m = self.mn = np.zeros((r, n))
        if self.mig is not None:
            self.m = self.gather(self.mig, rows, self.beta)
            self.mn = self.gather(self.mig, rows, self.beta + 1)
        self.v = share_root_rows(a, self.c)
        self.left = np.full(r, self.k - n, dtype=np.int64)

    def gather(self, table: Array, rows: IntArray, beta: IntArray) -> Array:
        """``table[row, beta, n]`` for counts ``beta`` (S, ..., N) of rows ``rows``; inf beyond K."""
        shape = (rows.size,) + (1,) * (beta.ndim - 1)
        vals = table[rows.reshape(shape), np.minimum(beta, self.k), self.cols]
        return np.where(beta <= self.k, vals, np.inf)

    # --- objective pieces (rows S, optionally a middle axis of proposals) --------------------
    def objective(
        self, rows: IntArray, chain_new: Array, c: Array, cn: Array, m: Array, mn: Array
    ) -> Array:
        """Objective if candidate n gets the subcarrier; ``chain_new`` its chain root (SCCT (20))."""
        pos = self._b(self.pos[rows], c)
        zc = np.where(pos, -np.inf, c)
        zmax = np.where(pos, zc.max(axis=-1, keepdims=True), np.maximum(_max_without(zc), cn))
        chain = np.maximum(chain_new, zmax)
        const = self.const[rows].reshape((rows.size,) + (1,) * (c.ndim - 1))
        mig: Any = 0.0
        if self.mig is not None:
            mig = self.w_mig * np.maximum(_max_without(m), mn)
        return const + mig + self.w_chain * chain

    @staticmethod
    def _b(x: NDArray[Any], like: Array) -> NDArray[Any]:
        """(S, N) per-row data shaped to broadcast against ``like`` (S, ..., N)."""
        return x.reshape(x.shape[:1] + (1,) * (like.ndim - 2) + x.shape[1:])

    def bounds(self, rows: IntArray, x: Array, c: Array, cn: Array) -> Array:
        """Lower bound of each candidate's share root from one Newton step at x (``_Greedy._bounds``)."""
        a, pos = self._b(self.a[rows], c), self._b(self.pos[rows], c)
        with np.errstate(divide="ignore", invalid="ignore"):
            ce, cne = np.where(pos, c, -np.inf), np.where(pos, cn, -np.inf)
            g0, g1 = x[..., None] - ce, x[..., None] - cne
            t0, t1 = a / g0, a / g1
            q0, q1 = t0 / g0, t1 / g1
            s = t0.sum(axis=-1, keepdims=True) - t0 + t1
            s2 = q0.sum(axis=-1, keepdims=True) - q0 + q1
            newton = x[..., None] + s * (s - 1.0) / s2
            p0 = np.where(pos, c + a, -np.inf)
            lo = np.where(pos, np.maximum(_max_without(p0), cn + a), p0.max(axis=-1, keepdims=True))
        bad = (g0 <= 0) & pos
        invalid = (
            (bad.sum(axis=-1, keepdims=True) - bad > 0) | (pos & (g1 <= 0)) | ~np.isfinite(newton)
        )
        return np.where(invalid, lo, np.maximum(newton, lo))

    # --- the two moves ---------------------------------------------------------------------
    def speculate(self, rows: IntArray, t: int) -> IntArray:
        """Propose, verify and commit up to t steps in every row of ``rows``; steps committed."""
        s, n = rows.size, self.n
        a, pos, v, beta = self.a[rows], self.pos[rows], self.v[rows], self.beta[rows]
        a3, pos3 = a[:, None, :], pos[:, None, :]
        ahead = beta[:, None, :] + np.arange(t + 1)[None, :, None]
        ctab = self.gather(self.base, rows, ahead)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = a3 / (v[:, None, None] - ctab[:, :-1]) - a3 / (v[:, None, None] - ctab[:, 1:])
            gain = np.where(pos3 & np.isfinite(gain), gain, 0.0)
            working = np.any(pos, axis=1).reshape(s, 1, 1)  # rows with edge work
            gain = np.where(working, gain, ctab[:, :-1] - ctab[:, 1:])
        flat = np.nan_to_num(gain.reshape(s, t * n), nan=0.0, posinf=0.0)
        top = np.argpartition(-flat, t - 1, axis=1)[:, :t]
        top = np.take_along_axis(
            top, np.argsort(-np.take_along_axis(flat, top, 1), axis=1, kind="stable"), 1
        )
        dev = top % n
        step = np.arange(t)
        onehot = np.zeros((s, t, n), dtype=np.int64)
        onehot[np.arange(s)[:, None], step[None, :], dev] = 1
        bb = beta[:, None, :] + np.concatenate(
            [np.zeros((s, 1, n), dtype=np.int64), np.cumsum(onehot, axis=1)], axis=1
        )
        c_pre, cn_pre = self.gather(self.base, rows, bb), self.gather(self.base, rows, bb + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            # first-order start: sum a / (V - c) falls by the gains at slope sum a / (V - c)^2
            slope = np.sum(np.where(pos, a / (v[:, None] - self.c[rows]) ** 2, 0.0), axis=1)
            guess = (
                v[:, None] - np.cumsum(np.take_along_axis(flat, top, 1), axis=1) / slope[:, None]
            )
        v_new = share_root_rows(a3, c_pre[:, 1:], start=guess)
        m_pre = mn_pre = np.zeros_like(c_pre)
        if self.mig is not None:
            m_pre, mn_pre = self.gather(self.mig, rows, bb), self.gather(self.mig, rows, bb + 1)
        cp, cnp, mp, mnp = c_pre[:, :-1], cn_pre[:, :-1], m_pre[:, :-1], mn_pre[:, :-1]
        obj_lo = self.objective(rows, self.bounds(rows, v_new, cp, cnp), cp, cnp, mp, mnp)
        exact = self.objective(rows, np.broadcast_to(v_new[..., None], cp.shape), cp, cnp, mp, mnp)
        at = (np.arange(s)[:, None], step[None, :], dev)
        exact = exact[at]
        obj_lo[at] = np.inf
        ok = np.all(obj_lo > exact[..., None] + _TIE * np.abs(exact[..., None]), axis=2)
        ok &= step[None, :] < self.left[rows][:, None]
        done = np.where(ok.all(axis=1), t, np.argmin(ok, axis=1))
        go = np.flatnonzero(done > 0)
        if go.size:
            r, d = rows[go], done[go]
            self.beta[r], self.c[r], self.cn[r] = bb[go, d], c_pre[go, d], cn_pre[go, d]
            if self.mig is not None:
                self.m[r], self.mn[r] = m_pre[go, d], mn_pre[go, d]
            self.v[r] = v_new[go, d - 1]
        return done

    def step_exact(self, rows: IntArray) -> None:
        """One exact greedy step in every row of ``rows`` (``_Greedy.step_exact``)."""
        s, n = rows.size, self.n
        ar = np.arange(s)
        c, cn, m, mn, v = self.c[rows], self.cn[rows], self.m[rows], self.mn[rows], self.v[rows]
        a = self.a[rows]
        lower = self.bounds(rows, v, c, cn)
        j = np.argmin(self.objective(rows, lower, c, cn, m, mn), axis=1)
        cj = c.copy()
        cj[ar, j] = cn[ar, j]
        v_j = share_root_rows(a, cj, start=lower[ar, j])
        exact_j = self.objective(rows, np.repeat(v_j[:, None], n, axis=1), c, cn, m, mn)[ar, j]
        obj2 = self.objective(rows, self.bounds(rows, v_j, c, cn), c, cn, m, mn)
        obj2[ar, j] = np.inf
        cands = obj2 <= (exact_j + _TIE * np.abs(exact_j))[:, None]
        pick, v_pick = j.copy(), v_j
        amb = np.flatnonzero(cands.any(axis=1))
        if amb.size:  # exact roots of every candidate the bounds cannot exclude
            ra = rows[amb]
            ca, cna = c[amb], cn[amb]
            trial = np.repeat(ca[:, None, :], n, axis=1)
            trial[:, np.arange(n), np.arange(n)] = cna
            roots = share_root_rows(a[amb][:, None, :], trial, start=lower[amb])
            member = cands[amb]
            member[np.arange(amb.size), j[amb]] = True
            obj = np.where(member, self.objective(ra, roots, ca, cna, m[amb], mn[amb]), np.inf)
            best = obj.min(axis=1, keepdims=True)
            tied = member & (obj <= best + _TIE * np.abs(best))
            drop = np.where(tied, ca - cna, -np.inf)
            first = tied & (drop == drop.max(axis=1, keepdims=True))
            pick[amb] = np.argmax(first, axis=1)
            v_pick = v_pick.copy()
            v_pick[amb] = roots[np.arange(amb.size), pick[amb]]
        self._commit(rows, pick, v_pick)

    def _commit(self, rows: IntArray, j: IntArray, v_new: Array) -> None:
        self.beta[rows, j] += 1
        nxt = self.beta[rows, j] + 1
        self.c[rows, j] = self.cn[rows, j]
        self.cn[rows, j] = np.where(
            nxt <= self.k, self.base[rows, np.minimum(nxt, self.k), j], np.inf
        )
        if self.mig is not None:
            self.m[rows, j] = self.mn[rows, j]
            self.mn[rows, j] = np.where(
                nxt <= self.k, self.mig[rows, np.minimum(nxt, self.k), j], np.inf
            )
        self.v[rows] = v_new

    def run(self, chunk: int = CHUNK) -> IntArray:
        """Allocate the K - N subcarriers beyond one each in every row (SCCT Alg. 1, lines 4-13)."""
        while True:
            rows = np.flatnonzero(self.left > 0)
            if not rows.size:
                return self.beta
            done = self.speculate(rows, chunk)
            failed = rows[done == 0]
            if failed.size:
                self.step_exact(failed)
                done[done == 0] = 1
            self.left[rows] -= done


def greedy_rows(
    a: Array, base: Array, mig: Array | None, const: Array, w_mig: float, w_chain: float
) -> IntArray:
    """SCCT Algorithm 1 (lines 1-13) for R rows: the subcarrier counts (R, N).

    Args:
        a: (R, N) edge time at full share.
        base: (R, K + 1, N) ``c_n(beta)`` for beta = 0..K.
        mig: (R, K + 1, N) migration time per beta, or None.
        const: (R,) the objective's constant per row (:class:`~.scct_tables.Weights`).
        w_mig: weight of the largest migration.
        w_chain: weight of the largest chain.
    """
    k, n = base.shape[1] - 1, base.shape[2]
    if k < n:
        raise ValueError(
            f"SCCT Alg. 1 starts with one subcarrier per device: needs K = {k} >= N = {n}"
        )
    return _Lockstep(a, base, mig, const, w_mig, w_chain).run()


def tables_rows(
    scn: Scenario, states: StateBatch, split: IntArray
) -> tuple[Array, Array, Array, Array, float, float]:
    """The tables of ``scct_tables.build_tables`` for one split per row, all rows at once.

    Engine calls of at most :data:`TABLE_ELEMENTS` elements, each over (rows x beta = 0..K)
    with alpha_n = 1, the state row repeated per beta.

    Returns:
        (a (R, N), base (R, K + 1, N), migration (R, K + 1, N), const (R,), w_mig, w_chain).
    """
    check_scenario(scn)
    r, n, k = states.batch_size, scn.n_devices, scn.network.n_subchannels
    per = max(1, TABLE_ELEMENTS // ((k + 1) * n))
    a, base, mig, const = (
        np.empty((r, n)),
        np.empty((r, k + 1, n)),
        np.empty((r, k + 1, n)),
        np.empty(r),
    )
    w_mig = w_chain = 0.0
    betas = np.arange(k + 1)
    for lo in range(0, r, per):
        rows = np.arange(lo, min(lo + per, r))
        g = rows.size
        grid = np.repeat(rows, k + 1)
        ev = evaluate_batch(
            scn,
            states.take(grid),
            Decision(
                split=split[grid],
                subchannels=np.tile(betas, g)[:, None] * np.ones((1, n), dtype=np.int64),
                compute_share=np.ones((1, n)),
            ),
        )
        pd = ev.per_device

        def cube(name: str, g: int = g, pd: Any = pd) -> Array:
            return pd[name].reshape(g, k + 1, n)

        link = cube("uplink_s") + cube("downlink_s") + cube("cloud_s")
        a[rows] = cube("server_compute_s")[:, 0, :]
        base[rows] = cube("device_compute_s")[:, 0, :][:, None, :] + link
        mig[rows] = cube("pre_round_s")
        for i, row in enumerate(rows):
            w = _weights(
                scn, {t: ev.terms[t][i * (k + 1) :] for t in ("shared_iteration_s", "adapter_s")}
            )
            const[row], w_mig, w_chain = w.const, w.w_mig, w.w_chain
    return a, base, mig, const, w_mig, w_chain


def alg1_rows(scn: Scenario, states: StateBatch, split: IntArray) -> dict[str, NDArray[Any]]:
    """SCCT Algorithm 1 for R rows with a fixed split per row: split, subcarriers, shares."""
    a, base, mig, const, w_mig, w_chain = tables_rows(scn, states, split)
    has_mig = w_mig > 0 and bool(np.any(mig > 0))
    beta = greedy_rows(a, base, mig if has_mig else None, const, w_mig, w_chain)
    c = np.take_along_axis(base, beta[:, None, :], axis=1)[:, 0, :]
    return {"split": split, "subchannels": beta, "compute_share": optimal_shares_rows(a, c)}
