"""Per-client tables of the FedsLLM objective, extracted from the engine, and its blocks.

FedsLLM's total delay (17), with the three worst-case delays of (21):

    T = E(r) (I (T1 + t_sF + t_sB + T2) + T3),
    T1 = max_k (t_F_k + b Gamma / R_s_k)    (8), (10)      main-server pool
    T2 = max_k t_B_k                        (13)
    T3 = max_k r Delta_c / R_f_k            (15)           federated pool
    t_sF + t_sB = sum_k server work of client k's data   (11)-(12)

Every per-client number (compute times, bits, server time, E(r)) comes from ONE batched
engine call over all (split, rank) pairs (:func:`build_tables`); rates are the Shannon
rate of :mod:`splitenv.allocation.fedsllm_power`, the engine's (9)/(14) with the power spread over
the client's subchannels. :func:`FedsTables.objective` recombines them; solvers check it
against a fresh engine evaluation of their final decision (``surrogate_rel_err``).

The pools decouple: given split and rank, T1 depends only on the main-pool subchannels
and powers and T3 only on the federated pool's, so each pool is optimized on its own term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from splitenv.allocation.fedsllm_power import rate_bps
from splitenv.config import Scenario
from splitenv.model import Decision, State, block_costs, evaluate_batch

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Largest number of split vectors enumerated exactly; beyond it, per-client coordinate search.
MAX_SPLIT_VECTORS = 2_000_000


@dataclass(frozen=True)
class Pool:
    """One subchannel pool: its subchannel count and width, and the clients' a_k = G_k / N0."""

    n_subchannels: int
    subchannel_hz: float
    snr_coeff: Array  # (N,)


@dataclass(frozen=True)
class FedsTables:
    """Per-(split, rank, client) terms of one state; index 0 of each axis = smallest value.

    Attributes:
        splits: split values (blocks on the client), (S,).
        ranks: rank choices, (R,).
        fwd: client forward t_F per iteration (8), (S, R, N).
        bwd: client backward t_B (13), (S, R, N).
        server: main-server forward + backward time on client k's data (11)-(12), (S, R, N).
        up_bits: activation bits per iteration (10), (S, R, N).
        fed_bits: client LoRA bits r Delta_c (15), (S, R, N).
        rounds: E(r) (17), (R,).
        iters: local iterations per round I.
        main, fed: the two pools.
        p_max, p_total: per-client (C4) and per-pool network-wide (C5) power limits.
    """

    splits: IntArray
    ranks: IntArray
    fwd: Array
    bwd: Array
    server: Array
    up_bits: Array
    fed_bits: Array
    rounds: Array
    iters: int
    main: Pool
    fed: Pool
    p_max: float
    p_total: float

    @property
    def n(self) -> int:
        """Number of clients N."""
        return int(self.fwd.shape[2])

    def pick(self, table: Array, si: ArrayLike, ri: ArrayLike) -> Array:
        """``table[si_k, ri, k]`` for a batch: si (B, N), ri (B,) -> (B, N)."""
        si = np.atleast_2d(si)
        ri = np.broadcast_to(np.atleast_1d(ri), si.shape[:1])
        return table[si, ri[:, None], np.arange(self.n)[None, :]]

    def t1(self, si, ri, sub, power) -> Array:
        """T1 = max_k (t_F_k + b Gamma / R_s_k), (B,)."""
        rate = rate_bps(np.asarray(sub) * self.main.subchannel_hz, self.main.snr_coeff, power)
        bits = self.pick(self.up_bits, si, ri)
        with np.errstate(divide="ignore"):
            up = np.where(bits > 0, bits / rate, 0.0)
        return np.max(self.pick(self.fwd, si, ri) + up, axis=-1)

    def t3(self, si, ri, fsub, fpower) -> Array:
        """T3 = max_k r Delta_c / R_f_k, (B,)."""
        rate = rate_bps(np.asarray(fsub) * self.fed.subchannel_hz, self.fed.snr_coeff, fpower)
        bits = self.pick(self.fed_bits, si, ri)
        with np.errstate(divide="ignore"):
            return np.max(np.where(bits > 0, bits / rate, 0.0), axis=-1)

    def combine(self, si, ri, t1: Array, t3: Array) -> Array:
        """T = E(r) (I (T1 + sum_k server_k + max_k t_B_k) + T3) (17), (B,)."""
        ri = np.broadcast_to(np.atleast_1d(ri), np.atleast_2d(si).shape[:1])
        server = self.pick(self.server, si, ri).sum(axis=-1)
        t2 = self.pick(self.bwd, si, ri).max(axis=-1)
        return self.rounds[ri] * (self.iters * (t1 + server + t2) + t3)

    def objective(self, si, ri, sub, power, fsub, fpower) -> Array:
        """Total delay T (17) of a batch of decisions given as table indices, (B,)."""
        return self.combine(si, ri, self.t1(si, ri, sub, power), self.t3(si, ri, fsub, fpower))

    def decision(self, si, ri, sub, power, fsub, fpower) -> Decision:
        """The engine decision of table indices."""
        return Decision(
            split=self.splits[np.asarray(si)], rank=int(self.ranks[int(ri)]),
            subchannels=np.asarray(sub), power_w=np.asarray(power),
            fed_subchannels=np.asarray(fsub), fed_power_w=np.asarray(fpower),
        )  # fmt: skip


def _require_fedsllm(scn: Scenario) -> None:
    net, sch = scn.network, scn.schedule
    problems = []
    if sch.sync != "phased" or sch.adapter_exchange != "federated":
        problems.append("schedule.sync = 'phased' and schedule.adapter_exchange = 'federated'")
    if net.allocation != "subchannels" or not net.fed_n_subchannels:
        problems.append("subchannel pools to the main and the federated server")
    if net.rate_model != "shannon":
        problems.append("network.rate_model = 'shannon'")
    if (
        sch.migration
        or sch.model_distribution
        or sch.cloud_link != "none"
        or scn.decision.three_tier
    ):
        problems.append("no migration, model distribution, cloud link or third tier")
    if scn.decision.shared_split:
        problems.append("a split per client")
    if problems:
        raise ValueError(
            f"scenario {scn.name!r} is not a FedsLLM scenario; needs " + "; ".join(problems)
        )


def build_tables(scn: Scenario, state: State) -> FedsTables:
    """Extract every per-client term with one batched engine call over all (split, rank)."""
    _require_fedsllm(scn)
    lo, hi = scn.decision.split_range
    splits = np.arange(lo, hi + 1)
    ranks = np.asarray(sorted(scn.workload.rank_choices), dtype=np.int64)
    n = scn.n_devices
    s_grid, r_grid = np.meshgrid(splits, ranks, indexing="ij")
    ev = evaluate_batch(
        scn, state, Decision(split=np.repeat(s_grid.reshape(-1, 1), n, axis=1), rank=r_grid.ravel())
    )
    shape = (len(splits), len(ranks), n)
    pd = ev.per_device
    for name in ("downlink_s", "cloud_s", "pre_round_s"):
        if np.any(pd[name] != 0):
            raise ValueError(
                f"FedsLLM solvers assume no {name} (neglected by the paper); got {pd[name].max()}"
            )
    # the engine's phased iteration: max(fwd + up) + sum server + max(bwd), bwd = ratio x fwd
    compute = pd["device_compute_s"].reshape(shape)
    fwd = compute / (1.0 + scn.workload.backward_ratio)
    # a split that does not fit the client's memory costs infinite time, so no search picks it
    too_big = pd["device_memory_bytes"].reshape(shape) > state.device_memory_bytes
    compute = np.where(too_big, np.inf, compute)
    fwd = np.where(too_big, np.inf, fwd)
    lora = block_costs(scn).lora_bits(s_grid[..., None], r_grid[..., None])
    net, noise = scn.network, state.noise_psd_w_hz
    return FedsTables(
        splits=splits, ranks=ranks, fwd=fwd, bwd=np.where(too_big, np.inf, compute - fwd),
        server=pd["server_compute_s"].reshape(shape), up_bits=pd["uplink_bits"].reshape(shape),
        fed_bits=np.broadcast_to(lora, shape).copy(),
        rounds=ev.terms["rounds"].reshape(shape[:2])[0],
        iters=scn.schedule.iterations_per_epoch * scn.schedule.epochs_per_round,
        main=Pool(net.n_subchannels, net.subchannel_hz, state.channel_gain / noise),
        fed=Pool(net.fed_n_subchannels, net.fed_subchannel_hz, state.fed_channel_gain / noise),
        p_max=net.device_power_w, p_total=net.total_power_w,
    )  # fmt: skip


def greedy_subchannels(rest: Array, bits: Array, power: Array, pool: Pool) -> IntArray:
    """FedsLLM Alg. 2: one subchannel to every client, then each free one to the slowest client.

    All subchannels of a pool are alike (equal width, the client's average gain), so
    the assignment is a count per client; the slowest client is the one with the largest
    ``rest_k + bits_k / R_k`` at its current power, ties to the lowest index.
    """
    n = rest.shape[0]
    if pool.n_subchannels < n:
        raise ValueError(f"{pool.n_subchannels} subchannels cannot give each of {n} clients one")
    counts = np.ones(n, dtype=np.int64)
    for _ in range(pool.n_subchannels - n):
        with np.errstate(divide="ignore"):
            delay = rest + np.where(
                bits > 0, bits / rate_bps(counts * pool.subchannel_hz, pool.snr_coeff, power), 0.0
            )
        counts[int(np.argmax(delay))] += 1
    return counts


def best_split(
    tab: FedsTables, ri: int, rate_main: Array, rate_fed: Array, start: IntArray
) -> IntArray:
    """Exhaustive split per client for fixed rates and rank (FedsLLM (26)).

    Enumerates every split vector when there are at most :data:`MAX_SPLIT_VECTORS`
    (exact); otherwise cyclic per-client exhaustive search from ``start`` until no
    client changes (a local optimum; our fallback for large N).
    """
    n_s, n = tab.fwd.shape[0], tab.n
    cols = np.arange(n)
    with np.errstate(divide="ignore"):
        a1 = tab.fwd[:, ri, :] + tab.up_bits[:, ri, :] / rate_main  # (S, N)
        a3 = tab.fed_bits[:, ri, :] / rate_fed
    srv, b2 = tab.server[:, ri, :], tab.bwd[:, ri, :]
    e, it = tab.rounds[ri], tab.iters

    def value(si: IntArray) -> Array:
        m1 = a1[si, cols].max(axis=-1)
        return e * (
            it * (m1 + srv[si, cols].sum(axis=-1) + b2[si, cols].max(axis=-1))
            + a3[si, cols].max(axis=-1)
        )

    if n_s**n <= MAX_SPLIT_VECTORS:
        grid = split_grid(tab, ri, a1, a3)
        k = int(np.argmin(grid))
        if grid.flat[k] < grid[tuple(start)]:
            return np.array(np.unravel_index(k, grid.shape))
        return start.copy()
    si = start.copy()
    changed = True
    while changed:
        changed = False
        for k in range(n):
            trial = np.repeat(si[None], n_s, axis=0)
            trial[:, k] = np.arange(n_s)
            v = value(trial)
            j = int(np.argmin(v))
            if v[j] < v[si[k]] and j != si[k]:
                si[k], changed = j, True
    return si


def split_grid(tab: FedsTables, ri: int, a1: Array, a3: Array) -> Array:
    """T (17) of every split vector at rank index ``ri``, an array of shape (S,) * N.

    Args:
        tab: the tables (server and backward terms, E(r), I).
        ri: rank index.
        a1: each client's T1 term per split, t_F + b Gamma / R_s, (S, N).
        a3: each client's T3 term per split, r Delta_c / R_f, (S, N).

    Axis k is client k's split index (C order: ``np.unravel_index`` gives the vector).
    The maxima and the sum over clients are outer operations, so no index table is built.
    """
    srv, b2 = tab.server[:, ri, :], tab.bwd[:, ri, :]
    inner = _outer(np.maximum, a1) + _outer(np.add, srv) + _outer(np.maximum, b2)
    return tab.rounds[ri] * (tab.iters * inner + _outer(np.maximum, a3))


def _outer(op: np.ufunc, table: Array) -> Array:
    """``op`` over clients of table[s_k, k] for every split vector: an array of shape (S,) * N."""
    out = table[:, 0]
    for k in range(1, table.shape[1]):
        out = op.outer(out, table[:, k])
    return out
