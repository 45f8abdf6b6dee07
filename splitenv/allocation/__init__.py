"""Inner allocation: the policies the environment calls for the decisions the agent does not make.

* An **inner allocator** fills the small-timescale fields (subchannels, bandwidth,
  power, compute shares, server frequency) of each epoch when the agent acts per
  round (``timescale="round"``): ``allocate(scenario, state, large) -> Decision``.
* A **split policy** fixes the large-timescale fields (split, rank, compression)
  when the agent acts per epoch (``timescale="epoch"``): same signature, with an
  empty ``large``.

Both are named by strings and resolved through the ``splitenv.allocators``
entry-point group (:mod:`splitenv.plugins`), where splitenv declares ``equal``, ``default``
and the papers' allocators (:mod:`splitenv.allocation.papers`: ``paper``, ``scct_alg1``,
``sft_sqp``, ``card_frequency``, ``fedsllm_comm``), and any installed package may add more.
A callable is accepted as is.

**Batched form.** An allocator may carry a batched form in its attribute ``batched``
(:class:`BatchedAllocator`): ``allocator.batched(scenario, states, large) -> fields`` takes R
rows at once (``states`` a :class:`~splitenv.model.state.StateBatch`, ``large`` the rows'
large fields as ``{name: (R, ...) array}``) and returns the R rows' decision fields as
``{name: (R, ...) array}``, row r equal to the one-row call on row r. :func:`allocate_rows` is
the one entry point: it uses the batched form when there is one and the per-row loop
otherwise. The single env calls it with the states of its round's epochs and the vector env
with the K x T rows of a round step, so both run the same kernel and agree bit for bit (a
batched form must therefore be row-independent: no reduction or stopping test across rows).

**Scope.** An allocator may carry ``check(scenario)``, raising ValueError with what the
scenario lacks; the env calls it through :func:`check_fits` when it is built with
``timescale="round"``, so a paper's allocator on another paper's structure fails there with a
``ConfigError``, not at the first round.

The papers' kernels live here, one module each, because the env runs them; the solvers of
``baselines`` reuse them: :mod:`.scct_kkt`, :mod:`.scct_tables`, :mod:`.scct_alg1` (SCCT
Alg. 1), :mod:`.sft_bandwidth` (SFT Alg. 3), :mod:`.card` (CARD (16)), :mod:`.fedsllm_tables`,
:mod:`.fedsllm_power`, :mod:`.fedsllm_comm` (FedsLLM Alg. 2 + (25)). They import only numpy
and scipy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv import plugins
from splitenv.config import Scenario
from splitenv.errors import ConfigError
from splitenv.model.decision import DECISION_FIELDS, default_values
from splitenv.model.state import StateBatch
from splitenv.model.types import Decision, State

Allocator = Callable[[Scenario, State, Decision], Decision]
#: ``(scenario, states (R rows), large {name: (R, ...)}) -> {name: (R, ...)}``
BatchedAllocator = Callable[[Scenario, StateBatch, dict[str, Any]], dict[str, NDArray[Any]]]


def equal(scenario: Scenario, state: State, large: Decision) -> Decision:
    """Keep the given fields; every other resource is shared equally (the preset default)."""
    return large


def _equal_rows(scenario: Scenario, states: StateBatch, large: dict[str, Any]) -> dict[str, Any]:
    return {k: np.asarray(v) for k, v in large.items()}


equal.batched = _equal_rows  # type: ignore[attr-defined]


def batched_form(allocator: Allocator) -> BatchedAllocator | None:
    """The allocator's batched form (its ``batched`` attribute), or None."""
    form = getattr(allocator, "batched", None)
    return form if callable(form) else None


def allocate_rows(
    allocator: Allocator, scenario: Scenario, states: StateBatch, large: dict[str, Any]
) -> dict[str, NDArray[Any]]:
    """The decision fields of R rows: the batched form if any, else the allocator row by row.

    Args:
        allocator: an inner allocator or split policy.
        scenario: the scenario.
        states: the R rows' states.
        large: the rows' given large-timescale fields, ``{name: (R, ...) array}``.

    Returns:
        ``{name: (R, ...) array}``. Row by row, a field that some rows leave unset takes the
        preset default there; a field no row sets is absent.
    """
    form = batched_form(allocator)
    if form is not None:
        return form(scenario, states, large)
    decisions = [
        allocator(scenario, states.row(r), Decision(**{k: v[r] for k, v in large.items()}))
        for r in range(states.batch_size)
    ]
    return stack_decisions(scenario, decisions)


def stack_decisions(scenario: Scenario, decisions: list[Decision]) -> dict[str, NDArray[Any]]:
    """Decisions of rows, field by field (unset in some rows: the preset default there)."""
    defaults = default_values(scenario)
    out: dict[str, NDArray[Any]] = {}
    for f in DECISION_FIELDS:
        given = [getattr(d, f) for d in decisions]
        if any(g is not None for g in given):
            out[f] = np.stack([np.asarray(defaults[f] if g is None else g) for g in given])
    return out


def tile_fields(decision: Decision, rows: int) -> dict[str, NDArray[Any]]:
    """The fields ``decision`` sets, repeated for ``rows`` rows (the ``large`` of R rows)."""
    out = {}
    for f in DECISION_FIELDS:
        value = getattr(decision, f)
        if value is not None:
            value = np.asarray(value)
            out[f] = np.broadcast_to(value, (rows, *value.shape)).copy()
    return out


def row_decisions(fields: dict[str, NDArray[Any]], rows: int) -> list[Decision]:
    """The inverse of :func:`stack_decisions`: one Decision per row."""
    return [Decision(**{k: v[r] for k, v in fields.items()}) for r in range(rows)]


def check_fits(allocator: Allocator, scenario: Scenario, name: str) -> None:
    """Fail early where ``allocator`` cannot run on ``scenario``.

    An allocator may carry a ``check(scenario)`` attribute that raises ValueError naming what
    the scenario lacks (each paper's allocator has one). The env calls it when it is built, so
    the mismatch surfaces then, not at the first step of a round.

    Raises:
        ConfigError: the check failed; it names the allocator, the scenario and the reason.
    """
    check = getattr(allocator, "check", None)
    if check is None:
        return
    try:
        check(scenario)
    except ValueError as exc:
        raise ConfigError(
            f"inner_allocator = {name!r} does not fit scenario {scenario.name!r}: {exc}; "
            f"allowed: 'paper' (picks the scenario's own), 'equal', or an allocator that fits"
        ) from exc


def available() -> list[str]:
    """Registered allocator names."""
    return plugins.names("allocators")


def resolve(spec: str | Allocator) -> Allocator:
    """The allocator named ``spec`` (or ``spec`` itself if callable).

    Raises:
        UnknownNameError: unknown name, listing the available ones.
    """
    if callable(spec):
        return spec
    fn: Allocator = plugins.load("allocators", spec)
    return fn
