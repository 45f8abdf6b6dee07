"""The engine's inputs besides the scenario: the per-epoch state and a (batch of) decision(s).

``State`` holds what the world is in one epoch (SCCT: compute and channels
change at each epoch start, fixed within it). ``Decision`` holds what a
scheduler chooses. Both are plain records of numpy arrays that round-trip
exactly through JSON (``to_dict`` / ``from_dict``).

Validation splits bad input in two kinds, on purpose:

* a malformed decision (NaN, wrong shape, a split outside the allowed range, a
  negative bandwidth, a rank that is not offered) raises :class:`DecisionError`
  naming the field, the value and the allowed range;
* a well-formed decision that overruns a budget (more subchannels than K,
  shares summing above 1, too much power, too little memory) is evaluated and
  reported infeasible with the amount of each violation; nothing is clipped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.errors import DecisionError, StateError

_STATE_ARRAYS = (
    "channel_gain",
    "noise_psd_w_hz",
    "device_flops",
    "device_memory_bytes",
    "distance_m",
    "data_size",
    "fed_channel_gain",
    "edge_of",
    "prev_split",
)


@dataclass(frozen=True)
class State:
    """The world during one epoch, per device (arrays of length N).

    Attributes:
        channel_gain: linear power gain device <-> edge (path loss, shadowing,
            fading and antenna gains), reciprocal for up and downlink.
        noise_psd_w_hz: noise PSD N0 per device in W/Hz (CARD's channel states).
        device_flops: device compute in FLOP/s (SCCT C_n, SFT f_n C_n D_n).
        device_memory_bytes: device memory M_n in bytes.
        distance_m: distance to the edge server in m.
        data_size: local dataset size D_n in samples (FedAvg weights).
        fed_channel_gain: linear gain to the federated server (FedsLLM (14)); zeros if unused.
        edge_of: index of the device's edge server (SplitLLM); zeros with one edge.
        prev_split: split of the previous round (SCCT (18)); -1 where there is none.
        round_index: 0-based round (SFT (19): round 0 distributes the device blocks).
        epoch_index: 0-based epoch within the round.
        active: which devices take part this epoch (churn, SCCT III-A); all by default.
            An inactive device costs nothing and needs no resources.
    """

    channel_gain: NDArray[np.float64]
    noise_psd_w_hz: NDArray[np.float64]
    device_flops: NDArray[np.float64]
    device_memory_bytes: NDArray[np.float64]
    distance_m: NDArray[np.float64]
    data_size: NDArray[np.float64]
    fed_channel_gain: NDArray[np.float64]
    edge_of: NDArray[np.int64]
    prev_split: NDArray[np.int64]
    round_index: int = 0
    epoch_index: int = 0
    active: Any = None

    def __post_init__(self) -> None:
        arrays = {}
        for name in _STATE_ARRAYS:
            dtype = np.int64 if name in ("edge_of", "prev_split") else np.float64
            try:  # a private copy: the state is immutable and must not freeze the caller's arrays
                arrays[name] = np.array(getattr(self, name), dtype=dtype, copy=True)
            except (TypeError, ValueError):
                raise StateError(f"state.{name} = {getattr(self, name)!r} is not numeric") from None
            if arrays[name].ndim != 1:
                raise StateError(
                    f"state.{name} must be a 1-D array over devices, got shape {arrays[name].shape}"
                )
        # N is the length most arrays agree on, so the message blames the odd one out
        lengths = [a.shape[0] for a in arrays.values()]
        n = max(set(lengths), key=lengths.count)
        for name, arr in arrays.items():
            if arr.shape[0] != n:
                raise StateError(
                    f"state.{name} has {arr.shape[0]} entries, expected {n} (one per device)"
                )
        for name, arr in arrays.items():
            if arr.dtype == np.float64 and not np.all(np.isfinite(arr)):
                raise StateError(f"state.{name} contains NaN or inf: {arr}")
            if arr.dtype == np.float64 and np.any(arr < 0):
                raise StateError(f"state.{name} must be >= 0, got {arr}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        active = np.ones(n, dtype=bool) if self.active is None else np.array(self.active, copy=True)
        if active.dtype != bool:
            if not np.isin(active, (0, 1)).all():
                raise StateError(f"state.active = {active.tolist()} must be booleans")
            active = active.astype(bool)
        if active.shape != (n,):
            raise StateError(f"state.active has shape {active.shape}, expected ({n},)")
        active.setflags(write=False)
        object.__setattr__(self, "active", active)

    @property
    def n_devices(self) -> int:
        """Number of devices N."""
        return int(self.channel_gain.shape[0])

    def check(self, scenario: Scenario) -> None:
        """Raise StateError unless the state fits the scenario."""
        if self.n_devices != scenario.n_devices:
            raise StateError(
                f"state has {self.n_devices} devices but network.n_devices = {scenario.n_devices}"
            )
        lo, hi = scenario.decision.split_range
        bad = (self.prev_split != -1) & ((self.prev_split < lo) | (self.prev_split > hi))
        if np.any(bad):
            raise StateError(f"state.prev_split = {self.prev_split} outside -1 or {lo}..{hi}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; floats keep full precision, so ``from_dict`` restores it exactly."""
        out: dict[str, Any] = {name: getattr(self, name).tolist() for name in _STATE_ARRAYS}
        out["round_index"] = self.round_index
        out["epoch_index"] = self.epoch_index
        out["active"] = self.active.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        """Inverse of ``to_dict``; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StateError(
                f"unknown state field {unknown[0]!r}; known: {', '.join(sorted(known))}"
            )
        missing = sorted(known - set(data) - {"round_index", "epoch_index", "active"})
        if missing:
            raise StateError(f"state is missing field {missing[0]!r}")
        return cls(**data)

    def replace(self, **changes: Any) -> State:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


#: Decision fields: name -> (per device?, integer?).
DECISION_FIELDS: dict[str, tuple[bool, bool]] = {
    "split": (True, True),
    "edge_split": (True, True),
    "rank": (False, True),
    "subchannels": (True, True),
    "bandwidth_hz": (True, False),
    "power_w": (True, False),
    "fed_subchannels": (True, True),
    "fed_power_w": (True, False),
    "compute_share": (True, False),
    "server_freq_hz": (True, False),
    "keep_ratio": (False, False),
    "quant_bits": (False, True),
}


@dataclass(frozen=True)
class Decision:
    """A decision, or a batch of them (leading axis B); ``None`` fields take the preset default.

    Attributes:
        split: layers on each device s_n (SCCT), or the shared cut l (SFT), shape (B, N).
        edge_split: last edge layer per device for three tiers (SplitLLM), (B, N).
        rank: LoRA rank r, (B,).
        subchannels: subchannel counts beta_n (SCCT 21-3, FedsLLM), (B, N).
        bandwidth_hz: bandwidth b_n (SFT 36f-g), (B, N).
        power_w: uplink transmit power P_n (FedsLLM power control), (B, N).
        fed_subchannels: subchannel counts in the federated pool (FedsLLM (14)), (B, N).
        fed_power_w: transmit power in the federated pool, (B, N).
        compute_share: edge compute share alpha_n (SCCT 21-1/2), (B, N).
        server_freq_hz: server GPU frequency per device f_s (CARD), (B, N).
        keep_ratio: Top-K kept fraction rho (SFT 16), (B,).
        quant_bits: quantization bits q (SFT 17-18; 0 = none), (B,).
    """

    split: Any = None
    edge_split: Any = None
    rank: Any = None
    subchannels: Any = None
    bandwidth_hz: Any = None
    power_w: Any = None
    fed_subchannels: Any = None
    fed_power_w: Any = None
    compute_share: Any = None
    server_freq_hz: Any = None
    keep_ratio: Any = None
    quant_bits: Any = None
    batch_size: int = field(default=0, compare=False)
    #: set only by :func:`complete`: the arrays are batched and validated for that scenario
    _completed_for: Any = field(default=None, init=False, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the set fields (batch of one is written unbatched).

        A completed decision writes only the fields its scenario exposes, so the
        result feeds straight back into :func:`complete` for that scenario.
        """
        out: dict[str, Any] = {}
        exposed = (
            enabled_fields(self._completed_for)
            if self._completed_for is not None
            else DECISION_FIELDS
        )
        for name in DECISION_FIELDS:
            value = getattr(self, name)
            if value is None or name not in exposed:
                continue
            arr = np.asarray(value)
            if self.batch_size == 1:
                arr = arr[0]
            out[name] = arr.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        """Inverse of ``to_dict``; unknown keys are an error."""
        unknown = sorted(set(data) - set(DECISION_FIELDS))
        if unknown:
            raise DecisionError(
                f"unknown decision field {unknown[0]!r}; known: {', '.join(DECISION_FIELDS)}"
            )
        return cls(**data)

    def replace(self, **changes: Any) -> Decision:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def take(self, index: int) -> Decision:
        """Decision ``index`` of a completed batch, as a batch of one."""
        values = {
            name: None if getattr(self, name) is None else getattr(self, name)[index : index + 1]
            for name in DECISION_FIELDS
        }
        out = Decision(**values, batch_size=1)
        object.__setattr__(out, "_completed_for", self._completed_for)  # a slice stays validated
        return out


def enabled_fields(scn: Scenario) -> tuple[str, ...]:
    """The decision fields a scenario exposes."""
    return scn.memo("enabled_fields", lambda: _enabled_fields(scn))


def _enabled_fields(scn: Scenario) -> tuple[str, ...]:
    net, dec = scn.network, scn.decision
    names = ["split", "rank"]
    if dec.three_tier:
        names.append("edge_split")
    if net.allocation == "subchannels":
        names.append("subchannels")
    elif net.allocation == "continuous":
        names.append("bandwidth_hz")
    if dec.power_control:
        names.append("power_w")
    if net.fed_n_subchannels:
        names.append("fed_subchannels")
        if dec.power_control:
            names.append("fed_power_w")
    if scn.schedule.server_mode == "share":
        names.append("compute_share")
    if scn.compute.has_frequency_control:
        names.append("server_freq_hz")
    if scn.compression.enabled:
        names += ["keep_ratio", "quant_bits"]
    return tuple(names)


def equal_counts(total: int, n: int) -> NDArray[np.int64]:
    """``total`` items over ``n`` devices as evenly as possible (largest remainder, first devices first)."""
    base = np.full(n, total // n, dtype=np.int64)
    base[: total - base.sum()] += 1
    return base


def _equal_power(max_w: float, total_w: float, n: int) -> NDArray[np.float64]:
    return np.full(n, min(max_w, total_w / n))


def default_values(scn: Scenario) -> dict[str, NDArray[Any]]:
    """The preset's default decision, unbatched: its default split and equal shares of everything."""
    return scn.memo("default_values", lambda: _default_values(scn))


def _default_values(scn: Scenario) -> dict[str, NDArray[Any]]:
    n, net, dec, comp = scn.n_devices, scn.network, scn.decision, scn.compute
    values: dict[str, NDArray[Any]] = {
        "split": np.full(n, dec.default_split, dtype=np.int64),
        "edge_split": np.full(n, dec.default_edge_split if dec.three_tier else scn.model.n_layers),
        "rank": np.asarray(dec.default_rank),
        "subchannels": equal_counts(net.n_subchannels, n),
        "bandwidth_hz": np.full(n, net.bandwidth_hz / n),
        "power_w": _equal_power(net.device_power_w, net.total_power_w, n),
        "fed_subchannels": equal_counts(net.fed_n_subchannels, n),
        "fed_power_w": _equal_power(net.device_power_w, net.total_power_w, n),
        "compute_share": np.full(n, 1.0 / n),
        "server_freq_hz": np.full(n, comp.server_freq_hz[1]),
        "keep_ratio": np.asarray(dec.default_keep_ratio),
        "quant_bits": np.asarray(dec.default_quant_bits),
    }
    return values


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
        return arr.astype(np.int64)
    return arr


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
    out = Decision(**arrays, batch_size=batch)
    object.__setattr__(out, "_completed_for", scn)
    return out


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
            raise DecisionError(f"decision.{name} = {a[name][a[name] < 0].flat[0].item()!r} must be >= 0")
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
