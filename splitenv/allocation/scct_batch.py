"""SCCT Algorithm 1 on R states at once: the greedy in lockstep across rows (the env's kernel).

Paper: SCCT Sec. IV-A, Algorithm 1 (greedy subcarriers, lines 1-13) with the KKT-optimal
edge compute shares of P1-3 (24) re-optimised inside every candidate evaluation, exactly as
the one-state kernel :mod:`splitenv.allocation.scct_alg1` (its docstring states the rule, the
objective and the tie rules; the same test compares both with the plain step-by-step greedy).

Every row runs the same sequence of array operations on its own data, so row r's result does
not depend on the other rows: a one-row call gives the same bits (the single env calls this
with its round's epochs, the vector env with the K x T rows of a round step). Each of the
K - N iterations takes, in every row at once, one exact step of the greedy
(:meth:`_Lockstep.step`): the candidate with the lowest objective bound (one Newton step of
the share root at V), its exact root, and exact roots for the candidates the bounds cannot
exclude; ties (1e-12 relative) go to the largest drop of the device's own chain time, then
the lowest index. The one-state kernel's speculation (chunks of proposed steps verified at
once) is not used: across rows it accepts about three steps per chunk, so the chunks' (rows x
chunk x N) arrays cost more than the plain steps' (rows x N).

Newton's iterations (:func:`splitenv.allocation.scct_kkt.share_root`, the one implementation
of the root) stop per element, never per batch. The tables come from the engine in blocks of
subcarrier counts, as the greedy reaches them (:class:`RowTables`).

Cost (N = 10, K = 200, one core): about 0.5 ms per row at R >= 384 rows, half the greedy's
190 steps of ~100 numpy operations on (R, N) arrays (elementwise divisions, where,
partition, sums along devices), half the engine calls of the tables; below ~50 rows the
numpy call overhead of the 190 steps dominates (~30 ms per call).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.allocation.scct_kkt import optimal_shares_rows, share_root, share_root_nd
from splitenv.allocation.scct_tables import _weights, check_scenario
from splitenv.config import Scenario
from splitenv.model import Decision, evaluate_batch
from splitenv.model.state import StateBatch

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]
#: elements (rows x (K + 1) x N) of one table-building engine call
TABLE_ELEMENTS = 1 << 20
_TIE = 1e-12
#: numbers of one table (rows x (K + 1) x N) of a chunk of rows solved together (32 MiB)
GREEDY_ELEMENTS = 1 << 22


def _max_without(x: Array) -> Array:
    """Max of the last axis of ``x`` without entry n (a tied maximum stays the maximum)."""
    if x.shape[-1] < 2:
        return np.full(x.shape, -np.inf)
    top2 = np.partition(x, x.shape[-1] - 2, axis=-1)[..., -2:]
    first, second = top2[..., 1:], top2[..., :1]
    return np.where(x >= first, second, first)


class _Lockstep:
    """The greedy state of R rows: counts, chain times, migration, V (see the module docstring).

    ``tables``: a :class:`RowTables` whose ``extend`` fills ``base`` and ``migration`` where
    the counts grow (None: the tables are complete).
    """

    def __init__(
        self, a: Array, base: Array, mig: Array | None, const: Array, w_mig: float,
        w_chain: float, tables: RowTables | None = None,
    ) -> None:  # fmt: skip
        r, k1, n = base.shape
        self.k, self.n, self.tables = k1 - 1, n, tables
        self.a, self.pos, self.base, self.const = a, a > 0, base, const
        self.w_mig, self.w_chain = w_mig, w_chain
        self.cols, self.rows = np.arange(n), np.arange(r)
        rows = self.rows
        self.idle = bool(np.any(~self.pos))
        self.beta = np.ones((r, n), dtype=np.int64)
        self.c, self.cn = self.gather(base, rows, self.beta), self.gather(base, rows, self.beta + 1)
        self.m, self.mn = np.zeros((r, n)), np.zeros((r, n))
        # a row without migration gives the same bits on both paths (it adds w_mig x 0 and
        # its candidates beyond K are infinite either way): the path runs once any row moves
        self._mig_table = mig
        self.mig: Array | None = None
        self._watch_migration(rows)
        self.v = share_root(a, self.c)

    def _watch_migration(self, rows: IntArray) -> None:
        """Switch the migration terms on once a tabulated row of ``rows`` has migration."""
        table = self._mig_table
        if self.mig is not None or not self.w_mig or table is None:
            return
        with np.errstate(invalid="ignore"):  # NaN: counts not tabulated yet
            moving = bool(np.any(table[rows] > 0))
        if moving:
            self.mig = table
            every = np.arange(self.beta.shape[0])
            self.m = self.gather(table, every, self.beta)
            self.mn = self.gather(table, every, self.beta + 1)

    def gather(self, table: Array, rows: IntArray, beta: IntArray) -> Array:
        """``table[row, beta, n]`` for counts ``beta`` (S, ..., N) of rows ``rows``; inf beyond K."""
        shape = (rows.size,) + (1,) * (beta.ndim - 1)
        vals = table[rows.reshape(shape), np.minimum(beta, self.k), self.cols]
        return np.where(beta <= self.k, vals, np.inf)

    # --- one step, all rows -------------------------------------------------------------------
    def _fixed_terms(self, c: Array, cn: Array) -> tuple[Array, Array, Array]:
        """What a step's candidates share: (bound floor, idle chain, migration term), (R, N).

        ``floor``: the bound's fallback max_k (c_k + a_k) with c_n lowered (``_Greedy._bounds``);
        ``zmax``: the largest chain of devices without edge work if n gets the subcarrier;
        ``mig``: w_mig x the largest migration if n gets it (SCCT (18), (20)).
        """
        a, pos = self.a, self.pos
        p0 = np.where(pos, c + a, -np.inf)
        floor = np.where(pos, np.maximum(_max_without(p0), cn + a), p0.max(axis=-1, keepdims=True))
        zmax = np.full(c.shape, -np.inf)
        if self.idle:  # devices without edge work: their chains bound the objective
            zc = np.where(pos, -np.inf, c)
            zmax = np.where(pos, zc.max(axis=-1, keepdims=True), np.maximum(_max_without(zc), cn))
        mig = np.zeros(c.shape)
        if self.mig is not None:
            mig = self.w_mig * np.maximum(_max_without(self.m), self.mn)
        return floor, zmax, mig

    def objective(self, chain_new: Array, zmax: Array, mig: Array, const: Array) -> Array:
        """Objective if candidate n gets the subcarrier; ``chain_new`` its chain root (SCCT (20))."""
        return const + mig + self.w_chain * np.maximum(chain_new, zmax)

    def bounds(self, x: Array, c: Array, cn: Array, floor: Array, sel: Any = slice(None)) -> Array:
        """Lower bound of each candidate's share root, one Newton step at x (``_Greedy._bounds``).

        F = 1 / sum a / (V - c) is concave, so the Newton iterate from any point of its domain
        lies left of the root; outside the domain the floor max_k (c_k + a_k) holds.
        """
        a, pos = self.a[sel], self.pos[sel]
        g0 = x[:, None] - np.where(pos, c, -np.inf)
        g1 = x[:, None] - np.where(pos, cn, -np.inf)
        t0, t1 = a / g0, a / g1
        q0, q1 = t0 / g0, t1 / g1
        s = t0.sum(axis=-1, keepdims=True) - t0 + t1
        s2 = q0.sum(axis=-1, keepdims=True) - q0 + q1
        newton = x[:, None] + s * (s - 1.0) / s2
        bad = (g0 <= 0) & pos
        invalid = (
            (bad.sum(axis=-1, keepdims=True) - bad > 0) | (pos & (g1 <= 0)) | ~np.isfinite(newton)
        )
        return np.where(invalid, floor, np.maximum(newton, floor))

    def step(self) -> None:
        """One exact greedy step in every row (``_Greedy.step_exact``, SCCT Alg. 1 lines 5-12).

        The candidate with the lowest objective bound (one Newton step at V), its exact root;
        rows where another candidate's bound comes within the tie tolerance get the bounds at
        that root, and where one still does, the exact roots of those candidates decide
        (:meth:`_tie_break`).
        """
        if self.tables is not None:  # the winner's next count is read at beta + 2
            upto = np.minimum(self.beta.max(axis=1) + 2, self.k)
            known = self.tables.known
            if np.any(upto > known):  # with them, the rows within a quarter of their end
                near = np.flatnonzero((upto + known // 4 > known) & (known < self.k))
                self.tables.extend(near, upto[near])
                self._watch_migration(near)
        ar = self.rows
        c, cn, v, const = self.c, self.cn, self.v, self.const[:, None]
        floor, zmax, mig = self._fixed_terms(c, cn)
        lower = self.bounds(v, c, cn, floor)
        obj = self.objective(lower, zmax, mig, const)
        j = np.argmin(obj, axis=1)
        at = (ar, j)
        cj = c.copy()
        cj[at] = cn[at]
        v_j = share_root_nd(self.a, cj, lower[at])
        exact_j = self.objective(v_j, zmax[at], mig[at], const[:, 0])
        limit = exact_j + _TIE * np.abs(exact_j)
        obj[at] = np.inf
        # the bounds at V already exclude every other candidate in most rows; the others
        # get the tighter bounds at the winner's root (both are lower bounds of each root)
        maybe = np.flatnonzero(np.any(obj <= limit[:, None], axis=1))
        pick, v_pick = j, v_j
        if maybe.size:
            jm = j[maybe]
            low2 = self.bounds(v_j[maybe], c[maybe], cn[maybe], floor[maybe], maybe)
            obj2 = self.objective(low2, zmax[maybe], mig[maybe], const[maybe])
            obj2[np.arange(maybe.size), jm] = np.inf
            close = obj2 <= limit[maybe][:, None]
            some = close.any(axis=1)
            amb, member = maybe[some], close[some]
            if amb.size:
                pick, v_pick = j.copy(), v_j.copy()
                pick[amb], v_pick[amb] = self._tie_break(amb, member, j[amb], lower, zmax, mig)
        self._commit(ar, pick, v_pick)

    def _tie_break(
        self, amb: IntArray, member: NDArray[np.bool_], j: IntArray, lower: Array, zmax: Array,
        mig: Array,
    ) -> tuple[IntArray, Array]:  # fmt: skip
        """Exact roots of the candidates ``member`` and the winner ``j`` of rows ``amb``.

        The lowest exact objective wins; within the tie tolerance, the largest drop of c_n,
        then the lowest index (``_Greedy.step_exact``). Returns (pick, its root) per row.
        """
        n, ra = self.n, np.arange(amb.size)
        ca, cna = self.c[amb], self.cn[amb]
        trial = np.repeat(ca[:, None, :], n, axis=1)
        trial[:, np.arange(n), np.arange(n)] = cna
        roots = share_root_nd(self.a[amb][:, None, :], trial, lower[amb])
        member[ra, j] = True
        obj = self.objective(roots, zmax[amb], mig[amb], self.const[amb][:, None])
        obj = np.where(member, obj, np.inf)
        best = obj.min(axis=1, keepdims=True)
        tied = member & (obj <= best + _TIE * np.abs(best))
        drop = np.where(tied, ca - cna, -np.inf)
        pick = np.argmax(tied & (drop == drop.max(axis=1, keepdims=True)), axis=1)
        return pick, roots[ra, pick]

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

    def run(self) -> IntArray:
        """Allocate the K - N subcarriers beyond one each in every row (SCCT Alg. 1, lines 4-13)."""
        with np.errstate(divide="ignore", invalid="ignore"):  # inf / inf of unserved devices
            for _ in range(self.k - self.n):
                self.step()
        return self.beta


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


class RowTables:
    """The tables of ``scct_tables.build_tables`` for one split per row, built on demand.

    ``base[r, beta, n] = c_n(beta)`` (device compute + links), ``migration[r, beta, n]`` (d0)
    and ``a[r, n]`` (edge time at full share) come from engine calls over (rows x a block of
    beta values) with alpha_n = 1, the state row repeated per beta, at most
    :data:`TABLE_ELEMENTS` elements each. The greedy only reads c_n at beta_n + 2 at most, so
    the counts are tabulated in blocks: 0..2K/N + 2 first, doubling for the rows that need
    more and, in the same engine call, the rows within a quarter of their end (the engine's
    numbers do not depend on which call computed them). Unknown entries are NaN.
    """

    def __init__(self, scn: Scenario, states: StateBatch, split: IntArray) -> None:
        check_scenario(scn)
        self.scn, self.states, self.split = scn, states, split
        r, n, k = states.batch_size, scn.n_devices, scn.network.n_subchannels
        self.k, self.n = k, n
        self.base = np.full((r, k + 1, n), np.nan)
        self.migration = np.full((r, k + 1, n), np.nan)
        self.a, self.const = np.empty((r, n)), np.empty(r)
        self.known = np.full(r, -1, dtype=np.int64)  # largest beta tabulated per row
        self.w_mig = self.w_chain = 0.0
        self.extend(np.arange(r), np.full(r, min(k, 2 * k // n + 2)))

    def extend(self, rows: IntArray, upto: IntArray) -> None:
        """Tabulate beta up to ``upto`` (doubling at least) in ``rows``; one call per level."""
        for level in np.unique(self.known[rows]):
            if level >= self.k:  # complete
                continue
            at = self.known[rows] == level
            top = min(self.k, max(int(upto[at].max()), 2 * int(level)))
            self._block(rows[at], int(level) + 1, top)

    def _block(self, rows: IntArray, lo: int, hi: int) -> None:
        """Engine calls for beta = lo..hi of ``rows``."""
        scn, n, betas = self.scn, self.n, np.arange(lo, hi + 1)
        b = betas.size
        per = max(1, TABLE_ELEMENTS // (b * n))
        for start in range(0, rows.size, per):
            part = rows[start : start + per]
            g = part.size
            grid = np.repeat(part, b)
            ev = evaluate_batch(
                scn,
                self.states.take(grid),
                Decision(
                    split=self.split[grid],
                    subchannels=np.tile(betas, g)[:, None] * np.ones((1, n), dtype=np.int64),
                    compute_share=np.ones((1, n)),
                ),
            )
            pd = ev.per_device

            def cube(name: str, g: int = g, pd: Any = pd) -> Array:
                return pd[name].reshape(g, b, n)

            link = cube("uplink_s") + cube("downlink_s") + cube("cloud_s")
            self.base[part, lo : hi + 1] = cube("device_compute_s")[:, :1, :] + link
            self.migration[part, lo : hi + 1] = cube("pre_round_s")
            if lo == 0:  # beta = 0 rows: a, and the weights as build_tables reads them
                self.a[part] = cube("server_compute_s")[:, 0, :]
                for i, row in enumerate(part):
                    terms = ("shared_iteration_s", "adapter_s")
                    w = _weights(scn, {t: ev.terms[t][i * b :] for t in terms})
                    self.const[row], self.w_mig, self.w_chain = w.const, w.w_mig, w.w_chain
        self.known[rows] = hi


def alg1_rows(scn: Scenario, states: StateBatch, split: IntArray) -> dict[str, NDArray[Any]]:
    """SCCT Algorithm 1 for R rows with a fixed split per row: split, subcarriers, shares.

    Rows are solved in chunks whose tables hold at most :data:`GREEDY_ELEMENTS` numbers
    (rows x (K + 1) x N each; the rows are independent, so chunking changes no bit).
    """
    r, n, k = states.batch_size, scn.n_devices, scn.network.n_subchannels
    per = max(1, GREEDY_ELEMENTS // ((k + 1) * n))
    beta, alpha = np.empty((r, n), dtype=np.int64), np.empty((r, n))
    for lo in range(0, r, per):
        rows = np.arange(lo, min(lo + per, r))
        tab = RowTables(scn, states.take(rows) if rows.size < r else states, split[rows])
        greedy = _Lockstep(tab.a, tab.base, tab.migration, tab.const, tab.w_mig, tab.w_chain, tab)
        beta[rows] = greedy.run()
        c = np.take_along_axis(tab.base, beta[rows][:, None, :], axis=1)[:, 0, :]
        alpha[rows] = optimal_shares_rows(tab.a, c)
    return {"split": split, "subchannels": beta, "compute_share": alpha}
