"""A scheduler's decision (or a batch of them) and the preset's default decision.

``Decision`` is a plain record of numpy arrays that round-trips exactly through
JSON (``to_dict`` / ``from_dict``); :func:`splitenv.model.validation.complete`
fills, batches and validates it for a scenario.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.errors import DecisionError
from splitenv.model.records import record

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
        """A copy with some fields changed (not completed, as a new ``Decision(...)``)."""
        if not changes.keys() <= _INIT_FIELDS:  # dataclasses' TypeError naming the field
            return dataclasses.replace(self, **changes)
        return record(type(self), **{**self.__dict__, **changes, "_completed_for": None})

    def take(self, index: int) -> Decision:
        """Decision ``index`` of a completed batch, as a batch of one."""
        values = {
            name: None if getattr(self, name) is None else getattr(self, name)[index : index + 1]
            for name in DECISION_FIELDS
        }
        # a slice stays validated
        return record(type(self), **values, batch_size=1, _completed_for=self._completed_for)


#: the keywords of ``Decision(...)``
_INIT_FIELDS = frozenset((*DECISION_FIELDS, "batch_size"))


def completed_decision(scn: Scenario, arrays: dict[str, Any], batch: int) -> Decision:
    """``Decision(**arrays, batch_size=batch)`` marked completed for ``scn``, built directly.

    For :func:`~splitenv.model.validation.complete`, :func:`~splitenv.model.validation.assemble`
    and the env's trusted stack, whose arrays are the completed fields (missing ones are None).
    """
    return record(Decision, **arrays, batch_size=batch, _completed_for=scn)


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
