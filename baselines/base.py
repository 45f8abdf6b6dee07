"""The Solver protocol, the base template every solver extends, and the solver registry.

A solver maps (scenario, state, rng) to a decision. It may evaluate as many candidate
decisions as it likes through :func:`splitenv.evaluate_batch`, but the solution it returns
is always re-evaluated by the engine, so every reported number comes from the one cost
engine and carries its feasibility report. :class:`BaseSolver` does that once for every
solver (as stable-baselines3's ``BaseAlgorithm.learn`` does for its algorithms): it times
the method, evaluates the final decision and packages the statistics, so a solver class
holds only its method, :meth:`BaseSolver.search`.

Registry: solvers are entry points of the ``splitenv.solvers`` group (:mod:`splitenv.plugins`),
the built-in ones declared in splitenv's ``pyproject.toml`` like any plug-in's. A solver says
which problems it solves with the classmethod ``applies_to(scenario)``; :class:`BaseSolver`
implements it from the class attribute ``family``, matched against the scenario's structure
(:func:`problem_family`), never against names. A solver whose optional dependency (alns,
cvxpy) is missing stays listed, as unavailable with the ``pip install`` to run
(:func:`unavailable`).

Randomness comes only from the ``rng`` argument (a ``numpy.random.Generator``);
solvers hold no global or default-argument generators.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from splitenv import plugins
from splitenv.config import Scenario
from splitenv.errors import PluginError
from splitenv.model import Decision, Evaluation, State, evaluate
from splitenv.model.types import enabled_fields
from splitenv.spaces import LARGE


@dataclass
class SolveStats:
    """How a solve went.

    Attributes:
        wall_time_s: seconds spent in the method (the final engine evaluation excluded).
        iterations: main-loop iterations of the method.
        evaluations: decisions evaluated through the engine (batched ones counted singly).
        trace: best objective after each iteration (convergence curve).
        extra: method-specific numbers (e.g. a certified lower bound).
        trace_of: what ``trace`` measures when it is not the solution's objective (say, a
            search objective averaged over sampled states); empty when it is the same.
    """

    wall_time_s: float = 0.0
    iterations: int = 0
    evaluations: int = 0
    trace: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    trace_of: str = ""

    def __repr__(self) -> str:
        """One line: the counts, the trace as its length and end points, the extra keys."""
        trace = "[]"
        if self.trace:
            trace = f"[{len(self.trace)} values: {self.trace[0]:.6g} .. {self.trace[-1]:.6g}]"
        parts = [
            f"wall_time_s={self.wall_time_s:.4g}", f"iterations={self.iterations}",
            f"evaluations={self.evaluations}", f"trace={trace}",
            *([f"trace_of={self.trace_of!r}"] if self.trace_of else []),
            f"extra=<{', '.join(self.extra) or 'none'}>",
        ]  # fmt: skip
        return f"SolveStats({', '.join(parts)})"


@dataclass
class Solution:
    """A solver's decision, its evaluation by the engine, and the solve statistics."""

    decision: Decision
    evaluation: Evaluation
    stats: SolveStats

    def __repr__(self) -> str:
        """One line: objective, feasibility and the stats (the arrays are in the fields)."""
        return f"Solution(objective={self.objective:.6g}, feasible={self.feasible}, stats={self.stats!r})"

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
    """Anything with a name and ``solve(scenario, state, rng, **options) -> Solution``.

    A registered solver class may also define the classmethod ``applies_to(scenario) ->
    bool``; without it the solver is offered for every scenario.
    """

    name: ClassVar[str]

    def solve(
        self, scenario: Scenario, state: State, rng: np.random.Generator, **options: Any
    ) -> Solution:
        """Return a decision for ``state`` with its evaluation and statistics."""
        ...


#: what a solver is, for ``splitenv solvers``: a paper's own method, a general-purpose
#: method (ALNS, SQP, BCD over any preset), a baseline the papers compare with, or an exact
#: reference (the optimum, for optimality gaps)
KINDS = ("paper's method", "general", "baseline", "exact")


def problem_family(scn: Scenario) -> str:
    """The problem family of a scenario, from its structure (SPEC Sec. 9).

    | structure | family |
    | --- | --- |
    | CARD's normalized cost (objective ``card_cost``) | ``card`` |
    | edge compute shares with power, frequency or compression, or an energy term | ``joint`` |
    | a federated subchannel pool | ``fedsllm`` |
    | compression decisions with continuous bandwidth | ``sft`` |
    | edge compute shares with subchannels | ``scct`` |
    | only per-device discrete choices, no shared budget | ``separable`` |

    Raises:
        ValueError: none of these structures (no family-specific solver applies).
    """
    fields = set(enabled_fields(scn))
    if scn.objective.kind == "card_cost":
        return "card"
    if _joint(scn, fields):
        return "joint"
    if scn.network.fed_n_subchannels:
        return "fedsllm"
    if scn.compression.enabled and scn.network.allocation == "continuous":
        return "sft"
    if "compute_share" in fields and "subchannels" in fields:
        return "scct"
    if fields <= set(LARGE) and not {"keep_ratio"} & fields:
        return "separable"
    raise ValueError(
        f"no problem family for scenario {scn.name!r} with decisions {sorted(fields)}; "
        "the families are listed in baselines.base.problem_family"
    )


def _joint(scn: Scenario, fields: set[str]) -> bool:
    """Whether the scenario has the flagship's structure (family ``joint``).

    More blocks than any paper couples (SCCT's shares with power, frequency or compression),
    or energy in a latency objective (a weight or a budget).
    """
    energy = scn.objective.energy_weight > 0 or scn.objective.energy_budget_j < float("inf")
    coupled = "compute_share" in fields and bool(
        {"power_w", "server_freq_hz", "keep_ratio"} & fields
    )
    return energy or (coupled and not scn.network.fed_n_subchannels)


def finish(scenario: Scenario, state: State, decision: Decision, stats: SolveStats) -> Solution:
    """Evaluate the final decision with the engine and package the solution."""
    ev = evaluate(scenario, state, decision)
    return Solution(decision=ev.decision, evaluation=ev, stats=stats)


class BaseSolver(ABC):
    """The template of every solver: ``solve`` times :meth:`search` and scores its decision.

    Subclasses set ``name`` (the entry-point name) and ``family`` (the :func:`problem_family`
    they solve; ``None``: any scenario) and implement :meth:`search`. ``kind`` (one of
    :data:`KINDS`) and ``reference`` (paper and equation) describe it in ``splitenv solvers``;
    a solver without them is listed with the first line of its docstring.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str | None] = None
    kind: ClassVar[str] = ""
    reference: ClassVar[str] = ""

    @classmethod
    def applies_to(cls, scenario: Scenario) -> bool:
        """Whether this solver solves the scenario's problem (its structure, not its name)."""
        if cls.family is None:
            return True
        try:
            return problem_family(scenario) == cls.family
        except ValueError:
            return False

    def solve(
        self, scenario: Scenario, state: State, rng: np.random.Generator, **options: Any
    ) -> Solution:
        """Run the method, then evaluate its decision with the engine (the reported numbers)."""
        stats = SolveStats(evaluations=1)
        start = time.perf_counter()
        decision = self.search(scenario, state, rng, stats, **options)
        stats.wall_time_s = time.perf_counter() - start
        return finish(scenario, state, decision, stats)

    @abstractmethod
    def search(
        self,
        scenario: Scenario,
        state: State,
        rng: np.random.Generator,
        stats: SolveStats,
        **options: Any,
    ) -> Decision:
        """The method: a decision for ``state``; record iterations, evaluations, trace in ``stats``."""


def available() -> list[str]:
    """Registered solver names, sorted (those whose optional dependency is missing included)."""
    return plugins.names("solvers")


def unavailable() -> dict[str, str]:
    """Registered solvers that cannot be imported, with the reason (names the pip extra)."""
    out = {}
    for name in available():
        try:
            plugins.load("solvers", name)
        except PluginError as exc:
            out[name] = str(exc)
    return out


def solver_class(name: str) -> Any:
    """The class registered as ``name``.

    Raises:
        UnknownNameError: unknown name; the message lists the registered ones.
        PluginError: it is registered but cannot be imported (a missing optional extra).
    """
    return plugins.load("solvers", name)


def make_solver(name: str, **kwargs: Any) -> Solver:
    """Build the solver registered as ``name`` (see :func:`solver_class`)."""
    solver: Solver = solver_class(name)(**kwargs)
    return solver


def applies(cls: Any, scenario: Scenario) -> bool:
    """Whether a solver class applies to a scenario (``applies_to``; without it: always)."""
    check = getattr(cls, "applies_to", None)
    return True if check is None else bool(check(scenario))


def applicable_solvers(scenario: Scenario) -> list[str]:
    """Importable registered solvers that apply to a scenario's structure, sorted."""
    out = []
    for name in available():
        try:
            cls = solver_class(name)
        except PluginError:
            continue
        if applies(cls, scenario):
            out.append(name)
    return out
