"""The one plug-in mechanism: entry-point groups, read by one small loader.

Everything splitenv resolves by name comes from an entry-point group, the core's own
built-ins included (they are declared in splitenv's ``pyproject.toml`` like any plug-in), so
an installed package extends splitenv exactly as the core does, and the upper packages
(``baselines``, ``agents``) contribute without the core importing them:

| kind | group | an entry point names |
| --- | --- | --- |
| ``scenarios`` | ``splitenv.scenarios`` | a package whose folder holds preset YAML files |
| ``solvers`` | ``splitenv.solvers`` | a solver class (``baselines.base.Solver`` protocol) |
| ``allocators`` | ``splitenv.allocators`` | an inner allocator ``(scenario, state, large) -> Decision`` |
| ``accuracy`` | ``splitenv.accuracy`` | an accuracy provider class (``splitenv.accuracy_providers``) |
| ``methods`` | ``splitenv.methods`` | a factory ``(arg) -> policy`` for ``KIND:ARG`` benchmark methods |
| ``commands`` | ``splitenv.commands`` | ``add(subparsers)``: registers ``splitenv NAME`` |
| ``reproductions`` | ``splitenv.reproductions`` | a paper's figures (``baselines.reproduce.sweep.Reproduction``) |

A plug-in package declares, in its own ``pyproject.toml``::

    [project.entry-points."splitenv.solvers"]
    my_solver = "my_package.solvers:MySolver"

and is found once installed (``pip install -e .``). Loading is lazy: only the named entry point
is imported. A name declared twice is an error naming both packages.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from typing import Any

from splitenv.errors import PluginError, UnknownNameError

#: kind -> entry-point group
GROUPS = {
    "scenarios": "splitenv.scenarios",
    "solvers": "splitenv.solvers",
    "allocators": "splitenv.allocators",
    "accuracy": "splitenv.accuracy",
    "methods": "splitenv.methods",
    "commands": "splitenv.commands",
    "reproductions": "splitenv.reproductions",
}

#: kind -> what one of them is called in messages
_NOUN = {
    "scenarios": "scenario",
    "solvers": "solver",
    "allocators": "allocator",
    "accuracy": "accuracy provider",
    "methods": "method",
    "commands": "command",
    "reproductions": "paper",
}


def _group(kind: str) -> str:
    if kind not in GROUPS:
        raise UnknownNameError(f"plug-in kind {kind!r}; allowed: {', '.join(GROUPS)}")
    return GROUPS[kind]


@cache
def entry_points(kind: str) -> dict[str, metadata.EntryPoint]:
    """The entry points of ``kind`` by name (read once per process).

    Raises:
        PluginError: two installed packages declare the same name.
    """
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=_group(kind)):
        if ep.name in found and found[ep.name].value != ep.value:
            raise PluginError(
                f"{_NOUN[kind]} {ep.name!r} is declared twice: {found[ep.name].value} and {ep.value}"
            )
        found[ep.name] = ep
    return found


def names(kind: str) -> list[str]:
    """Registered names of ``kind``, sorted."""
    return sorted(entry_points(kind))


def load(kind: str, name: str) -> Any:
    """The object the entry point ``name`` of ``kind`` names, imported now.

    Raises:
        UnknownNameError: no such name; the message lists the registered ones.
        PluginError: the entry point exists but importing it failed (names the package).
    """
    eps = entry_points(kind)
    if name not in eps:
        known = ", ".join(names(kind)) or "none"
        raise UnknownNameError(f"unknown {_NOUN[kind]} {name!r}; available: {known}")
    ep = eps[name]
    try:
        return ep.load()
    except ImportError as exc:
        dist = getattr(ep.dist, "name", "?")
        raise PluginError(
            f"{_NOUN[kind]} {name!r} ({ep.value}, from package {dist}) could not be imported: {exc}"
        ) from exc


def load_all(kind: str) -> dict[str, Any]:
    """Every entry point of ``kind``, loaded; one that fails to import is left out.

    For listings (``splitenv solvers``): a plug-in whose optional dependency is missing must not
    hide the others. ``load`` of that name still raises the error.
    """
    out = {}
    for name in names(kind):
        try:
            out[name] = load(kind, name)
        except PluginError:
            continue
    return out
