"""The papers' small-timescale allocators, as inner allocators of the environment.

``SplitLoRAEnv(timescale="round")`` asks an allocator for each epoch's
subchannels / bandwidth / power / shares / server clock given the round's split,
rank and compression. These are registered in the ``splitenv.allocators``
entry-point group (pyproject) like any plug-in:

| name | paper | what it allocates | kernel |
| --- | --- | --- | --- |
| ``scct_alg1`` | SCCT Alg. 1 | greedy subcarriers + optimal compute shares | :mod:`.scct_alg1` |
| ``sft_sqp`` | SFT Alg. 3 | bandwidth by SQP for the round's cut and compression | :mod:`.sft_bandwidth` |
| ``card_frequency`` | CARD (16) | server clock per device (independent of the cut) | :mod:`.card` |
| ``fedsllm_comm`` | FedsLLM Alg. 2 + (25) | greedy subchannels and power control in both pools | :mod:`.fedsllm_comm` |
| ``paper`` | | the one of the above that fits the scenario's structure; equal shares for a structure no paper has (the flagship ``splitlora``) | |

Allocators are deterministic: they take no random generator. Each returns the decision the
engine completes (``evaluate(...).decision``) for its fields, with the round's fields kept.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from splitenv.allocation.card import card_frequency as f_star
from splitenv.allocation.fedsllm_comm import comm_block, initial_point
from splitenv.allocation.fedsllm_tables import build_tables as feds_tables
from splitenv.allocation.scct_alg1 import alg1_decision
from splitenv.allocation.scct_tables import check_scenario
from splitenv.allocation.sft_bandwidth import SftConfig, device_coefficients, sqp_bandwidth
from splitenv.config import Scenario
from splitenv.model import Decision, State, evaluate
from splitenv.model.types import enabled_fields
from splitenv.spaces import LARGE


def _large(large: Decision) -> dict[str, Any]:
    """The round's large-timescale fields that are set."""
    return {k: v for k, v in large.to_dict().items() if k in LARGE}


def _completed(scn: Scenario, state: State, decision: Decision, fixed: dict[str, Any]) -> Decision:
    """The engine's completed decision as plain, unbatched fields, with the round's kept."""
    done = evaluate(scn, state, decision).decision
    exposed = Decision.from_dict(done.take(0).to_dict())
    return exposed.replace(**{k: np.asarray(v) for k, v in fixed.items()})


def scct_alg1(scn: Scenario, state: State, large: Decision) -> Decision:
    """SCCT Alg. 1 for the round's split."""
    fixed = _large(large)
    split = np.asarray(fixed["split"]) if "split" in fixed else None
    decision, _ = alg1_decision(scn, state, split)
    return _completed(scn, state, decision, fixed)


def sft_sqp(scn: Scenario, state: State, large: Decision) -> Decision:
    """SFT Alg. 3 (SQP bandwidth, cap b_max = B) for the round's cut, keep ratio and bits."""
    fixed = _large(large)
    split = fixed.get("split")
    cfg = SftConfig.default(
        scn,
        split=None if split is None else int(np.asarray(split).reshape(-1)[0]),
        keep_ratio=fixed.get("keep_ratio"),
        quant_bits=fixed.get("quant_bits"),
    )
    total = scn.network.bandwidth_hz
    a, c = device_coefficients(scn, state, [cfg.split], [cfg.keep_ratio], [cfg.quant_bits])
    b, _, _ = sqp_bandwidth(a[0], c[0], total, float(total))
    return _completed(scn, state, cfg.decision(scn.n_devices, b), fixed)


def card_frequency(scn: Scenario, state: State, large: Decision) -> Decision:
    """CARD (16): the closed-form server clock per device; it does not depend on the cut."""
    return large.replace(server_freq_hz=f_star(scn, state))


def fedsllm_comm(scn: Scenario, state: State, large: Decision) -> Decision:
    """FedsLLM Alg. 2 + power control (25) for the round's splits and rank (the comm block of BCD)."""
    tab = feds_tables(scn, state)
    start = initial_point(tab, scn)
    fixed = _large(large)
    if "split" in fixed:
        start = replace(start, si=np.searchsorted(tab.splits, np.asarray(fixed["split"])))
    if "rank" in fixed:
        start = replace(start, ri=int(np.searchsorted(tab.ranks, int(np.asarray(fixed["rank"])))))
    pt = comm_block(tab, start)
    values: dict[str, Any] = {"subchannels": pt.sub, "fed_subchannels": pt.fsub}
    if "power_w" in enabled_fields(scn):
        values.update(power_w=pt.power, fed_power_w=pt.fpower)
    return large.replace(**values)


def paper(scn: Scenario, state: State, large: Decision) -> Decision:
    """The paper's own allocator for the scenario's structure; equal shares where there is none."""
    fields = set(enabled_fields(scn))
    if "compute_share" in fields and "subchannels" in fields:
        try:  # SCCT's structure only: not the flagship's power, clock, compression or energy
            check_scenario(scn)
        except ValueError:
            return large
        return scct_alg1(scn, state, large)
    if "fed_subchannels" in fields:
        return fedsllm_comm(scn, state, large)
    if "bandwidth_hz" in fields and scn.compression.enabled:
        return sft_sqp(scn, state, large)
    if "server_freq_hz" in fields and scn.objective.kind == "card_cost":
        return card_frequency(scn, state, large)
    return large
