"""FedsLLM's communication block on R states at once (the env's kernel).

The rows of :func:`splitenv.allocation.fedsllm_comm.comm_block` side by side: Alg. 2's
greedy assigns the free subchannels of both pools in one lockstep (step s gives, in every row
of either pool at once, one subchannel to that row's slowest client, ties to the lowest
index), the power control of (25) is the exact bisection of
:func:`~splitenv.allocation.fedsllm_power.solve_bisection`, ONE call on the rows of both
pools and both candidate counts stacked (its brackets stop per row), and each row keeps the
best of (greedy counts, re-optimized power), (current counts, re-optimized power) and the
current point. Every operation is elementwise or reduces along clients, so row r equals the
one-row call.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from splitenv.allocation.fedsllm_comm import Point, initial_point
from splitenv.allocation.fedsllm_power import max_delay, rate_bps, solve_bisection
from splitenv.allocation.fedsllm_tables import FedsTables, build_tables
from splitenv.config import Scenario
from splitenv.model import Decision, block_costs, evaluate_batch
from splitenv.model.state import StateBatch

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]


def greedy_rows(
    rest: Array, bits: Array, power: Array, n_sub: ArrayLike, sub_hz: ArrayLike, snr: Array
) -> IntArray:
    """FedsLLM Alg. 2 per row: one subchannel each, then each free one to the slowest client.

    ``n_sub`` (scalar or (R,)) and ``sub_hz`` (scalar or (R, 1)) are the rows' pools' sizes
    and subchannel widths, so rows of several pools run in one lockstep: a row whose pool has
    fewer subchannels stops taking them when they run out. A step changes one client's count
    per row, so only that client's delay is computed again (the same expression, elementwise:
    the delays of the full recomputation bit for bit).
    """
    r, n = rest.shape
    free = np.broadcast_to(np.asarray(n_sub, dtype=np.int64) - n, (r,))
    if np.any(free < 0):
        raise ValueError(f"{int(free.min()) + n} subchannels cannot give each of {n} clients one")
    counts = np.ones((r, n), dtype=np.int64)

    def delays(rest: Array, bits: Array, width: Array, snr: Array, power: Array) -> Array:
        with np.errstate(divide="ignore"):
            return rest + np.where(bits > 0, bits / rate_bps(width, snr, power), 0.0)

    hz = np.broadcast_to(np.asarray(sub_hz, dtype=np.float64), (r, n))
    delay = delays(rest, bits, counts * hz, snr, power)
    flat = [np.ascontiguousarray(np.broadcast_to(x, (r, n))).reshape(-1)
            for x in (rest, bits, hz, snr, power)]  # fmt: skip
    first = np.arange(r) * n  # each row's first element in the flat arrays
    flat_counts, flat_delay = counts.reshape(-1), delay.reshape(-1)  # views
    for step in range(int(free.max(initial=0))):
        at = first + np.argmax(delay, axis=1)  # the slowest client of each row
        flat_counts[at] += step < free
        rest_at, bits_at, hz_at, snr_at, power_at = (x[at] for x in flat)
        flat_delay[at] = delays(rest_at, bits_at, flat_counts[at] * hz_at, snr_at, power_at)
    return counts


class PoolRows(NamedTuple):
    """One subchannel pool of R rows: its terms (R, N), the current point, its size and width."""

    rest: Array  # delay before the upload (t_F for the main pool, 0 for the federated one)
    bits: Array  # bits to upload
    counts: IntArray  # the current subchannel counts
    power: Array  # the current powers
    n_sub: int
    sub_hz: float
    snr: Array  # a_k = G_k / N0


def _pools(tab: FedsTables, pools: list[PoolRows]) -> list[tuple[IntArray, Array]]:
    """Each pool of every row: the best of the current point and the two re-optimized ones.

    Alg. 2 of every pool runs in one lockstep, and the power control of (25) of every
    (pool, candidate counts) as ONE bisection, on their rows stacked (rows are independent:
    each is the one-row call), the budgets being the pools' common p_max and P_tot.
    """
    r = pools[0].rest.shape[0]

    def stacked(name: str) -> Any:  # a field of every pool, rows stacked
        return np.concatenate([getattr(q, name) for q in pools])

    greedy = greedy_rows(
        stacked("rest"), stacked("bits"), stacked("power"), np.repeat([q.n_sub for q in pools], r),
        np.repeat([q.sub_hz for q in pools], r)[:, None], stacked("snr"),
    )  # fmt: skip
    # the candidates in the order the best is kept: per pool, greedy counts, then current
    cands = [(q, c) for i, q in enumerate(pools) for c in (greedy[i * r : (i + 1) * r], q.counts)]
    rest, bits, snr = (
        np.concatenate([getattr(q, f) for q, _ in cands]) for f in ("rest", "bits", "snr")
    )
    width = np.concatenate([c * q.sub_hz for q, c in cands])
    _, powers = solve_bisection(rest, bits, width, snr, tab.p_max, tab.p_total)
    delays = max_delay(rest, bits, width, snr, powers)
    now = max_delay(  # the current points
        stacked("rest"), stacked("bits"), np.concatenate([q.counts * q.sub_hz for q in pools]),
        stacked("snr"), stacked("power"),
    )  # fmt: skip
    out = []
    for i, q in enumerate(pools):
        best = now[i * r : (i + 1) * r]
        best_counts, best_power = q.counts.copy(), q.power.copy()
        for j in (2 * i, 2 * i + 1):
            rows = slice(j * r, (j + 1) * r)
            better = delays[rows] < best
            best = np.where(better, delays[rows], best)
            best_counts = np.where(better[:, None], cands[j][1], best_counts)
            best_power = np.where(better[:, None], powers[rows], best_power)
        out.append((best_counts, best_power))
    return out


def _picked_terms(
    scn: Scenario, states: StateBatch, tab: FedsTables, si: IntArray, ri: IntArray
) -> tuple[Array, Array, Array]:
    """Each row's t_F, activation bits and LoRA bits at its (split, rank), (R, N) each.

    The entries ``fedsllm_tables.build_tables`` would tabulate and the comm block reads,
    from one engine call with each row's own split and rank. The engine's per-device terms
    are elementwise over devices (a device's compute time, memory and bits depend on its own
    split), so device k's numbers are those of the table row where every device has k's split:
    the same bits (tests/allocation compares them with the one-state tables).
    """
    split, rank = tab.splits[si], tab.ranks[ri]
    ev = evaluate_batch(scn, states, Decision(split=split, rank=rank))
    pd = ev.per_device
    for name in ("downlink_s", "cloud_s", "pre_round_s"):
        if np.any(pd[name] != 0):
            raise ValueError(
                f"FedsLLM solvers assume no {name} (neglected by the paper); got {pd[name].max()}"
            )
    too_big = pd["device_memory_bytes"] > states.device_memory_bytes
    fwd = np.where(too_big, np.inf, pd["device_compute_s"] / (1.0 + scn.workload.backward_ratio))
    lora = block_costs(scn).lora_bits(split, rank[:, None])
    return fwd, pd["uplink_bits"], np.broadcast_to(lora, split.shape)


def _grid(scn: Scenario, states: StateBatch) -> tuple[FedsTables, Point]:
    """The tables' grid and pools and the preset's start point, built once per scenario.

    :func:`comm_block_rows` reads of these tables only what the scenario fixes (the split and
    rank axes, the pools' sizes and widths, p_max and P_tot), never an entry of a state
    (each row's terms come from :func:`_picked_terms`), so the tables of the first state met
    serve every later call (``Scenario.memo``): an engine call over the grid saved per call.
    """

    def build() -> tuple[FedsTables, Point]:
        tab = build_tables(scn, states.row(0))
        return tab, initial_point(tab, scn)

    return scn.memo("fedsllm_batch.grid", build)


def comm_block_rows(
    scn: Scenario, states: StateBatch, split: Any = None, rank: Any = None
) -> dict[str, NDArray[Any]]:
    """``fedsllm_comm`` for R rows from the preset's start point with the rows' split and rank.

    Args:
        scn: a FedsLLM scenario.
        states: the R rows' states.
        split: (R, N) split per client, or None (the preset's default).
        rank: (R,) rank, or None (the default).

    Returns:
        ``subchannels``, ``power_w``, ``fed_subchannels``, ``fed_power_w``, each (R, N).
    """
    r = states.batch_size
    tab, start = _grid(scn, states)
    si = np.broadcast_to(start.si, (r, tab.n))
    if split is not None:
        si = np.searchsorted(tab.splits, np.asarray(split).reshape(r, -1)) * np.ones(
            (1, tab.n), dtype=np.int64
        )
    ri = np.full(r, start.ri)
    if rank is not None:
        ri = np.searchsorted(tab.ranks, np.asarray(rank).reshape(r))
    fwd, up, fed = _picked_terms(scn, states, tab, si, ri)
    noise = states.noise_psd_w_hz
    snr_main, snr_fed = states.channel_gain / noise, states.fed_channel_gain / noise
    main, fpool = tab.main, tab.fed
    (sub, power), (fsub, fpower) = _pools(tab, [
        PoolRows(fwd, up, np.tile(start.sub, (r, 1)), np.tile(start.power, (r, 1)),
                 main.n_subchannels, main.subchannel_hz, snr_main),
        PoolRows(np.zeros_like(fed), fed, np.tile(start.fsub, (r, 1)),
                 np.tile(start.fpower, (r, 1)), fpool.n_subchannels, fpool.subchannel_hz, snr_fed),
    ])  # fmt: skip
    return {"subchannels": sub, "power_w": power, "fed_subchannels": fsub, "fed_power_w": fpower}
