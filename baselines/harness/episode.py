"""Playing a benchmark job: the env built through the registry, one episode, one CSV row.

Every env of the harness comes from the registry (:func:`splitenv.registration.make`: ``gym.make`` with the
preset's id, so per-id defaults such as FedsLLM-v0's apply), wrapped in
:class:`splitenv.instances.InstanceReset` so that ``reset(seed=s)`` plays stored instance ``s``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

import splitenv
from baselines.harness.jobs import Job
from baselines.harness.policy import EpisodeResult, resolve_method, run_episode
from splitenv.env import SplitLoRAEnv
from splitenv.errors import JobError
from splitenv.instances import InstanceReset
from splitenv.registration import make
from splitenv.spaces import LARGE


@dataclass
class Episode:
    """An episode's result, the env it ran in and the (state, fields) of every step."""

    result: EpisodeResult
    env: SplitLoRAEnv
    decisions: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    decision_time_s: float = 0.0


def make_env(job: Job) -> gym.Env:
    """The env a job plays in (through the registry; ``reset(seed=s)`` plays instance s)."""
    kwargs: dict[str, Any] = {"timescale": job.timescale, "overrides": dict(job.overrides)}
    if job.rounds is not None:
        kwargs["rounds"] = job.rounds
    if job.epochs_per_round is not None:
        kwargs["epochs_per_round"] = job.epochs_per_round
    return InstanceReset(make(job.scenario, **kwargs))


def play(job: Job, record: bool = False) -> Episode:
    """Play a job's episode; with ``record`` keep each step's state and applied fields.

    The applied fields are the policy's, with the round's split / rank / compression
    in force where the step is not a round start (the env ignores them there).
    """
    env = make_env(job)
    base: SplitLoRAEnv = env.unwrapped  # type: ignore[assignment]
    policy = resolve_method(job.method, seed=job.seed, scenario=job.scenario)
    out = Episode(EpisodeResult(), base)

    def timed(e: gym.Env, obs: Any) -> dict[str, Any]:
        start = time.perf_counter()
        fields = policy(e, obs)
        out.decision_time_s += time.perf_counter() - start
        if record:
            out.decisions.append((base.current_state, _applied(base, fields)))
        return fields

    out.result = run_episode(env, timed, seed=job.seed)
    return out


def _applied(base: SplitLoRAEnv, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as the env applies them: the round's large fields after a round start."""
    applied = dict(fields)
    if not base.round_start:
        large = base.large_decision
        for key in LARGE:
            applied.pop(key, None)
            if getattr(large, key) is not None:
                applied[key] = np.asarray(getattr(large, key))
    return applied


def run_job(job: Job) -> dict[str, Any]:
    """Play one job and return its CSV row (values as written, floats unrounded)."""
    start = time.perf_counter()
    try:
        episode = play(job)
    except Exception as exc:
        raise JobError(
            f"method {job.method!r} failed on scenario {job.scenario!r}, seed {job.seed}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    wall = time.perf_counter() - start
    r, scn = episode.result, episode.env.scenario
    rounds = np.asarray(r.round_latencies_s, dtype=float)
    ref = r.total_reference
    stat = (lambda f: float(f(rounds))) if rounds.size else (lambda f: float("nan"))
    return {
        "scenario": scn.name,
        "config_sha256": scn.sha256(),
        "timescale": job.timescale,
        "rounds": episode.env.rounds,
        "epochs_per_round": episode.env.epochs_per_round,
        "seed": job.seed,
        "method": job.method,
        "objective": r.total_cost,
        "reference_cost": ref,
        "normalized_cost": r.total_cost / ref if ref > 0 else float("nan"),
        "latency_s": r.latency_s,
        "energy_j": r.energy_j,
        "round_latency_mean_s": stat(np.mean),
        "round_latency_min_s": stat(np.min),
        "round_latency_max_s": stat(np.max),
        "round_latencies_s": " ".join(repr(float(x)) for x in rounds),
        "steps": r.steps,
        "infeasible_steps": r.infeasible_steps,
        "feasible": r.infeasible_steps == 0,
        "splitenv_version": splitenv.__version__,
        "numpy_version": np.__version__,
        "gymnasium_version": gym.__version__,
        "wall_time_s": wall,
        "decision_time_s": episode.decision_time_s / max(r.steps, 1),
    }
