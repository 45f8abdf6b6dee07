"""Completion and validation of decisions: defaults filled, batched, checked against a scenario.

Validation splits bad input in two kinds, on purpose:

* a malformed decision (NaN, wrong shape, a split outside the allowed range, a
  negative bandwidth, a rank that is not offered) raises :class:`DecisionError`
  naming the field, the value and the allowed range;
* a well-formed decision that overruns a budget (more subchannels than K,
  shares summing above 1, too much power, too little memory) is evaluated and
  reported infeasible with the amount of each violation
  (:mod:`splitenv.model.constraints`); nothing is clipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.errors import DecisionError
from splitenv.model.decision import (
    DECISION_FIELDS,
    Decision,
    completed_decision,
    default_values,
    enabled_fields,
)
from splitenv.model.phases import per_batch


def allowed_text(scn: Scenario, name: str) -> str:
    """The allowed values of decision field ``name``, for error messages."""
    net, comp, dec, L = scn.network, scn.compute, scn.decision, scn.model.n_layers
    lo, hi = dec.split_range
    texts = {
        "split": f"integers in [{lo}, {hi}]",
        "edge_split": f"integers in [split, {L}]",
        "rank": f"one of {list(scn.workload.rank_choices)}",
        "subchannels": f"integers >= 0 summing to at most {net.n_subchannels}",
        "fed_subchannels": f"integers >= 0 summing to at most {net.fed_n_subchannels}",
        "bandwidth_hz": f">= 0 Hz summing to at most {net.bandwidth_hz:g}",
        "power_w": f">= 0 W, at most {net.device_power_w:g} per device",
        "fed_power_w": f">= 0 W, at most {net.device_power_w:g} per device",
        "compute_share": "[0, 1], summing to at most 1",
        "server_freq_hz": f"[{comp.server_freq_hz[0]:g}, {comp.server_freq_hz[1]:g}] Hz",
        "keep_ratio": f"[{scn.compression.keep_ratio_range[0]:g}, {scn.compression.keep_ratio_range[1]:g}]",
        "quant_bits": f"0 or integers in [{scn.compression.quant_bits_range[0]}, {scn.compression.quant_bits_range[1]}]",
    }
    return texts[name]


def _as_batch(
    scn: Scenario, name: str, value: Any, n: int, per_device: bool, integer: bool
) -> NDArray[Any]:
    if _has_bool(value):  # JSON's true is not the number 1
        raise DecisionError(
            f"decision.{name} = {value!r} holds booleans; allowed: {allowed_text(scn, name)}"
        )
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DecisionError(f"decision.{name} = {value!r} is not numeric") from None
    want = 2 if per_device else 1
    if arr.ndim == want - 1:
        arr = arr[None]
    if arr.ndim != want or (per_device and arr.shape[-1] != n):
        shape = "(N,) or (B, N)" if per_device else "a scalar or (B,)"
        raise DecisionError(
            f"decision.{name} has shape {np.shape(value)}; expected {shape} with N = {n} devices"
        )
    if not np.isfinite(arr).all():
        raise DecisionError(
            f"decision.{name} contains NaN or inf: {np.asarray(value).tolist()}; "
            f"allowed: {allowed_text(scn, name)}"
        )
    if integer:
        if not (arr == np.round(arr)).all():
            raise DecisionError(f"decision.{name} = {np.asarray(value).tolist()} must be integers")
        if arr.size and np.abs(arr).max() >= _INT_LIMIT:  # would wrap around in int64
            raise DecisionError(
                f"decision.{name} = {arr.flat[np.abs(arr).argmax()]:g} is far outside the allowed "
                f"range; allowed: {allowed_text(scn, name)}"
            )
        return arr.astype(np.int64)
    return arr


#: integer fields at or beyond this magnitude cannot be exact in float64 / int64
_INT_LIMIT = 2.0**53


def _has_bool(value: Any) -> bool:
    """Whether a value from outside (nested lists, numpy arrays) holds booleans."""
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype == np.bool_
    if isinstance(value, (list, tuple)):
        return any(_has_bool(v) for v in value)
    return False


def _check_range(name: str, arr: NDArray[Any], lo: float, hi: float, what: str = "") -> None:
    bad = (arr < lo) | (arr > hi)
    if np.any(bad):
        value = arr[bad].flat[0].item()
        raise DecisionError(
            f"decision.{name} = {value!r} is outside the allowed range [{lo:g}, {hi:g}]{what}"
        )


def complete(scn: Scenario, decision: Decision | dict[str, Any] | None) -> Decision:
    """Fill defaults, batch, and validate a decision for ``scn``.

    Returns a Decision whose every enabled field is a batched numpy array
    (B, N) or (B,), with ``batch_size`` set. Fields the scenario does not
    expose are rejected rather than ignored.
    """
    if decision is None:
        return _default_decision(scn)
    if isinstance(decision, dict):
        decision = Decision.from_dict(decision)
    if decision._completed_for is scn:
        return decision
    n = scn.n_devices
    enabled = enabled_fields(scn)
    defaults = default_values(scn)
    arrays: dict[str, NDArray[Any]] = {}
    for name, (per_device, integer) in DECISION_FIELDS.items():
        given = getattr(decision, name)
        if given is not None and name not in enabled:
            raise DecisionError(
                f"decision.{name} is not a decision of scenario {scn.name!r}; its decisions are: "
                + ", ".join(enabled)
            )
        source = given if given is not None else defaults[name]
        arrays[name] = _as_batch(scn, name, source, n, per_device, integer)
    if decision.edge_split is None:
        # the default edge split, raised to the device split where that is deeper
        arrays["edge_split"] = np.maximum(arrays["edge_split"], arrays["split"])
    sizes = {a.shape[0] for a in arrays.values()}
    sizes.discard(1)
    if len(sizes) > 1:
        raise DecisionError(f"decision fields have different batch sizes {sorted(sizes)}")
    batch = sizes.pop() if sizes else 1
    for name, arr in arrays.items():
        if arr.shape[0] == 1 and batch > 1:
            arrays[name] = np.repeat(arr, batch, axis=0)
    _validate(scn, arrays)
    for name in DECISION_FIELDS:
        if name not in enabled and name not in ("edge_split", "power_w", "fed_power_w"):
            arrays[name] = None  # type: ignore[assignment]
    for arr in arrays.values():
        if arr is not None:
            arr.setflags(write=False)
    return completed_decision(scn, arrays, batch)


def _default_decision(scn: Scenario) -> Decision:
    """The preset's default decision, completed once per scenario (arrays are read-only)."""
    return scn.memo("default_decision", lambda: complete(scn, Decision()))


def _validate(scn: Scenario, a: dict[str, NDArray[Any]]) -> None:
    dec, L = scn.decision, scn.model.n_layers
    lo, hi = dec.split_range
    _check_range("split", a["split"], lo, hi, " (decision.split_range)")
    if dec.shared_split and np.any(a["split"] != a["split"][:, :1]):
        raise DecisionError(
            f"decision.split = {a['split'].tolist()} must be equal for all devices (shared cut)"
        )
    if dec.three_tier:
        bad = (a["edge_split"] < a["split"]) | (a["edge_split"] > L)
        if np.any(bad):
            raise DecisionError(
                f"decision.edge_split = {a['edge_split'][bad].flat[0].item()} must lie in split..{L}"
            )
    ranks = scn.workload.rank_choices
    if not np.all(np.isin(a["rank"], ranks)):
        raise DecisionError(f"decision.rank = {a['rank'].tolist()} is not one of {list(ranks)}")
    for name in ("subchannels", "fed_subchannels", "bandwidth_hz", "power_w", "fed_power_w"):
        if np.any(a[name] < 0):
            raise DecisionError(
                f"decision.{name} = {a[name][a[name] < 0].flat[0].item()!r} must be >= 0"
            )
    _check_range("compute_share", a["compute_share"], 0.0, 1.0 + 1e-9)  # rounding of shares
    if scn.compute.has_frequency_control:
        f_lo, f_hi = scn.compute.server_freq_hz
        _check_range("server_freq_hz", a["server_freq_hz"], f_lo, f_hi, " (compute.server_freq_hz)")
    comp = scn.compression
    if comp.enabled:
        _check_range(
            "keep_ratio", a["keep_ratio"], *comp.keep_ratio_range, " (compression.keep_ratio_range)"
        )
        q_lo, q_hi = comp.quant_bits_range
        q = a["quant_bits"]
        if np.any((q != 0) & ((q < q_lo) | (q > q_hi))):
            raise DecisionError(
                f"decision.quant_bits = {q.tolist()} must be 0 (unquantized) or in [{q_lo}, {q_hi}]"
            )
    else:
        _check_range("keep_ratio", a["keep_ratio"], 0.0, 1.0)


def assemble(scn: Scenario, values: dict[str, Any], owned: bool = False) -> Decision:
    """A completed decision from batched fields splitenv built and range-checked itself.

    What :func:`complete` returns for the same fields, without its validation: for the env's
    own decisions (decoded from an action that passed the action space's check, plus the
    preset defaults), where validating again would cost more than evaluating. Decisions from
    outside go through :func:`complete`.

    Args:
        scn: the scenario.
        values: enabled fields, each batched (B, N) or (B,) with one B; missing ones take
            the preset default.
        owned: ``values`` holds fresh arrays the caller hands over (kept nowhere else): of
            the field's dtype they are taken as they are (made read-only), not copied.
    """
    batch = next(iter(values.values())).shape[0] if values else 1
    # the fields not given: the same for every call of this batch size (read-only)
    defaults = per_batch(scn, "assemble_defaults", batch, lambda: _default_arrays(scn, batch))
    arrays: dict[str, Any] = {}
    for name, (_, integer) in DECISION_FIELDS.items():
        if name not in values:
            arrays[name] = defaults[name]
            continue
        given = np.asarray(values[name])
        if given.dtype == (np.int64 if integer else np.float64):  # one copy, same values
            arr = given if owned and given.base is None else np.array(given)
        else:
            arr = given.astype(np.float64, copy=False)
            arr = arr.astype(np.int64) if integer else np.array(arr)
        arr.setflags(write=False)
        arrays[name] = arr
    if "edge_split" not in values:  # as complete: the default edge split, raised to the split
        arrays["edge_split"] = np.maximum(arrays["edge_split"], arrays["split"])
        arrays["edge_split"].setflags(write=False)
    return completed_decision(scn, arrays, batch)


def _default_arrays(scn: Scenario, batch: int) -> dict[str, Any]:
    """:func:`assemble`'s fields when not given: the preset defaults of ``batch`` rows (read-only).

    The enabled fields and those the engine always reads (``edge_split``, ``power_w``,
    ``fed_power_w``); None for the others.
    """
    defaults = default_values(scn)
    enabled = enabled_fields(scn)
    arrays: dict[str, Any] = {}
    for name, (_, integer) in DECISION_FIELDS.items():
        if name in enabled or name in ("edge_split", "power_w", "fed_power_w"):
            default = np.asarray(defaults[name], dtype=np.float64)
            arr = np.broadcast_to(default, (batch, *default.shape))
            arrays[name] = arr.astype(np.int64) if integer else np.array(arr)
            arrays[name].setflags(write=False)
        else:
            arrays[name] = None
    return arrays
