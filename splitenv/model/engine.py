"""The cost engine: one vectorized function from (scenario, state, decisions) to costs.

Every number splitenv reports (env rewards, solver objectives, benchmarks) comes
from :func:`evaluate_batch`. The five papers differ only in scenario data; the
code path is the same. Arrays are (B, N): B decisions, N devices.

An evaluation is a sequence of named steps, each in its own module:

1. :mod:`~splitenv.model.phases`: per-device phase times of one iteration (compute,
   uplink, server, cloud, downlink) and the per-round extras (migration, model
   distribution, adapter exchange), and their energy;
2. :mod:`~splitenv.model.schedule`: how devices and epochs combine into an iteration,
   a round and the whole training (``schedule.sync``, ``schedule.objective_scope``);
3. :mod:`~splitenv.model.constraints`: memory per tier and the amount of each
   budget violation;
4. :mod:`~splitenv.model.objectives`: what solvers minimize (``objective.kind``:
   latency, or CARD's U (12) with its normalizers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv import limits
from splitenv.config import Scenario
from splitenv.errors import StateError
from splitenv.model import constraints, objectives
from splitenv.model.decision import Decision
from splitenv.model.objectives import card_bounds
from splitenv.model.phases import Phases, per_batch, phases, round_energy, spends_energy
from splitenv.model.records import record
from splitenv.model.schedule import EpochPart, Latencies, compose_round, latencies, round_latency
from splitenv.model.state import State, StateBatch
from splitenv.model.validation import assemble, complete
from splitenv.model.workload import block_costs

__all__ = [
    "EpochPart",
    "Evaluation",
    "block_costs",
    "card_bounds",
    "compose_round",
    "epoch_latency",
    "evaluate",
    "evaluate_batch",
    "evaluate_own",
    "feasible_splits",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Evaluation:
    """Costs of a batch of B decisions in one state.

    Attributes:
        latency_s: the preset's objective latency (``schedule.objective_scope``), (B,).
        energy_j: energy of one round, summed over devices, (B,).
        objective: what solvers minimize: latency_s, or CARD's sum of U (12), (B,).
        feasible: no violation and a finite latency, (B,).
        violations: constraint name -> amount by which it is exceeded (0 = met), (B,).
        terms: named scalar terms per decision (iteration_s, round_s, total_s, ...), (B,).
        per_device: named per-device terms, (B, N).
        decision: the completed decision that was evaluated.
    """

    latency_s: Array
    energy_j: Array
    objective: Array
    feasible: NDArray[np.bool_]
    violations: dict[str, Array]
    terms: dict[str, Array]
    per_device: dict[str, Array]
    decision: Decision = field(repr=False)

    @property
    def batch_size(self) -> int:
        """Number of decisions B."""
        return int(self.latency_s.shape[0])

    def item(self, index: int = 0) -> dict[str, Any]:
        """A JSON-ready dict for decision ``index``."""

        def scalar(x: Any) -> Any:
            v = x.item() if hasattr(x, "item") else x
            return v if not isinstance(v, float) or np.isfinite(v) else str(v)

        viol = {k: scalar(v[index]) for k, v in self.violations.items()}
        return {
            "latency_s": scalar(self.latency_s[index]),
            "energy_j": scalar(self.energy_j[index]),
            "objective": scalar(self.objective[index]),
            "feasible": bool(self.feasible[index]),
            "violations": {k: v for k, v in viol.items() if v},
            "terms": {k: scalar(v[index]) for k, v in self.terms.items()},
            "per_device": {k: [scalar(x) for x in v[index]] for k, v in self.per_device.items()},
            "decision": self.decision.take(index).to_dict(),
        }


def evaluate(
    scn: Scenario, state: State, decision: Decision | dict[str, Any] | None = None
) -> Evaluation:
    """Evaluate one decision: the batched engine with B = 1 (``None`` = the preset default)."""
    ev = evaluate_batch(scn, state, decision)
    if ev.batch_size != 1:
        raise ValueError(
            f"evaluate() takes one decision; got a batch of {ev.batch_size}: use evaluate_batch"
        )
    return ev


def evaluate_batch(
    scn: Scenario, state: State | StateBatch, decision: Decision | dict[str, Any] | None = None
) -> Evaluation:
    """Evaluate a batch of decisions in one state (or one state per row) with one vectorized pass.

    Args:
        scn: the scenario.
        state: the epoch's state (channel, compute, memory, previous split), or a
            :class:`~splitenv.model.state.StateBatch` with one state per decision row
            (B rows, ``StateBatch.stack``): row b is then evaluated in state row b, bit for
            bit as a call with that row's ``State`` alone.
        decision: a Decision whose fields are (N,) / scalars or batched (B, N) / (B,);
            missing fields take the preset default.

    Returns:
        An :class:`Evaluation` with arrays over the batch.
    """
    state.check(scn)
    d = complete(scn, decision)
    if isinstance(state, StateBatch) and state.batch_size != d.batch_size:
        raise StateError(
            f"state batch has {state.batch_size} rows but the decision batch has "
            f"{d.batch_size}; allowed: one state row per decision row"
        )
    return _evaluate_checked(scn, state, d)


def evaluate_own(scn: Scenario, state: State | StateBatch, decision: Decision) -> Evaluation:
    """:func:`evaluate_batch` of a state and a decision splitenv built itself.

    For the envs' own inputs: states drawn by their :class:`~splitenv.scenarios.StateSampler`
    (one per decision row for a ``StateBatch``, ``prev_split`` from their own decisions) and
    decisions their decoders assembled from checked actions. Their input checks
    (``State.check``, the batch sizes) are skipped; a decision that is not completed for
    ``scn`` is still completed and validated (:func:`complete`), and the memory cap and the NaN
    check stay. Inputs from outside go through :func:`evaluate_batch`.
    """
    return _evaluate_checked(scn, state, complete(scn, decision))


def _evaluate_checked(scn: Scenario, state: State | StateBatch, d: Decision) -> Evaluation:
    """The evaluation of a completed decision, within the memory cap, refusing NaN."""
    limits.check(scn, d.batch_size)  # n_devices x batch within the memory cap, before evaluating
    # an unserved device (no band, no share) makes a latency infinite: a valid, infeasible result
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ev = _evaluate(scn, state, d)
    if np.isnan(ev.objective).any() or (
        ev.latency_s is not ev.objective and np.isnan(ev.latency_s).any()
    ):
        raise FloatingPointError(f"NaN in the evaluation of {scn.name!r}: terms {ev.terms}")
    return ev


def _evaluate(scn: Scenario, state: State | StateBatch, d: Decision) -> Evaluation:
    ph = phases(scn, state, d)
    lat = latencies(scn, state, d, ph)
    energies = _energies(scn, d, ph)
    energy_dev, energy = energies[2], energies[3]
    mem = constraints.tier_memory(scn, state, d)
    energy_scope = objectives.scoped_energy(scn, energy, lat.rounds)
    violations = constraints.violations(scn, state, d, mem, energy=energy_scope)
    feasible = np.isfinite(lat.objective)
    # and every amount 0: one comparison of the stacked amounts (k, B), reduced over k
    feasible &= (np.array(list(violations.values())) == 0).all(axis=0)
    costs = record(
        objectives.Costs, latency=lat.objective, device_round=lat.device_round,
        device_energy=energy_dev, energy=energy_scope,
    )  # fmt: skip
    objective, objective_terms = objectives.objective(scn, state, d, costs)
    terms = _terms(scn, ph, lat, energies, mem)
    per_device = _per_device(ph, lat, energy_dev, mem) | objective_terms
    return record(
        Evaluation,
        latency_s=lat.objective,
        energy_j=energy,
        objective=objective,
        feasible=feasible,
        violations=violations,
        terms=terms,
        per_device=per_device,
        decision=d,
    )


def _energies(scn: Scenario, d: Decision, ph: Phases) -> tuple[Array, ...]:
    """Round energy (:func:`round_energy`) per device and its sums over devices.

    Server, device and both per device (B, N), then the sums of both, of the server and of
    the device (B,).
    """
    if not spends_energy(scn):  # all zero whatever the decision: built once per batch size
        b = ph.server_flops.shape[0]
        return per_batch(scn, "no_energy", b, lambda: _read_only(_energy_sums(scn, d, ph)))
    return _energy_sums(scn, d, ph)


def _energy_sums(scn: Scenario, d: Decision, ph: Phases) -> tuple[Array, ...]:
    server, device = round_energy(scn, d, ph)
    both = server + device
    return server, device, both, both.sum(axis=1), server.sum(axis=1), device.sum(axis=1)


def _read_only(arrays: tuple[Array, ...]) -> tuple[Array, ...]:
    for arr in arrays:
        arr.flags.writeable = False
    return arrays


def _terms(
    scn: Scenario,
    ph: Phases,
    lat: Latencies,
    energies: tuple[Array, ...],
    mem: dict[str, Array],
) -> dict[str, Array]:
    """The named scalar terms of :attr:`Evaluation.terms`, (B,) each."""
    sch = scn.schedule
    iters = sch.iterations_per_epoch * sch.epochs_per_round
    comm = iters * (ph.up_bits + ph.down_bits).sum(axis=1) + 2 * ph.adapter_bits.sum(axis=1)
    return {
        "iteration_s": lat.iteration,
        "epoch_s": lat.epoch,
        "round_s": lat.round,
        "total_s": lat.total,
        "rounds": lat.rounds,
        "shared_iteration_s": ph.shared,
        "pre_round_s": lat.pre_max,
        "adapter_s": lat.post_max,
        "server_energy_j": energies[4],
        "device_energy_j": energies[5],
        "comm_bits": comm,
        "edge_memory_bytes": mem["edge"],
        "cloud_memory_bytes": mem["cloud"],
    }


def _per_device(
    ph: Phases, lat: Latencies, energy_dev: Array, mem: dict[str, Array]
) -> dict[str, Array]:
    """The named per-device terms of :attr:`Evaluation.per_device`, (B, N) each."""
    return {
        "device_compute_s": ph.dev_fwd + ph.dev_bwd,
        "uplink_s": ph.up,
        "server_compute_s": ph.server,
        "cloud_s": ph.cloud,
        "downlink_s": ph.down,
        "chain_s": lat.chain,
        "pre_round_s": lat.pre,
        "adapter_s": ph.post,
        "round_s": lat.device_round,
        "energy_j": energy_dev,
        "device_memory_bytes": mem["device"],
        "uplink_rate_bps": ph.rate_up,
        "downlink_rate_bps": ph.rate_down,
        "uplink_bits": ph.up_bits,
    }


def epoch_latency(scn: Scenario, ev: Evaluation, first: bool, last: bool) -> Array:
    """One simulated epoch's latency (B,) from its evaluation, as the env charges it.

    The epoch's chains, iteration and shared terms composed as a round of one epoch
    (:func:`~splitenv.model.schedule.round_latency`), with the round's start (migration,
    model distribution) if it is the round's ``first`` epoch and its end (adapter exchange)
    if it is the ``last``.
    """
    per = ev.per_device
    zeros = np.zeros(per["chain_s"].shape)
    part = record(
        EpochPart, chain=per["chain_s"], iteration=ev.terms["iteration_s"],
        shared=ev.terms["shared_iteration_s"],
    )  # fmt: skip
    return round_latency(
        scn, per["pre_round_s"] if first else zeros, [part], per["adapter_s"] if last else zeros
    )


def feasible_splits(scn: Scenario, state: State) -> NDArray[np.bool_]:
    """(n_split_values, N) mask: split value ``lo + k`` fits device n's memory (this engine's model)."""
    # the engine's device memory (Evaluation.per_device["device_memory_bytes"]) alone
    device = constraints.tier_memory(scn, state, split_grid(scn))["device"]
    return device <= state.device_memory_bytes[None, :]


def split_grid(scn: Scenario) -> Decision:
    """Every split value of the range on every device, (n_split_values, N), the rest default.

    Built here, within the range: assembled without validation, once per scenario (read-only).
    """

    def build() -> Decision:
        lo, hi = scn.decision.split_range
        split = np.repeat(np.arange(lo, hi + 1)[:, None], scn.n_devices, axis=1)
        return assemble(scn, {"split": split})

    return scn.memo("split_grid", build)
