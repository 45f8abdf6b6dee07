"""``exact``: the optimality reference for every scenario, by problem structure.

Each paper's problem has its own exact method (SPEC Sec. 9), chosen here from
the scenario's structure rather than its name, so that a user's variation of a
preset finds the right one:

| structure | method | module |
| --- | --- | --- |
| CARD's normalized cost (objective ``card_cost``) | all cuts x bounded scalar search on f | ``card_exact`` |
| a federated subchannel pool | compositions x splits x ranks, exact power bisection | ``fedsllm_exact`` |
| compression decisions with continuous bandwidth | cut x bits enumeration, rho refined, bandwidth by bisection | ``sft_exact`` |
| edge compute shares with subchannels | level iteration + DP over devices, migration enumerated | ``scct_exact`` |
| only per-device discrete choices (split, edge split), no shared budget | separable enumeration (below) | this module |

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

from baselines.base import Solution, SolveStats, Timer, finish, make_solver, register
from splitenv.config import Scenario
from splitenv.model import Decision, State, evaluate_batch
from splitenv.model.types import enabled_fields
from splitenv.spaces import LARGE


def exact_method(scn: Scenario) -> str:
    """Name of the exact method for a scenario's structure (see the module table)."""
    fields = set(enabled_fields(scn))
    if scn.objective.kind == "card_cost":
        return "card_exact"
    if scn.network.fed_n_subchannels:
        return "fedsllm_exact"
    if scn.compression.enabled and scn.network.allocation == "continuous":
        return "sft_exact"
    if "compute_share" in fields and "subchannels" in fields:
        return "scct_exact"
    if fields <= set(LARGE) and not {"keep_ratio"} & fields:
        return "separable"
    raise ValueError(
        f"no exact reference for scenario {scn.name!r} with decisions {sorted(fields)}; "
        "supported structures are listed in baselines/exact.py"
    )


@register("exact")
class Exact:
    """The exact reference for the scenario's structure (``exact_method``); options pass through."""

    def solve(
        self, scenario: Scenario, state: State, rng: np.random.Generator, **options: Any
    ) -> Solution:
        """Solve to optimality with the method for this structure."""
        method = exact_method(scenario)
        if method == "separable":
            return separable_exact(scenario, state)
        sol = make_solver(method).solve(scenario, state, rng, **options)
        sol.stats.extra.setdefault("method", method)
        return sol


def _device_options(scn: Scenario) -> list[tuple[int, int]]:
    """(split, edge_split) pairs one device can take."""
    lo, hi = scn.decision.split_range
    L = scn.model.n_layers
    if scn.decision.three_tier:
        return [(s, e) for s in range(lo, hi + 1) for e in range(s, L + 1)]
    return [(s, L) for s in range(lo, hi + 1)]


def separable_exact(scn: Scenario, state: State) -> Solution:
    """Exact optimum when devices share no budget (see the module docstring)."""
    if scn.decision.shared_split:
        raise ValueError("separable_exact needs per-device splits (decision.shared_split is set)")
    if scn.schedule.migration or scn.schedule.model_distribution:
        raise ValueError(
            "separable_exact does not handle round-start terms (migration, distribution)"
        )
    with Timer() as t:
        n = scn.n_devices
        options = _device_options(scn)
        split = np.array([[s] * n for s, _ in options])
        edge = np.array([[e] * n for _, e in options])
        globals_ = {}
        if "rank" in enabled_fields(scn):
            globals_["rank"] = list(scn.workload.rank_choices)
        if "quant_bits" in enabled_fields(scn):
            q_lo, q_hi = scn.compression.quant_bits_range
            globals_["quant_bits"] = list(range(q_lo, q_hi + 1))
        best_value, best_decision, evaluations = np.inf, None, 0
        for combo in itertools.product(*globals_.values()) if globals_ else [()]:
            fixed = dict(zip(globals_, combo, strict=True))
            extra: dict[str, Any] = {"edge_split": edge} if scn.decision.three_tier else {}
            ev = evaluate_batch(scn, state, Decision(split=split, **extra, **fixed))
            evaluations += len(options)
            chain = ev.per_device["chain_s"]  # (options, N)
            post = ev.per_device["adapter_s"]
            ok = ev.per_device["device_memory_bytes"] <= state.device_memory_bytes[None, :]
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
        if best_decision is None:
            raise ValueError(
                "no memory-feasible choice for some device: the instance is infeasible"
            )
    stats = SolveStats(
        wall_time_s=t.elapsed,
        evaluations=evaluations,
        extra={"method": "separable", "tolerance": 0.0},
    )
    return finish(scn, state, best_decision, stats)
