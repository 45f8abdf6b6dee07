"""Benchmark jobs: one episode of one method on one instance, and the planning of a benchmark.

A benchmark is a list of :class:`Job` (scenario x method x seed), validated and ordered by
:func:`plan`. Seed ``s`` plays the stored instance ``s`` (:class:`splitenv.instances.InstanceReset`),
so every method sees the identical channels and compute; the method's own generator (random
baselines, ALNS) is seeded with ``s`` too. :mod:`baselines.harness.episode` plays a job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from baselines.base import applicable_solvers, available, unavailable
from baselines.harness.policy import resolve_method
from splitenv import instances, plugins
from splitenv.config import Scenario
from splitenv.errors import ConfigError
from splitenv.scenarios import list_scenarios, load_scenario
from splitenv.spaces import TIMESCALES

#: seeds one --seeds spec may list (a million episodes per method is days of work: a typo)
MAX_SEEDS = 100_000


@dataclass(frozen=True)
class Job:
    """One episode of one method on one instance.

    Attributes:
        scenario: preset name or YAML path.
        method: a solver name, ``KIND:ARG`` plug-in, or a bare kind (``ppo``: the scenario's
            shipped agent) (:func:`~baselines.harness.policy.resolve_method`).
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


def parse_seeds(spec: str, scenario: str = "scct") -> list[int]:
    """Seeds from ``"0-19"``, ``"0,3,7"``, ``"5"`` or a named set (``test``, ``validation``).

    Raises:
        ConfigError: a malformed spec, an empty or descending range, a negative seed, or more
            than :data:`MAX_SEEDS` seeds.
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
        if len(seeds) + b - a + 1 > MAX_SEEDS:
            raise ConfigError(
                f"--seeds {spec!r}: {len(seeds) + b - a + 1:,} seeds; allowed: at most {MAX_SEEDS:,}"
            )
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


def check_methods(scn: Scenario, methods: Sequence[str], scenario: str | None = None) -> None:
    """Raise a ConfigError naming the first method that is unknown or does not apply.

    ``scenario``: the name the jobs use (default ``scn.name``); a bare plug-in kind (``ppo``)
    is that scenario's shipped agent.
    """
    known = available()
    applicable = applicable_solvers(scn)
    for m in methods:
        if ":" in m or m in plugins.names("methods"):
            try:
                resolve_method(m, 0, scenario=scenario or scn.name)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        elif m not in known:
            raise ConfigError(f"unknown method {m!r}; solvers: {', '.join(known)}")
        elif m in (missing := unavailable()):
            raise ConfigError(f"method {m!r} is unavailable: {missing[m]}")
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
    for flag, value in (("--rounds", rounds), ("--epochs-per-round", epochs_per_round)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigError(f"{flag} = {value!r}; allowed: an integer >= 1")
    if not scenarios:
        raise ConfigError(f"no scenario given; known scenarios: {', '.join(list_scenarios())}")
    pairs = tuple(sorted((overrides or {}).items()))
    jobs = []
    for name in scenarios:
        scn = load_scenario(name, dict(pairs))
        chosen = list(methods) if methods else default_methods(scn)
        if len(set(chosen)) != len(chosen):
            raise ConfigError(f"--methods {','.join(chosen)}: a method is listed twice")
        check_methods(scn, chosen, name)
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
