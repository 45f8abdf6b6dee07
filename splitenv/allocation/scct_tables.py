"""Per-device latency tables of an SCCT state, built with a few batched engine calls.

SCCT's objective for one state has the shape (SCCT (16), (18)-(20))::

    const + w_mig * max_n d0_n(s_n, beta_n)
          + w_chain * max_n [c_n(s_n, beta_n) + a_n(s_n) / alpha_n]

with ``c_n = d1 + d2`` (device compute and the device <-> edge link, plus any cloud hop),
``a_n = d3`` at full share (edge compute at alpha_n = 1) and ``d0`` the layer migration.
The SCCT solvers optimise on these tables in numpy; every number in them comes from
:func:`splitenv.evaluate_batch`, and every final decision is re-evaluated by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.model import Decision, State, enabled_fields, evaluate_batch
from splitenv.model.engine import feasible_splits

Array = NDArray[np.float64]
#: a float, or an array of them
T = TypeVar("T", float, Array)


@dataclass(frozen=True)
class Weights:
    """Objective = const + w_mig * max_n migration_n + w_chain * max_n chain_n."""

    const: float
    w_mig: float
    w_chain: float

    def combine(self, max_mig: Array | float, max_chain: Array | float) -> Array:
        """The objective from the two maxima (arrays broadcast)."""
        mig = self.w_mig * np.asarray(max_mig) if self.w_mig else 0.0
        return self.const + mig + self.w_chain * np.asarray(max_chain)


@dataclass(frozen=True)
class Tables:
    """Latency tables of one state over split options and subcarrier counts 0..K.

    Attributes:
        split: (S, N) split value of option i for device n.
        device_s: (S, N) device compute d1 (SCCT (12)).
        edge_s: (S, N) edge compute d3 at alpha_n = 1, the ``a_n`` of (16).
        link_s: (S, K + 1, N) device <-> edge transfer d2 (SCCT (13)-(15)) plus any cloud hop.
        migration_s: (S, K + 1, N) layer migration d0 (SCCT (18)); zeros without a previous split.
        device_memory_ok: (S, N) option fits device memory (SCCT 21-6).
        edge_memory_bytes: (S, N) edge memory the option needs for device n (SCCT 21-7).
        weights: how the maxima combine into the engine's objective.
        n_subchannels: K.
    """

    split: NDArray[np.int64]
    device_s: Array
    edge_s: Array
    link_s: Array
    migration_s: Array
    device_memory_ok: NDArray[np.bool_]
    edge_memory_bytes: Array
    weights: Weights
    n_subchannels: int

    @cached_property
    def has_migration(self) -> bool:
        """Whether any option moves layers (a previous split exists and differs)."""
        return bool(self.weights.w_mig > 0 and np.any(self.migration_s > 0))

    def chain_base(self, option: NDArray[np.int64]) -> Array:
        """(K + 1, N) ``c_n(beta)`` for option index ``option[n]`` of each device."""
        cols = np.arange(option.shape[-1])
        return self.device_s[option, cols][None, :] + self.link_s[option, :, cols].T

    def migration(self, option: NDArray[np.int64]) -> Array:
        """(K + 1, N) migration time per subcarrier count for the given options."""
        cols = np.arange(option.shape[-1])
        return self.migration_s[option, :, cols].T

    def edge(self, option: NDArray[np.int64]) -> Array:
        """(N,) ``a_n`` for the given options."""
        return self.edge_s[option, np.arange(option.shape[-1])]


def check_scenario(scn: Scenario) -> None:
    """Raise ValueError unless the scenario has SCCT's structure (what the tables assume)."""
    sch, net = scn.schedule, scn.network
    problems = []
    if sch.sync != "parallel":
        problems.append(f"schedule.sync = {sch.sync!r} (needs 'parallel', SCCT (19))")
    if sch.server_mode != "share" or not scn.decision.compute_share:
        problems.append("edge compute shares are not a decision (needs server_mode 'share')")
    if net.allocation != "subchannels":
        problems.append(f"network.allocation = {net.allocation!r} (needs 'subchannels')")
    if scn.objective.kind != "latency":
        problems.append(f"objective.kind = {scn.objective.kind!r} (needs 'latency')")
    if sch.objective_scope == "total" and scn.accuracy.rounds_by_rank:
        problems.append("objective_scope 'total' with a rounds-by-rank model")
    more = [f for f in ("power_w", "server_freq_hz", "keep_ratio") if f in enabled_fields(scn)]
    if more:
        problems.append(f"decisions beyond SCCT's: {', '.join(more)}")
    if scn.objective.energy_weight > 0 or scn.objective.energy_budget_j < float("inf"):
        problems.append("an energy term (objective.energy_weight or energy_budget_j)")
    if problems:
        raise ValueError(
            f"scenario {scn.name!r} is not an SCCT-type problem: " + "; ".join(problems)
        )


def _weights(scn: Scenario, terms: dict[str, Array]) -> Weights:
    """Coefficients of the engine's objective (engine.evaluate_batch, sync 'parallel').

    iteration = d4 + max chain; epoch = J iteration; round = max d0 + T J iteration + post
    (SCCT (19)-(20)); total = R x round (migration counted in every round, as the engine does).
    """
    const, w_mig, w_chain = weight_terms(
        scn, float(terms["shared_iteration_s"][0]), float(terms["adapter_s"][0])
    )
    return Weights(const, w_mig, w_chain)


def weight_terms(scn: Scenario, d4: T, post: T) -> tuple[T, float, float]:
    """:func:`_weights`' (const, w_mig, w_chain) from d4 and the adapter exchange ``post``.

    Floats, or arrays of one value per state (the const per state, elementwise: the same
    float64 operations).
    """
    sch = scn.schedule
    iters = sch.iterations_per_epoch * sch.epochs_per_round
    if sch.objective_scope == "iteration":
        return d4, 0.0, 1.0
    if sch.objective_scope == "epoch":
        j = float(sch.iterations_per_epoch)
        return j * d4, 0.0, j
    rounds = 1.0 if sch.objective_scope == "round" else float(sch.rounds)
    w_mig = rounds if sch.migration else 0.0
    return rounds * (iters * d4 + post), w_mig, rounds * iters


def build_tables(scn: Scenario, state: State, split: NDArray[np.int64] | None = None) -> Tables:
    """Tabulate every per-device latency term over split options and subcarrier counts.

    One engine call evaluates the grid (option x beta = 0..K) with alpha_n = 1; the
    engine's per-device terms are the tables.

    Args:
        scn: an SCCT-type scenario (see :func:`check_scenario`).
        state: the state (its ``prev_split`` drives the migration table).
        split: (S, N) split options; ``None`` = every value of ``decision.split_range``
            for every device.
    """
    check_scenario(scn)
    n, k = scn.n_devices, scn.network.n_subchannels
    full_range = split is None
    if split is None:
        lo, hi = scn.decision.split_range
        split = np.repeat(np.arange(lo, hi + 1)[:, None], n, axis=1)
    split = np.atleast_2d(np.asarray(split, dtype=np.int64))
    n_opt = split.shape[0]
    betas = np.arange(k + 1)
    grid_split = np.repeat(split, k + 1, axis=0)  # row i * (K + 1) + b
    grid_beta = np.tile(betas, n_opt)[:, None] * np.ones((1, n), dtype=np.int64)
    ev = evaluate_batch(
        scn, state, Decision(split=grid_split, subchannels=grid_beta, compute_share=np.ones((1, n)))
    )
    pd = ev.per_device

    def grid(name: str) -> Array:
        return pd[name].reshape(n_opt, k + 1, n)

    link = grid("uplink_s") + grid("downlink_s") + grid("cloud_s")
    device = grid("device_compute_s")[:, 0, :]
    edge = grid("server_compute_s")[:, 0, :]
    if full_range:  # the engine's memory model over the whole range (SCCT 21-6)
        memory_ok = feasible_splits(scn, state)
    else:
        memory_ok = grid("device_memory_bytes")[:, 0, :] <= state.device_memory_bytes[None, :]
    # The engine reports the edge memory summed over devices; the edge keeps one copy of
    # the server-side model per device (SCCT 21-7), which depends only on that device's
    # split, so a constant-split row divides evenly. Rows with mixed splits are not split up.
    edge_total = ev.terms["edge_memory_bytes"].reshape(n_opt, k + 1)[:, 0]
    constant_rows = np.all(split == split[:, :1], axis=1)
    edge_mem = np.where(constant_rows[:, None], edge_total[:, None] / n, np.nan) * np.ones((1, n))
    return Tables(
        split=split,
        device_s=device,
        edge_s=edge,
        link_s=link,
        migration_s=grid("pre_round_s"),
        device_memory_ok=memory_ok,
        edge_memory_bytes=edge_mem,
        weights=_weights(scn, ev.terms),
        n_subchannels=k,
    )
