"""Native Dict actions of K envs decoded at once: checked, then converted to physical fields.

:func:`decode_native_batch` equals :func:`splitenv.spaces.native_to_decision` row by row (the
same conversions, elementwise). Well-formed batches (the common case: actions sampled from
the batched space or produced by a policy) are checked and converted with one numpy pass
per key; anything the fast check does not accept is decoded row by row by the single env's
decoder, so a bad action raises the single env's error, prefixed with the env index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.errors import ActionError
from splitenv.spaces import from_fraction, native_to_decision


def batch_rows(space: spaces.Dict, actions: Any, num_envs: int) -> dict[str, NDArray[Any]]:
    """The batched action as arrays with a leading axis of ``num_envs``.

    Raises:
        ActionError: not a dict with the space's keys, or a key whose leading size is not K.
    """
    if not isinstance(actions, dict) or set(actions) != set(space.spaces):
        got = sorted(actions) if isinstance(actions, dict) else type(actions).__name__
        raise ActionError(f"actions must be a dict with keys {sorted(space.spaces)}, got {got}")
    batched = {}
    for name in space.spaces:
        arr = np.asarray(actions[name])
        if arr.ndim == 0 or arr.shape[0] != num_envs:
            raise ActionError(
                f"actions[{name!r}] has leading size {arr.shape[:1] or '()'}; "
                f"allowed: num_envs = {num_envs} (one row per env)"
            )
        batched[name] = arr
    return batched


def decode_native_batch(
    scn: Scenario,
    space: spaces.Dict,
    batched: dict[str, NDArray[Any]],
    fixed: dict[str, NDArray[Any]],
    rows: NDArray[np.int64],
) -> dict[str, NDArray[Any]]:
    """Physical decision fields of env rows ``rows``, each (len(rows), ...) (fixed ones broadcast).

    Raises:
        ActionError: the first bad row, ``env i: `` + the single env's message; nothing moved.
    """
    if rows.size == 0:  # every env resets this step: the actions are ignored
        return {}
    if rows.size == next(iter(batched.values())).shape[0]:  # every env (rows sorted, distinct)
        taken = batched  # (converted into new arrays, or copied where the env keeps them)
    else:
        taken = {name: arr[rows] for name, arr in batched.items()}
    if all(_well_formed(sub, taken[name]) for name, sub in space.spaces.items()):
        return _convert(scn, space, taken, fixed, len(rows))
    decoded = []
    for j, i in enumerate(rows):
        action = {name: arr[j] for name, arr in taken.items()}
        try:
            decoded.append(native_to_decision(scn, space, action, fixed))
        except ActionError as err:
            raise ActionError(f"env {int(i)}: {err}") from None
    return {k: np.stack([d[k] for d in decoded]) for k in decoded[0]} if decoded else {}


def convert_native_batch(
    scn: Scenario,
    space: spaces.Dict,
    decoded: dict[str, NDArray[Any]],
    fixed: dict[str, NDArray[Any]],
    rows: NDArray[np.int64],
) -> dict[str, NDArray[Any]]:
    """:func:`decode_native_batch` of rows splitenv decoded itself (inside the space): no checks.

    ``decoded`` holds the native actions of the rows ``rows`` only, (len(rows), ...) each.
    """
    if rows.size == 0:
        return {}
    return _convert(scn, space, decoded, fixed, len(rows))


def _well_formed(sub: spaces.Space[Any], value: NDArray[Any]) -> bool:
    """Whether every row lies in ``sub`` (a conservative form of the single env's checks)."""
    if value.dtype.kind not in "iuf" or value.shape[1:] != sub.shape:
        return False
    if isinstance(sub, spaces.Box) and value.size and np.can_cast(value.dtype, sub.dtype):
        # within the tightest bounds (NaN fails both, inf too with finite bounds): in the box
        low, high = sub.low.max(), sub.high.min()
        if np.isfinite(low) and np.isfinite(high) and value.min() >= low and value.max() <= high:
            return True
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        return False
    if isinstance(sub, spaces.Box):
        return bool(
            np.can_cast(value.dtype, sub.dtype)
            and (value >= sub.low).all()
            and (value <= sub.high).all()
        )
    top = sub.n if isinstance(sub, spaces.Discrete) else sub.nvec  # type: ignore[attr-defined]
    if value.dtype.kind == "f" and not (value == np.round(value)).all():
        return False
    if value.dtype.kind in "iu" and value.size:  # integers: the smallest, then the bounds
        return bool(value.min() >= 0 and (value < top).all())
    return bool(((value >= 0) & (value < top)).all())


def _convert(
    scn: Scenario,
    space: spaces.Dict,
    taken: dict[str, NDArray[Any]],
    fixed: dict[str, NDArray[Any]],
    count: int,
) -> dict[str, NDArray[Any]]:
    """The conversions of :func:`native_to_decision`, on rows."""
    n = scn.n_devices
    lo = scn.decision.split_range[0]
    out: dict[str, NDArray[Any]] = {
        k: np.broadcast_to(np.asarray(v), (count, *np.shape(v))) for k, v in fixed.items()
    }
    for name, sub in space.spaces.items():
        value = taken[name]
        if name in ("split", "edge_split"):
            out[name] = value.astype(np.int64) + lo
        elif name == "rank":
            out[name] = np.asarray(scn.workload.rank_choices)[value.astype(np.int64)]
        elif name == "quant_bits":
            out[name] = scn.compression.quant_bits_range[0] + value.astype(np.int64)
        elif name == "keep_ratio":
            out[name] = from_fraction(scn, name, value.astype(np.float64).reshape(count, -1)[:, 0])
        elif isinstance(sub, spaces.Box):
            out[name] = from_fraction(scn, name, value.astype(np.float64))
        else:
            out[name] = value
    if "split" in out and out["split"].ndim == 1:
        out["split"] = np.repeat(out["split"][:, None], n, axis=1)
    if "edge_split" in out:  # documented repair: the edge part cannot end before the device part
        split = out.get("split", np.full((count, n), scn.decision.default_split))
        out["edge_split"] = np.maximum(out["edge_split"], split)
    return out
