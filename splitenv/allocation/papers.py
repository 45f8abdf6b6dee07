"""The papers' small-timescale allocators, as inner allocators of the environment.

``SplitLoRAEnv(timescale="round")`` asks an allocator for each epoch's
subchannels / bandwidth / power / shares / server clock given the round's split,
rank and compression. These are registered in the ``splitenv.allocators``
entry-point group (pyproject) like any plug-in:

| name | paper | what it allocates | kernel |
| --- | --- | --- | --- |
| ``scct_alg1`` | SCCT Alg. 1 | greedy subcarriers + optimal compute shares | :mod:`.scct_alg1` |
| ``sft_sqp`` | SFT Alg. 3 | bandwidth by SQP for the round's cut and compression | :mod:`.sft_bandwidth` |
| ``sft_bisection`` | SFT P3 (42), ours | the optimum Alg. 3 approaches, exactly and ~100x faster (opt-in) | :mod:`.sft_bandwidth` |
| ``card_frequency`` | CARD (16) | server clock per device (independent of the cut) | :mod:`.card` |
| ``fedsllm_comm`` | FedsLLM Alg. 2 + (25) | greedy subchannels and power control in both pools | :mod:`.fedsllm_comm` |
| ``paper`` | | the one of the above that fits the scenario's structure; equal shares for a structure no paper has (the flagship ``splitlora``) | |

Allocators are deterministic: they take no random generator. Each returns the decision the
engine completes (``evaluate(...).decision``) for its fields, with the round's fields kept.

Batched forms (``allocator.batched``, :func:`splitenv.allocation.allocate_rows`): R states
at once, row r equal to the one-row call. ``scct_alg1`` runs Alg. 1's greedy row by row in
compiled code (:mod:`.scct_batch`, :mod:`.scct_greedy`); ``card_frequency`` evaluates (16) on every row;
``fedsllm_comm`` runs Alg. 2 and the bisection of (25) on all rows (:mod:`.fedsllm_batch`);
``sft_sqp`` reads the rows' coefficients in one engine call and runs SciPy's SLSQP on all rows
in lockstep (:func:`sft_sqp_rows`, :mod:`.sft_slsqp`); ``sft_bisection`` one bisection on all
rows (:func:`sft_bisection_rows`); ``paper`` dispatches to the batched form
of its choice. The env
(single and vector) runs these forms, so the single env is the vector env with one env.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.allocation.card import card_frequency as f_star
from splitenv.allocation.card import require_card
from splitenv.allocation.fedsllm_batch import comm_block_rows
from splitenv.allocation.fedsllm_comm import comm_block, initial_point
from splitenv.allocation.fedsllm_tables import _require_fedsllm
from splitenv.allocation.fedsllm_tables import build_tables as feds_tables
from splitenv.allocation.scct_alg1 import alg1_decision
from splitenv.allocation.scct_batch import alg1_rows
from splitenv.allocation.scct_tables import check_scenario
from splitenv.allocation.sft_bandwidth import (
    SftConfig,
    _check_scope,
    bisection_bandwidth_batch,
    device_coefficients,
    sqp_bandwidth,
    sqp_bandwidth_batch,
)
from splitenv.config import Scenario
from splitenv.model import Decision, State, evaluate
from splitenv.model.state import StateBatch
from splitenv.model.types import enabled_fields
from splitenv.model.validation import complete
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


def sft_bisection(scn: Scenario, state: State, large: Decision) -> Decision:
    """The optimum of SFT P3 (42) Alg. 3's SQP approaches, by bisection on t (ours, opt-in).

    Same program as :func:`sft_sqp` (the round's cut, keep ratio and bits; cap b_max = B),
    solved exactly: :func:`.bisection_bandwidth_batch` finds the min-max time t* to machine
    precision. Its round times agree with :func:`sft_sqp`'s to about 1e-9 relative and are
    never worse; it costs about 1/100 of the SQP. Not the ``paper`` allocator: Alg. 3 is
    SFT's method and its last iterate defines the preset's MDP; this one is the fast route
    to the same program's optimum (``inner_allocator="sft_bisection"``).
    """
    fixed = {k: np.asarray(v)[None] for k, v in _large(large).items()}
    fields = sft_bisection_rows(scn, StateBatch.stack([state]), fixed)
    return Decision(**{k: v[0] for k, v in fields.items()})


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
    """The paper's own allocator for the scenario's structure; equal shares where there is none.

    SCCT's structure only (not the flagship's power, clock, compression or energy): Alg. 1;
    FedsLLM's pools: its comm block; SFT's compression: its SQP; CARD's cost: f* (16).
    """
    pick = _paper_choice(scn)
    return large if pick is None else pick(scn, state, large)


# --- batched forms: R rows at once (splitenv.allocation.allocate_rows) -----------------------

Fields = dict[str, Any]
Array = NDArray[np.float64]


def _large_rows(large: Fields) -> Fields:
    """The rows' large-timescale fields that are set."""
    return {k: np.asarray(v) for k, v in large.items() if k in LARGE}


def _per_device(value: Any, rows: int, n: int, dtype: Any) -> Any:
    """A per-row value (R,), (R, 1) or (R, N) as (R, N)."""
    return np.broadcast_to(np.asarray(value, dtype=dtype).reshape(rows, -1), (rows, n)).copy()


def _completed_rows(scn: Scenario, fields: Fields, fixed: Fields) -> Fields:
    """:func:`_completed` of R rows: the engine's completed fields, the round's kept."""
    done = complete(scn, Decision(**fields))
    rows = next(iter(fields.values())).shape[0]
    out: Fields = {}
    for f in enabled_fields(scn):
        value = np.asarray(getattr(done, f))
        out[f] = np.broadcast_to(value, (rows, *value.shape[1:])).copy()
    out.update(fixed)
    return out


def scct_alg1_rows(scn: Scenario, states: StateBatch, large: Fields) -> Fields:
    """:func:`scct_alg1` of R rows: Alg. 1's greedy, compiled, row by row (:mod:`.scct_batch`)."""
    fixed = _large_rows(large)
    r, n = states.batch_size, scn.n_devices
    split = fixed.get("split", np.full(r, scn.decision.default_split))
    fields = alg1_rows(scn, states, _per_device(split, r, n, np.int64))
    return _completed_rows(scn, fields, fixed)


def card_frequency_rows(scn: Scenario, states: StateBatch, large: Fields) -> Fields:
    """:func:`card_frequency` of R rows: (16) evaluated on every row's bounds at once."""
    out = {k: np.asarray(v) for k, v in large.items()}
    out["server_freq_hz"] = f_star(scn, states)
    return out


def fedsllm_comm_rows(scn: Scenario, states: StateBatch, large: Fields) -> Fields:
    """:func:`fedsllm_comm` of R rows: Alg. 2 and (25) on all rows (:mod:`.fedsllm_batch`)."""
    fixed = _large_rows(large)
    out = {k: np.asarray(v) for k, v in large.items()}
    out.update(comm_block_rows(scn, states, fixed.get("split"), fixed.get("rank")))
    if "power_w" not in enabled_fields(scn):
        out.pop("power_w"), out.pop("fed_power_w")
    return out


def _sft_configs(scn: Scenario, fixed: Fields, rows: int) -> tuple[NDArray[Any], ...]:
    """The rows' (cut, keep ratio, bits), the preset's default where the round sets none.

    :meth:`.SftConfig.default` of every row, as arrays: the cut is a shared cut (SFT), read
    off the first device.
    """
    dec = scn.decision
    if "split" in fixed:
        splits = np.asarray(fixed["split"]).reshape(rows, -1)[:, 0].astype(np.int64)
    else:
        splits = np.full(rows, int(dec.default_split), dtype=np.int64)
    keep = fixed.get("keep_ratio", dec.default_keep_ratio)
    bits = fixed.get("quant_bits", dec.default_quant_bits)
    keeps = np.broadcast_to(np.asarray(keep, dtype=float).reshape(-1), (rows,)).copy()
    bits = np.broadcast_to(np.asarray(bits).reshape(-1), (rows,)).astype(np.int64)
    return splits, keeps, bits


def _sft_rows(
    scn: Scenario, states: StateBatch, large: Fields, solve: Callable[[Array, Array], Array]
) -> Fields:
    """SFT's bandwidth for the rounds' configurations, ``solve(a, c) -> b`` on all rows.

    The coefficients of tau_n(b) = a_n + c_n / b_n come from one engine pass
    (:func:`.device_coefficients`).
    """
    fixed = _large_rows(large)
    r, n = states.batch_size, scn.n_devices
    splits, keeps, bits = _sft_configs(scn, fixed, r)
    a, c = device_coefficients(scn, states, splits, keeps, bits)
    fields = {
        "split": np.repeat(splits[:, None], n, axis=1),
        "keep_ratio": keeps,
        "quant_bits": bits,
        "bandwidth_hz": solve(a, c),
    }
    return _completed_rows(scn, fields, fixed)


def sft_sqp_rows(scn: Scenario, states: StateBatch, large: Fields) -> Fields:
    """:func:`sft_sqp` of R rows: the coefficients in one engine pass, SLSQP on all rows.

    Alg. 3 stays SciPy's SLSQP, every row its own solve, driven in lockstep
    (:func:`.sqp_bandwidth_batch`): its result is SLSQP's last iterate (to its ``ftol``),
    which another solver of the same program (:func:`sft_bisection_rows`, exact) reaches only
    to the tolerance, not bit for bit: the allocator's numbers, and the SFT reproductions
    built on them, would change.
    """
    total = scn.network.bandwidth_hz
    return _sft_rows(scn, states, large, lambda a, c: sqp_bandwidth_batch(a, c, total, total)[0])


def sft_bisection_rows(scn: Scenario, states: StateBatch, large: Fields) -> Fields:
    """:func:`sft_bisection` of R rows: the coefficients in one engine pass, one bisection."""
    total = scn.network.bandwidth_hz
    return _sft_rows(
        scn, states, large, lambda a, c: bisection_bandwidth_batch(a, c, total, total)[0]
    )


def paper_rows(scn: Scenario, states: StateBatch, large: Fields) -> Fields:
    """:func:`paper` of R rows: the batched form of the allocator :func:`paper` picks."""
    pick = _paper_choice(scn)
    if pick is None:
        return {k: np.asarray(v) for k, v in large.items()}
    return pick.batched(scn, states, large)  # type: ignore[attr-defined]


def paper_choice(scn: Scenario) -> str | None:
    """The registered name of the allocator :func:`paper` runs for ``scn``.

    None where no paper has one: the round's decision is kept, with the engine's equal
    defaults for the rest.
    """
    pick = _paper_choice(scn)
    return None if pick is None else pick.__name__


def _paper_choice(scn: Scenario) -> Any:
    """The allocator :func:`paper` runs for the scenario's structure (None: keep ``large``)."""
    fields = set(enabled_fields(scn))
    if "compute_share" in fields and "subchannels" in fields:
        try:
            check_scenario(scn)
        except ValueError:
            return None
        return scct_alg1
    if "fed_subchannels" in fields:
        return fedsllm_comm
    if "bandwidth_hz" in fields and scn.compression.enabled:
        return sft_sqp
    if "server_freq_hz" in fields and scn.objective.kind == "card_cost":
        return card_frequency
    return None


scct_alg1.batched = scct_alg1_rows  # type: ignore[attr-defined]
card_frequency.batched = card_frequency_rows  # type: ignore[attr-defined]
fedsllm_comm.batched = fedsllm_comm_rows  # type: ignore[attr-defined]
sft_sqp.batched = sft_sqp_rows  # type: ignore[attr-defined]
sft_bisection.batched = sft_bisection_rows  # type: ignore[attr-defined]
# the structure each needs, checked when an env is built (splitenv.allocation.check_fits)
scct_alg1.check = check_scenario  # type: ignore[attr-defined]
card_frequency.check = require_card  # type: ignore[attr-defined]
fedsllm_comm.check = _require_fedsllm  # type: ignore[attr-defined]
sft_sqp.check = _check_scope  # type: ignore[attr-defined]
sft_bisection.check = _check_scope  # type: ignore[attr-defined]
paper.batched = paper_rows  # type: ignore[attr-defined]
