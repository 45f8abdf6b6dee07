"""``info`` of the native vector env in Gymnasium's ``_add_info`` layout, built as arrays.

Each key holds a (K, ...) array with a ``_key`` mask of the envs that have it (zeros, or
None in object arrays, elsewhere), nested dicts likewise: what ``SyncVectorEnv`` builds env by
env from K single-env infos, built at once from the epoch's arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.model.decision import DECISION_FIELDS
from splitenv.model.types import enabled_fields
from splitenv.vector_parts import Episodes, EpochResult


def step_info(ep: Episodes, result: EpochResult | None, k: int) -> dict[str, Any]:
    """The step's info of the played rows in Gymnasium's ``_add_info`` layout (``_key`` masks)."""
    infos: dict[str, Any] = {}
    if result is None:
        return infos
    if result.rows.size == k:
        return _every_env_info(ep, result, k)
    rows, p, ev = result.rows, result.rows.size, result.evaluation
    every = np.ones(k, dtype=bool)

    def put(into: dict[str, Any], key: str, values: NDArray[Any], where: NDArray[np.int64]) -> None:
        if values.dtype == bool and values.ndim == 1:  # np.bool_ is no np.number: an object array
            arr = np.full(k, None, dtype=object)
            arr[where] = _objects(values)
        elif where.size == k:  # every env (rows are sorted and distinct): a copy in order
            arr = np.array(values, dtype=values.dtype)
        else:
            arr = np.zeros((k, *values.shape[1:]), dtype=values.dtype)
            arr[where] = values
        if where.size == k:
            mask = every.copy()
        else:
            mask = np.zeros(k, dtype=bool)
            mask[where] = True
        into[key], into[f"_{key}"] = arr, mask

    for key, values in (
        ("latency_s", result.latency), ("energy_j", result.energy), ("cost", result.cost),
        ("reference_cost", result.reference), ("feasible", result.feasible),
    ):  # fmt: skip
        put(infos, key, values, rows)
    violations: dict[str, Any] = {}
    for name, v in ev.violations.items():
        hit = v[:p] != 0
        if hit.any():
            put(violations, name, v[:p][hit], rows[hit])
    terms: dict[str, Any] = {}
    for name, v in ev.terms.items():  # (put copies: the casts need not)
        put(terms, name, v[:p].astype(np.float64, copy=False), rows)
    decision: dict[str, Any] = {}
    for name in enabled_fields(ep.scn):
        integer = DECISION_FIELDS[name][1]
        put(
            decision,
            name,
            getattr(ev.decision, name)[:p].astype(np.int64 if integer else np.float64, copy=False),
            rows,
        )
    for key, sub in (("violations", violations), ("terms", terms), ("decision", decision)):
        infos[key] = sub
        infos[f"_{key}"] = np.zeros(k, dtype=bool)
        infos[f"_{key}"][rows] = True
    put(infos, "round", result.round_index, rows)
    put(infos, "epoch", result.epoch_index, rows)
    put(infos, "simulated_time_s", result.time_s, rows)
    if result.closing.any():
        put(infos, "round_latency_s", result.round_latency[result.closing], rows[result.closing])
    return infos


def _every_env_info(ep: Episodes, result: EpochResult, k: int) -> dict[str, Any]:
    """:func:`step_info` when every env played (rows 0..K-1 in order): the same keys and values.

    The float64 columns (the step's costs, the engine's terms, the simulated time) are copied
    in one block and the masks of the keys every env has are rows of one block: each key its
    own memory, fresh every step (the env never writes it again). Keys are inserted in
    :func:`step_info`'s order.
    """
    ev, names = result.evaluation, enabled_fields(ep.scn)
    head = ("latency_s", "energy_j", "cost", "reference_cost")
    term_names = tuple(ev.terms)
    # the casts of step_info (astype float64): safe casts, the same values
    block = np.concatenate(
        [result.latency, result.energy, result.cost, result.reference, result.time_s]
        + [v[:k] for v in ev.terms.values()],
        dtype=np.float64,
    ).reshape(-1, k)
    # rows: head, (unused), terms, decision fields, then the 7 keys below
    masks = np.ones((len(head) + 1 + len(term_names) + len(names) + 7, k), dtype=bool)
    infos: dict[str, Any] = {}
    for j, key in enumerate(head):
        infos[key], infos[f"_{key}"] = block[j], masks[j]
    feasible = _BOOLS[result.feasible.view(np.uint8)]  # np.bool_ scalars, as _objects
    infos["feasible"], infos["_feasible"] = feasible, masks[-1]
    violations: dict[str, Any] = {}
    hits = np.array([v[:k] for v in ev.violations.values()]) != 0
    for name, hit, any_hit in zip(ev.violations, hits, hits.any(axis=1).tolist(), strict=True):
        if any_hit:
            arr = np.zeros(k, dtype=ev.violations[name].dtype)
            arr[hit] = ev.violations[name][:k][hit]
            violations[name], violations[f"_{name}"] = arr, hit
    terms = {}
    rows = slice(len(head) + 1, len(head) + 1 + len(term_names))
    for name, values, mask in zip(term_names, block[rows], masks[rows], strict=True):
        terms[name], terms[f"_{name}"] = values, mask
    decision: dict[str, Any] = {}
    for j, name in enumerate(names, start=len(head) + 1 + len(term_names)):
        dtype = np.int64 if DECISION_FIELDS[name][1] else np.float64
        decision[name] = np.array(getattr(ev.decision, name)[:k], dtype=dtype)
        decision[f"_{name}"] = masks[j]
    j = len(head) + 1 + len(term_names) + len(names)
    infos["violations"], infos["_violations"] = violations, masks[j]
    infos["terms"], infos["_terms"] = terms, masks[j + 1]
    infos["decision"], infos["_decision"] = decision, masks[j + 2]
    infos["round"], infos["_round"] = result.round_index, masks[j + 3]  # fresh (book)
    infos["epoch"], infos["_epoch"] = result.epoch_index, masks[j + 4]
    infos["simulated_time_s"], infos["_simulated_time_s"] = block[len(head)], masks[j + 5]
    if result.closing.any():
        closing = result.closing
        latency = np.zeros(k, dtype=result.round_latency.dtype)
        latency[closing] = result.round_latency[closing]
        infos["round_latency_s"], infos["_round_latency_s"] = latency, closing.copy()
    return infos


#: numpy's two bool scalars in an object array, indexed by a bool array's bytes
_BOOLS = np.array([np.False_, np.True_], dtype=object)


def _objects(values: NDArray[Any]) -> NDArray[Any]:
    """``values`` as an object array of numpy scalars (what ``_add_info`` stores for np.bool_)."""
    out = np.empty(values.shape[0], dtype=object)
    out[:] = list(values)
    return out


def restrict(infos: dict[str, Any], keep: NDArray[np.bool_]) -> dict[str, Any]:
    """``infos`` as if only the envs in ``keep`` had contributed (keys none of them has drop)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_") and key[1:] in infos:
            continue
        mask = infos[f"_{key}"] & keep
        if not mask.any():
            continue
        if isinstance(value, dict):
            out[key] = restrict(value, keep)
        else:
            value = value.copy()
            value[~mask] = None if value.dtype == object else 0
            out[key] = value
        out[f"_{key}"] = mask
    return out


def rows_of(batch: Any, rows: NDArray[np.int64], k: int) -> NDArray[Any]:
    """An object array of K single observations, ``batch``'s rows in ``rows``, None elsewhere."""
    out = np.full(k, None, dtype=object)
    for i in rows:
        out[i] = (
            {n: v[i].copy() for n, v in batch.items()}
            if isinstance(batch, dict)
            else batch[i].copy()
        )
    return out
