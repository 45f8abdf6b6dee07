"""Any solver as a policy of the environment, at every timescale.

``SolverPolicy(name)(env)`` solves the problem of the env's current state with
the solver and returns the decision fields the env's timescale exposes, in
physical units for ``env.unwrapped.step_decision``:

* ``round`` / ``joint``: the solver's full decision on the state of the step's
  first epoch (its split, rank, compression; the env's inner allocator then
  allocates each epoch for ``round``);
* ``epoch``, and ``joint`` after a round's first epoch: the small-timescale
  fields, solved with the round's split passed as ``split=`` (solvers that
  optimize the split themselves ignore it; the env applies the round's split).

:func:`run_episode` plays a whole episode and returns what the benchmark needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from baselines.base import Solver, make_solver
from splitenv.env import SplitLoRAEnv


class SolverPolicy:
    """A solver acting in the env.

    Args:
        solver: a registered name or a Solver.
        seed: seed of the solver's own generator (random baselines, ALNS).
        options: passed to every ``solve`` call.
    """

    def __init__(self, solver: str | Solver, seed: int = 0, **options: Any) -> None:
        self.solver = make_solver(solver) if isinstance(solver, str) else solver
        self.rng = np.random.default_rng(seed)
        self.options = options

    def __call__(self, env: gym.Env) -> dict[str, Any]:
        base = env.unwrapped
        if not isinstance(base, SplitLoRAEnv):
            raise TypeError(f"SolverPolicy needs a SplitLoRAEnv, got {type(base).__name__}")
        options = dict(self.options)
        fixed_split = base.timescale == "epoch" or (
            base.timescale == "joint" and not base.round_start
        )
        if fixed_split and base.large_decision.split is not None:
            options.setdefault("split", np.asarray(base.large_decision.split))
        sol = self.solver.solve(base.scenario, base.current_state, self.rng, **options)
        d = sol.decision.take(0)
        return {f: np.asarray(getattr(d, f))[0] for f in base.fields if getattr(d, f) is not None}


@dataclass
class EpisodeResult:
    """What one episode of a policy cost."""

    total_cost: float = 0.0
    total_reference: float = 0.0
    latency_s: float = 0.0
    energy_j: float = 0.0
    steps: int = 0
    infeasible_steps: int = 0
    round_latencies_s: list[float] = field(default_factory=list)


def run_episode(env: gym.Env, policy: SolverPolicy, seed: int) -> EpisodeResult:
    """Play one episode of ``env`` from ``reset(seed=seed)`` with ``policy``."""
    base = env.unwrapped
    if not isinstance(base, SplitLoRAEnv):
        raise TypeError(f"run_episode needs a SplitLoRAEnv, got {type(base).__name__}")
    env.reset(seed=seed)
    out = EpisodeResult()
    while True:
        _, _, terminated, truncated, info = base.step_decision(policy(env))
        out.total_cost += info["cost"]
        out.total_reference += info["reference_cost"]
        out.latency_s += info["latency_s"]
        out.energy_j += info["energy_j"]
        out.steps += 1
        out.infeasible_steps += not info["feasible"]
        if "round_latency_s" in info:
            out.round_latencies_s.append(info["round_latency_s"])
        if terminated or truncated:
            return out
