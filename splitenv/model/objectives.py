"""What solvers minimize, selected by ``objective.kind``.

An objective maps the costs of a batch to one number per decision (what solvers
minimize) and optional per-device terms reported under ``Evaluation.per_device``:

* ``latency``: the latency at ``schedule.objective_scope``, plus ``objective.energy_weight``
  times the energy at the same scope when that weight is set (:func:`scoped_energy`);
* ``card_cost``: CARD's cost U (12), the weighted sum over devices of normalized delay
  and energy, with the normalizers of :func:`card_bounds`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.model.decision import DECISION_FIELDS as FIELDS
from splitenv.model.decision import Decision, completed_decision
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
    A batch's rows are independent (the engine's arithmetic is elementwise over rows, and a
    ``State`` gives the bits of its batch of one), so the grid runs once per distinct state
    row (:func:`distinct_rows`) and its extremes are gathered back to every row: the same
    bits as the grid in every row. The extremes of a distinct row are kept per scenario
    under the bytes of that row (:func:`_bounds_table`), so the calls of one step (the
    allocator's f* (16), then the cost U (12) of every epoch's decisions and references)
    run the grid of a state once.
    """
    if not isinstance(state, StateBatch):
        if np.ndim(state.prev_split) == 2:  # one previous split per row (State.with_prev_splits)
            return card_bounds(scn, StateBatch.with_prev_splits(state, state.prev_split))
        d_min, d_max, e_min, e_max = card_bounds(scn, StateBatch.stack([state]))
        return d_min[0], d_max[0], e_min[0], e_max[0]
    keys = _row_keys(scn, state)
    first, inverse = _distinct(keys)
    # a batch of other dtypes than the State's own (its bytes mean other numbers): no table
    table = _bounds_table(scn) if _own_dtypes(state) else {}
    names = keys[first].tolist()  # the distinct rows' bytes
    found = [table.get(name) for name in names]
    new = [i for i, hit in enumerate(found) if hit is None]
    if new:
        extremes = _grid_extremes(scn, state, first[new])
        if (len(table) + len(new)) * scn.n_devices > _TABLE_DEVICE_ROWS:
            table.clear()
        for i, row in zip(new, extremes, strict=True):
            table[names[i]] = found[i] = row
    out = np.stack(found)[inverse]  # type: ignore[arg-type]  # (B, 4, N), all found
    return out[:, 0], out[:, 1], out[:, 2], out[:, 3]


#: device rows (distinct state rows x N) whose extremes :func:`_bounds_table` keeps, at most
_TABLE_DEVICE_ROWS = 1 << 16


def _bounds_table(scn: Scenario) -> dict[bytes, Array]:
    """The extremes (12) of state rows already met, per scenario: row bytes -> (4, N), read-only.

    Keyed by every byte :func:`card_bounds` reads of a row (:func:`_row_keys`) under an
    immutable scenario, an entry is a pure function of its key and never goes stale; the
    table is emptied when it would exceed :data:`_TABLE_DEVICE_ROWS` device rows.
    """
    table: dict[bytes, Array] = scn.memo("card_bounds_rows", dict)
    return table


def _own_dtypes(state: StateBatch) -> bool:
    """Whether every field of ``state`` has the dtype a ``State`` gives it (float64, int64, bool)."""
    return all(
        getattr(state, f.name).dtype == _DTYPES.get(f.name, _FLOAT)
        for f in dataclasses.fields(state)
    )


_FLOAT = np.dtype(np.float64)
#: the fields of a state that are not float64, and their dtypes
_DTYPES = {
    "edge_of": np.dtype(np.int64),
    "prev_split": np.dtype(np.int64),
    "round_index": np.dtype(np.int64),
    "epoch_index": np.dtype(np.int64),
    "active": np.dtype(np.bool_),
}


def _grid_extremes(scn: Scenario, state: StateBatch, rows: NDArray[np.int64]) -> Array:
    """The extremes of (12) in the rows ``rows`` of ``state``: the grid in one engine pass.

    (D_min, D_max, E_min, E_max) along axis 1, (len(rows), 4, N), read-only.
    """
    grid = _card_grid(scn)
    g, b, n = grid.batch_size, rows.size, scn.n_devices
    # G grid rows per state row
    delay, energy = _grid_costs(scn, state.take(np.repeat(rows, g)), _grid_rows(scn, grid, b))
    delay, energy = delay.reshape(b, g, n), energy.reshape(b, g, n)
    out = np.stack(
        (delay.min(axis=1), delay.max(axis=1), energy.min(axis=1), energy.max(axis=1)), axis=1
    )
    out.flags.writeable = False
    return out


def _card_grid(scn: Scenario) -> Decision:
    """The grid of (12)'s extremes: every cut at F_min and F_max on every device, (G, N).

    G = 2 x n_cuts rows (cut-major, then F_min, F_max), the other fields the preset's
    defaults; completed once per scenario (it depends on nothing else).
    """

    def build() -> Decision:
        lo, hi = scn.decision.split_range
        cuts = np.arange(lo, hi + 1)
        f_lo, f_hi = scn.compute.server_freq_hz
        n = scn.n_devices
        split = np.repeat(cuts, 2)[:, None] * np.ones((1, n), dtype=np.int64)
        freq = np.tile([f_lo, f_hi], len(cuts))[:, None] * np.ones((1, n))
        return complete(scn, Decision(split=split, server_freq_hz=freq))

    return scn.memo("card_grid", build)


def _grid_rows(scn: Scenario, grid: Decision, repeat: int) -> Decision:
    """The completed grid ``repeat`` times over (``np.tile`` order), (repeat x G, N)."""
    take = np.tile(np.arange(grid.batch_size), repeat)
    arrays = {name: None if (v := getattr(grid, name)) is None else v[take] for name in FIELDS}
    return completed_decision(scn, arrays, repeat * grid.batch_size)


#: state fields no per-device delay or energy reads (the sampler's inputs, the memory
#: constraint's and the epoch counter); ``prev_split`` and ``round_index`` are read only by
#: migration (SCCT (18)) and by model distribution (SFT (19)) respectively
_UNREAD = frozenset(("distance_m", "data_size", "device_memory_bytes", "epoch_index"))


def distinct_rows(scn: Scenario, state: StateBatch) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The first row of each distinct state of a batch, and every row's index into them.

    ``first[inverse]`` is, for every row, a row whose per-device delay and energy are the
    same bits for any decision (what the grid of :func:`card_bounds` computes): rows are
    compared by :func:`_row_keys`.
    """
    return _distinct(_row_keys(scn, state))


def _distinct(keys: NDArray[np.void]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The first index of each distinct key, and every key's index into them, (B,)."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.reshape(keys.shape[0])


def _row_keys(scn: Scenario, state: StateBatch) -> NDArray[np.void]:
    """Every row's bytes of the fields per-device delay and energy read, (B,) of ``np.void``.

    Equal bytes, equal inputs, the same bits out. Fields they do not read (:data:`_UNREAD`;
    ``prev_split`` without migration, ``round_index`` without model distribution) are left out.
    """
    sch = scn.schedule
    skip = set(_UNREAD)
    if not sch.migration:
        skip.add("prev_split")
    if not sch.model_distribution:
        skip.add("round_index")
    b = state.batch_size
    parts = [
        np.ascontiguousarray(getattr(state, f.name)).reshape(b, -1).view(np.uint8)
        for f in dataclasses.fields(state)
        if f.name not in skip
    ]
    key = np.ascontiguousarray(np.concatenate(parts, axis=1))
    return key.view(np.dtype((np.void, key.shape[1]))).reshape(b)


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
