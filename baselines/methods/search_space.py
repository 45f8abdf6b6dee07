"""The decision space of a scenario as the general methods see it, built from its enabled fields.

A general method (``alns``, ``sqp``, ``bcd``, ``de``, ``random_search``) never looks at a
scenario's name: it reads :func:`splitenv.spaces.action_fields` (the enabled decision
fields with more than one possible value) and the budgets of the config, and sorts the
fields into kinds:

| kind | fields | values |
| --- | --- | --- |
| device choice | ``split`` (per device), ``edge_split`` | memory-feasible splits; ``split..L`` |
| global choice | ``rank``, ``quant_bits``, a shared ``split`` | the offered values (bits: 0 = none, or lo..hi) |
| counts | ``subchannels``, ``fed_subchannels`` | integers summing to the pool's K |
| shares | ``bandwidth_hz``, ``compute_share`` | >= 0 summing to B / 1 |
| powers | ``power_w``, ``fed_power_w`` | [0, P_max] each, summing to at most P_total |
| boxes | ``server_freq_hz`` (per device), ``keep_ratio`` | their ranges |

A *point* is one decision as a dict of unbatched numpy arrays over every enabled field;
fixed fields keep the preset's value. Inactive devices (churn) hold no resources.
Relaxed (fractional) subchannel counts are rounded by largest remainder
(:func:`splitenv.spaces.largest_remainder`), at least one per active device when the pool
has as many subchannels as active devices.

:func:`decode` maps a unit vector to a point that meets every budget (memory through the
split lists); the black-box methods search that cube.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from baselines.methods.common import memory_feasible_splits, split_values
from splitenv.config import Scenario
from splitenv.errors import ConfigError
from splitenv.model import Decision, State, evaluate
from splitenv.spaces import action_fields, largest_remainder

Point = dict[str, NDArray[Any]]

DEVICE_CHOICE = ("split", "edge_split")
GLOBAL_CHOICE = ("rank", "quant_bits")
COUNTS = ("subchannels", "fed_subchannels")
SHARES = ("bandwidth_hz", "compute_share")
POWERS = ("power_w", "fed_power_w")
BOXES = ("server_freq_hz", "keep_ratio")
#: the fields the continuous methods (SLSQP, water-filling, grids) act on
CONTINUOUS = COUNTS + SHARES + POWERS + BOXES
#: smallest weight of an active device in the decoders (every active device gets something)
MIN_WEIGHT = 1e-3


@dataclass(frozen=True)
class Space:
    """The decision space of one (scenario, state): fields by kind, values, budgets.

    Attributes:
        scn: the scenario.
        state: the epoch's state.
        fields: the decision fields with more than one value (``action_fields``).
        start: the preset's default decision as a point (every enabled field).
        active: (N,) devices taking part this epoch.
        splits: per device, its memory-feasible split values (all values where none fits).
        shared_splits: split values feasible for every device (for a shared cut).
        allocator: whether the blocks may call the scenario's allocator
            (:func:`baselines.methods.blocks.allocated`).
    """

    scn: Scenario
    state: State
    fields: tuple[str, ...]
    start: Point
    active: NDArray[np.bool_]
    splits: tuple[NDArray[np.int64], ...]
    shared_splits: NDArray[np.int64]
    allocator: bool = False

    @classmethod
    def build(cls, scn: Scenario, state: State, method: str) -> Space:
        """The space of ``scn`` in ``state``.

        Raises:
            ConfigError: the scenario has no decision with more than one value (names the method).
        """
        fields = action_fields(scn, "joint")
        if not fields:
            raise ConfigError(
                f"method {method!r}: scenario {scn.name!r} has no decision with more than one "
                "value (every enabled field is fixed); nothing to optimize"
            )
        start = point_of(scn, state, Decision())
        values = split_values(scn)
        ok = memory_feasible_splits(scn, state)
        splits = tuple(values[ok[:, n]] if ok[:, n].any() else values for n in range(scn.n_devices))
        shared_ok = ok.all(axis=1)
        shared = values[shared_ok] if shared_ok.any() else values
        active = _active(scn, state)
        return cls(scn, state, fields, start, active, splits, shared)

    @property
    def n(self) -> int:
        """Devices N."""
        return self.scn.n_devices

    @property
    def shared_split(self) -> bool:
        """Whether every device takes the same cut."""
        return bool(self.scn.decision.shared_split)

    def has(self, *kinds: str) -> list[str]:
        """The decision fields among ``kinds``."""
        return [f for f in self.fields if f in kinds]

    def global_values(self, name: str) -> NDArray[Any]:
        """The values of a global choice (``rank``, ``quant_bits``, shared ``split``)."""
        if name == "rank":
            return np.asarray(self.scn.workload.rank_choices)
        if name == "quant_bits":
            lo, hi = self.scn.compression.quant_bits_range
            return np.concatenate([[0], np.arange(lo, hi + 1)]).astype(np.int64)
        if name == "split":
            return self.shared_splits
        raise KeyError(name)

    def device_values(self, name: str, n: int, point: Point) -> NDArray[np.int64]:
        """Values device ``n`` may take for a device choice, given the rest of ``point``."""
        if name == "split":
            return self.splits[n]
        top = self.scn.model.n_layers
        return np.arange(int(point["split"][n]), top + 1)

    def pool(self, name: str) -> float:
        """Budget of a resource: subchannels K, bandwidth B (Hz), compute share 1, power (W)."""
        net = self.scn.network
        return {
            "subchannels": float(net.n_subchannels),
            "fed_subchannels": float(net.fed_n_subchannels),
            "bandwidth_hz": net.bandwidth_hz,
            "compute_share": 1.0,
            "power_w": net.total_power_w,
            "fed_power_w": net.total_power_w,
        }[name]

    def box(self, name: str) -> tuple[float, float]:
        """Range of a box field."""
        if name == "server_freq_hz":
            return self.scn.compute.server_freq_hz
        if name == "keep_ratio":
            return self.scn.compression.keep_ratio_range
        if name in POWERS:
            return 0.0, self.scn.network.device_power_w
        raise KeyError(name)

    def counts(self, name: str, shares: NDArray[np.float64]) -> NDArray[np.int64]:
        """Subchannel counts from shares of the active devices, by largest remainder."""
        total = int(self.pool(name))
        out = np.zeros(self.n, dtype=np.int64)
        on = self.active
        weights = np.where(on, np.maximum(shares, 0.0), 0.0)[on]
        if weights.sum() <= 0:
            weights = np.ones(int(on.sum()))
        out[on] = largest_remainder(weights, total, 1)
        return out

    def scale_power(self, watts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Powers clipped to P_max and scaled down together into the total budget; 0 if inactive."""
        net = self.scn.network
        p = np.where(self.active, np.clip(watts, 0.0, net.device_power_w), 0.0)
        total = p.sum()
        return p * min(1.0, net.total_power_w / total) if total > 0 else p

    def count_shortage(self) -> dict[str, str]:
        """Pools with fewer subchannels than active devices, with the reason (an infeasibility)."""
        out = {}
        for name in self.has(*COUNTS):
            k, m = int(self.pool(name)), int(self.active.sum())
            if k < m:
                out[name] = (
                    f"{name}: {k} subchannels for {m} active devices; the engine gives each "
                    "device an integer count for the whole epoch (no time sharing), so "
                    f"{m - k} devices get none and their latency is infinite"
                )
        return out


def _active(scn: Scenario, state: State) -> NDArray[np.bool_]:
    if state.active is None:
        return np.ones(scn.n_devices, dtype=bool)
    return np.asarray(state.active, dtype=bool).reshape(scn.n_devices)


def point_of(scn: Scenario, state: State, decision: Decision) -> Point:
    """The completed decision as a point (every enabled field, writable arrays)."""
    done = evaluate(scn, state, decision).decision.take(0).to_dict()
    return {k: np.array(v) for k, v in done.items()}


def to_decision(points: list[Point]) -> Decision:
    """A batch decision from points (fields stacked on a leading axis)."""
    fields: dict[str, Any] = {k: np.stack([p[k] for p in points]) for k in points[0]}
    return Decision(**fields)


def copy_point(point: Point) -> Point:
    """A deep copy of a point."""
    return {k: np.array(v, copy=True) for k, v in point.items()}


# ---------------------------------------------------------------------------------------------
# the unit cube of the black-box methods
# ---------------------------------------------------------------------------------------------


def layout(space: Space) -> list[tuple[str, int]]:
    """(field, length) blocks of the unit vector :func:`decode` reads."""
    out = []
    for f in space.fields:
        per_device = not (
            f in GLOBAL_CHOICE or f == "keep_ratio" or (f == "split" and space.shared_split)
        )
        out.append((f, space.n if per_device else 1))
    return out


def dimension(space: Space) -> int:
    """Length of the unit vector."""
    return sum(size for _, size in layout(space))


def _index(u: NDArray[np.float64], count: NDArray[Any] | int) -> NDArray[np.int64]:
    return np.minimum((u * count).astype(np.int64), np.asarray(count) - 1)


def decode(space: Space, u: NDArray[np.float64]) -> Point:
    """The point of unit vector ``u`` (see the module docstring); meets every budget."""
    point = copy_point(space.start)
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    parts: dict[str, NDArray[np.float64]] = {}
    at = 0
    for f, size in layout(space):
        parts[f] = u[at : at + size]
        at += size
    for f, x in parts.items():
        if (f == "split" and space.shared_split) or f in GLOBAL_CHOICE:
            values = space.global_values(f)
            chosen = values[_index(x, len(values))[0]]
            point[f] = np.full(space.n, chosen) if f == "split" else np.asarray(chosen)
        elif f == "split":
            point[f] = np.array(
                [space.splits[n][_index(x[n], len(space.splits[n]))] for n in range(space.n)]
            )
    for f, x in parts.items():  # after the split: the edge split counts from it
        if f == "edge_split":
            first = point["split"]
            point[f] = first + _index(x, space.scn.model.n_layers - first + 1)
        elif f in COUNTS:
            point[f] = space.counts(f, x + MIN_WEIGHT)
        elif f in SHARES:
            w = np.where(space.active, x + MIN_WEIGHT, 0.0)
            point[f] = w / w.sum() * space.pool(f)
        elif f in POWERS:
            point[f] = space.scale_power((0.01 + 0.99 * x) * space.box(f)[1])
        elif f in BOXES:
            low, high = space.box(f)
            scaled = low + x * (high - low)
            point[f] = np.asarray(scaled[0]) if f == "keep_ratio" else scaled
    return point
