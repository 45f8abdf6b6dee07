"""Typed, frozen, validated configuration records.

Every config section is a frozen dataclass whose fields carry their allowed
range in ``metadata``. Validation happens at construction, so an invalid value
can never reach the cost engine; the error names the dotted field path, the
value and the allowed range, e.g.::

    ConfigError: network.bandwidth_hz = -1.0 is out of range; allowed: > 0 [Hz]

``from_dict`` builds a record from plain YAML data (unknown keys are rejected
with the list of known ones) and ``to_dict`` goes back, so a config
round-trips exactly. ``with_overrides`` applies dotted ``key=value`` overrides
(``--set network.n_devices=6`` on the CLI).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import yaml

from splitenv.errors import ConfigError

T = TypeVar("T", bound="Record")
R = TypeVar("R")


def spec(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[Any] | None = None,
    unit: str = "",
    doc: str = "",
    allow_inf: bool = False,
) -> Any:
    """Declare a config field with its allowed range, unit and one-line doc.

    Sequences in fields are checked element-wise against the same bounds.
    """
    meta = {
        "ge": ge,
        "gt": gt,
        "le": le,
        "lt": lt,
        "choices": choices,
        "unit": unit,
        "doc": doc,
        "allow_inf": allow_inf,
    }
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed; use a tuple")
    return dataclasses.field(default=default, metadata=meta)


def _allowed(meta: Mapping[str, Any]) -> str:
    if meta.get("choices") is not None:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    parts = []
    if meta.get("ge") is not None:
        parts.append(f">= {meta['ge']:g}")
    if meta.get("gt") is not None:
        parts.append(f"> {meta['gt']:g}")
    if meta.get("le") is not None:
        parts.append(f"<= {meta['le']:g}")
    if meta.get("lt") is not None:
        parts.append(f"< {meta['lt']:g}")
    text = " and ".join(parts) if parts else "any finite value"
    return text + (f" [{meta['unit']}]" if meta.get("unit") else "")


def _check_scalar(name: str, value: Any, meta: Mapping[str, Any]) -> None:
    choices = meta.get("choices")
    if choices is not None:
        if value not in choices:
            raise ConfigError(f"{name} = {value!r} is not allowed; allowed: {_allowed(meta)}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if math.isnan(value) or (math.isinf(value) and not meta.get("allow_inf")):
        raise ConfigError(f"{name} = {value!r} is not finite; allowed: {_allowed(meta)}")
    bad = (
        (meta.get("ge") is not None and value < meta["ge"])
        or (meta.get("gt") is not None and value <= meta["gt"])
        or (meta.get("le") is not None and value > meta["le"])
        or (meta.get("lt") is not None and value >= meta["lt"])
    )
    if bad:
        raise ConfigError(f"{name} = {value!r} is out of range; allowed: {_allowed(meta)}")


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """Coerce plain YAML data to the annotated type (ints to floats, lists to tuples)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        errors = []
        for arg in non_none:
            try:
                return _coerce(name, value, arg)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"{name} = {value!r} must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{name} = {value!r} must have {len(args)} entries")
        return tuple(
            _coerce(f"{name}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, str) and hasattr(tp, "from_name"):  # a named catalogue entry
            return tp.from_name(value)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} must be a mapping of {tp.__name__} fields, got {value!r}")
        return tp.from_dict(value, path=name)  # type: ignore[attr-defined]
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} = {value!r} must be a number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ConfigError(f"{name} = {value!r} must be an integer")
        return int(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} = {value!r} must be true or false")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} = {value!r} must be a string")
        return value
    return value


@dataclasses.dataclass(frozen=True)
class Record:
    """Base of every config section: coercion and validation at construction."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            coerced = _coerce(f.name, value, hints[f.name])
            if coerced is not value:
                object.__setattr__(self, f.name, coerced)
            items = coerced if isinstance(coerced, tuple) else (coerced,)
            for i, item in enumerate(items):
                label = f.name if not isinstance(coerced, tuple) else f"{f.name}[{i}]"
                if item is not None and not dataclasses.is_dataclass(item):
                    _check_scalar(label, item, f.metadata)
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; subclasses override and raise ConfigError."""

    def __getstate__(self) -> dict[str, Any]:
        """The fields without the :meth:`memo` cache (derived values, rebuilt where needed)."""
        return {k: v for k, v in self.__dict__.items() if k != "_memo"}

    def memo(self, key: str, factory: Callable[[], R]) -> R:
        """Per-instance cache of values derived from this (immutable) record.

        Cheaper than an lru_cache keyed by the record, which rehashes every
        nested field on each lookup. Not pickled (:meth:`__getstate__`): a copy sent to
        another process derives its own.
        """
        cache = self.__dict__.setdefault("_memo", {})
        if key not in cache:
            cache[key] = factory()
        return cache[key]  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
        """Build from plain data, rejecting unknown keys and prefixing errors with ``path``."""
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        prefix = f"{path}." if path else ""
        if unknown:
            raise ConfigError(
                f"unknown field {prefix}{unknown[0]}; known fields of {path or cls.__name__}: "
                + ", ".join(sorted(known))
            )
        try:
            return cls(**dict(data))
        except ConfigError as exc:
            msg = str(exc)
            raise ConfigError(
                msg if msg.startswith(prefix) or not prefix else prefix + msg
            ) from None
        except TypeError as exc:  # a required field is missing
            raise ConfigError(f"{path or cls.__name__}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts, lists, scalars) that ``from_dict`` turns back into an equal record."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def with_overrides(self: T, overrides: Mapping[str, Any]) -> T:
        """Return a copy with dotted-path overrides applied, e.g. ``{"network.n_devices": 6}``."""
        data = self.to_dict()
        for key, value in overrides.items():
            node: Any = data
            parts = key.split(".")
            for depth, part in enumerate(parts):
                if not isinstance(node, dict) or part not in node:
                    where = ".".join(parts[:depth]) or type(self).__name__
                    known = ", ".join(sorted(node)) if isinstance(node, dict) else "(not a section)"
                    raise ConfigError(f"unknown field {key!r}: {where} has fields {known}")
                if depth == len(parts) - 1:
                    node[part] = value
                else:
                    node = node[part]
        return type(self).from_dict(data)


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def describe(cls: type[Record]) -> list[tuple[str, str, str, str]]:
    """(name, type, allowed, doc) for every field: the source of the config reference docs."""
    hints = typing.get_type_hints(cls)
    return [
        (f.name, str(hints[f.name]), _allowed(f.metadata), f.metadata.get("doc", ""))
        for f in dataclasses.fields(cls)
    ]


class NumberLoader(yaml.SafeLoader):
    """PyYAML's safe loader with numbers as people write them: ``3e7``, ``3.0e7``, ``1_000``.

    PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent, so ``3e7`` and
    ``3.0e7`` load as strings; YAML 1.2 and Python read them as floats. Safe: no python tags.
    """


NumberLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def parse_value(text: str, name: str = "value") -> Any:
    """Parse the value of a CLI ``--set key=value`` with YAML rules (numbers, lists, bools).

    Raises:
        ConfigError: not valid YAML, or a YAML tag (``!!python/...``) that safe loading refuses.
    """
    try:
        return yaml.load(text, Loader=NumberLoader)  # a safe loader: no python tags
    except yaml.YAMLError as exc:
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{name} = {text!r} is not a valid value: {what}") from None
