"""Action spaces of the environment and the decoders from actions to decisions.

Three encodings of the same decision fields (see :func:`action_fields` for which
fields a timescale exposes):

* **native** ``Dict`` (the env's own action space): split, rank and bit
  indices, subchannel counts, and every continuous field as a fraction in
  [0, 1] of its physical maximum: bandwidth of B, power of P_max, compute share
  as is, server clock and keep ratio of their ranges (``lo + v (hi - lo)``).
  A native action may break a budget (more subchannels than K, bandwidth
  fractions summing above 1, say); the env then evaluates it as given and
  reports it infeasible (no clipping).
* **MultiDiscrete** (``MultiDiscreteAction`` wrapper): index fields as above;
  every continuous or budgeted field quantized to ``levels`` levels. Resource
  levels are weights: device n gets the share ``(w_n + 1) / sum_m (w_m + 1)``
  of the band / subchannels / compute, so every device gets something;
  subchannel counts come from those shares by largest remainder (at least one
  per device when K >= N). Powers are ``(w_n + 1) / levels`` of the maximum,
  scaled down together into the total budget. Frequencies and the keep ratio
  are ``w / (levels - 1)`` of their range.
* **Box** ``[-1, 1]^D`` (``BoxAction`` wrapper): index fields take
  ``floor((a + 1) / 2 * n)`` (the top edge maps to the last index), where for
  the split ``n`` is the number of values that fit the device's memory (for a
  shared cut, all devices' memory), so a Box action never overflows memory; resources
  take the weights ``(a + 1) / 2 + 1e-3`` normalized to shares as above; powers
  ``(0.01 + 0.99 (a + 1) / 2)`` of the maximum, scaled into the budget;
  frequencies and keep ratio ``(a + 1) / 2`` of their range. Values outside
  [-1, 1] are clipped (as SB3 does before stepping); NaN or inf raise.

No encoding has a dead dimension: a field with one possible value (one rank choice,
a one-value bit or split range, an empty keep-ratio or clock range) is left out of all
three and the env applies its value (:func:`fixed_values`); with one device, the
wrappers leave out the shared resources too (the device gets all of them).

Both decoders therefore produce decisions that meet every budget, and SFT's accuracy
constraint (36b) where a scenario imposes it: a decoded (keep ratio, bits) pair below A_th
moves to the nearest pair that meets it (:func:`accuracy_repair`); memory is met
by the Box decoder's split range and by the MultiDiscrete wrapper's
``action_masks()`` (an unmasked memory-infeasible split is evaluated and
penalized like any infeasible decision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.errors import ActionError
from splitenv.model.types import enabled_fields

LARGE = ("split", "edge_split", "rank", "keep_ratio", "quant_bits")
SMALL = (
    "subchannels", "bandwidth_hz", "power_w", "fed_subchannels", "fed_power_w",
    "compute_share", "server_freq_hz",
)  # fmt: skip
TIMESCALES = ("joint", "round", "epoch")
RESOURCE = ("subchannels", "fed_subchannels", "bandwidth_hz", "compute_share")
POWER = ("power_w", "fed_power_w")


def decision_fields(scn: Scenario, timescale: str) -> tuple[str, ...]:
    """Decision fields set at a timescale, fixed ones included (SPEC Sec. 8; SCCT IV, SFT VI-C)."""
    if timescale not in TIMESCALES:
        raise ValueError(f"timescale = {timescale!r}; allowed: {', '.join(TIMESCALES)}")
    enabled = enabled_fields(scn)
    if timescale == "round":
        return tuple(f for f in enabled if f in LARGE)
    if timescale == "epoch":
        return tuple(f for f in enabled if f in SMALL)
    return enabled


def action_fields(scn: Scenario, timescale: str) -> tuple[str, ...]:
    """Decision fields the agent sets at a timescale: those with more than one possible value.

    A field with one value (one rank choice, a one-value bit range, an empty keep-ratio
    range, ...) is no action dimension: the env applies :func:`fixed_values` itself.
    """
    fields = decision_fields(scn, timescale)
    fixed = fixed_values(scn, fields)
    return tuple(f for f in fields if f not in fixed)


def fixed_values(scn: Scenario, fields: tuple[str, ...]) -> dict[str, NDArray[Any]]:
    """Physical values of the fields among ``fields`` that admit one value only."""
    n, L = scn.n_devices, scn.model.n_layers
    lo, hi = scn.decision.split_range
    q_lo, q_hi = scn.compression.quant_bits_range
    k_lo, k_hi = scn.compression.keep_ratio_range
    f_lo, f_hi = scn.compute.server_freq_hz
    ranks = scn.workload.rank_choices
    single: dict[str, tuple[bool, Any]] = {
        "split": (lo == hi, lambda: np.full(n, lo, dtype=np.int64)),
        "edge_split": (lo == L, lambda: np.full(n, L, dtype=np.int64)),
        "rank": (len(ranks) == 1, lambda: np.asarray(ranks[0])),
        "quant_bits": (q_lo == q_hi, lambda: np.asarray(q_lo)),
        "keep_ratio": (k_lo == k_hi, lambda: np.asarray(float(k_lo))),
        "server_freq_hz": (f_lo == f_hi, lambda: np.full(n, float(f_lo))),
    }
    return {f: single[f][1]() for f in fields if f in single and single[f][0]}


@dataclass(frozen=True)
class FieldSpec:
    """How one decision field is indexed: per device or scalar, and its index count."""

    name: str
    per_device: bool
    n: int  # number of index values (0 for continuous fields)


def field_specs(scn: Scenario, fields: tuple[str, ...]) -> list[FieldSpec]:
    """Shapes of the fields; ``n`` is the count of index values of discrete fields."""
    lo, hi = scn.decision.split_range
    L = scn.model.n_layers
    q_lo, q_hi = scn.compression.quant_bits_range
    out = []
    for f in fields:
        if f == "split":
            out.append(FieldSpec(f, not scn.decision.shared_split, hi - lo + 1))
        elif f == "edge_split":
            out.append(FieldSpec(f, True, L - lo + 1))
        elif f == "rank":
            out.append(FieldSpec(f, False, len(scn.workload.rank_choices)))
        elif f == "quant_bits":
            out.append(FieldSpec(f, False, q_hi - q_lo + 1))
        elif f == "keep_ratio":
            out.append(FieldSpec(f, False, 0))
        else:
            out.append(FieldSpec(f, True, 0))
    return out


def native_space(scn: Scenario, fields: tuple[str, ...]) -> spaces.Dict:
    """The env's own Dict action space, in physical units."""
    n, net = scn.n_devices, scn.network
    sub: dict[str, spaces.Space[Any]] = {}
    for fs in field_specs(scn, fields):
        f = fs.name
        if fs.n:
            sub[f] = spaces.MultiDiscrete([fs.n] * n) if fs.per_device else spaces.Discrete(fs.n)
        elif f == "subchannels":
            sub[f] = spaces.MultiDiscrete([net.n_subchannels + 1] * n)
        elif f == "fed_subchannels":
            sub[f] = spaces.MultiDiscrete([net.fed_n_subchannels + 1] * n)
        elif f == "keep_ratio":
            sub[f] = spaces.Box(0.0, 1.0, (1,), np.float64)
        else:  # bandwidth, powers, shares, server clock: fractions
            sub[f] = spaces.Box(0.0, 1.0, (n,), np.float64)
    return spaces.Dict(sub)


def from_fraction(scn: Scenario, name: str, v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Physical value of the native fraction ``v`` of field ``name``."""
    if name == "bandwidth_hz":
        return v * scn.network.bandwidth_hz
    if name in POWER:
        return v * scn.network.device_power_w
    if name == "server_freq_hz":
        lo, hi = scn.compute.server_freq_hz
        return lo + v * (hi - lo)
    if name == "keep_ratio":
        lo, hi = scn.compression.keep_ratio_range
        return lo + v * (hi - lo)
    return v


def to_fraction(scn: Scenario, name: str, value: NDArray[np.float64]) -> NDArray[np.float64]:
    """The native fraction of the physical ``value`` of field ``name``.

    :func:`from_fraction`'s inverse; a range of zero width gives 0.5.
    """
    value = np.asarray(value, dtype=np.float64)
    if name == "bandwidth_hz":
        return value / scn.network.bandwidth_hz
    if name in POWER:
        return value / scn.network.device_power_w
    if name in ("server_freq_hz", "keep_ratio"):
        lo, hi = (
            scn.compute.server_freq_hz
            if name == "server_freq_hz"
            else scn.compression.keep_ratio_range
        )
        return np.full_like(value, 0.5) if hi == lo else (value - lo) / (hi - lo)
    return value


def native_index(scn: Scenario, name: str, value: NDArray[Any]) -> NDArray[np.int64]:
    """The native index of the physical ``value`` of discrete field ``name``.

    The inverse of :func:`native_to_decision`'s index conversions: split offsets, rank
    choices, bit widths.
    """
    value = np.asarray(value)
    if name in ("split", "edge_split"):
        return value.astype(np.int64) - scn.decision.split_range[0]
    if name == "rank":
        choices = list(scn.workload.rank_choices)
        return np.array([choices.index(int(v)) for v in value.reshape(-1)]).reshape(value.shape)
    if name == "quant_bits":
        return value.astype(np.int64) - scn.compression.quant_bits_range[0]
    return value.astype(np.int64)


def native_to_decision(
    scn: Scenario,
    space: spaces.Dict,
    action: Any,
    fixed: dict[str, NDArray[Any]] | None = None,
) -> dict[str, NDArray[Any]]:
    """Physical decision fields from a native action, after checking it lies in the space.

    ``fixed`` (the env's :func:`fixed_values`) is merged in before the edge-split repair.
    An action of numpy values of the space's shapes is checked and converted in one pass
    (:func:`_decode_plain`); anything else goes through the checks below, which name what is
    wrong. Both accept the same actions and give the same fields.
    """
    plain = _decode_plain(scn, space, action, fixed)
    if plain is not None:
        return plain
    if not isinstance(action, dict):
        raise ActionError(
            f"action must be a dict with keys {sorted(space.spaces)}, got {type(action).__name__}"
        )
    missing = sorted(set(space.spaces) - set(action))
    extra = sorted(set(action) - set(space.spaces))
    if missing or extra:
        raise ActionError(
            f"action keys: missing {missing}, unexpected {extra}; expected {sorted(space.spaces)}"
        )
    lo = scn.decision.split_range[0]
    q_lo = scn.compression.quant_bits_range[0]
    out: dict[str, NDArray[Any]] = dict(fixed or {})
    for name, sub in space.spaces.items():
        value = numeric(action[name], f"action[{name!r}]")
        if isinstance(sub, spaces.Box):
            if value.size == np.prod(sub.shape):
                value = value.astype(np.float64).reshape(sub.shape)
        else:
            if not (value == np.round(value)).all():
                raise ActionError(f"action[{name!r}] = {value.tolist()} must be integers for {sub}")
            top = sub.n if isinstance(sub, spaces.Discrete) else sub.nvec  # type: ignore[attr-defined]
            if value.shape == np.shape(top) and ((value < 0) | (value >= top)).any():
                raise ActionError(f"action[{name!r}] = {value.tolist()} is outside {sub}")
        if value.shape != sub.shape or not sub.contains(value.astype(sub.dtype)):
            raise ActionError(f"action[{name!r}] = {value.tolist()} is outside {sub}")
        if name in ("split", "edge_split"):
            out[name] = value.astype(np.int64) + lo
        elif name == "rank":
            out[name] = np.asarray(scn.workload.rank_choices[int(value)])
        elif name == "quant_bits":
            out[name] = np.asarray(q_lo + int(value))
        elif name == "keep_ratio":
            out[name] = np.asarray(float(from_fraction(scn, name, value.reshape(-1)[0])))
        elif isinstance(sub, spaces.Box):
            out[name] = from_fraction(scn, name, value.astype(np.float64))
        else:
            out[name] = value
    return _per_device_splits(scn, out)


def _decode_plain(
    scn: Scenario, space: spaces.Dict, action: Any, fixed: dict[str, NDArray[Any]] | None
) -> dict[str, NDArray[Any]] | None:
    """:func:`native_to_decision` of a plainly well-formed action, else None (then checked there).

    Plain: a dict with exactly the space's keys, each a numpy array or scalar of integers
    (discrete keys) or of integers or floats (Box keys) with the key's exact shape, finite and
    within its bounds. The conversions are :func:`native_to_decision`'s.
    """
    if type(action) is not dict or len(action) != len(space.spaces):
        return None
    values = []
    for name, box, shape, low, high, finite, top, scalar in _plain_keys(space):
        value = action.get(name)
        if not isinstance(value, (np.ndarray, np.number)):
            return None
        value = np.asarray(value)
        if value.shape != shape:
            return None
        if box:
            # NaN and inf fail finite bounds: only unbounded boxes test them on their own
            if value.dtype.kind not in "iuf" or not (finite or np.isfinite(value).all()):
                return None
            value = value.astype(np.float64)
            if scalar:  # one bound for all entries: the extremes decide
                if not (_min(value, axis=None) >= low and _max(value, axis=None) <= high):
                    return None
            elif not ((value >= low).all() and (value <= high).all()):
                return None
        elif value.dtype.kind not in "iu" or top is None:  # a nonzero start: the checked path
            return None
        elif scalar:
            if not (_min(value, axis=None) >= 0 and _max(value, axis=None) < top):
                return None
        elif not ((value >= 0).all() and (value < top).all()):
            return None
        values.append(value)
    lo = scn.decision.split_range[0]
    out: dict[str, NDArray[Any]] = dict(fixed or {})
    for (name, box, *_), value in zip(_plain_keys(space), values, strict=True):
        if name in ("split", "edge_split"):
            out[name] = value.astype(np.int64) + lo
        elif name == "rank":
            out[name] = np.asarray(scn.workload.rank_choices[int(value)])
        elif name == "quant_bits":
            out[name] = np.asarray(scn.compression.quant_bits_range[0] + int(value))
        elif name == "keep_ratio":
            out[name] = np.asarray(float(from_fraction(scn, name, value.reshape(-1)[0])))
        elif box:
            out[name] = from_fraction(scn, name, value)
        else:
            out[name] = value
    return _per_device_splits(scn, out)


def _plain_keys(space: spaces.Dict) -> tuple[tuple[Any, ...], ...]:
    """Per key of a native space, what :func:`_decode_plain` checks (computed once per space).

    ``(name, is_box, shape, low, high, finite_bounds, top, scalar)``: a Box's bounds, or a
    discrete key's exclusive upper bound (None for a nonzero ``start``, left to the checked
    path); ``scalar``: the bounds are one value for every entry (:func:`_uniform`).
    """
    keys = space.__dict__.get("_splitenv_plain_keys")
    if keys is None:
        rows: list[tuple[Any, ...]] = []
        for name, sub in space.spaces.items():
            if isinstance(sub, spaces.Box):
                finite = bool(np.isfinite(sub.low).all() and np.isfinite(sub.high).all())
                low, high = _uniform(sub.low), _uniform(sub.high)
                scalar = np.ndim(low) == 0 and np.ndim(high) == 0
                rows.append((name, True, sub.shape, low, high, finite, None, scalar))
            else:
                top = sub.n if isinstance(sub, spaces.Discrete) else sub.nvec  # type: ignore[attr-defined]
                top = None if np.any(sub.start) else _uniform(top)  # type: ignore[attr-defined]
                scalar = top is not None and np.ndim(top) == 0
                rows.append((name, False, sub.shape, None, None, True, top, scalar))
        keys = space.__dict__["_splitenv_plain_keys"] = tuple(rows)
    return keys  # type: ignore[no-any-return]


def _uniform(bound: Any) -> Any:
    """A bound array whose entries are all one value as that value (a numpy scalar), else as is.

    Against a scalar bound :func:`_decode_plain` compares a value's extremes only: the same
    answer as every entry's comparisons (a NaN makes the extreme NaN, which fails them as the
    entry does).
    """
    arr = np.asarray(bound)
    first = arr.reshape(-1)[:1]
    return arr.dtype.type(first[0]) if first.size and (arr == first[0]).all() else arr


_min, _max = np.minimum.reduce, np.maximum.reduce


def _per_device_splits(scn: Scenario, out: dict[str, Any]) -> dict[str, Any]:
    """A scalar split broadcast to every device; the edge split raised to the device split."""
    if "split" in out and out["split"].ndim == 0:
        out["split"] = np.full(scn.n_devices, out["split"])
    if "edge_split" in out:  # documented repair: the edge part cannot end before the device part
        split = out.get("split", np.full(scn.n_devices, scn.decision.default_split))
        out["edge_split"] = np.maximum(out["edge_split"], split)
    return out


def numeric(value: Any, label: str) -> NDArray[Any]:
    """``value`` as a real-valued array, or an ActionError naming ``label``.

    Strings, None, complex numbers, NaN and inf are rejected before any cast.
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise ActionError(f"{label} must be real numbers, got {arr.dtype} values: {value!r}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr)).tolist()
        raise ActionError(f"{label} contains NaN or inf at indices {bad}: {arr.tolist()}")
    return arr


def largest_remainder(shares: NDArray[np.float64], total: int, minimum: int) -> NDArray[np.int64]:
    """Integer counts summing to ``total`` closest to ``shares * total`` (Hamilton's method).

    Each device first gets ``minimum``; the rest is split by largest remainder. ``shares``
    is (N,) or (K, N) (each row on its own, bit for bit as a call with that row).
    """
    rows = np.atleast_2d(shares)
    n = rows.shape[1]
    if total < minimum * n:
        minimum = 0
    rest = total - minimum * n
    exact = rows / rows.sum(axis=1, keepdims=True) * rest
    counts = np.floor(exact).astype(np.int64)
    short = rest - counts.sum(axis=1, keepdims=True)
    order = np.argsort(-(exact - counts), axis=1, kind="stable")
    rank = np.empty_like(order)
    rank[np.arange(rows.shape[0])[:, None], order] = np.arange(n)  # each row's inverse order
    counts += rank < short  # the `short` largest remainders get one more
    out = counts + minimum
    return out if shares.ndim == 2 else out[0]


def native_resource(scn: Scenario, name: str, shares: NDArray[np.float64]) -> NDArray[Any]:
    """Native action of resource ``name`` from shares summing to 1 (counts or fractions).

    ``shares`` is (N,) or (K, N) rows.
    """
    net = scn.network
    if name == "subchannels":
        return largest_remainder(shares, net.n_subchannels, 1)
    if name == "fed_subchannels":
        return largest_remainder(shares, net.fed_n_subchannels, 1)
    return shares  # bandwidth fraction of B, compute share


def power_fractions(scn: Scenario, fractions: NDArray[np.float64]) -> NDArray[np.float64]:
    """Fractions of the max power, scaled down together so their watts fit the total budget.

    ``fractions`` is (N,) or (K, N) rows.
    """
    net = scn.network
    watts = fractions.sum(axis=-1, keepdims=True) * net.device_power_w
    with np.errstate(divide="ignore"):
        scale = net.total_power_w / watts
    return fractions * np.where(scale < 1.0, scale, 1.0)  # min(1.0, scale)


def _accuracy_grid(scn: Scenario) -> NDArray[np.float64]:
    """(G, 2) native (keep-ratio fraction, bit index) pairs that meet SFT's A_th (36b)."""
    from splitenv.model.constraints import accuracy_shortfall

    q_lo, q_hi = scn.compression.quant_bits_range
    frac_2d, q_2d = np.meshgrid(np.linspace(0.0, 1.0, 1001), np.arange(q_hi - q_lo + 1))
    frac, q = frac_2d.ravel(), q_2d.ravel()
    ok = accuracy_shortfall(scn, from_fraction(scn, "keep_ratio", frac), q + q_lo) <= 0
    return np.stack([frac[ok], q[ok]], axis=1)


def accuracy_repair(scn: Scenario, frac: float, q_index: int) -> tuple[float, int]:
    """The native (keep fraction, bit index) meeting A_th nearest to the given one.

    Unchanged when it meets the constraint; else the grid pair (a 1e-3 grid of the ratio's
    range x every bit width) nearest in (fraction, bit index / (widths - 1)). Raises
    ActionError when no pair of the ranges meets A_th.
    """
    from splitenv.model.constraints import accuracy_shortfall

    q_lo, q_hi = scn.compression.quant_bits_range
    rho = from_fraction(scn, "keep_ratio", np.asarray(frac))
    if accuracy_shortfall(scn, rho, np.asarray(q_index + q_lo)) <= 0:
        return frac, q_index
    grid = scn.memo("accuracy_grid", lambda: _accuracy_grid(scn))
    if not grid.size:
        raise ActionError(
            f"no keep ratio in {scn.compression.keep_ratio_range} and bits in "
            f"{scn.compression.quant_bits_range} meet accuracy.threshold = {scn.accuracy.threshold}"
        )
    scale = max(q_hi - q_lo, 1)
    dist = (grid[:, 0] - frac) ** 2 + ((grid[:, 1] - q_index) / scale) ** 2
    best = grid[int(np.argmin(dist))]
    return float(best[0]), int(best[1])
