"""Throughput measurements of the cost engine (``splitenv throughput`` and benchmarks/)."""

from __future__ import annotations

import math
import time

import numpy as np

from splitenv import limits
from splitenv.errors import ConfigError
from splitenv.model import Decision, evaluate_batch
from splitenv.model.types import equal_counts
from splitenv.scenarios import load_scenario, sample_state

#: the longest measurement one call may take per size (an hour: anything longer is a typo)
MAX_SECONDS = 3600.0


def random_decisions(scenario_name: str, n_devices: int, batch: int, seed: int = 0) -> tuple:
    """A scenario with N devices, one state, and a batch of random in-range decisions."""
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ConfigError(f"batch = {batch!r}; allowed: an integer >= 1")
    scn = load_scenario(scenario_name, {"network.n_devices": n_devices})
    limits.check(scn, batch)  # before the batch of random decisions is drawn
    rng = np.random.default_rng(seed)
    lo, hi = scn.decision.split_range
    fields: dict = {"split": rng.integers(lo, hi + 1, size=(batch, n_devices))}
    if scn.decision.shared_split:
        fields["split"] = np.repeat(fields["split"][:, :1], n_devices, axis=1)
    if scn.network.allocation == "subchannels":
        k = scn.network.n_subchannels
        fields["subchannels"] = np.stack(
            [rng.permutation(equal_counts(k, n_devices)) for _ in range(batch)]
        )
    if scn.schedule.server_mode == "share":
        fields["compute_share"] = rng.dirichlet(np.ones(n_devices), size=batch)
    return scn, sample_state(scn, seed), Decision(**fields)


def engine_throughput(
    scenario_name: str, n_devices: int, batch: int, seconds: float
) -> tuple[float, float]:
    """(device-evaluations per second, seconds per batched call) on one thread.

    Raises:
        ConfigError: ``seconds`` not in (0, 3600], a batch below 1 or beyond the memory cap
            (:mod:`splitenv.limits`), or a device count outside the config's range.
    """
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise ConfigError(f"seconds = {seconds!r}; allowed: a number in (0, {MAX_SECONDS:g}]")
    scn, state, decision = random_decisions(scenario_name, n_devices, batch)
    evaluate_batch(scn, state, decision)  # warm caches
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
        evaluate_batch(scn, state, decision)
        calls += 1
    per_call = elapsed / calls
    return batch * n_devices / per_call, per_call
