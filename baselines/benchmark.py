"""The benchmark harness: every method on the same instances, scored by the env's cost engine.

A benchmark is a list of :class:`Job` (scenario x method x seed). Each job plays one
episode of :class:`~splitenv.env.SplitLoRAEnv` with
:func:`baselines.policy.run_episode` and the method from
:func:`baselines.policy.resolve_method`; seed ``s`` plays the stored instance ``s``
(``reset(seed=s, options={"instance": {"seed": s}})``, the episodes that
:mod:`splitenv.instances` hashes), so every method sees the identical channels and
compute. The method's own generator (random baselines, ALNS) is seeded with ``s`` too.

Jobs run in this process, in a ``ProcessPoolExecutor`` (``workers > 1``) or as ray
tasks (``backend="ray"``), see :mod:`baselines.runner`; rows come back in job order,
so the CSV does not depend on the backend or the number of workers. Only the timing columns (:data:`TIMING`)
differ between two runs of the same command: :func:`deterministic_view` drops them.

CSV columns (:data:`COLUMNS`): ``objective`` is the episode's total cost (the env's
``info["cost"]`` summed: latency in s, or CARD's cost U), ``reference_cost`` the same
for equal allocation on the same states, ``normalized_cost`` their ratio;
``latency_s`` and ``energy_j`` sum the steps; ``round_latencies_s`` lists every
round's exact latency (space-separated) with its mean, min and max; ``feasible`` means
no infeasible step; ``wall_time_s`` is the episode's wall time and ``decision_time_s``
the mean time of one policy call (at the ``round`` timescale the env's inner allocator
runs outside it).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import splitenv
from baselines.base import applicable_solvers, available
from baselines.policy import EpisodeResult, resolve_method, run_episode
from splitenv import instances
from splitenv.config import Scenario
from splitenv.env import SplitLoRAEnv
from splitenv.errors import ConfigError, JobError
from splitenv.scenarios import list_scenarios, load_scenario

#: columns of the tidy CSV, in order; the last two are wall-clock times
COLUMNS = (
    "scenario", "config_sha256", "timescale", "rounds", "epochs_per_round", "seed", "method",
    "objective", "reference_cost", "normalized_cost", "latency_s", "energy_j",
    "round_latency_mean_s", "round_latency_min_s", "round_latency_max_s", "round_latencies_s",
    "steps", "infeasible_steps", "feasible",
    "splitenv_version", "numpy_version", "gymnasium_version",
    "wall_time_s", "decision_time_s",
)  # fmt: skip
#: the columns that differ between two runs of the same benchmark
TIMING = ("wall_time_s", "decision_time_s")
TIMESCALES = ("round", "epoch", "joint")


@dataclass(frozen=True)
class Job:
    """One episode of one method on one instance.

    Attributes:
        scenario: preset name or YAML path.
        method: a solver name or ``KIND:ARG`` plug-in (:func:`~baselines.policy.resolve_method`).
        seed: the instance seed (and the method's own seed).
        overrides: dotted config overrides as sorted ``(key, value)`` pairs.
        timescale: ``round``, ``epoch`` or ``joint``.
        rounds: episode rounds (``None``: the env's default).
        epochs_per_round: epochs per round (``None``: the env's default).
    """

    scenario: str
    method: str
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()
    timescale: str = "round"
    rounds: int | None = None
    epochs_per_round: int | None = None


@dataclass
class Episode:
    """An episode's result, the env it ran in and the (state, fields) of every step."""

    result: EpisodeResult
    env: SplitLoRAEnv
    decisions: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    decision_time_s: float = 0.0


def config_hash(scn: Scenario) -> str:
    """SHA-256 of the scenario's ``to_dict`` JSON (the same hash as ``env.instance()``)."""
    text = json.dumps(scn.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def make_env(job: Job) -> SplitLoRAEnv:
    """The env a job plays in."""
    kwargs: dict[str, Any] = {"timescale": job.timescale, "overrides": dict(job.overrides)}
    if job.rounds is not None:
        kwargs["rounds"] = job.rounds
    if job.epochs_per_round is not None:
        kwargs["epochs_per_round"] = job.epochs_per_round
    return SplitLoRAEnv(job.scenario, **kwargs)


class _InstanceReset(gym.Wrapper):
    """``reset(seed=s)`` plays the stored instance ``s`` (not a seed derived from it)."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        return self.env.reset(seed=seed, options={**(options or {}), "instance": {"seed": seed}})


def play(job: Job, record: bool = False) -> Episode:
    """Play a job's episode; with ``record`` keep each step's state and applied fields.

    The applied fields are the policy's, with the round's split / rank / compression
    in force where the step is not a round start (the env ignores them there).
    """
    from splitenv.spaces import LARGE

    env = make_env(job)
    policy = resolve_method(job.method, seed=job.seed)
    out = Episode(EpisodeResult(), env)

    def timed(e: gym.Env, obs: Any) -> dict[str, Any]:
        start = time.perf_counter()
        fields = policy(e, obs)
        out.decision_time_s += time.perf_counter() - start
        if record:
            applied = dict(fields)
            if not env.round_start:
                large = env.large_decision
                for key in LARGE:
                    applied.pop(key, None)
                    if getattr(large, key) is not None:
                        applied[key] = np.asarray(getattr(large, key))
            out.decisions.append((env.current_state, applied))
        return fields

    out.result = run_episode(_InstanceReset(env), timed, seed=job.seed)
    return out


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
    return {
        "scenario": scn.name,
        "config_sha256": config_hash(scn),
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
        "round_latency_mean_s": float(rounds.mean()) if rounds.size else float("nan"),
        "round_latency_min_s": float(rounds.min()) if rounds.size else float("nan"),
        "round_latency_max_s": float(rounds.max()) if rounds.size else float("nan"),
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


# --- planning ------------------------------------------------------------------------------


def parse_seeds(spec: str, scenario: str = "scct") -> list[int]:
    """Seeds from ``"0-19"``, ``"0,3,7"``, ``"5"`` or a named set (``test``, ``validation``).

    Raises:
        ConfigError: a malformed spec, an empty or descending range, or a negative seed.
    """
    spec = str(spec).strip()
    if spec in ("test", "validation"):
        return instances.instance_set(scenario, spec)
    seeds: list[int] = []
    for part in spec.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ConfigError(
                f"--seeds {spec!r}: expected a range like 0-19, a list like 0,3,7, "
                "or a named set (test, validation)"
            ) from None
        if a < 0 or b < a:
            raise ConfigError(f"--seeds {spec!r}: {part!r} is not a non-empty range of seeds >= 0")
        seeds.extend(range(a, b + 1))
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {spec!r}: a seed is listed twice")
    return seeds


def is_exact_reference(method: str) -> bool:
    """Whether a method is an exact reference (``exact``, ``*_exact``): slow, opt-in."""
    return method == "exact" or method.endswith("_exact")


def default_methods(scn: Scenario) -> list[str]:
    """The scenario's applicable solvers except the exact references (their cost grows fast in N)."""
    return [m for m in applicable_solvers(scn) if not is_exact_reference(m)]


def check_methods(scn: Scenario, methods: Sequence[str]) -> None:
    """Raise a ConfigError naming the first method that is unknown or does not apply."""
    known = available()
    applicable = applicable_solvers(scn)
    for m in methods:
        if ":" in m:
            try:
                resolve_method(m, 0)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        elif m not in known:
            raise ConfigError(f"unknown method {m!r}; solvers: {', '.join(known)}")
        elif m not in applicable:
            raise ConfigError(
                f"method {m!r} does not apply to scenario {scn.name!r}; "
                f"applicable: {', '.join(applicable)}"
            )


def plan(
    scenarios: Sequence[str],
    methods: Sequence[str] | None,
    seeds: str | Sequence[int],
    overrides: dict[str, Any] | None = None,
    timescale: str = "round",
    rounds: int | None = None,
    epochs_per_round: int | None = None,
) -> list[Job]:
    """Validate the input and list the jobs, ordered by scenario, method, seed (as given).

    Raises:
        ConfigError: unknown scenario, method or timescale, a bad seed spec, or a changed
            named instance set.
    """
    if timescale not in TIMESCALES:
        raise ConfigError(f"--timescale {timescale!r}; allowed: {', '.join(TIMESCALES)}")
    if not scenarios:
        raise ConfigError(f"no scenario given; known scenarios: {', '.join(list_scenarios())}")
    pairs = tuple(sorted((overrides or {}).items()))
    jobs = []
    for name in scenarios:
        scn = load_scenario(name, dict(pairs))
        chosen = list(methods) if methods else default_methods(scn)
        if len(set(chosen)) != len(chosen):
            raise ConfigError(f"--methods {','.join(chosen)}: a method is listed twice")
        check_methods(scn, chosen)
        if isinstance(seeds, str):
            seed_list = parse_seeds(seeds, name)
            if seeds in ("test", "validation") and not pairs and name in list_scenarios():
                try:
                    instances.check(name, seeds)
                except RuntimeError as exc:
                    raise ConfigError(str(exc)) from None
        else:
            seed_list = [int(s) for s in seeds]
        jobs += [
            Job(name, m, s, pairs, timescale, rounds, epochs_per_round)
            for m in chosen
            for s in seed_list
        ]
    return jobs


# --- CSV -----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path, columns: Sequence[str] = COLUMNS):
    """Write rows as CSV with ``columns`` in order (floats in full precision)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row[c]) for c in columns])


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a CSV as dicts of strings."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def deterministic_view(csv_path: str | Path) -> str:
    """The CSV's text without the timing columns: equal for two runs of the same benchmark."""
    with Path(csv_path).open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        keep = [i for i, name in enumerate(header) if name not in TIMING]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([header[i] for i in keep])
        for row in reader:
            writer.writerow([row[i] for i in keep])
    return out.getvalue()
