"""How the devices' phases combine into an iteration, a round and the whole training.

Devices combine into an iteration according to ``schedule.sync``:

* ``parallel``   ``J [d4 + max_n chain_n]`` (SCCT (19)),
* ``phased``     ``max_n (fwd + up) + sum_n server_n + max_n (down + bwd)`` (FedsLLM (16)),
* ``sequential`` ``max_edges sum_{n in edge} chain_n`` (SplitLLM: each edge serves its
  devices in turn, the edges in parallel),
* ``independent`` each device's round runs on its own and the round is the slowest
  device's, ``max_n (pre_n + I chain_n + post_n)`` (SFT (26)-(27), CARD (10)).

The total multiplies by the rounds needed (``rounds``, or E(r) of FedsLLM (17)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.model import accuracy
from splitenv.model.decision import Decision
from splitenv.model.phases import Phases, per_batch
from splitenv.model.records import record
from splitenv.model.state import AnyState

Array = NDArray[np.float64]


@dataclass(frozen=True)
class EpochPart:
    """One epoch's share of a round: per-device chains (B, N), iteration and shared terms (B,).

    ``epochs`` says how many identical epochs it stands for (the engine's single-state round
    uses one part standing for all T epochs; the env passes one part per simulated epoch).
    """

    chain: Array
    iteration: Array
    shared: Array
    epochs: float = 1.0


def compose_round(
    scn: Scenario, pre: Array, epochs: list[EpochPart], post: Array
) -> tuple[Array, Array]:
    """Round latency (B,) and per-device round latency (B, N) from its parts.

    Barrier modes (SCCT (20), FedsLLM (17)): ``max_n pre_n + sum_t J iteration_t + max_n post_n``.
    Independent devices (SFT (26)-(27), CARD (10)):
    ``max_n (pre_n + sum_t J (chain_{n,t} + shared_t) + post_n)``.
    """
    round_s, device, _ = _compose(scn, pre, epochs, post)
    assert device is not None
    return round_s, device


def round_latency(scn: Scenario, pre: Array, epochs: list[EpochPart], post: Array) -> Array:
    """:func:`compose_round`'s round latency (B,) alone.

    The same operations; with barriers the per-device round, which the round does not
    read, is not built (the envs' step and round latencies).
    """
    return _compose(scn, pre, epochs, post, devices=False)[0]


def _compose(
    scn: Scenario, pre: Array, epochs: list[EpochPart], post: Array, devices: bool = True
) -> tuple[Array, Array | None, tuple[Array, Array] | None]:
    """:func:`compose_round`, and ``(max_n pre_n, max_n post_n)`` where it takes them (barriers).

    ``devices=False``: the per-device round is None where the round does not need it.
    """
    j = scn.schedule.iterations_per_epoch
    if scn.schedule.sync == "independent":
        device = pre + post
        for part in epochs:
            device = device + part.epochs * j * (part.chain + part.shared[:, None])
        return device.max(axis=1), device, None
    # sum_t J iteration_t and sum_t J chain_t, added in epoch order
    body = chains = None
    for part in epochs:
        scale = part.epochs * j
        body = scale * part.iteration if body is None else body + scale * part.iteration
        if devices:
            chains = scale * part.chain if chains is None else chains + scale * part.chain
    per_device = pre + post + (0 if chains is None else chains) if devices else None
    pre_max, post_max = pre.max(axis=1), post.max(axis=1)
    return pre_max + (0 if body is None else body) + post_max, per_device, (pre_max, post_max)


def iteration_latency(
    scn: Scenario, state: AnyState, ph: Phases, chain: Array | None = None
) -> Array:
    """Latency of one iteration, (B,), by ``schedule.sync`` (see the module docstring).

    ``chain``: ``ph.chain`` if the caller has it already.
    """
    sync = scn.schedule.sync
    chain = ph.chain if chain is None else chain
    if sync == "phased":  # FedsLLM (16)
        return (
            (ph.dev_fwd + ph.up).max(axis=1)
            + (ph.server + ph.cloud).sum(axis=1)
            + (ph.down + ph.dev_bwd).max(axis=1)
            + ph.shared
        )
    if sync == "sequential":  # each edge serves its devices in turn, edges in parallel
        per_edge = np.zeros((chain.shape[0], int(state.edge_of.max()) + 1))
        if state.edge_of.ndim == 2:  # one state per row: devices added in the same order
            np.add.at(per_edge, (np.arange(chain.shape[0])[:, None], state.edge_of), chain)
        else:
            np.add.at(per_edge.T, state.edge_of, chain.T)
        return per_edge.max(axis=1) + ph.shared
    return chain.max(axis=1) + ph.shared  # parallel (SCCT (19)) and independent


def single_state_epoch(scn: Scenario, state: AnyState, ph: Phases) -> EpochPart:
    """The round's T epochs as one part, every epoch in this state."""
    chain = ph.chain
    iteration = iteration_latency(scn, state, ph, chain)
    return record(
        EpochPart, chain=chain, iteration=iteration, shared=ph.shared,
        epochs=scn.schedule.epochs_per_round,
    )  # fmt: skip


def pre_round(state: AnyState, ph: Phases) -> Array:
    """Time before this round: round 0 pays the first round's extras (SFT (19))."""
    if ph.pre_first is ph.pre_steady:  # every round starts alike (SCCT (18)): nothing to choose
        return ph.pre_first
    first = state.round_index == 0
    if isinstance(first, np.ndarray) and first.ndim == 1:  # one state per row
        return np.where(first[:, None], ph.pre_first, ph.pre_steady)
    return ph.pre_first if first else ph.pre_steady


@dataclass(frozen=True)
class Latencies:
    """Latency at every scope of a batch, (B,) unless noted."""

    chain: Array  # (B, N) one iteration's phases per device
    iteration: Array
    epoch: Array
    round: Array
    device_round: Array  # (B, N)
    total: Array
    rounds: Array  # rounds needed
    pre: Array  # (B, N) time before this round
    objective: Array  # the one of the above that ``schedule.objective_scope`` names
    pre_max: Array  # the slowest device's time before this round
    post_max: Array  # the slowest device's time after this round (adapter exchange)


def latencies(scn: Scenario, state: AnyState, d: Decision, ph: Phases) -> Latencies:
    """Iteration, epoch, round and total latency (SCCT (19)-(20), FedsLLM (16)-(17), SFT (26)-(27))."""
    sch = scn.schedule
    epoch = single_state_epoch(scn, state, ph)
    pre_now = pre_round(state, ph)
    round_s, device_round, maxes = _compose(scn, pre_now, [epoch], ph.post)
    # the same parts give the same round: composed once (SCCT's start is the same every round)
    first = (
        round_s if ph.pre_first is pre_now else round_latency(scn, ph.pre_first, [epoch], ph.post)
    )
    steady = (
        first
        if ph.pre_steady is ph.pre_first
        else round_s
        if ph.pre_steady is pre_now
        else round_latency(scn, ph.pre_steady, [epoch], ph.post)
    )
    n_rounds = rounds_needed(scn, d)
    # rounds after the first; written so that one round with an unserved device is inf, not 0 * inf
    total = first + np.where(n_rounds > 1.0, (n_rounds - 1.0) * steady, 0.0)
    scope = {
        "iteration": epoch.iteration,
        "epoch": sch.iterations_per_epoch * epoch.iteration,
        "round": round_s,
        "total": total,
    }
    return record(
        Latencies,
        chain=epoch.chain, iteration=epoch.iteration, epoch=scope["epoch"], round=round_s, device_round=device_round,
        total=total, rounds=n_rounds, pre=pre_now, objective=scope[sch.objective_scope],
        pre_max=pre_now.max(axis=1) if maxes is None else maxes[0],
        post_max=ph.post.max(axis=1) if maxes is None else maxes[1],
    )  # fmt: skip


def rounds_needed(scn: Scenario, d: Decision) -> Array:
    """Rounds to train, (B,): FedsLLM (17) E(r) when fitted by rank, else ``schedule.rounds``."""
    if scn.accuracy.rounds_by_rank:
        rank = d.rank.astype(np.float64)
        return accuracy.rounds_for_rank(scn.accuracy.rounds_by_rank, rank)
    # the same for every decision: built once per batch size (read-only)
    return per_batch(scn, "rounds_needed", d.rank.shape[0], lambda: _rounds(scn, d.rank.shape))


def _rounds(scn: Scenario, shape: tuple[int, ...]) -> Array:
    out = np.full(shape, float(scn.schedule.rounds))
    out.flags.writeable = False
    return out
