"""The reward's reference row: the preset's default decision, evaluated beside the policy's.

Every env step evaluates two rows in one engine call (:class:`splitenv.env.SplitLoRAEnv`,
and the K reference rows of :mod:`splitenv.vector`): the policy's decision and the reference,
the preset's default decision, which the normalized reward divides by. The reference keeps its
own split history (:func:`reference_prev_split`), so it never pays a migration (SCCT (18))
from the policy's split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.model import Decision, State
from splitenv.model.decision import DECISION_FIELDS, completed_decision, default_values
from splitenv.model.types import complete, enabled_fields


def stack_with_reference(scn: Scenario, decision: Decision, trusted: bool = False) -> Decision:
    """The decision and the reference (preset default) as one batch of two.

    ``trusted``: completed without validation, for decisions the env built itself from a
    checked action: :func:`_stack_trusted`, the arrays :func:`~splitenv.model.validation.assemble`
    builds from the same fields.
    """
    if trusted:
        return _stack_trusted(scn, decision)
    ref = complete(scn, None)  # cached per scenario
    values = {}
    for f in enabled_fields(scn):
        default = getattr(ref, f)[0]
        given = getattr(decision, f)
        given = default if given is None else np.asarray(given)
        if given.shape != default.shape:  # let the engine's validation name the problem
            complete(scn, decision)
        values[f] = np.stack([given, default])
    return Decision(**values)  # type: ignore[arg-type]


def reference_prev_split(scn: Scenario, prev_split: NDArray[np.int64]) -> NDArray[np.int64]:
    """The reference's previous split where the policy's is ``prev_split``, (N,) or (K, N).

    The reference (the preset's default decision) never changes its split: from its first
    epoch on, its previous split is its own split, the default, whatever the policy played.
    Where the policy has none (-1: round 0's start, SCCT (18) moves nothing) it has none either,
    so round 0 costs the reference what it always did.
    """
    return np.where(prev_split < 0, -1, scn.decision.default_split)


def with_reference(scn: Scenario, state: State) -> State:
    """The state of the two rows :func:`stack_with_reference` builds: the policy's, then the reference's.

    Both rows live in ``state``; the reference's row has its own previous split
    (:func:`reference_prev_split`), so it never pays a migration (SCCT (18)) from the policy's
    split: ``state`` with the two rows' previous splits (:meth:`State.with_prev_splits`).
    Where that changes nothing the one state serves both rows: without migration (the
    previous split enters no other cost) and while the two previous splits agree (the policy
    at the default split, round 0's start). The engine's rows are bit for bit those of one
    state per row (:class:`~splitenv.model.state.StateBatch`), so every way agrees.
    """
    if not scn.schedule.migration:  # prev_split costs nothing else (tests/model/test_state_batch)
        return state
    prev = state.prev_split
    own = reference_prev_split(scn, prev)
    if (own == prev).all():
        return state
    return state.with_prev_splits(np.array((prev, own)))


def _stack_trusted(scn: Scenario, decision: Decision) -> Decision:
    """:func:`stack_with_reference` of a trusted decision: the arrays ``assemble`` builds, written directly.

    Row 0 is the decision's field (or the default), row 1 the default, cast to the field's
    type (int64, float64) as ``assemble`` casts its float64 stack. Fields the scenario does
    not expose hold the shared read-only default rows (the engine never writes them).
    """
    plan = scn.memo("stack_plan", lambda: _stack_plan(scn))
    arrays: dict[str, Any] = dict(plan.constant)
    for name, default, dtype in plan.fields:
        given = getattr(decision, name)
        arr = np.empty((2, *default.shape), dtype=dtype)
        if given is None:
            arr[0] = default
        else:
            given = np.asarray(given)
            if given.shape != default.shape:  # let the engine's validation name the problem
                complete(scn, decision)
            arr[0] = given.astype(np.float64) if dtype is np.int64 else given
        arr[1] = default
        arr.flags.writeable = False
        arrays[name] = arr
    if plan.raise_edge:  # as assemble: the default edge split, raised to the split
        edge = np.maximum(arrays["edge_split"], arrays["split"])
        edge.flags.writeable = False
        arrays["edge_split"] = edge
    return completed_decision(scn, arrays, 2)


@dataclass(frozen=True)
class _StackPlan:
    """Per scenario: the enabled fields (name, float64 default, dtype), the constant rest."""

    fields: tuple[tuple[str, NDArray[np.float64], type], ...]
    constant: dict[str, Any]
    raise_edge: bool


def _stack_plan(scn: Scenario) -> _StackPlan:
    ref = complete(scn, None)
    defaults = default_values(scn)
    enabled = enabled_fields(scn)
    fields: list[tuple[str, NDArray[np.float64], type]] = []
    constant: dict[str, Any] = {}
    for name, (_, integer) in DECISION_FIELDS.items():
        default = np.asarray(defaults[name], dtype=np.float64)
        if name in enabled:  # the reference row: the completed default (as stack_with_reference stacks it)
            row = np.asarray(getattr(ref, name)[0], dtype=np.float64)
            fields.append((name, row, np.int64 if integer else np.float64))
        elif name in ("edge_split", "power_w", "fed_power_w"):
            rows = np.broadcast_to(default, (2, *default.shape))
            arr: NDArray[Any] = rows.astype(np.int64) if integer else np.array(rows)
            arr.flags.writeable = False
            constant[name] = arr
        else:
            constant[name] = None
    return _StackPlan(tuple(fields), constant, "edge_split" not in enabled)
