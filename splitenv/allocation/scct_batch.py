"""SCCT Algorithm 1 on R states at once: the env's kernel, row by row in compiled code.

Paper: SCCT Sec. IV-A, Algorithm 1 (greedy subcarriers, lines 1-13) with the KKT-optimal
edge compute shares of P1-3 (24) re-optimised inside every candidate evaluation, exactly as
the one-state kernel :mod:`splitenv.allocation.scct_alg1` (its docstring states the rule, the
objective and the tie rules; the same test compares both with the plain step-by-step greedy).

Each of the K - N iterations takes one exact step of the greedy in each row
(:func:`splitenv.allocation.scct_greedy.run_rows`, numba): the candidate with the lowest
objective bound (one Newton step of the share root at V), its exact root, and exact roots
for the candidates the bounds cannot exclude; ties (1e-12 relative) go to the largest drop
of the device's own chain time, then the lowest index. Row r's result does not depend on the
other rows: a one-row call gives the same bits (the single env calls this with its round's
epochs, the vector env with the K x T rows of a round step).

The tables ``c_n(beta)`` come from the engine in blocks of subcarrier counts, as the greedy
reaches them (:class:`RowTables`): the compiled steps stop where a row's tables end, the
next block is tabulated, and the steps go on.

Cost (N = 10, K = 200, one core; the 768 rows of a round step of 256 envs, load ~0.7): ~75 us
per row, ~50 us of them the greedy's 190 steps (~260 ns a step, mostly the share roots'
chains of divisions) and ~22 us the tables (engine calls of 2^15 elements, ~55 c_n(beta) per
device and row); ~150 us (82 + 65) before the workspace kernel, L2-sized engine calls and
beta = 0 apart. In numpy array operations the greedy took ~0.3 ms per row and ~30 ms per
call of a few rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.allocation.scct_greedy import run_rows
from splitenv.allocation.scct_kkt import optimal_shares_rows
from splitenv.allocation.scct_tables import check_scenario, weight_terms
from splitenv.config import Scenario
from splitenv.model import Decision
from splitenv.model.decision import DECISION_FIELDS, completed_decision
from splitenv.model.phases import Phases, phases
from splitenv.model.schedule import pre_round
from splitenv.model.state import StateBatch
from splitenv.model.validation import complete

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]
#: elements (grid rows x N) of one table-building engine call: 256 KiB a float64 array, so
#: the engine's arrays stay in a core's L2 cache (at 2^20 the tables took twice as long)
TABLE_ELEMENTS = 1 << 15
#: numbers of one table (rows x (K + 1) x N) of a chunk of rows solved together (32 MiB)
GREEDY_ELEMENTS = 1 << 22


def _greedy(
    a: Array, base: Array, mig: Array | None, const: Array, w_mig: float, w_chain: float,
    tables: RowTables | None = None,
) -> IntArray:  # fmt: skip
    """SCCT Alg. 1 (lines 1-13) of every row: the compiled steps, the tables extended between calls.

    :func:`splitenv.allocation.scct_greedy.run_rows` takes each row as far as its tables
    reach; the rows that need more counts, with the rows within a quarter of their
    tabulated end, get the next block in one engine call (``tables.extend``), and the steps
    go on. Which call tabulated a count changes no number.
    """
    r, k1, n = base.shape
    k = k1 - 1
    mig_on = bool(w_mig) and mig is not None
    known = np.full(r, k, dtype=np.int64) if tables is None else tables.known
    beta = np.ones((r, n), dtype=np.int64)
    c, cn, m, mn = (np.zeros((r, n)) for _ in range(4))
    v, steps = np.zeros(r), np.full(r, -1, dtype=np.int64)
    table = mig if mig_on else np.zeros((1, 1, 1))
    while run_rows(
        a, base, table, mig_on, const, w_mig, w_chain, known, beta, c, cn, m, mn, v, steps
    ):
        if tables is None:  # complete tables: every row ran to its end
            raise AssertionError("SCCT Alg. 1: rows left with complete tables")
        upto = np.minimum(beta.max(axis=1) + 2, k)
        pending = steps < k - n
        near = np.flatnonzero(pending & (upto + known // 4 > known) & (known < k))
        tables.extend(near, upto[near])
    return beta


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
    f64 = np.float64
    return _greedy(
        np.ascontiguousarray(a, dtype=f64), np.ascontiguousarray(base, dtype=f64),
        None if mig is None else np.ascontiguousarray(mig, dtype=f64),
        np.ascontiguousarray(const, dtype=f64), float(w_mig), float(w_chain),
    )  # fmt: skip


class RowTables:
    """The tables of ``scct_tables.build_tables`` for one split per row, built on demand.

    ``base[r, beta, n] = c_n(beta)`` (device compute + links), ``migration[r, beta, n]`` (d0)
    and ``a[r, n]`` (edge time at full share) come from the engine's phases
    (:func:`splitenv.model.phases.phases`, the per-device terms of ``evaluate_batch``) with
    alpha_n = 1: beta = 0 (with ``a`` and the objective's weights) on the rows themselves,
    then the rows x a block of beta values, the state row repeated per beta, at most
    :data:`TABLE_ELEMENTS` elements a call. The greedy only reads c_n at beta_n + 2 at most,
    so the counts are tabulated in blocks: 1..2K/N + 2 first, doubling for the rows that need
    more and, in the same engine call, the rows within a quarter of their end (the engine's
    numbers do not depend on which call computed them). Entries beyond ``known`` are unset.
    """

    def __init__(self, scn: Scenario, states: StateBatch, split: IntArray) -> None:
        check_scenario(scn)
        r, n, k = states.batch_size, scn.n_devices, scn.network.n_subchannels
        self.scn, self.states, self.k, self.n = scn, states, k, n
        self.base, self.migration = np.empty((r, k + 1, n)), np.empty((r, k + 1, n))
        # the rows' decisions at beta = 0, completed once: a block's grid takes their rows
        self.decision = complete(
            scn,
            Decision(
                split=split,
                subchannels=np.zeros((r, n), dtype=np.int64),
                compute_share=np.ones((1, n)),
            ),
        )
        ph, pre = self._phases(states, self.decision)
        self.base[:, 0], self.migration[:, 0] = _chain_part(ph), pre
        self.a = ph.server
        # the engine's terms shared_iteration_s and adapter_s, as build_tables reads them
        self.const, self.w_mig, self.w_chain = weight_terms(scn, ph.shared, ph.post.max(axis=1))
        self.known = np.zeros(r, dtype=np.int64)  # largest beta tabulated per row
        self.extend(np.arange(r), np.full(r, min(k, 2 * k // n + 2)))

    def _phases(self, states: StateBatch, decision: Decision) -> tuple[Phases, Array]:
        """The engine's phases and the time before the round, of (B, N) states and decisions.

        What evaluate_batch's per-device terms are made of: the tables need no latency
        composition, energy, memory or constraint.
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ph = phases(self.scn, states, decision)
            return ph, pre_round(states, ph)

    def extend(self, rows: IntArray, upto: IntArray) -> None:
        """Tabulate beta up to ``upto`` (doubling at least) in ``rows``; one call per level."""
        for level in np.unique(self.known[rows]):
            if level >= self.k:  # complete
                continue
            at = self.known[rows] == level
            top = min(self.k, max(int(upto[at].max()), 2 * int(level)))
            self._block(rows[at], int(level) + 1, top)

    def _block(self, rows: IntArray, lo: int, hi: int) -> None:
        """Engine calls for beta = lo..hi (lo >= 1) of ``rows``."""
        n, betas = self.n, np.arange(lo, hi + 1)
        b = betas.size
        per = max(1, TABLE_ELEMENTS // (b * n))
        for start in range(0, rows.size, per):
            part = rows[start : start + per]
            g = part.size
            grid = np.repeat(part, b)
            # rows of a completed decision are completed (Decision.take), valid counts too
            fields = {name: getattr(self.decision, name) for name in DECISION_FIELDS}
            fields = {k: None if v is None else np.take(v, grid, axis=0) for k, v in fields.items()}
            fields["subchannels"] = np.repeat(np.tile(betas, g)[:, None], n, axis=1)
            ph, pre = self._phases(
                self.states.take(grid), completed_decision(self.scn, fields, g * b)
            )
            self.base[part, lo : hi + 1] = _chain_part(ph).reshape(g, b, n)
            self.migration[part, lo : hi + 1] = pre.reshape(g, b, n)
        self.known[rows] = hi


def _chain_part(ph: Phases) -> Array:
    """``c_n(beta)`` of every row: device compute, then the links (up, down, any cloud hop)."""
    return (ph.dev_fwd + ph.dev_bwd) + ((ph.up + ph.down) + ph.cloud)


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
        beta[rows] = _greedy(tab.a, tab.base, tab.migration, tab.const, tab.w_mig, tab.w_chain, tab)
        c = np.take_along_axis(tab.base, beta[rows][:, None, :], axis=1)[:, 0, :]
        alpha[rows] = optimal_shares_rows(tab.a, c)
    return {"split": split, "subchannels": beta, "compute_share": alpha}
