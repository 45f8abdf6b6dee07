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
