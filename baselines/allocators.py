"""The papers' small-timescale allocators, as inner allocators of the environment.

``SplitLoRAEnv(timescale="round")`` asks an allocator for each epoch's
subchannels / bandwidth / power / shares / server clock given the round's split,
rank and compression. These are registered in the ``splitenv.allocators``
entry-point group (pyproject), so the env resolves them by name without
importing this package:

| name | paper | what it allocates |
| --- | --- | --- |
| ``scct_alg1`` | SCCT Alg. 1 | greedy subcarriers + optimal compute shares |
| ``sft_sqp`` | SFT Alg. 3 | bandwidth by SQP for the round's cut and compression |
| ``card_frequency`` | CARD (16) | server clock per device (independent of the cut) |
| ``fedsllm_comm`` | FedsLLM Alg. 2 + (25) | greedy subchannels and power control in both pools |
| ``paper`` | | the one of the above that fits the scenario's structure |

Allocators are deterministic: they take no random generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from splitenv.config import Scenario
from splitenv.model import Decision, State
from splitenv.model.types import enabled_fields

_NO_RNG = np.random.default_rng(0)  # only for solver signatures; these solvers draw nothing


def _exposed(decision: Decision) -> Decision:
    """A solver's completed decision as plain, unbatched exposed fields."""
    return Decision.from_dict(decision.take(0).to_dict())


def _large(large: Decision) -> dict[str, Any]:
    return {
        k: v
        for k, v in large.to_dict().items()
        if k in ("split", "edge_split", "rank", "keep_ratio", "quant_bits")
    }


def scct_alg1(scn: Scenario, state: State, large: Decision) -> Decision:
    """SCCT Alg. 1 for the round's split."""
    from baselines.scct_alloc import ScctAlg1

    fixed = _large(large)
    sol = ScctAlg1().solve(
        scn, state, _NO_RNG, **({"split": np.asarray(fixed["split"])} if "split" in fixed else {})
    )
    return _exposed(sol.decision).replace(**{k: np.asarray(v) for k, v in fixed.items()})


def sft_sqp(scn: Scenario, state: State, large: Decision) -> Decision:
    """SFT Alg. 3 (SQP bandwidth) for the round's cut, keep ratio and bits."""
    from baselines.sft_solvers import SftSqp

    fixed = _large(large)
    split = fixed.get("split")
    solver = SftSqp(
        split=None if split is None else int(np.asarray(split).reshape(-1)[0]),
        keep_ratio=fixed.get("keep_ratio"),
        quant_bits=fixed.get("quant_bits"),
    )
    sol = solver.solve(scn, state, _NO_RNG)
    return _exposed(sol.decision).replace(**{k: np.asarray(v) for k, v in fixed.items()})


def card_frequency(scn: Scenario, state: State, large: Decision) -> Decision:
    """CARD (16): the closed-form server clock per device; it does not depend on the cut."""
    from baselines.card import card_frequency as f_star

    return large.replace(server_freq_hz=f_star(scn, state))


def fedsllm_comm(scn: Scenario, state: State, large: Decision) -> Decision:
    """FedsLLM Alg. 2 + power control (25) for the round's splits and rank (the comm block of BCD)."""
    from dataclasses import replace

    from baselines.fedsllm import _comm_block, initial_point
    from baselines.fedsllm_model import build_tables

    tab = build_tables(scn, state)
    start = initial_point(tab, scn)
    fixed = _large(large)
    if "split" in fixed:
        start = replace(start, si=np.searchsorted(tab.splits, np.asarray(fixed["split"])))
    if "rank" in fixed:
        start = replace(start, ri=int(np.searchsorted(tab.ranks, int(np.asarray(fixed["rank"])))))
    pt = _comm_block(tab, start, "bisection")
    values: dict[str, Any] = {"subchannels": pt.sub, "fed_subchannels": pt.fsub}
    if "power_w" in enabled_fields(scn):
        values.update(power_w=pt.power, fed_power_w=pt.fpower)
    return large.replace(**values)


def paper(scn: Scenario, state: State, large: Decision) -> Decision:
    """The paper's own allocator for the scenario's structure; equal shares where there is none."""
    fields = set(enabled_fields(scn))
    if "compute_share" in fields and "subchannels" in fields:
        return scct_alg1(scn, state, large)
    if "fed_subchannels" in fields:
        return fedsllm_comm(scn, state, large)
    if "bandwidth_hz" in fields and scn.compression.enabled:
        return sft_sqp(scn, state, large)
    if "server_freq_hz" in fields and scn.objective.kind == "card_cost":
        return card_frequency(scn, state, large)
    return large
