"""The Solver protocol, solve statistics and the name -> solver registry.

A solver maps (scenario, state, rng) to a decision. It may evaluate as many
candidate decisions as it likes through :func:`splitenv.evaluate_batch`, but
the solution it returns is always re-evaluated by the engine here, in
:func:`finish`, so every reported number comes from the one cost engine and
carries its feasibility report.

Randomness comes only from the ``rng`` argument (a ``numpy.random.Generator``);
solvers hold no global or default-argument generators.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from splitenv.config import Scenario
from splitenv.model import Decision, Evaluation, State, evaluate


@dataclass
class SolveStats:
    """How a solve went.

    Attributes:
        wall_time_s: seconds spent in ``solve``.
        iterations: main-loop iterations of the method.
        evaluations: decisions evaluated through the engine (batched ones counted singly).
        trace: best objective after each iteration (convergence curve).
        extra: method-specific numbers (e.g. a certified lower bound).
    """

    wall_time_s: float = 0.0
    iterations: int = 0
    evaluations: int = 0
    trace: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Solution:
    """A solver's decision, its evaluation by the engine, and the solve statistics."""

    decision: Decision
    evaluation: Evaluation
    stats: SolveStats

    @property
    def objective(self) -> float:
        """The engine's objective of the decision."""
        return float(self.evaluation.objective[0])

    @property
    def feasible(self) -> bool:
        """Whether the decision meets every constraint."""
        return bool(self.evaluation.feasible[0])


@runtime_checkable
class Solver(Protocol):
    """Anything with a name and ``solve(scenario, state, rng, **options) -> Solution``."""

    name: ClassVar[str]

    def solve(
        self, scenario: Scenario, state: State, rng: np.random.Generator, **options: Any
    ) -> Solution:
        """Return a decision for ``state`` with its evaluation and statistics."""
        ...


_REGISTRY: dict[str, Callable[..., Solver]] = {}
#: solver modules that could not be imported, with the reason (a missing optional extra)
_UNAVAILABLE: dict[str, str] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator adding a solver to the registry under ``name``."""

    def wrap(cls: type) -> type:
        if name in _REGISTRY:
            raise ValueError(f"solver name {name!r} registered twice")
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[name] = cls
        return cls

    return wrap


def _load_all() -> None:
    # Importing the modules registers their solvers; done lazily so that a missing
    # optional dependency (alns, cvxpy) only affects the solvers that need it.
    import importlib
    import pkgutil

    import baselines

    for info in pkgutil.iter_modules(baselines.__path__):
        if info.name in ("base", "__init__") or info.name in _UNAVAILABLE:
            continue
        try:
            importlib.import_module(f"baselines.{info.name}")
        except ModuleNotFoundError as exc:  # an optional extra (alns, cvxpy) is not installed
            if exc.name and exc.name.split(".")[0] in ("alns", "cvxpy"):
                _UNAVAILABLE[info.name] = f'needs {exc.name}: pip install "splitenv[solvers]"'
            else:
                raise


def available() -> list[str]:
    """Registered solver names, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def make_solver(name: str, **kwargs: Any) -> Solver:
    """Build the solver registered as ``name``.

    Raises:
        ValueError: unknown name; the message lists the known ones.
    """
    _load_all()
    if name not in _REGISTRY:
        missing = "; ".join(f"{m}: {why}" for m, why in _UNAVAILABLE.items())
        raise ValueError(
            f"unknown solver {name!r}; available: {', '.join(sorted(_REGISTRY))}"
            + (f" (not loaded: {missing})" if missing else "")
        )
    return _REGISTRY[name](**kwargs)


class Timer:
    """Wall-clock timer for ``SolveStats.wall_time_s``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start


def finish(scenario: Scenario, state: State, decision: Decision, stats: SolveStats) -> Solution:
    """Evaluate the final decision with the engine and package the solution."""
    ev = evaluate(scenario, state, decision)
    return Solution(decision=ev.decision, evaluation=ev, stats=stats)


#: solver-name prefix of each problem family (see baselines.exact.exact_method)
_FAMILY_PREFIX = {
    "card_exact": ("card",),
    "fedsllm_exact": ("fedsllm",),
    "sft_exact": ("sft",),
    "scct_exact": ("scct", "sccts", "scctt", "scctl"),
    "separable": (),
}
GENERIC = ("equal", "random", "fixed_split", "exact")


def applicable_solvers(scenario: Scenario) -> list[str]:
    """Registered solvers that apply to a scenario's structure: the generic ones and its family's."""
    from baselines.exact import exact_method

    try:
        family = exact_method(scenario)
    except ValueError:
        return [g for g in GENERIC if g != "exact"]
    prefixes = _FAMILY_PREFIX[family]
    return [n for n in available() if n in GENERIC or n.startswith(prefixes)]
