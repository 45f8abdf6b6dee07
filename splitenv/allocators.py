"""Pluggable policies the environment calls for the decisions the agent does not make.

* An **inner allocator** fills the small-timescale fields (subchannels, bandwidth,
  power, compute shares, server frequency) of each epoch when the agent acts per
  round (``timescale="round"``): ``allocate(scenario, state, large) -> Decision``.
* A **split policy** fixes the large-timescale fields (split, rank, compression)
  when the agent acts per epoch (``timescale="epoch"``): same signature, with an
  empty ``large``.

Both are named by strings and resolved here: ``"equal"`` and ``"default"`` are
built in; other packages (``baselines`` registers the papers' own allocators)
contribute through the ``splitenv.allocators`` entry-point group, so splitenv
never imports them directly. A callable is accepted as is.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

from splitenv.config import Scenario
from splitenv.model.types import Decision, State

Allocator = Callable[[Scenario, State, Decision], Decision]


def equal(scenario: Scenario, state: State, large: Decision) -> Decision:
    """Keep the given fields; every other resource is shared equally (the preset default)."""
    return large


_BUILTIN: dict[str, Allocator] = {"equal": equal, "default": equal}


def available() -> list[str]:
    """Built-in names and those registered through entry points."""
    names = set(_BUILTIN)
    names.update(ep.name for ep in metadata.entry_points(group="splitenv.allocators"))
    return sorted(names)


def resolve(spec: str | Allocator) -> Allocator:
    """The allocator named ``spec`` (or ``spec`` itself if callable).

    Raises:
        ValueError: unknown name, listing the available ones.
    """
    if callable(spec):
        return spec
    if spec in _BUILTIN:
        return _BUILTIN[spec]
    for ep in metadata.entry_points(group="splitenv.allocators"):
        if ep.name == spec:
            fn: Any = ep.load()
            return fn  # type: ignore[no-any-return]
    hint = ""
    if spec == "paper" or spec not in available():
        hint = (
            " (the papers' allocators come from the installed `baselines` package through the"
            " 'splitenv.allocators' entry points: `pip install -e .`; or use 'equal')"
        )
    raise ValueError(f"unknown allocator {spec!r}; available: {', '.join(available())}{hint}")
