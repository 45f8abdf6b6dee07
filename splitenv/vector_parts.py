"""The K episodes of :class:`~splitenv.vector.SplitLoRAVectorEnv` as arrays, and their epoch step.

:class:`Episodes` holds what :class:`~splitenv.env.SplitLoRAEnv` keeps per episode, with a
leading K axis: the state of the epoch to play (one row per env), the counters, the split in
force, the round's large decision and the per-epoch parts of the round played so far.
:meth:`Episodes.book` is ``SplitLoRAEnv._play_epochs`` for one epoch, on rows: the same
engine terms combined by the same operations (:func:`splitenv.model.compose_round`), so every
row equals the single env bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.draws import epoch_values, flat_noise_dbm
from splitenv.env import SplitLoRAEnv
from splitenv.model import (
    Decision,
    EpochPart,
    Evaluation,
    State,
    StateBatch,
    channel,
)
from splitenv.model.constraints import tier_memory
from splitenv.model.decision import default_values
from splitenv.model.engine import evaluate_own, split_grid
from splitenv.model.records import record
from splitenv.model.schedule import round_latency
from splitenv.model.types import enabled_fields
from splitenv.model.validation import assemble
from splitenv.reference import reference_prev_split
from splitenv.spaces import LARGE

_FLOAT_STATE = (
    "channel_gain", "noise_psd_w_hz", "device_flops", "device_memory_bytes", "distance_m",
    "data_size", "fed_channel_gain",
)  # fmt: skip


#: the state arrays only a new episode or a drawn state with dynamics or noise states writes
#: (:meth:`Episodes.draw_faded` writes the rest)
_STATIC = frozenset(
    ("noise_psd_w_hz", "device_memory_bytes", "distance_m", "data_size", "edge_of", "active")
)


@dataclass
class EpochResult:
    """One epoch of env rows ``rows`` (P of them), after booking."""

    rows: NDArray[np.int64]
    evaluation: Evaluation  # 2P rows: the P decisions, then the P references
    reward: NDArray[np.float64]
    terminated: NDArray[np.bool_]
    closing: NDArray[np.bool_]  # the round ended with this epoch
    round_latency: NDArray[np.float64]  # exact round latency where closing
    cost: NDArray[np.float64]
    reference: NDArray[np.float64]
    latency: NDArray[np.float64]
    energy: NDArray[np.float64]
    feasible: NDArray[np.bool_]
    round_index: NDArray[np.int64]  # info["round"]: before the round closes
    epoch_index: NDArray[np.int64]  # info["epoch"]: epochs played in the round
    time_s: NDArray[np.float64]


class Episodes:
    """K episodes of one env configuration, as arrays (see the module docstring)."""

    def __init__(self, env: SplitLoRAEnv, k: int) -> None:
        scn = self.scn = env.scenario
        n, e = scn.n_devices, env.epochs_per_round
        self.env, self.k, self.epochs_per_round, self.rounds = env, k, e, env.rounds
        self.state = {name: np.zeros((k, n)) for name in _FLOAT_STATE}
        self.state["edge_of"] = np.zeros((k, n), dtype=np.int64)
        self.state["active"] = np.ones((k, n), dtype=bool)
        self.state_prev = np.full((k, n), -1, dtype=np.int64)  # the state's prev_split
        # the episodes' statics the epochs start from (without mobility)
        self.gain_db, self.fed_gain_db, self.distance = np.zeros((3, k, n))
        # their linear gains (the epoch's gain is this times the epoch's fading)
        self.gain, self.fed_gain = np.zeros((2, k, n))
        self.round = np.zeros(k, dtype=np.int64)
        self.epoch = np.zeros(k, dtype=np.int64)
        self.default_split = np.full(n, scn.decision.default_split, dtype=np.int64)
        self.split = np.tile(self.default_split, (k, 1))  # the split in force (observation)
        self.prev_split = np.full((k, n), -1, dtype=np.int64)  # the last round's split
        self.last_ratio = np.ones(k)
        self.time_s = np.zeros(k)
        defaults = default_values(scn)
        self.defaults = {f: np.asarray(defaults[f]) for f in enabled_fields(scn)}
        self.large = {
            f: np.tile(v, (k, *([1] * v.ndim))) for f, v in self.defaults.items() if f in LARGE
        }
        self.large_given: tuple[str, ...] = ()
        self.chain = np.zeros((k, e, n))
        self.iteration = np.zeros((k, e))
        self.shared = np.zeros((k, e))
        #: the round's pre-round term: per device, or its maximum where round_latency reads
        #: only that (:meth:`_ends`)
        self.pre = np.zeros((k, n if scn.schedule.sync == "independent" else 1))
        self.masks: NDArray[np.bool_] | None = None
        self._zeros_2k: NDArray[np.float64] | None = None  # built when first needed (_zeros)
        self._default_rows: dict[str, NDArray[Any]] | None = None  # (default_rows)
        #: bumped by every write of the :data:`_STATIC` state arrays (:meth:`_repeated`)
        self.statics_version = 0
        self._repeated_arrays: dict[str, NDArray[Any]] = {}
        self._repeated_at = (-1, 0)
        if "split" in env.fields:
            lo, hi = scn.decision.split_range
            shape = (k, hi - lo + 1) if scn.decision.shared_split else (k, n, hi - lo + 1)
            self.masks = np.zeros(shape, dtype=bool)

    # --- states -------------------------------------------------------------------------

    def start(self, rows: NDArray[np.int64], statics: dict[str, NDArray[Any]]) -> None:
        """``rows`` start episodes: counters at zero, their statics (then :meth:`draw`).

        ``statics``: the rows' :attr:`StateSampler.statics`, stacked (K', N).
        """
        self.statics_version += 1
        if rows.size == self.k:  # every env (rows sorted and distinct): whole arrays
            rows = slice(None)  # type: ignore[assignment]
        self.gain_db[rows], self.fed_gain_db[rows] = statics["gain_db"], statics["fed_gain_db"]
        self.distance[rows] = statics["distance"]
        self.gain[rows] = channel.db_to_linear(statics["gain_db"])
        self.fed_gain[rows] = channel.db_to_linear(statics["fed_gain_db"])
        # what stays as it starts without dynamics or noise states (else draw() sets it)
        self.state["distance_m"][rows] = statics["distance"]
        self.state["noise_psd_w_hz"][rows] = channel.dbm_to_watt(flat_noise_dbm(self.scn))
        self.state["active"][rows] = True
        self.state["device_memory_bytes"][rows] = statics["memory"]
        self.state["data_size"][rows] = statics["data"]
        self.state["edge_of"][rows] = statics["edge_of"]
        self.round[rows] = self.epoch[rows] = 0
        self.split[rows] = self.default_split
        self.prev_split[rows] = -1
        self.last_ratio[rows], self.time_s[rows] = 1.0, 0.0
        for f, arr in self.large.items():
            arr[rows] = self.defaults[f]

    def draw(self, rows: NDArray[np.int64], draws: dict[str, NDArray[Any]]) -> None:
        """The states of ``rows`` at their current round and epoch (``SplitLoRAEnv._state_at``).

        ``draws``: the rows' :meth:`StateSampler.epoch_draws`, stacked (K', N).
        """
        self.statics_version += 1
        for name, value in epoch_values(draws).items():
            self.state[name][rows] = value
        self._prev(rows)

    def draw_faded(
        self,
        rows: NDArray[np.int64],
        fading: NDArray[np.float64],
        fed_fading: NDArray[np.float64],
        flops: NDArray[np.float64],
    ) -> None:
        """:meth:`draw` of an epoch without dynamics or noise states, from its stream's draws.

        Only the fading and the compute change; the gains are the episode's linear gains times
        the fading (:func:`epoch_values`'s operations), the rest stays as :meth:`start` set it.
        """
        if rows.size == self.k:  # every env (rows are sorted and distinct)
            np.multiply(self.gain, fading, out=self.state["channel_gain"])
            np.multiply(self.fed_gain, fed_fading, out=self.state["fed_channel_gain"])
            self.state["device_flops"][...] = flops
        else:
            self.state["channel_gain"][rows] = self.gain[rows] * fading
            self.state["fed_channel_gain"][rows] = self.fed_gain[rows] * fed_fading
            self.state["device_flops"][rows] = flops
        self._prev(rows)

    def _prev(self, rows: NDArray[np.int64]) -> None:
        """The states' previous split: the last round's at a round start, else the split."""
        if rows.size == self.k:  # every env: whole arrays, no gather
            np.copyto(self.state_prev, self.split)
            np.copyto(self.state_prev, self.prev_split, where=(self.epoch == 0)[:, None])
            return
        self.state_prev[rows] = np.where(
            (self.epoch[rows] == 0)[:, None], self.prev_split[rows], self.split[rows]
        )

    def state_rows(
        self, rows: NDArray[np.int64], repeat: int = 1, prev_split: NDArray[np.int64] | None = None
    ) -> StateBatch:
        """The states of ``rows`` (each repeated ``repeat`` times in a row) as a StateBatch.

        ``prev_split``: the batch's previous splits, (repeat x P, N), instead of the states'.
        """
        if rows.size == self.k:  # every env: whole arrays, no gather
            arrays: dict[str, NDArray[Any]] = {**self.state, "prev_split": self.state_prev}
            arrays.update(round_index=self.round, epoch_index=self.epoch)
            if prev_split is not None:
                del arrays["prev_split"]
            out = {
                name: self._repeated(name, arr, repeat)
                if name in _STATIC
                else np.concatenate([arr] * repeat)
                for name, arr in arrays.items()
            }
        else:
            take = rows if repeat == 1 else np.tile(rows, repeat)
            out = {name: arr[take] for name, arr in self.state.items()}
            if prev_split is None:
                out["prev_split"] = self.state_prev[take]
            out.update(round_index=self.round[take], epoch_index=self.epoch[take])
        if prev_split is not None:
            out["prev_split"] = prev_split
        return record(StateBatch, **out)  # (its __init__ only stores the fields)

    def _repeated(self, name: str, arr: NDArray[Any], repeat: int) -> NDArray[Any]:
        """``arr`` (a state array of :data:`_STATIC`) repeated, kept while the statics stand.

        Only :meth:`start`, :meth:`draw` and :meth:`restore` write these arrays; each bumps
        :attr:`statics_version`, which drops the kept ones (read-only: the engine reads them).
        """
        if self._repeated_at != (self.statics_version, repeat):
            self._repeated_arrays.clear()
            self._repeated_at = (self.statics_version, repeat)
        out = self._repeated_arrays.get(name)
        if out is None:
            out = self._repeated_arrays[name] = np.concatenate([arr] * repeat)
            out.setflags(write=False)
        return out

    def restore(
        self, rows: NDArray[np.int64], state: dict[str, NDArray[Any]], prev: NDArray[np.int64]
    ) -> None:
        """Rows ``rows`` take the states ``state`` (:attr:`state`'s names) and previous splits ``prev``."""
        for name, value in state.items():
            self.state[name][rows] = value
        self.state_prev[rows] = prev
        self.statics_version += 1

    def reference_states(self, rows: NDArray[np.int64]) -> StateBatch:
        """The states of ``rows`` for their decisions (rows 0..P-1), then for their references.

        A reference row differs from its env's row in its previous split alone: the reference
        keeps its own (:func:`~splitenv.reference.reference_prev_split`), as ``SplitLoRAEnv`` does.
        Without migration the previous split costs nothing, so the states' serve both.
        """
        if self.scn.schedule.migration:
            prev = self.state_prev if rows.size == self.k else self.state_prev[rows]
            own = reference_prev_split(self.scn, prev)
            if not (own == prev).all():
                return self.state_rows(rows, 2, prev_split=np.concatenate([prev, own]))
        return self.state_rows(rows, repeat=2)

    def state_row(self, i: int) -> State:
        """Row ``i``'s state as a (validated) :class:`State`, for policies that take one."""
        return self.state_rows(np.array([i])).row(0)

    # --- the epoch step -----------------------------------------------------------------

    def set_large(self, rows: NDArray[np.int64], fields: dict[str, NDArray[Any]]) -> None:
        """A round starts in ``rows``: its large fields are ``fields``, the rest the default."""
        for f, arr in self.large.items():
            arr[rows] = fields[f] if f in fields else self.defaults[f]
        self.large_given = tuple(f for f in self.large if f in fields)

    def book(
        self, rows: NDArray[np.int64], evaluate: Callable[[int], Evaluation], epochs: int = 1
    ) -> EpochResult:
        """Reward, counters and round bookkeeping of ``epochs`` consecutive epochs of ``rows``.

        ``SplitLoRAEnv._play_epochs``: ``evaluate(t)`` gives the t-th epoch's evaluation of 2P
        rows (decisions, then references), called when the counters stand at that epoch (one
        epoch for the epoch and joint timescales, the round's epochs for ``round``); costs add
        up over the epochs in the single env's order.
        """
        env, p = self.env, rows.size
        cost, ref, latency, energy = np.zeros(p), np.zeros(p), np.zeros(p), np.zeros(p)
        feasible = np.ones(p, dtype=bool)
        for t in range(epochs):
            ev = evaluate(t)
            step_lat, step_cost = self._epoch(rows, ev)
            cost, ref = cost + step_cost[:p], ref + step_cost[p:]
            # an epoch spends 1/T of the round's energy (objectives.scoped_energy), as the single env
            latency = latency + step_lat[:p]
            energy = energy + ev.energy_j[:p] / self.scn.schedule.epochs_per_round
            feasible &= ev.feasible[:p]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.minimum(np.where(ref > 0, cost / ref, 1.0), env.cost_cap)
        bad = ~feasible | ~np.isfinite(cost)
        ratio = np.where(bad, np.minimum(ratio, env.cost_cap) + env.infeasible_penalty, ratio)
        reward = -ratio if env.reward_mode == "normalized" else -ratio * ref
        take = slice(None) if p == self.k else rows  # every env: whole arrays, no gathers
        self.last_ratio[take] = ratio
        self.time_s[take] += latency
        result = EpochResult(
            rows=rows, evaluation=ev, reward=reward, terminated=np.zeros(p, dtype=bool),
            closing=self.epoch[take] >= self.epochs_per_round, round_latency=np.zeros(p),
            cost=cost, reference=ref, latency=latency, energy=energy,
            feasible=feasible, round_index=self.round[take].copy(),
            epoch_index=self.epoch[take].copy(), time_s=self.time_s[take].copy(),
        )  # fmt: skip
        if result.closing.any():
            result.round_latency[result.closing] = self._close(
                rows[result.closing], ev, p, result.closing
            )
        return result

    def _epoch(self, rows: NDArray[np.int64], ev: Evaluation) -> tuple[Any, Any]:
        """One epoch's latency and cost (2P rows) and its parts kept for the round's close."""
        scn, p = self.scn, rows.size
        if p == self.k and (t0 := int(self.epoch.min())) == int(self.epoch.max()):
            return self._epoch_every(ev, t0)
        t = self.epoch[rows]
        first, last = t == 0, t == self.epochs_per_round - 1
        first, last = np.concatenate((first, first)), np.concatenate((last, last))  # both halves
        per = ev.per_device
        part = EpochPart(per["chain_s"], ev.terms["iteration_s"], ev.terms["shared_iteration_s"])
        step_lat = round_latency(
            scn,
            np.where(first[:, None], per["pre_round_s"], 0.0),
            [part],
            np.where(last[:, None], per["adapter_s"], 0.0),
        )
        step_cost = self._step_cost(ev, step_lat)
        self.chain[rows, t] = per["chain_s"][:p]
        self.iteration[rows, t] = ev.terms["iteration_s"][:p]
        self.shared[rows, t] = ev.terms["shared_iteration_s"][:p]
        self.pre[rows[t == 0]] = self._ends(ev)[0][:p][t == 0]
        self.split[rows] = ev.decision.split[:p]
        self.epoch[rows] += 1
        return step_lat, step_cost

    def _epoch_every(self, ev: Evaluation, t: int) -> tuple[Any, Any]:
        """:meth:`_epoch` of every env at the same epoch ``t`` (the envs in step): no gathers.

        The pre-round and adapter terms (:meth:`_ends`) count in full or not at all
        (``np.where`` with one condition: the terms themselves, or zeros); written into whole
        arrays and slices.
        """
        k, per, terms = self.k, ev.per_device, ev.terms
        pre, post = self._ends(ev)
        zeros = self._zeros() if pre.shape[1] == 1 else np.broadcast_to(self._zeros(), pre.shape)
        step_lat = round_latency(
            self.scn,
            pre if t == 0 else zeros,
            [EpochPart(per["chain_s"], terms["iteration_s"], terms["shared_iteration_s"])],
            post if t == self.epochs_per_round - 1 else zeros,
        )
        step_cost = self._step_cost(ev, step_lat)
        self.chain[:, t] = per["chain_s"][:k]
        self.iteration[:, t] = terms["iteration_s"][:k]
        self.shared[:, t] = terms["shared_iteration_s"][:k]
        if t == 0:
            self.pre[...] = pre[:k]
        self.split[...] = ev.decision.split[:k]
        self.epoch += 1
        return step_lat, step_cost

    def _ends(self, ev: Evaluation) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The pre-round and adapter terms of ``ev``'s rows as :func:`round_latency` reads them.

        Per device with independent devices (``pre + chains + post`` per device); with
        barriers it reads only their maxima over the devices, which the engine reports
        (``terms["pre_round_s"]``, ``terms["adapter_s"]``): (2P, 1) columns, the same maxima
        without a reduction.
        """
        if self.scn.schedule.sync == "independent":
            return ev.per_device["pre_round_s"], ev.per_device["adapter_s"]
        return ev.terms["pre_round_s"][:, None], ev.terms["adapter_s"][:, None]

    def _zeros(self) -> NDArray[np.float64]:
        """Read-only zeros, (2K, 1): a term that does not count in any row."""
        zeros = self._zeros_2k
        if zeros is None:
            zeros = self._zeros_2k = np.zeros((2 * self.k, 1))
            zeros.setflags(write=False)
        return zeros

    def _step_cost(self, ev: Evaluation, step_lat: NDArray[np.float64]) -> Any:
        """The epoch's cost of each of the 2P rows (its latency and energy, or the objective)."""
        scn = self.scn
        step_cost = step_lat + self.env.energy_weight * (
            ev.energy_j / scn.schedule.epochs_per_round
        )
        if scn.objective.kind != "latency":
            step_cost = ev.objective
        return step_cost

    def _close(
        self, rows: NDArray[np.int64], ev: Evaluation, p: int, closing: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        """Exact latency of the rounds ending in ``rows`` (``SplitLoRAEnv._close_round``)."""
        every = rows.size == self.k  # every env closes: whole arrays and views, no gathers
        take = slice(None) if every else rows
        parts = [
            EpochPart(self.chain[take, t], self.iteration[take, t], self.shared[take, t])
            for t in range(self.epochs_per_round)
        ]
        adapter = self._ends(ev)[1][:p]
        total = round_latency(
            self.scn, self.pre[take], parts, adapter if every else adapter[closing]
        )
        self.prev_split[take] = self.split[take]
        self.round[take] += 1
        self.epoch[take] = 0
        return total

    def rounds_done(self, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether the episodes of ``rows`` played all their rounds."""
        return self.round[rows] >= self.rounds

    # --- observation and masks ----------------------------------------------------------

    def observe(self) -> Any:
        """The K observations (``SplitLoRAEnv._observe`` on every row)."""
        env = self.env
        return env.features.observe_batch(
            self.state,
            split=self.split,
            round_progress=self.round / self.rounds,
            epoch_progress=self.epoch / self.epochs_per_round,
            round_start=self.epoch == 0,
            last_ratio=self.last_ratio,
            mode=env.observation_mode,
        )

    def default_rows(self, p: int) -> dict[str, NDArray[Any]]:
        """The preset default of each enabled field for ``p`` rows, (P, ...) (read-only).

        Built once for P = K (every env plays), broadcast views otherwise.
        """
        if p != self.k:
            return {f: np.broadcast_to(v, (p, *v.shape)) for f, v in self.defaults.items()}
        if self._default_rows is None:
            self._default_rows = {
                f: np.broadcast_to(v, (p, *v.shape)).copy() for f, v in self.defaults.items()
            }
            for arr in self._default_rows.values():
                arr.setflags(write=False)
        return self._default_rows

    def mask_info(self, masked: bool = True) -> dict[str, NDArray[np.bool_]]:
        """``info["action_mask"]`` of the K envs (a copy; with its ``_split`` mask if ``masked``)."""
        if self.masks is None:
            return {}
        out = {"split": self.masks.copy()}
        if masked:
            out["_split"] = np.ones(self.k, dtype=bool)
        return out


def evaluate_rows(
    scn: Scenario,
    ep: Episodes,
    rows: NDArray[np.int64],
    fields: dict[str, NDArray[Any]],
    trusted: bool = True,
) -> Evaluation:
    """ONE engine call: the decisions of ``rows`` (rows 0..P-1), then their references.

    A decision takes the round's large fields, then ``fields``, then the preset default.
    ``trusted``: the fields were decoded from checked actions (else the engine validates).
    """
    p = rows.size
    values = {}
    defaults = ep.default_rows(p)
    for f, default in defaults.items():
        if f in fields:
            given = fields[f]
        elif f in ep.large:
            given = ep.large[f] if p == ep.k else ep.large[f][rows]
        else:
            given = default
        values[f] = np.concatenate([given, default])
    # (the concatenations are fresh: assemble takes them without a copy)
    decision = assemble(scn, values, owned=True) if trusted else Decision(**values)  # type: ignore[arg-type]
    # the episodes' own states and decisions (assembled, or validated by evaluate_own)
    return evaluate_own(scn, ep.reference_states(rows), decision)


def feasible_splits_rows(scn: Scenario, states: StateBatch) -> NDArray[np.bool_]:
    """:func:`splitenv.model.engine.feasible_splits` of each row, as the env's split masks.

    (R, n_split) for a shared cut, else (R, N, n_split): the engine's device memory of every
    split value in every row, in chunks of rows that keep each array near
    :data:`CHUNK_ELEMENTS` (K = 4096 envs of N = 100 devices fit in memory).
    """
    lo, hi = scn.decision.split_range
    r, s, n = states.batch_size, hi - lo + 1, scn.n_devices
    split = np.repeat(np.arange(lo, hi + 1)[:, None], n, axis=1)
    ok = np.empty((r, s, n), dtype=bool)
    present = states.active.all(axis=1)
    if present.any():
        # with every device present the engine's device memory is the split grid's alone
        # (tier_memory reads of the state only who is present): one grid for all such rows
        # (so the same in every reset: built once per scenario, read-only)
        row = np.full(s, np.flatnonzero(present)[0])

        def grid() -> NDArray[np.float64]:
            out = tier_memory(scn, states.take(row), split_grid(scn))["device"]
            out.setflags(write=False)
            return out

        device = scn.memo("present_split_memory", grid)
        if present.all():  # no gather
            np.less_equal(device[None], states.device_memory_bytes[:, None, :], out=ok)
        else:
            ok[present] = device[None] <= states.device_memory_bytes[present][:, None, :]
    rest = np.flatnonzero(~present)
    step = max(1, CHUNK_ELEMENTS // (s * n))
    for start in range(0, rest.size, step):
        rows = rest[start : start + step]
        decision = assemble(scn, {"split": np.tile(split, (rows.size, 1))})  # built here
        device = tier_memory(scn, states.take(np.repeat(rows, s)), decision)["device"]
        memory = np.repeat(states.device_memory_bytes[rows], s, axis=0)
        ok[rows] = (device <= memory).reshape(rows.size, s, n)
    if scn.decision.shared_split:
        return np.asarray(ok.all(axis=2))
    return ok.transpose(0, 2, 1)


#: elements of one array in the reset's memory check (chunks of rows)
CHUNK_ELEMENTS = 1 << 20
