"""Memory per tier and the amount by which each budget is exceeded.

A well-formed decision that overruns a budget is evaluated and reported
infeasible with the amount of each violation; nothing is clipped.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from splitenv.config import Scenario
from splitenv.model import accuracy
from splitenv.model.decision import Decision
from splitenv.model.phases import per_batch
from splitenv.model.state import AnyState, device_rows
from splitenv.model.workload import block_costs

Array = NDArray[np.float64]

#: relative tolerance of continuous budgets: rounding in a sum of shares is not a violation
BUDGET_RTOL = 1e-9


def tier_memory(scn: Scenario, state: AnyState, d: Decision) -> dict[str, Array]:
    """Memory per tier: parameters only (SCCT 21-6/7) or training memory (SFT (29)-(34)).

    Returns:
        ``device`` (B, N), ``edge`` and ``cloud`` (B,), in bytes.
    """
    costs = block_costs(scn)
    mem, w, m = scn.memory, scn.workload, scn.model
    L = m.n_layers
    s = d.split.astype(np.float64)
    e = d.edge_split.astype(np.float64)
    per_block: float | Array
    if mem.model == "params":
        per_block = costs.block_params * w.param_bits / 8.0
        device = s * per_block
        if w.embedding_on_device:
            device = device + costs.embedding_params * w.param_bits / 8.0
        edge_dev = (e - s) * per_block
        cloud_dev = (L - e) * per_block
    else:
        per_block = costs.block_training_bytes(mem, d.rank.astype(np.float64)[:, None])
        device = costs.device_fixed_bytes(mem) + s * per_block
        head = mem.head_bnd * w.batch_size * m.seq_len * m.hidden_dim
        edge_dev = (e - s) * per_block + np.where(e >= L, head, 0.0)
        cloud_dev = (L - e) * per_block + np.where(e < L, head, 0.0)
    if not state.active.all():  # an absent device holds nothing
        on = device_rows(state.active)
        device, edge_dev, cloud_dev = (np.where(on, x, 0.0) for x in (device, edge_dev, cloud_dev))
    # edge servers keep one server-side model per device they serve at once (SCCT 21-7);
    # serving in turn (SplitLLM, sequential) needs only the largest.
    if scn.schedule.sync == "sequential":
        edge = edge_dev.max(axis=1)
        cloud = cloud_dev.max(axis=1)
    else:
        edge = edge_dev.sum(axis=1)
        cloud = cloud_dev.sum(axis=1)
    return {"device": device, "edge": edge, "cloud": cloud}


def _excess(value: Array, budget: float | Array) -> Array:
    """``value - budget`` where it exceeds the budget by more than BUDGET_RTOL, else 0."""
    over = np.asarray(value, dtype=np.float64) - budget
    scale = abs(budget) if isinstance(budget, float) else np.abs(budget)  # the same |budget|
    tol = BUDGET_RTOL * scale
    if not isinstance(over, np.ndarray):  # scalars
        return np.where(over > tol, over, 0.0)
    # over where over > tol, else 0 (NaN too): np.where's values, written into the fresh `over`
    hit = over > tol
    if np.logical_or.reduce(hit, axis=None):
        np.copyto(over, 0.0, where=~hit)
    else:  # nothing exceeds (the usual case)
        over.fill(0.0)
    return over


def violations(
    scn: Scenario,
    state: AnyState,
    d: Decision,
    mem: dict[str, Array],
    energy: Array | None = None,
) -> dict[str, Array]:
    """Amount by which each constraint is exceeded (0 where met), (B,) each; never clipped.

    ``energy`` is the energy at the objective's scope
    (:func:`splitenv.model.objectives.scoped_energy`), checked against
    ``objective.energy_budget_j`` when that budget is finite (the energy-constrained variant).
    """
    net, dec = scn.network, scn.decision
    out: dict[str, Array] = {}
    out["device_memory"] = _excess(mem["device"], state.device_memory_bytes).sum(axis=1)
    out["edge_memory"] = _excess(mem["edge"], scn.memory.edge_memory_bytes)
    if net.allocation == "subchannels":
        out["subchannels"] = np.maximum(d.subchannels.sum(axis=1) - net.n_subchannels, 0).astype(
            float
        )
    elif net.allocation == "continuous":
        out["bandwidth"] = _excess(d.bandwidth_hz.sum(axis=1), net.bandwidth_hz)
    out.update(_power_excess(scn, d, "power_w", ""))
    if net.fed_n_subchannels:
        out["fed_subchannels"] = np.maximum(
            d.fed_subchannels.sum(axis=1) - net.fed_n_subchannels, 0
        ).astype(float)
        out.update(_power_excess(scn, d, "fed_power_w", "fed_"))
    if scn.schedule.server_mode == "share" and dec.compute_share:
        out["compute_share"] = _excess(d.compute_share.sum(axis=1), 1.0)
    if scn.accuracy.constrained and scn.compression.enabled:
        out["accuracy"] = _accuracy_shortfall(scn, d)
    budget = scn.objective.energy_budget_j
    if np.isfinite(budget):
        if energy is None:
            raise ValueError("objective.energy_budget_j is set: violations() needs the energy")
        out["energy"] = _excess(energy, budget)
    return out


def _power_excess(scn: Scenario, d: Decision, field: str, prefix: str) -> dict[str, Array]:
    """The device and total power violations of ``d.<field>`` (power_w or fed_power_w), (B,).

    Without power control the field is the preset default in every row (no decision sets
    it): the amounts are built once per batch size, by the same expressions (read-only).
    """
    net = scn.network

    def amounts() -> dict[str, Array]:
        power = getattr(d, field)
        return {
            f"{prefix}device_power": _excess(power, net.device_power_w).sum(axis=1),
            f"{prefix}total_power": _excess(power.sum(axis=1), net.total_power_w),
        }

    if scn.decision.power_control:
        return amounts()

    def fixed() -> dict[str, Array]:
        out = amounts()
        for arr in out.values():
            arr.flags.writeable = False
        return out

    return per_batch(scn, f"{prefix}power_excess", d.power_w.shape[0], fixed)


def _accuracy_shortfall(scn: Scenario, d: Decision) -> Array:
    """:func:`accuracy_shortfall` of a completed decision, (B,)."""
    return accuracy_shortfall(scn, d.keep_ratio, d.quant_bits)


def accuracy_shortfall(scn: Scenario, keep_ratio: ArrayLike, quant_bits: ArrayLike) -> Array:
    """How far the compression setting falls below SFT's accuracy threshold (35), (B,).

    SFT (35) is fitted over quantized settings: q = 0 (unquantized) is read at the finest
    fitted q, and uncompressed activations (rho = 1, q = 0) meet the threshold by definition.
    """
    acc = scn.accuracy
    q_fine = scn.compression.quant_bits_range[1]
    keep_ratio, quant_bits = np.asarray(keep_ratio), np.asarray(quant_bits)
    q = np.where(quant_bits == 0, q_fine, quant_bits)
    value = accuracy.sft_cubic(acc.cubic_coeffs, keep_ratio, q)
    uncompressed = (keep_ratio >= 1.0) & (quant_bits == 0)
    return np.where(uncompressed, 0.0, np.maximum(acc.threshold - value, 0.0))
