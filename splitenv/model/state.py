"""The per-epoch state: what the world is in one epoch, per device.

SCCT: compute and channels change at each epoch start, fixed within it. A
``State`` is a plain record of read-only numpy arrays that round-trips exactly
through JSON (``to_dict`` / ``from_dict``); a malformed one raises
:class:`~splitenv.errors.StateError` naming the field and the value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.errors import StateError
from splitenv.model.records import record

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

#: what :meth:`StateBatch.with_prev_splits` repeats per row: every per-device array but prev_split
_REPEATED = (*(name for name in _STATE_ARRAYS if name != "prev_split"), "active")


_INT_ARRAYS = ("edge_of", "prev_split")
_INT, _FLOAT, _BOOL = np.dtype(np.int64), np.dtype(np.float64), np.dtype(bool)
#: every array field of a State and its dtype
_DTYPES = {
    **{name: _INT if name in _INT_ARRAYS else _FLOAT for name in _STATE_ARRAYS},
    "active": _BOOL,
}


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
        prev_split: split of the previous round (SCCT (18)); -1 where there is none. (B, N),
            one per decision row, in a state from :meth:`with_prev_splits`.
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

    @classmethod
    def trusted(cls, *, round_index: int, epoch_index: int, **arrays: Any) -> State:
        """A state from arrays splitenv built itself (the sampler): no copy, no checks.

        The public constructor validates and copies what comes from outside; the sampler's
        arrays are already float64 / int64 / bool of length N, non-negative and finite, and
        nobody else holds them. They are made read-only here, as the constructor does.
        """
        values: dict[str, Any] = {}
        for name, dtype in _DTYPES.items():
            arr = np.asarray(arrays[name], dtype=dtype)
            arr.flags.writeable = False
            values[name] = arr
        return cls.read_only(**values, round_index=round_index, epoch_index=epoch_index)

    @classmethod
    def read_only(cls, *, round_index: int, epoch_index: int, **arrays: Any) -> State:
        """:meth:`trusted` of arrays :func:`read_only_arrays` made already: stored as they are.

        For the sampler, which readies a block of epochs' arrays at once and builds a state
        per epoch from their rows (views of read-only arrays are read-only).
        """
        self = object.__new__(cls)
        # the fields the frozen dataclass's __init__ would set
        self.__dict__.update(arrays, round_index=round_index, epoch_index=epoch_index)
        return self

    def with_prev_splits(self, prev_split: NDArray[np.int64]) -> State:
        """This state with one previous split per decision row, ``prev_split`` (B, N).

        The envs evaluate the preset's default decision with its own previous split beside the
        policy's in every step (:func:`splitenv.reference.with_reference`). The engine reads
        ``prev_split`` in SCCT (18) alone, elementwise against the (B, N) split, so row b is
        evaluated bit for bit as in :meth:`StateBatch.with_prev_splits` (this state's arrays
        once per row, the same values), without copying the other arrays per row. Taken as
        given (made read-only), unchecked: for splitenv's own rows.
        """
        prev = np.asarray(prev_split, dtype=np.int64)
        prev.flags.writeable = False
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__, prev_split=prev)  # the frozen fields, one replaced
        return out

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


@dataclass(frozen=True)
class StateBatch:
    """One state per batch row: the arrays of :class:`State` with a leading axis B.

    :func:`splitenv.evaluate_batch` takes it where it takes a ``State``; row ``b`` of the
    decision batch is then evaluated in row ``b`` of the states, bit for bit as
    ``evaluate_batch(scn, batch.row(b), decision.take(b))`` (the engine's arithmetic is
    elementwise over (B, N) and its reductions run along devices). Build one with
    :meth:`stack` from validated ``State`` objects.

    Attributes:
        channel_gain ... prev_split: as in :class:`State`, each (B, N).
        round_index, epoch_index: (B,) int64.
        active: (B, N) bool.
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
    round_index: NDArray[np.int64]
    epoch_index: NDArray[np.int64]
    active: NDArray[np.bool_]

    @classmethod
    def stack(cls, states: list[State] | tuple[State, ...], repeat: int = 1) -> StateBatch:
        """The states as rows, each repeated ``repeat`` times in a row (``np.repeat`` order).

        Raises:
            StateError: no state, or states with different numbers of devices.
        """
        if not states:
            raise StateError("StateBatch.stack needs at least one state")
        sizes = {s.n_devices for s in states}
        if len(sizes) > 1:
            raise StateError(f"states of one batch must have one device count, got {sorted(sizes)}")
        names = (*_STATE_ARRAYS, "round_index", "epoch_index", "active")
        values = {
            name: np.repeat(np.stack([np.asarray(getattr(s, name)) for s in states]), repeat, 0)
            for name in names
        }
        for arr in values.values():
            arr.setflags(write=False)
        return cls(**values)

    @classmethod
    def with_prev_splits(cls, state: State, prev_split: NDArray[np.int64]) -> StateBatch:
        """``state`` once per row of ``prev_split`` (B, N): rows that differ in their previous split.

        One world, decisions with their own split histories (the envs evaluate the preset's
        default decision with its own previous split, SCCT (18), next to the policy's, in every
        step). The other arrays are the state's, copied once per row (for two rows cheaper than
        broadcast views; writable, as the vector env's batches: the engine only reads states);
        ``prev_split`` is taken as given, its values are checked by :meth:`check`.

        Raises:
            StateError: ``prev_split`` not (B, N) for the state's N devices.
        """
        prev = np.asarray(prev_split, dtype=np.int64)
        n = state.n_devices
        if prev.ndim != 2 or prev.shape[1] != n:
            raise StateError(f"prev_split has shape {prev.shape}; allowed: (B, {n})")
        b = prev.shape[0]
        rows = {name: np.array((getattr(state, name),) * b) for name in _REPEATED}
        return record(  # the dataclass's fields, stored as its __init__ stores them
            cls,
            **rows,
            prev_split=prev,
            round_index=np.array((state.round_index,) * b, dtype=np.int64),
            epoch_index=np.array((state.epoch_index,) * b, dtype=np.int64),
        )

    @property
    def n_devices(self) -> int:
        """Number of devices N."""
        return int(self.channel_gain.shape[1])

    @property
    def batch_size(self) -> int:
        """Number of rows B."""
        return int(self.channel_gain.shape[0])

    def take(self, indices: NDArray[np.int64]) -> StateBatch:
        """The rows ``indices`` (with repetition) as a new batch.

        ``np.take`` along the rows: ``array[indices]``'s values, several times faster for
        the short rows of a batch (the tables' grids repeat each row many times).
        """
        return StateBatch(
            **{
                f.name: np.take(getattr(self, f.name), indices, axis=0)
                for f in dataclasses.fields(self)
            }
        )

    def row(self, index: int) -> State:
        """Row ``index`` as a :class:`State`."""
        data = {name: getattr(self, name)[index] for name in _STATE_ARRAYS}
        return State(
            **data,
            round_index=int(self.round_index[index]),
            epoch_index=int(self.epoch_index[index]),
            active=self.active[index],
        )

    def check(self, scenario: Scenario) -> None:
        """Raise StateError unless every row fits the scenario (as :meth:`State.check`)."""
        if self.n_devices != scenario.n_devices:
            raise StateError(
                f"state has {self.n_devices} devices but network.n_devices = {scenario.n_devices}"
            )
        lo, hi = scenario.decision.split_range
        bad = (self.prev_split != -1) & ((self.prev_split < lo) | (self.prev_split > hi))
        if np.any(bad):
            row = int(np.argwhere(bad)[0, 0])
            raise StateError(
                f"state.prev_split[{row}] = {self.prev_split[row]} outside -1 or {lo}..{hi}"
            )


def read_only_arrays(arrays: dict[str, Any]) -> dict[str, NDArray[Any]]:
    """A state's arrays (those of ``arrays`` that are :class:`State` fields) as :meth:`State.trusted` stores them.

    float64, int64 (``edge_of``, ``prev_split``) or bool (``active``) without a copy where they
    are already, made read-only. Any leading axes are kept (a block of epochs' rows).
    """
    values: dict[str, NDArray[Any]] = {}
    for name, dtype in _DTYPES.items():
        if name in arrays:
            arr = np.asarray(arrays[name], dtype=dtype)
            arr.flags.writeable = False
            values[name] = arr
    return values


def device_rows(values: NDArray[Any]) -> NDArray[Any]:
    """A per-device state array as (1, N) or (B, N), to broadcast against (B, N) terms."""
    return values if values.ndim == 2 else values[None, :]


def active_count(state: State | StateBatch) -> Any:
    """Active devices: an int for a ``State``, (B,) for a ``StateBatch``."""
    active = state.active
    return active.sum(axis=-1) if active.ndim == 2 else int(np.count_nonzero(active))


#: what the engine's steps take: one state, or one state per batch row
AnyState = State | StateBatch
