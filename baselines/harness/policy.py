"""Any solver as a policy of the environment, at every timescale.

A policy is a callable ``policy(env, obs) -> fields``: the decision fields the
env's timescale exposes, in physical units, for ``env.unwrapped.step_decision``.
``SolverPolicy(name)`` solves the problem of the env's current state with the
solver (it ignores ``obs``):

* ``round`` / ``joint``: the solver's full decision on the state of the step's
  first epoch (its split, rank, compression; the env's inner allocator then
  allocates each epoch for ``round``);
* ``epoch``, and ``joint`` after a round's first epoch: the small-timescale
  fields, solved with the round's split passed as ``split=`` (solvers that
  optimize the split themselves ignore it; the env applies the round's split).

Every solver is therefore a *snapshot* method: it re-solves at each round start on that round's
first state alone (its previous split in ``state.prev_split``, so a split change pays its
migration, SCCT (18), where the preset charges one), with no look-ahead at the rounds to come.
On the dynamic flagship ``splitlora_dynamic`` (drifting device compute, slow fading, churn,
migration) the best general method run this way is the snapshot baseline a learned scheduler
with foresight has to beat. The exception is a solver that declares ``plans_ahead``
(:mod:`baselines.methods.lookahead`): it gets the rounds left (``rounds_left``, this one
included) and, at the round timescale, the env's inner allocator (``allocator``).

:func:`run_episode` plays a whole episode and returns what the benchmark needs. It steps
through every wrapper of the env: the policy's fields travel down the wrapper chain as a
:class:`DecisionFields` action, which a :class:`StepFields` layer directly above the base env
hands to ``step_decision`` (:func:`route_fields` puts that layer in place once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from baselines.base import Solver, make_solver
from splitenv import plugins
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

    def __call__(self, env: gym.Env, obs: Any = None) -> dict[str, Any]:
        base = env.unwrapped
        if not isinstance(base, SplitLoRAEnv):
            raise TypeError(f"SolverPolicy needs a SplitLoRAEnv, got {type(base).__name__}")
        options = dict(self.options)
        scenario = base.scenario
        fixed_split = base.timescale == "epoch" or (
            base.timescale == "joint" and not base.round_start
        )
        if fixed_split and base.large_decision.split is not None:
            split = np.asarray(base.large_decision.split)
            if scenario.decision.shared_split:  # one cut: any solver then searches just that one
                cut = int(split.reshape(-1)[0])
                scenario = scenario.with_overrides(
                    {"decision.split_range": [cut, cut], "decision.default_split": cut}
                )
            else:
                options.setdefault("split", split)
        if getattr(self.solver, "plans_ahead", False) and not fixed_split:
            # a planner (lookahead) weighs a split change against the rounds left (this one
            # included) and scores candidates with the env's own inner allocator
            options.setdefault("rounds_left", base.rounds - int(base.current_state.round_index))
            if base.timescale == "round":
                options.setdefault("allocator", base.inner_allocator)
        sol = self.solver.solve(scenario, base.current_state, self.rng, **options)
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
    total_reward: float = 0.0  # the env's rewards summed (minus the capped cost ratios)
    round_latencies_s: list[float] = field(default_factory=list)


Policy = Callable[[gym.Env, Any], dict[str, Any]]


class DecisionFields(dict):  # type: ignore[type-arg]
    """Decision fields in physical units, passed down a wrapper chain as the action."""


class StepFields(gym.Wrapper):
    """Steps the base env with a :class:`DecisionFields` action through ``step_decision``.

    Every other action goes on to the env's ``step`` unchanged. :func:`run_episode` places
    this layer directly above the base env, so the wrappers above it (gymnasium's checkers,
    ``InstanceReset``, statistics, rewards) see every step.
    """

    def step(self, action: Any):
        if isinstance(action, DecisionFields):
            return self.env.unwrapped.step_decision(dict(action))  # type: ignore[attr-defined]
        return self.env.step(action)


def route_fields(env: gym.Env) -> gym.Env:
    """``env`` with a :class:`StepFields` layer in its wrapper chain (placed once).

    The layer goes directly above the base env, so every wrapper sees the steps; with an
    action wrapper in the chain (``BoxAction``, ...) it goes directly above the outermost one,
    since the fields are already the decoded, physical action.
    """
    parent: gym.Wrapper | None = None
    layer: gym.Env = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, StepFields):
            return env
        if isinstance(layer, gym.ActionWrapper):
            break
        parent, layer = layer, layer.env
    if parent is None:
        return StepFields(env)
    parent.env = StepFields(layer)
    return env


def run_episode(env: gym.Env, policy: Policy, seed: int) -> EpisodeResult:
    """Play one episode of ``env`` from ``reset(seed=seed)`` with ``policy(env, obs)``.

    Resets and steps go through every wrapper of ``env`` (see :func:`route_fields`).
    """
    if not isinstance(env.unwrapped, SplitLoRAEnv):
        raise TypeError(f"run_episode needs a SplitLoRAEnv, got {type(env.unwrapped).__name__}")
    env = route_fields(env)
    obs, _ = env.reset(seed=seed)
    out = EpisodeResult()
    while True:
        obs, reward, terminated, truncated, info = env.step(DecisionFields(policy(env, obs)))
        out.total_reward += float(reward)
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


def resolve_method(spec: str, seed: int = 0, scenario: str | None = None) -> Policy:
    """A benchmark method by name: a registered solver, or ``KIND:ARG`` from a plug-in.

    Plug-ins register a factory ``factory(arg, seed) -> Policy`` in the
    ``splitenv.methods`` entry-point group; ``agents`` registers ``ppo`` and
    ``maskable_ppo`` (``ppo:runs/scct__ppo__0/best_model.zip``), so this package
    never imports it. A bare plug-in kind (``ppo``) is the scenario's shipped agent:
    ``KIND:@SCENARIO`` (the plug-in resolves ``@SCENARIO``).

    Raises:
        ValueError: unknown solver or plug-in kind, naming what is available; a bare kind
            without a scenario, or for a scenario that ships no agent.
    """
    if ":" not in spec and spec in plugins.names("methods"):
        if scenario is None:
            raise ValueError(
                f"method {spec!r} is the scenario's shipped agent: give the scenario, "
                f"or {spec}:PATH"
            )
        spec = f"{spec}:@{scenario}"
    if ":" in spec:
        kind, arg = spec.split(":", 1)
        if kind not in plugins.names("methods"):
            kinds = ", ".join(plugins.names("methods")) or "none"
            raise ValueError(f"unknown method kind {kind!r} in {spec!r}; plug-ins: {kinds}")
        factory = plugins.load("methods", kind)
        return factory(arg, seed)  # type: ignore[no-any-return]
    return SolverPolicy(spec, seed=seed)
