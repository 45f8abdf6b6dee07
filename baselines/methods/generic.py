"""Generic baselines for every preset: equal allocation, a random feasible decision, a fixed split."""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.base import BaseSolver, SolveStats
from baselines.methods.common import max_feasible_split, random_composition
from splitenv.config import Scenario
from splitenv.model import Decision, State, enabled_fields
from splitenv.model.constraints import accuracy_shortfall


class EqualAllocation(BaseSolver):
    """The preset's default split with equal shares of every resource (the env's reference)."""

    name = "equal"

    kind = "baseline"

    reference = "the env's reference (preset default)"

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        return Decision()


class FixedSplit(BaseSolver):
    """One split for every device (largest memory-feasible one by default), equal shares.

    Args:
        split: the split; ``None`` takes the largest value feasible for all devices.
    """

    name = "fixed_split"

    kind = "baseline"

    reference = "-"

    def __init__(self, split: int | None = None) -> None:
        self.split = split

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        value = (
            self.split if self.split is not None else int(max_feasible_split(scenario, state).min())
        )
        return Decision(split=np.full(scenario.n_devices, value))


class RandomFeasible(BaseSolver):
    """A random decision that meets every budget: memory-feasible splits, random shares.

    Splits are uniform over each device's memory-feasible values (one shared value
    for a shared cut); subchannels, bandwidth and compute shares are uniform random
    compositions of the budget; powers uniform in [0.5, 1] of the maximum, scaled
    into the total budget; frequencies uniform in their range; rank, sparsity and
    bits uniform over their choices.
    """

    name = "random"

    kind = "baseline"

    reference = "-"

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        return random_decision(scenario, state, rng)


def random_decision(scn: Scenario, state: State, rng: np.random.Generator) -> Decision:
    """See :class:`RandomFeasible`."""
    n, net, dec = scn.n_devices, scn.network, scn.decision
    fields = enabled_fields(scn)
    lo = dec.split_range[0]
    hi = max_feasible_split(scn, state)
    if dec.shared_split:
        split = np.full(n, rng.integers(lo, hi.min() + 1))
    else:
        split = rng.integers(lo, hi + 1)
    values: dict[str, Any] = {"split": split}
    if "edge_split" in fields:
        values["edge_split"] = rng.integers(split, scn.model.n_layers + 1)
    if "rank" in fields:
        values["rank"] = rng.choice(scn.workload.rank_choices)
    if "subchannels" in fields:
        values["subchannels"] = random_composition(
            net.n_subchannels, n, rng, minimum=int(net.n_subchannels >= n)
        )
    if "bandwidth_hz" in fields:
        values["bandwidth_hz"] = rng.dirichlet(np.ones(n)) * net.bandwidth_hz
    if "fed_subchannels" in fields:
        values["fed_subchannels"] = random_composition(
            net.fed_n_subchannels, n, rng, minimum=int(net.fed_n_subchannels >= n)
        )
    for name in ("power_w", "fed_power_w"):
        if name in fields:
            p = rng.uniform(0.5, 1.0, n) * net.device_power_w
            values[name] = p * min(1.0, net.total_power_w / p.sum())
    if "compute_share" in fields:
        values["compute_share"] = rng.dirichlet(np.ones(n))
    if "server_freq_hz" in fields:
        values["server_freq_hz"] = rng.uniform(*scn.compute.server_freq_hz, n)
    if "keep_ratio" in fields:
        values.update(_random_compression(scn, rng))
    return Decision(**values)


#: draws of (rho, q) before a random decision falls back to uncompressed activations
COMPRESSION_TRIES = 100


def _random_compression(scn: Scenario, rng: np.random.Generator) -> dict[str, Any]:
    """Uniform (keep ratio, bits); under SFT's accuracy constraint (36b) redrawn until it holds.

    Uncompressed activations (rho = 1, q = 0) meet the constraint by definition
    (:func:`splitenv.model.constraints.violations`): the fallback after COMPRESSION_TRIES draws.
    """
    comp = scn.compression
    for _ in range(COMPRESSION_TRIES if scn.accuracy.constrained else 1):
        rho = rng.uniform(*comp.keep_ratio_range)
        q = int(rng.integers(comp.quant_bits_range[0], comp.quant_bits_range[1] + 1))
        if not scn.accuracy.constrained or accuracy_met(scn, rho, q):
            return {"keep_ratio": rho, "quant_bits": q}
    return {"keep_ratio": 1.0, "quant_bits": 0}


def accuracy_met(scn: Scenario, keep_ratio: float, quant_bits: int) -> bool:
    """Whether (rho, q) meets SFT's A(rho, q) >= A_th (35)-(36b), by the engine's check."""
    return float(accuracy_shortfall(scn, np.asarray(keep_ratio), np.asarray(quant_bits))) == 0
