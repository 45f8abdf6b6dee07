"""Frozen dataclass records built without their ``__init__``, for the engine's hot path.

A frozen dataclass's generated ``__init__`` sets each field with ``object.__setattr__``: about
0.1 us a field, which for the engine's records (an evaluation, its parts, a decision of two
rows) costs more than some of the arithmetic they hold. :func:`record` builds the same object
(the same class, the same attribute values, defaults filled) by writing its ``__dict__``.
Only for classes without ``__post_init__`` and fields without a ``default_factory``, whose
``__init__`` only stores its arguments.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

R = TypeVar("R")

_DEFAULTS: dict[type, dict[str, Any]] = {}


def record(cls: type[R], **values: Any) -> R:
    """``cls(**values)`` for a frozen dataclass whose ``__init__`` only stores its fields.

    Fields missing from ``values`` take their default (as ``__init__`` does, ``init=False``
    fields included); the caller passes every field without one.
    """
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = _DEFAULTS[cls] = _defaults(cls)
    out = object.__new__(cls)
    out.__dict__.update(defaults, **values)
    return out


def _defaults(cls: type) -> dict[str, Any]:
    if hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        raise TypeError(f"record() cannot build {cls.__name__}: its __init__ does more than store")
    out = {}
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"record() cannot build {cls.__name__}: {f.name} has a default_factory")
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
    return out
