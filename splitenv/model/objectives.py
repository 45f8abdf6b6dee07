"""What solvers minimize, selected by ``objective.kind``.

An objective maps the costs of a batch to one number per decision (what solvers
minimize) and optional per-device terms reported under ``Evaluation.per_device``:

* ``latency``: the latency at ``schedule.objective_scope``, plus ``objective.energy_weight``
  times the energy at the same scope when that weight is set (:func:`scoped_energy`);
* ``card_cost``: CARD's cost U (12), the weighted sum over devices of normalized delay
  and energy, with the normalizers of :func:`card_bounds`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.model.decision import Decision
from splitenv.model.phases import phases, safe_div, server_energy
from splitenv.model.schedule import compose_round, pre_round, single_state_epoch
from splitenv.model.state import AnyState, StateBatch
from splitenv.model.validation import complete

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Costs:
    """What an objective may read.

    Attributes:
        latency: the batch's latency at the objective's scope, (B,).
        device_round: per-device round latency, (B, N).
        device_energy: per-device round energy, (B, N).
        energy: energy at the objective's scope (:func:`scoped_energy`), (B,).
    """

    latency: Array
    device_round: Array
    device_energy: Array
    energy: Array


def scoped_energy(scn: Scenario, round_energy: Array, rounds: Array) -> Array:
    """Energy at ``schedule.objective_scope`` from one round's energy, (B,).

    The engine's energy is spent by the J T iterations of a round (CARD (10)-(11) and the
    device extension, :func:`splitenv.model.phases.round_energy`), the same in every round,
    so an iteration spends E / (J T), an epoch E / T and the training E times the rounds
    needed (``rounds``: schedule.rounds, or E(r) of FedsLLM (17)), as the latency scopes
    of :func:`splitenv.model.schedule.latencies`.
    """
    sch = scn.schedule
    scope = sch.objective_scope
    if scope == "iteration":
        return round_energy / (sch.iterations_per_epoch * sch.epochs_per_round)
    if scope == "epoch":
        return round_energy / sch.epochs_per_round
    if scope == "round":
        return round_energy
    if scope == "total":
        return round_energy * rounds
    raise KeyError(scope)


#: (scenario, state, completed decision, costs) -> (objective (B,), per-device terms (B, N))
Objective = Callable[[Scenario, AnyState, Decision, Costs], tuple[Array, dict[str, Array]]]


def latency_objective(
    scn: Scenario, state: AnyState, d: Decision, costs: Costs
) -> tuple[Array, dict[str, Array]]:
    """The latency at ``schedule.objective_scope``, plus lambda times the energy there.

    ``T + lambda E`` with lambda = ``objective.energy_weight`` in s/J (ours: the usual
    weighted delay-energy sum, e.g. CARD (12) without its normalization); lambda = 0 is
    the latency alone, bit for bit.
    """
    weight = scn.objective.energy_weight
    if weight == 0:
        return costs.latency, {}
    return costs.latency + weight * costs.energy, {}


def card_cost_objective(
    scn: Scenario, state: AnyState, d: Decision, costs: Costs
) -> tuple[Array, dict[str, Array]]:
    """CARD (12): sum over devices of U_n, reported per device as ``card_cost``."""
    u = card_cost(scn, state, costs.device_round, costs.device_energy)
    return u.sum(axis=1), {"card_cost": u}


#: objective.kind -> objective
OBJECTIVES: dict[str, Objective] = {
    "latency": latency_objective,
    "card_cost": card_cost_objective,
}


def objective(
    scn: Scenario, state: AnyState, d: Decision, costs: Costs
) -> tuple[Array, dict[str, Array]]:
    """The scenario's objective (``objective.kind``) of a batch and its per-device terms."""
    return OBJECTIVES[scn.objective.kind](scn, state, d, costs)


def card_cost(scn: Scenario, state: AnyState, delay: Array, energy: Array) -> Array:
    """CARD (12): w (D - D_min)/(D_max - D_min) + (1 - w)(E - E_min)/(E_max - E_min) per device.

    The extremes are over the device's feasible (cut, frequency) box in this round: D is
    decreasing and E increasing in f for any cut, so they lie at f in {F_min, F_max}, and
    all cuts are enumerated (a batch through this same engine).
    """
    d_min, d_max, e_min, e_max = card_bounds(scn, state)
    w = scn.objective.delay_weight
    nd = safe_div(delay - d_min, d_max - d_min)
    ne = safe_div(energy - e_min, e_max - e_min)
    return w * nd + (1.0 - w) * ne


def card_bounds(scn: Scenario, state: AnyState | StateBatch) -> tuple[Array, Array, Array, Array]:
    """(D_min, D_max, E_min, E_max) per device over all cuts and f in {F_min, F_max} (CARD (12)).

    (N,) each for a ``State``; (B, N) for a ``StateBatch`` (the grid in every row's state).
    """
    lo, hi = scn.decision.split_range
    cuts = np.arange(lo, hi + 1)
    f_lo, f_hi = scn.compute.server_freq_hz
    n = scn.n_devices
    split = np.repeat(cuts, 2)[:, None] * np.ones((1, n), dtype=np.int64)
    freq = np.tile([f_lo, f_hi], len(cuts))[:, None] * np.ones((1, n))
    if isinstance(state, StateBatch):  # G grid rows per state row, one engine pass
        g, b = split.shape[0], state.batch_size
        rows = state.take(np.repeat(np.arange(b), g))
        grid = complete(
            scn, Decision(split=np.tile(split, (b, 1)), server_freq_hz=np.tile(freq, (b, 1)))
        )
        delay, energy = _grid_costs(scn, rows, grid)
        delay, energy = delay.reshape(b, g, n), energy.reshape(b, g, n)
        return delay.min(axis=1), delay.max(axis=1), energy.min(axis=1), energy.max(axis=1)
    grid = complete(scn, Decision(split=split, server_freq_hz=freq))
    delay, energy = _grid_costs(scn, state, grid)
    return delay.min(axis=0), delay.max(axis=0), energy.min(axis=0), energy.max(axis=0)


def _grid_costs(scn: Scenario, state: AnyState | StateBatch, grid: Decision) -> tuple[Array, Array]:
    """Per-device round delay and edge energy of a completed grid of decisions, (G, N) each."""
    ph = phases(scn, state, grid)
    sch = scn.schedule
    part = single_state_epoch(scn, state, ph)
    _, delay = compose_round(scn, pre_round(state, ph), [part], ph.post)
    energy = (
        server_energy(scn, grid, ph.server_flops) * sch.iterations_per_epoch * sch.epochs_per_round
    )
    return delay, energy
