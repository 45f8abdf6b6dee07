"""The ``info`` dict of the environment: every value a numpy scalar or array of a fixed dtype.

Floats are ``np.float64``, integers ``np.int64``, flags ``np.bool_`` (scalars or arrays), in
every step, so that libraries that build a spec from the first step's info (torchrl's
default info reader, say) read the later ones. The keys, dtypes and units are tabulated in
:class:`splitenv.env.SplitLoRAEnv`'s docstring (sections "Info" and "Info Terms").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from splitenv.model.types import DECISION_FIELDS, Decision


def as_numpy(value: Any) -> Any:
    """``value`` with numbers as np.float64 / np.int64 / np.bool_ (dicts and lists recursed).

    A list of numbers becomes an array; other values (strings, ...) stay as they are.
    """
    if isinstance(value, Mapping):
        return {k: as_numpy(v) for k, v in value.items()}
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (int, np.integer)):
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        kinds = {"b": np.bool_, "i": np.int64, "u": np.int64, "f": np.float64}
        if arr.dtype.kind in kinds:
            out: np.ndarray[Any, Any] = arr.astype(kinds[arr.dtype.kind])
            return out[()] if out.ndim == 0 else out
        return [as_numpy(v) for v in value] if isinstance(value, (list, tuple)) else value
    return value


def decision_info(decision: Decision, fields: tuple[str, ...]) -> dict[str, Any]:
    """Decision ``0`` of a completed batch: ``fields`` as int64 / float64 arrays or scalars."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(decision, name)
        if value is None:
            continue
        per_device, integer = DECISION_FIELDS[name]
        arr = value[0].astype(np.int64 if integer else np.float64)  # a completed batch's array
        out[name] = arr if per_device else arr[()]
    return out
