"""``exact``: the optimality reference for every scenario, by problem structure.

Each paper's problem has its own exact method (SPEC Sec. 9), chosen here from
the scenario's structure rather than its name, so that a user's variation of a
preset finds the right one:

| family (:func:`baselines.base.problem_family`) | method | solver |
| --- | --- | --- |
| ``card``: CARD's normalized cost | all cuts x bounded scalar search on f | ``card_exact`` |
| ``joint``: the flagship (every block, energy) | enumeration + convex program, small instances | ``joint_exact`` |
| ``fedsllm``: a federated subchannel pool | compositions x splits x ranks, exact power bisection | ``fedsllm_exact`` |
| ``sft``: compression with continuous bandwidth | cut x bits enumeration, rho refined, bandwidth by bisection | ``sft_exact`` |
| ``scct``: edge compute shares with subchannels | level iteration + DP over devices, migration enumerated | ``scct_exact`` |
| ``separable``: per-device discrete choices, no shared budget | separable enumeration (below) | this module |

Separable enumeration: when devices share no budget, the round latency is
``I * F(chains) + max_n post_n`` with F non-decreasing in every device's chain
(max, or max over edges of sums) and the round-end term a max over devices. For a
bound P on that max, the best choice of every device is its smallest chain among
its options with ``post_n <= P``; sweeping P over all distinct post values and
keeping the best round is therefore exact. Global discrete choices (rank, bits)
are enumerated outside.

Every solution is re-evaluated by the engine; ``stats.extra`` carries the lower
bound and the tolerance where the method certifies one.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from baselines.base import BaseSolver, Solution, SolveStats, make_solver, problem_family
from splitenv.config import Scenario
from splitenv.model import Decision, State, evaluate_batch
from splitenv.model.types import enabled_fields

#: problem family -> the solver that solves it exactly
EXACT = {
    "card": "card_exact",
    "joint": "joint_exact",
    "fedsllm": "fedsllm_exact",
    "sft": "sft_exact",
    "scct": "scct_exact",
    "separable": "separable",
}


def exact_method(scn: Scenario) -> str:
    """Name of the exact method for a scenario's structure (see the module table).

    Raises:
        ValueError: no exact reference for this structure.
    """
    try:
        return EXACT[problem_family(scn)]
    except ValueError as exc:
        raise ValueError(f"no exact reference: {exc}") from None


class Exact(BaseSolver):
    """The exact reference for the scenario's structure (``exact_method``); options pass through."""

    name = "exact"

    kind = "exact"

    reference = "by problem family (baselines.methods.exact)"

    @classmethod
    def applies_to(cls, scenario: Scenario) -> bool:
        """Every scenario with a problem family."""
        try:
            problem_family(scenario)
        except ValueError:
            return False
        return True

    def solve(
        self, scenario: Scenario, state: State, rng: np.random.Generator, **options: Any
    ) -> Solution:
        """Solve to optimality with the method for this structure (a dispatcher: no template)."""
        method = exact_method(scenario)
        if method == "separable":
            return separable_exact(scenario, state)
        sol = make_solver(method).solve(scenario, state, rng, **options)
        sol.stats.extra.setdefault("method", method)
        return sol

    def search(self, *args: Any, **kwargs: Any) -> Decision:  # pragma: no cover - solve dispatches
        raise NotImplementedError("Exact dispatches to the family's exact solver in solve()")


def _device_options(scn: Scenario) -> list[tuple[int, int]]:
    """(split, edge_split) pairs one device can take."""
    lo, hi = scn.decision.split_range
    L = scn.model.n_layers
    if scn.decision.three_tier:
        return [(s, e) for s in range(lo, hi + 1) for e in range(s, L + 1)]
    return [(s, L) for s in range(lo, hi + 1)]


def separable_exact(scn: Scenario, state: State) -> Solution:
    """Exact optimum when devices share no budget (see the module docstring)."""
    return SeparableExact().solve(scn, state, np.random.default_rng(0))


class SeparableExact(BaseSolver):
    """Separable enumeration (module docstring); deterministic, so ``rng`` is unused."""

    name = "separable"

    kind = "exact"

    reference = "separable enumeration"
    family = "separable"

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """The best (split, edge split) per device for every round-end bound."""
        scn = scenario
        if scn.decision.shared_split:
            raise ValueError(
                "separable_exact needs per-device splits (decision.shared_split is set)"
            )
        if scn.schedule.migration or scn.schedule.model_distribution:
            raise ValueError(
                "separable_exact does not handle round-start terms (migration, distribution)"
            )
        best_value, best_decision, evaluations = np.inf, None, 0
        for fixed in _global_choices(scn):
            value, decision, n_eval = _best_for(scn, state, fixed)
            evaluations += n_eval
            if decision is not None and value < best_value:
                best_value, best_decision = value, decision
        if best_decision is None:
            raise ValueError(
                "no memory-feasible choice for some device: the instance is infeasible"
            )
        stats.evaluations = evaluations
        stats.extra.update(method="separable", tolerance=0.0)
        return best_decision


def _global_choices(scn: Scenario) -> list[dict[str, Any]]:
    """Every combination of the global discrete choices (rank, bits)."""
    globals_: dict[str, list[int]] = {}
    if "rank" in enabled_fields(scn):
        globals_["rank"] = list(scn.workload.rank_choices)
    if "quant_bits" in enabled_fields(scn):
        q_lo, q_hi = scn.compression.quant_bits_range
        globals_["quant_bits"] = list(range(q_lo, q_hi + 1))
    combos = itertools.product(*globals_.values()) if globals_ else [()]
    return [dict(zip(globals_, combo, strict=True)) for combo in combos]


def _best_for(
    scn: Scenario, state: State, fixed: dict[str, Any]
) -> tuple[float, Decision | None, int]:
    """(value, decision, evaluations): the sweep over round-end bounds for fixed globals."""
    n = scn.n_devices
    options = _device_options(scn)
    split = np.array([[s] * n for s, _ in options])
    edge = np.array([[e] * n for _, e in options])
    extra: dict[str, Any] = {"edge_split": edge} if scn.decision.three_tier else {}
    ev = evaluate_batch(scn, state, Decision(split=split, **extra, **fixed))
    evaluations = len(options)
    chain = ev.per_device["chain_s"]  # (options, N)
    post = ev.per_device["adapter_s"]
    ok = ev.per_device["device_memory_bytes"] <= state.device_memory_bytes[None, :]
    best_value, best_decision = np.inf, None
    for level in np.unique(post[ok]):
        allowed = ok & (post <= level)
        if not allowed.any(axis=0).all():
            continue
        pick = np.argmin(np.where(allowed, chain, np.inf), axis=0)
        chosen: dict[str, Any] = {"split": split[pick, np.arange(n)], **fixed}
        if scn.decision.three_tier:
            chosen["edge_split"] = edge[pick, np.arange(n)]
        decision = Decision(**chosen)
        value = float(evaluate_batch(scn, state, decision).objective[0])
        evaluations += 1
        if value < best_value:
            best_value, best_decision = value, decision
    return best_value, best_decision, evaluations
