"""SCCT Algorithm 1: greedy subcarriers with KKT-optimal edge compute shares.

Paper: Wang et al., "Split Learning based Cloud-edge-end Collaborative Model Training
in Heterogeneous Networks" (SCCT), Sec. IV-A, Algorithm 1 and problems P1-1 to P1-3
(22)-(25).

Compute shares (P1-3, (24)): solved exactly by :func:`splitenv.allocation.scct_kkt.optimal_shares`
(KKT + Newton), re-exported here.

Subcarriers (P1-1, (22)). Start with one subcarrier each, then give each of the K - N
remaining subcarriers to the device whose extra subcarrier lowers the objective most,
**with the shares re-optimised for each candidate** (a fix of the printed algorithm: with
KKT-equalised shares the printed greedy sees no gain from any single device). The
objective is the engine's (round scope: max migration + T J (d4 + max chain)). Since
the shares are optimal inside every candidate evaluation, one outer pass suffices
(the paper's outer loop I would repeat identical steps); ties go to the device with
the largest drop of its own chain time, then to the lowest index.

Speed (N = 30, K = 200 in a few ms): steps are proposed in chunks (the next t
subcarriers in the order of their share drops at the current V), the chunk's roots are
computed at once, and every step is verified exactly: one Newton step of the concave
F at the proposal's root bounds every other candidate's root from below, and the step
is accepted when all those bounds put the other candidates beyond the tie tolerance,
i.e. exactly when the one-step rule picks the same device. The first unverified step is
done by the one-step rule itself (exact roots for the candidates the bounds cannot
exclude). A test checks the result against the plain step-by-step greedy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from splitenv.allocation.scct_kkt import optimal_shares, share_root
from splitenv.allocation.scct_tables import Tables, Weights, build_tables
from splitenv.config import Scenario
from splitenv.model import Decision, State

Array = NDArray[np.float64]

__all__ = ["alg1", "alg1_decision", "greedy_subcarriers", "optimal_shares", "share_root"]


def _max_without(x: Array) -> Array:
    """(R, N): max of row r of ``x`` without entry n (a tied maximum stays the maximum)."""
    top2 = np.partition(x, x.shape[-1] - 2, axis=-1)[..., -2:] if x.shape[-1] > 1 else None
    if top2 is None:
        return np.full(x.shape, -np.inf)
    first, second = top2[..., 1:], top2[..., :1]
    return np.where(x >= first, second, first)


class _Greedy:
    """Algorithm 1's greedy on one state: every device's chain base, migration and beta.

    The objective after giving device m its next subcarrier is
    ``w_mig * M_m + w_chain * max(V'_m, Z_m)``, where V'_m is the share root with c_m
    lowered, Z_m the largest chain of devices without edge work and M_m the largest
    migration. Ties (within 1e-12 relative) go to the largest drop of c_m, then the
    lowest index.
    """

    def __init__(self, a: Array, base: Array, mig: Array | None, weights: Weights) -> None:
        self.a, self.base, self.w = a, base, weights
        self.k = base.shape[0] - 1
        n = a.shape[0]
        self.cols = np.arange(n)
        self.pos = a > 0
        self.any_pos = bool(self.pos.any())
        self.use_zero = bool((~self.pos).any())
        self.use_mig = mig is not None and weights.w_mig > 0 and bool(np.any(mig))
        self.mig_tab: Array = mig if mig is not None and self.use_mig else np.zeros_like(base)
        self.beta = np.ones(n, dtype=np.int64)
        self.c, self.cn = (
            self._rows(self.base, self.beta[None])[0],
            self._rows(self.base, self.beta[None] + 1)[0],
        )
        self.m, self.mn = (
            self._rows(self.mig_tab, self.beta[None])[0],
            self._rows(self.mig_tab, self.beta[None] + 1)[0],
        )
        self.v = float(share_root(a, self.c))

    def _rows(self, table: Array, beta: NDArray[np.int64]) -> Array:
        """table[beta[r, n], n] for (R, N) counts; inf beyond K."""
        vals = table[np.minimum(beta, self.k), self.cols]
        return np.where(beta <= self.k, vals, np.inf)

    # --- objective pieces, vectorized over rows of candidate states ----------------------------
    def _cand_objective(
        self, chain_new: Array, c: Array, cn: Array, m: Array | None, mn: Array | None
    ) -> Array:
        """(R, N) objective if candidate n gets the subcarrier; ``chain_new`` is its chain root."""
        chain = chain_new
        if self.use_zero:
            zc = np.where(self.pos, -np.inf, c)
            zmax = np.where(
                self.pos, zc.max(axis=-1, keepdims=True), np.maximum(_max_without(zc), cn)
            )
            chain = np.maximum(chain, zmax)
        if not self.use_mig or m is None or mn is None:
            return self.w.combine(0.0, chain)
        return self.w.combine(np.maximum(_max_without(m), mn), chain)

    def _bounds(self, x: Array, c: Array, cn: Array) -> Array:
        """(R, N) lower bound of each candidate's share root, from one Newton step at x (R,).

        F = 1 / sum a / (V - c) is concave, so the Newton iterate from any point of its
        domain lies left of the root; outside the domain the bound max_k (c_k + a_k) holds.
        """
        if not self.any_pos:
            return np.full(c.shape, -np.inf)
        a, pos = self.a, self.pos
        ce, cne = np.where(pos, c, -np.inf), np.where(pos, cn, -np.inf)
        g0, g1 = x[:, None] - ce, x[:, None] - cne
        t0, t1 = a / g0, a / g1
        q0, q1 = t0 / g0, t1 / g1
        s = t0.sum(axis=1, keepdims=True) - t0 + t1
        s2 = q0.sum(axis=1, keepdims=True) - q0 + q1
        newton = x[:, None] + s * (s - 1.0) / s2
        p0 = np.where(pos, c + a, -np.inf)
        lo = np.where(pos, np.maximum(_max_without(p0), cn + a), p0.max(axis=1, keepdims=True))
        bad = (g0 <= 0) & pos
        invalid = (
            (bad.sum(axis=1, keepdims=True) - bad > 0) | (pos & (g1 <= 0)) | ~np.isfinite(newton)
        )
        return np.where(invalid, lo, np.maximum(newton, lo))

    def _root_with(self, c: Array, cands: NDArray[np.int64], cn: Array, start: Array) -> Array:
        """Exact share roots with c[cands[i]] lowered to cn (one row per candidate)."""
        rows = np.repeat(c[None], cands.shape[0], axis=0)
        rows[np.arange(cands.shape[0]), cands] = cn[cands]
        if not self.any_pos:
            return np.full(cands.shape[0], -np.inf)
        return share_root(self.a, rows, start=start)

    def _commit(self, j: int, v_new: float) -> None:
        self.beta[j] += 1
        nxt = self.beta[j] + 1
        self.c[j] = self.cn[j]
        self.cn[j] = self.base[nxt, j] if nxt <= self.k else np.inf
        if self.use_mig:
            self.m[j] = self.mn[j]
            self.mn[j] = self.mig_tab[nxt, j] if nxt <= self.k else np.inf
        self.v = v_new

    # --- one exact step and speculative chunks -------------------------------------------------
    def step_exact(self) -> None:
        """One greedy step: the candidate with the lowest exact objective (SCCT Alg. 1, 5-12)."""
        c, cn = self.c[None], self.cn[None]
        m, mn = (self.m[None], self.mn[None]) if self.use_mig else (None, None)
        lower = self._bounds(np.array([self.v]), c, cn)
        j = int(np.argmin(self._cand_objective(lower, c, cn, m, mn)[0]))
        v_j = self._root_with(self.c, np.array([j]), self.cn, lower[0, [j]])
        exact_j = self._cand_objective(np.full(c.shape, v_j[0]), c, cn, m, mn)[0, j]
        lower2 = self._bounds(v_j, c, cn)
        obj2 = self._cand_objective(lower2, c, cn, m, mn)[0]
        obj2[j] = np.inf
        cands = np.flatnonzero(obj2 <= exact_j + 1e-12 * abs(exact_j))
        if cands.size == 0:
            self._commit(j, float(v_j[0]))
            return
        cands = np.append(cands, j)
        roots = self._root_with(self.c, cands, self.cn, lower[0, cands])
        obj = np.array(
            [
                self._cand_objective(np.full(c.shape, r), c, cn, m, mn)[0, i]
                for i, r in zip(cands, roots, strict=True)
            ]
        )
        best = obj.min()
        tied = np.flatnonzero(obj <= best + 1e-12 * abs(best))
        drop = self.c[cands[tied]] - self.cn[cands[tied]]
        order = np.lexsort((cands[tied], -drop))
        pick = tied[order[0]]
        self._commit(int(cands[pick]), float(roots[pick]))

    def speculate(self, t: int) -> int:
        """Propose the next t winners by marginal share drops at the current V, verify, commit.

        Step tau is accepted when every other candidate's objective lower bound (Newton
        bound at the proposed root) exceeds the proposal's exact objective by more than the
        tie tolerance, i.e. exactly when ``step_exact`` would pick the same device.

        Returns:
            The number of steps committed (0 when the first proposal is not verified).
        """
        n = self.c.shape[0]
        ahead = self.beta[None] + np.arange(t + 1)[:, None]
        ctab = self._rows(self.base, ahead)
        if self.any_pos:
            with np.errstate(divide="ignore", invalid="ignore"):
                gain = self.a / (self.v - ctab[:-1]) - self.a / (self.v - ctab[1:])
            gain = np.where(self.pos & np.isfinite(gain), gain, 0.0)
        else:
            gain = ctab[:-1] - ctab[1:]
        flat = np.nan_to_num(gain.ravel(), nan=0.0, posinf=0.0)
        top = np.argpartition(-flat, t - 1)[:t] if t < flat.size else np.arange(flat.size)
        top = top[np.argsort(-flat[top], kind="stable")]
        dev = top % n
        onehot = np.zeros((t, n), dtype=np.int64)
        onehot[np.arange(t), dev] = 1
        pre = np.vstack([np.zeros((1, n), dtype=np.int64), np.cumsum(onehot, axis=0)])
        bb = self.beta[None] + pre
        c_pre, cn_pre = self._rows(self.base, bb), self._rows(self.base, bb + 1)
        if self.any_pos:
            # first-order start: sum a / (V - c) falls by the proposals' gains at slope
            # sum a / (V - c)^2
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = float(np.sum(np.where(self.pos, self.a / (self.v - self.c) ** 2, 0.0)))
            guess = self.v - np.cumsum(flat[top]) / slope
            v_new = share_root(self.a, c_pre[1:], start=guess)
        else:
            v_new = np.full(t, -np.inf)
        m_pre, mn_pre = c_pre, cn_pre  # placeholders: ignored without migration
        if self.use_mig:
            m_pre, mn_pre = self._rows(self.mig_tab, bb), self._rows(self.mig_tab, bb + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            lower = self._bounds(v_new, c_pre[:-1], cn_pre[:-1])
        obj_lo = self._cand_objective(lower, c_pre[:-1], cn_pre[:-1], m_pre[:-1], mn_pre[:-1])
        winner_v = np.repeat(v_new[:, None], n, axis=1)
        exact = self._cand_objective(winner_v, c_pre[:-1], cn_pre[:-1], m_pre[:-1], mn_pre[:-1])
        exact = exact[np.arange(t), dev]
        obj_lo[np.arange(t), dev] = np.inf
        ok = np.all(obj_lo > exact[:, None] + 1e-12 * np.abs(exact[:, None]), axis=1)
        done = t if ok.all() else int(np.argmin(ok))
        if done:
            self.beta, self.c, self.cn = bb[done].copy(), c_pre[done].copy(), cn_pre[done].copy()
            if self.use_mig:
                self.m, self.mn = m_pre[done].copy(), mn_pre[done].copy()
            self.v = float(v_new[done - 1])
        return done

    def run(self, chunk: int = 16, max_chunk: int = 64) -> None:
        """Allocate the K - N subcarriers beyond one each (SCCT Alg. 1, lines 4-13)."""
        left = self.k - self.beta.sum()
        while left > 0:
            t = min(chunk, left)
            done = self.speculate(t) if t > 1 else 0
            if done == 0:
                self.step_exact()
                done = 1
                chunk = max(2, chunk // 2)
            elif done == t:
                chunk = min(max_chunk, 2 * chunk)
            left -= done

    def objective(self) -> float:
        """The engine's objective of the current allocation with optimal shares."""
        v = float(share_root(self.a, self.c)) if self.any_pos else -np.inf
        z = float(np.max(np.where(self.pos, -np.inf, self.c)))
        mig = float(self.m.max()) if self.use_mig else 0.0
        return float(self.w.combine(mig, max(v, z)))


def greedy_subcarriers(
    a: Array, base: Array, mig: Array | None, weights: Weights
) -> tuple[NDArray[np.int64], float]:
    """SCCT Algorithm 1 (lines 1-13) with re-optimised shares for one state.

    Args:
        a: (N,) edge time at full share.
        base: (K + 1, N) ``c_n(beta)`` for beta = 0..K.
        mig: (K + 1, N) migration time per beta, or ``None``.
        weights: objective coefficients.

    Returns:
        (beta, objective).
    """
    k, n = base.shape[0] - 1, base.shape[1]
    if k < n:
        raise ValueError(
            f"SCCT Alg. 1 starts with one subcarrier per device: needs K = {k} >= N = {n}"
        )
    g = _Greedy(a, base, mig, weights)
    g.run()
    return g.beta.copy(), g.objective()


def alg1(tables: Tables, option: NDArray[np.int64]) -> tuple[NDArray[np.int64], Array, float]:
    """Algorithm 1 on one state's tables for split options ``option`` (N,).

    Returns:
        (beta, alpha, objective) with the objective as the engine combines it.
    """
    a = tables.edge(option)
    base = tables.chain_base(option)
    mig = tables.migration(option) if tables.has_migration else None
    beta, obj = greedy_subcarriers(a, base, mig, tables.weights)
    alpha, _ = optimal_shares(a, base[beta, np.arange(option.shape[0])])
    return beta, alpha, obj


def alg1_decision(
    scn: Scenario, state: State, split: int | NDArray[np.int64] | None = None
) -> tuple[Decision, float]:
    """SCCT Algorithm 1 for a fixed split: greedy subcarriers and optimal compute shares.

    Args:
        scn: an SCCT-type scenario.
        state: the epoch's state.
        split: split value or (N,) vector; ``None`` = the preset's default split.

    Returns:
        (decision, objective): the split, subcarriers and shares, and the objective as the
        tables combine it (the engine's, to rounding).
    """
    if split is None:
        split = scn.decision.default_split
    split = np.broadcast_to(np.asarray(split, dtype=np.int64), (scn.n_devices,)).copy()
    tables = build_tables(scn, state, split[None, :])
    beta, alpha, obj = alg1(tables, np.zeros(scn.n_devices, dtype=np.int64))
    return Decision(split=split, subchannels=beta, compute_share=alpha), obj
