"""A natively batched vector env: K episodes of :class:`~splitenv.env.SplitLoRAEnv` per engine call.

``gymnasium.make_vec(id, num_envs=K, vectorization_mode="vector_entry_point")`` returns a
:class:`SplitLoRAVectorEnv` for every registered id. The K episodes live in arrays with a
leading K axis (states, counters, the round's large decision, the parts of the round played
so far); a step decodes the K actions at once (:mod:`splitenv.batch_actions`), evaluates the
K decisions and the K reference decisions (the preset default on the same states, each with
its own previous split as in the single env) in ONE call of :func:`splitenv.evaluate_batch`
(one state per batch row, :class:`~splitenv.model.state.StateBatch`), and computes rewards, info and observations as
array operations. Each episode draws its states from the streams of its own
:class:`~splitenv.scenarios.StateSampler` (the single env's streams, so dynamics come from
the same seeds), and the results equal those of ``SyncVectorEnv`` over K ``gym.make(id)``
envs bit for bit: observations, rewards, terminated / truncated and ``info`` (Gymnasium's
``_add_info`` layout, ``_key`` masks included); tests/env/test_native_vector.py checks it,
tests/env/test_vector_dynamics.py the batched draws of dynamics and noise states at large K.

Every timescale: ``joint`` and ``epoch`` steps play one epoch (one engine call), ``round``
steps play the round's epochs with the inner allocator (``equal`` vectorized; any other
allocator decides the K x T rows of the step in one call of its batched form, which every
paper's allocator has, or env by env for a callable without one,
:func:`splitenv.allocation.allocate_rows`; then one engine call per epoch). The native ``Dict`` action is batched along a leading K axis;
:mod:`splitenv.vector_wrappers` adds the ``MultiDiscreteAction`` (with (K, D)
``action_masks()``) and ``BoxAction`` encodings. Dynamics (fading, mobility, churn, drifting device compute), accuracy
providers ``surrogate`` and ``table`` (and none), autoreset in Gymnasium 1.x next-step mode
(default) or same-step (``final_obs`` / ``final_info``). Refused with ``NotImplementedError``
naming it: the ``train`` accuracy provider (real training per env), ``render_mode``, and the
``Disabled`` autoreset mode.

Speed: the K episodes' streams are seeded and drawn at once (:mod:`splitenv.batch_draws`:
one compiled loop seeds each as numpy does and draws with numpy's own C samplers,
:mod:`splitenv.draw_kernel`): the epoch streams, the dynamics streams that move the K
episodes' Markov processes one global epoch at a time (:mod:`splitenv.vector_dynamics`, the
sampler's own update functions on (K, ...) arrays) and the round streams of the noise states
(``choice`` as bounded integers). Without dynamics or noise states an epoch writes only the
gains (the episode's linear gain times the fading) and the compute. Only an episode whose
seed is beyond one word (a stored instance's) is drawn by its own sampler. Everything else
in a step is array arithmetic over the K rows, the built-in ``surrogate`` accuracy of the
envs whose round ends included (:func:`splitenv.accuracy_providers.surrogate_rounds`, the
provider's own arithmetic; other providers report env by env). Validation happens once, at
the boundary: actions from outside are checked
(:func:`~splitenv.batch_actions.decode_native_batch`), the rows the vector wrappers decode
themselves are not checked again (:meth:`SplitLoRAVectorEnv.step_decoded`),
and the engine evaluates the episodes' own states and decisions without re-checking them
(:func:`splitenv.model.engine.evaluate_own`). ``benchmarks/env_step.py`` measures it.

Bad input raises :class:`~splitenv.errors.ActionError` naming the env index and the field
(an action batch with the wrong leading size, NaN in one env's action), and a reset with the
wrong number of seeds a :class:`~splitenv.errors.ConfigError`, before any env moves.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from splitenv import allocation, limits
from splitenv.accuracy_providers import (
    SurrogateAccuracy,
    make_provider,
    surrogate_inputs,
    surrogate_rounds,
)
from splitenv.batch_actions import batch_rows, convert_native_batch, decode_native_batch
from splitenv.batch_draws import GeneratorRows
from splitenv.draws import (
    WORD,
    batched_epoch_draws,
    batched_noise_dbm,
    batched_statics,
    flat_noise_dbm,
    has_dynamics,
    with_dynamics,
)
from splitenv.env import SplitLoRAEnv
from splitenv.errors import ConfigError
from splitenv.model import Decision, Evaluation, StateBatch
from splitenv.scenarios import StateSampler
from splitenv.spaces import LARGE
from splitenv.vector_dynamics import Trajectories
from splitenv.vector_info import restrict, rows_of, step_info
from splitenv.vector_parts import (
    Episodes,
    EpochResult,
    evaluate_rows,
    feasible_splits_rows,
)

#: every timescale: one engine call per epoch played
TIMESCALES = ("joint", "epoch", "round")


class SplitLoRAVectorEnv(VectorEnv):
    """K episodes of one scenario stepped with one engine call (see the module docstring).

    Args:
        num_envs: K >= 1.
        config: preset name, YAML path or Scenario (as :class:`~splitenv.env.SplitLoRAEnv`).
        timescale: ``"joint"`` or ``"epoch"`` (``"round"`` is not yet supported).
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (Gymnasium's default) or ``SAME_STEP``
            (an env that ends is reset in the same step: ``final_obs`` / ``final_info``).
        **kwargs: every other argument of :class:`~splitenv.env.SplitLoRAEnv` (rounds,
            reward_mode, accuracy, observation, overrides, ``a__b`` config overrides, ...).

    Raises:
        NotImplementedError: a feature outside the supported scope, named.
        ConfigError: ``num_envs`` not an integer >= 1.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012 (gymnasium's convention)

    def __init__(
        self,
        num_envs: int,
        config: Any = "scct",
        *,
        timescale: str = "round",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        **kwargs: Any,
    ) -> None:
        if (
            isinstance(num_envs, bool)
            or not isinstance(num_envs, (int, np.integer))
            or num_envs < 1
        ):
            raise ConfigError(f"num_envs = {num_envs!r}; allowed: an integer >= 1")
        _check_scope(timescale, autoreset_mode, kwargs)
        accuracy = kwargs.pop("accuracy", None)
        #: the single env whose settings every episode shares (spaces, fixed fields, policy)
        self.template = SplitLoRAEnv(config, timescale=timescale, **kwargs)
        self.num_envs = int(num_envs)
        self.scenario = self.template.scenario
        limits.check(self.scenario)  # once: the K samplers skip it
        net = self.scenario.network
        #: no dynamics, one noise state: an epoch's state is its epoch stream's draws alone
        self._simple = not (net.noise_states_dbm_hz or has_dynamics(self.scenario))
        #: the K episodes' Markov processes (with dynamics)
        self._dynamics = (
            Trajectories(self.scenario, int(num_envs)) if has_dynamics(self.scenario) else None
        )
        self.providers = [make_provider(_copy(accuracy)) for _ in range(self.num_envs)]
        #: every provider the built-in surrogate: their rounds as one array operation
        self._surrogate = all(type(p) is SurrogateAccuracy for p in self.providers)
        self._no_accuracy = all(p is None for p in self.providers)
        self.single_action_space = self.template.action_space
        self.single_observation_space = self.template.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.render_mode = None
        self._generators = GeneratorRows(self.num_envs)
        self._samplers: list[StateSampler | None] = [None] * self.num_envs
        self._seeds = np.zeros(self.num_envs, dtype=np.int64)
        self._ep = Episodes(self.template, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {"autoreset_mode": self.autoreset_mode}
        self._started = False

    # --- reset ------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ):
        """Reset every env; ``seed`` an int (env i gets ``seed + i``) or a list of K seeds.

        Raises:
            ConfigError: a list of seeds whose length is not K (no env is reset).
        """
        if seed is None or isinstance(seed, (int, np.integer)):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(
                    f"reset(seed=...) got {len(seeds)} seeds; allowed: one per env ({self.num_envs})"
                )
        rows = np.arange(self.num_envs)
        infos = self._reset_rows(rows, seeds, options)
        infos["action_mask"], infos["_action_mask"] = (
            self._ep.mask_info(),
            _mask(self.num_envs, rows),
        )
        self._autoreset[:] = False
        self._started = True
        return self._ep.observe(), infos

    def _reset_rows(
        self, rows: NDArray[np.int64], seeds: list[int | None], options: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Start new episodes in ``rows`` (as ``SplitLoRAEnv.reset`` does, row by row)."""
        instance = (options or {}).get("instance")
        if instance is not None and (not isinstance(instance, dict) or "seed" not in instance):
            raise ValueError(f"options['instance'] = {instance!r} must be a dict with a 'seed'")
        scn, ep = self.scenario, self._ep
        # each env's own generator (gymnasium's seeding, as SplitLoRAEnv.reset) draws its
        # episode's seed, the K at once (batch_draws.GeneratorRows)
        self._generators.seed(rows, seeds)
        if instance:
            self._seeds[rows] = int(instance["seed"])
        else:
            self._seeds[rows] = self._generators.integers(rows, 2**31 - 1)
        # a sampler draws the episodes the batched streams cannot: a seed beyond one word
        # (a stored instance's)
        # (any env with a sampler: rows without one keep none, so this only costs a loop)
        if self._seeds[rows].max() >= WORD or self._samplers.count(None) < self.num_envs:
            for i in rows:
                seed_i = int(self._seeds[i])
                self._samplers[i] = (
                    StateSampler(scn, seed_i, ep.epochs_per_round, check_memory=False)
                    if seed_i >= WORD
                    else None
                )
        if not self._no_accuracy:
            for i in rows:
                provider = self.providers[i]
                if provider is not None:
                    provider.reset(scn, int(self._seeds[i]))
        if self._seeds[rows].max() >= WORD:  # numpy seeds each sampler's static stream
            values = [self._sampler(i).statics for i in rows]
            statics = {k: np.stack([v[k] for v in values]) for k in values[0]}
        else:  # the K static streams at once, their values for all rows at once
            statics = batched_statics(scn, self._seeds[rows])
        ep.start(rows, statics)
        if self._dynamics is not None:
            self._dynamics.start(rows, statics)
        self._advance(rows, np.zeros(rows.size, dtype=bool))
        if ep.masks is not None:
            ep.masks[rows] = feasible_splits_rows(scn, ep.state_rows(rows))
        seeds_info = np.zeros(self.num_envs, dtype=np.int64)
        seeds_info[rows] = self._seeds[rows]
        return {"episode_seed": seeds_info, "_episode_seed": _mask(self.num_envs, rows)}

    # --- step -------------------------------------------------------------------------------

    def step(self, actions: dict[str, Any]):
        """Step the K envs: envs whose episode ended last step are reset instead (next-step).

        Raises:
            ActionError: the wrong leading size, or a bad action of env i (named with its
                field); no env has moved.
        """
        if not self._started:
            raise RuntimeError("call reset() before step()")
        tpl = self.template
        batched = batch_rows(tpl.native_space, actions, self.num_envs)
        play = np.flatnonzero(~self._autoreset)
        fields = decode_native_batch(self.scenario, tpl.native_space, batched, tpl.fixed, play)
        return self._step_fields(play, fields)

    def step_decoded(self, rows: NDArray[np.int64], decoded: dict[str, NDArray[Any]]):
        """:meth:`step` with native rows splitenv's vector wrappers decoded themselves.

        ``decoded``: the native actions of env rows ``rows`` (the envs that play, not
        resetting), built by :mod:`splitenv.vector_wrappers` from actions they checked, so
        inside the native space by construction: converted without checking them again
        (:func:`~splitenv.batch_actions.decode_native_batch` checks actions from outside).
        """
        if not self._started:
            raise RuntimeError("call reset() before step()")
        tpl = self.template
        fields = convert_native_batch(self.scenario, tpl.native_space, decoded, tpl.fixed, rows)
        return self._step_fields(rows, fields)

    def _step_fields(self, play: NDArray[np.int64], fields: dict[str, NDArray[Any]]):
        """The step of :meth:`step` once the playing rows' fields are decoded."""
        result = self._play(play, fields) if play.size else None
        resets = np.flatnonzero(self._autoreset)
        infos = step_info(self._ep, result, self.num_envs)
        if resets.size:
            reset_info = self._reset_rows(resets, [None] * resets.size, None)
            infos.update(reset_info)
        if result is not None:
            self._accuracy(result, infos)
        ep = self._ep
        infos["action_mask"], infos["_action_mask"] = ep.mask_info(), np.ones(self.num_envs, bool)
        if result is not None and play.size == self.num_envs:  # every env played, in order
            # (the result's arrays are fresh: returned as they are)
            rewards, terminated = result.reward, result.terminated
            truncated = ep.rounds_done(play) & ~terminated
            self._advance(play, terminated | truncated)
        else:
            rewards = np.zeros(self.num_envs, dtype=np.float64)
            terminated = np.zeros(self.num_envs, dtype=bool)
            truncated = np.zeros(self.num_envs, dtype=bool)
        if result is not None and play.size < self.num_envs:
            rewards[play] = result.reward
            terminated[play] = result.terminated
            truncated[play] = ep.rounds_done(play) & ~result.terminated
            self._advance(play, terminated[play] | truncated[play])
        ended = terminated | truncated
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            return (
                ep.observe() if not ended.any() else self._same_step(infos, ended),
                rewards,
                terminated,
                truncated,
                infos,
            )
        self._autoreset = ended
        return ep.observe(), rewards, terminated, truncated, infos

    def _same_step(self, infos: dict[str, Any], ended: NDArray[np.bool_]) -> Any:
        """Same-step autoreset: the envs that ended start anew now (``SyncVectorEnv``'s layout).

        Their step's observation and info move to ``final_obs`` / ``final_info``; ``infos`` is
        rewritten in place; the observations after the resets are returned.
        """
        k, rows = self.num_envs, np.flatnonzero(ended)
        final_obs = rows_of(self._ep.observe(), rows, k)
        final = restrict(infos, ended)
        rest = restrict(infos, ~ended)
        infos.clear()
        infos.update(rest)
        infos["final_obs"], infos["_final_obs"] = final_obs, ended.copy()
        infos["final_info"], infos["_final_info"] = final, ended.copy()
        infos.update(self._reset_rows(rows, [None] * rows.size, None))
        infos["action_mask"], infos["_action_mask"] = self._ep.mask_info(), np.ones(k, bool)
        return self._ep.observe()

    def _play(self, rows: NDArray[np.int64], fields: dict[str, NDArray[Any]]) -> EpochResult:
        """Plan, evaluate (one engine call per epoch) and book the step of env rows ``rows``."""
        ep, scn = self._ep, self.scenario
        if self.template.timescale == "round":
            ep.set_large(rows, fields)
            if self.template.inner_allocator is allocation.equal:
                return ep.book(rows, lambda t: self._round_epoch(rows, t), ep.epochs_per_round)
            return self._play_round(rows)
        starting = rows[ep.epoch[rows] == 0]
        if starting.size:
            ep.set_large(starting, self._round_start_fields(starting, rows, fields))
        small = {k: v for k, v in fields.items() if k not in LARGE}
        return ep.book(rows, lambda _: evaluate_rows(scn, ep, rows, small))

    def _round_epoch(self, rows: NDArray[np.int64], t: int) -> Evaluation:
        """Epoch ``t`` of a round step with the ``equal`` inner allocator: its state, the engine.

        ``SplitLoRAEnv._play_round``: within a round the split does not move, so epochs after
        the first are drawn with the round's split as their previous split.
        """
        ep = self._ep
        if t > 0:
            ep.split[rows] = ep.large["split"][rows]
            self._advance(rows, np.zeros(rows.size, dtype=bool))
        # the round's large fields, equal shares of the rest
        return evaluate_rows(self.scenario, ep, rows, {}, trusted=False)

    def _play_round(self, rows: NDArray[np.int64]) -> EpochResult:
        """A round step with an inner allocator: ONE allocator call for the P x T rows.

        The states of the round's T epochs do not depend on the allocation
        (``SplitLoRAEnv._play_round`` draws them first too), so they are drawn up front, the
        allocator decides all P x T rows at once (:func:`splitenv.allocation.allocate_rows`:
        its batched form, or row by row), then the epochs are booked one engine call each.
        """
        ep, scn, p, e = self._ep, self.scenario, rows.size, self._ep.epochs_per_round
        snaps = []
        for t in range(e):
            if t > 0:
                ep.epoch[rows] = t  # the counters the draw of epoch t reads
                ep.split[rows] = ep.large["split"][rows]
                self._advance(rows, np.zeros(rows.size, dtype=bool))
            snaps.append(
                ({k: v[rows].copy() for k, v in ep.state.items()}, ep.state_prev[rows].copy())
            )
        ep.epoch[rows] = 0
        states = StateBatch(
            **{k: np.concatenate([s[k] for s, _ in snaps]) for k in ep.state},
            prev_split=np.concatenate([prev for _, prev in snaps]),
            round_index=np.tile(ep.round[rows], e),
            epoch_index=np.repeat(np.arange(e, dtype=np.int64), p),
        )
        large = {k: np.tile(ep.large[k][rows], (e, *([1] * (ep.large[k].ndim - 1))))
                 for k in ep.large_given}  # fmt: skip
        fields = allocation.allocate_rows(self.template.inner_allocator, scn, states, large)

        def epoch(t: int) -> Evaluation:
            ep.restore(rows, *snaps[t])
            part = {k: v[t * p : (t + 1) * p] for k, v in fields.items()}
            return evaluate_rows(scn, ep, rows, part, trusted=False)

        return ep.book(rows, epoch, e)

    def _round_start_fields(
        self, starting: NDArray[np.int64], rows: NDArray[np.int64], fields: dict[str, Any]
    ) -> dict[str, NDArray[Any]]:
        """The large-timescale fields that take effect in rows ``starting`` (a round starts)."""
        tpl = self.template
        if tpl.timescale == "joint":
            if starting.size == rows.size:  # every playing env starts a round (set_large copies)
                return {k: v for k, v in fields.items() if k in self._ep.large}
            where = np.searchsorted(rows, starting)
            return {k: v[where] for k, v in fields.items() if k in self._ep.large}
        if tpl.split_policy is allocation.equal:  # the default policy keeps the preset default
            return {}
        chosen = [
            tpl.split_policy(self.scenario, self._ep.state_row(int(i)), _empty()) for i in starting
        ]
        names = [k for k in self._ep.large if getattr(chosen[0], k) is not None]
        return {k: np.stack([np.asarray(getattr(c, k)) for c in chosen]) for k in names}

    def _accuracy(self, result: EpochResult, infos: dict[str, Any]) -> None:
        """Accuracy providers' reports of the rounds that ended (terminated when reached).

        The built-in ``surrogate`` provider advances every closing env at once
        (:meth:`_surrogate_accuracy`); any other provider reports env by env.
        """
        if self._no_accuracy:  # no provider: nothing to report
            return
        closing = np.flatnonzero(result.closing)
        if closing.size and self._surrogate:
            self._surrogate_accuracy(result, closing, infos)
            return
        for j in closing:
            i = int(result.rows[j])
            provider = self.providers[i]
            if provider is None:
                continue
            report = provider.round(self.scenario, result.evaluation.decision.take(int(j)))
            extra = {
                "accuracy": np.float64(report.accuracy),
                "accuracy_extras": _as_numpy(dict(report.extras)),
            }
            self._add_info(infos, extra, i)
            result.terminated[j] = bool(report.target_reached)

    def _surrogate_accuracy(
        self, result: EpochResult, closing: NDArray[np.int64], infos: dict[str, Any]
    ) -> None:
        """:meth:`_accuracy` of :class:`SurrogateAccuracy` providers: one array operation.

        The closing envs' progress goes through :func:`surrogate_rounds` (the arithmetic of
        ``SurrogateAccuracy.round``, elementwise, so row by row the same bits) and back into
        the providers; ``accuracy`` and ``accuracy_extras.rounds_needed`` are written in
        ``_add_info``'s layout (float64 arrays, zeros and False elsewhere).
        """
        envs = result.rows[closing]
        providers = cast(list[SurrogateAccuracy], [self.providers[i] for i in envs])
        progress, accuracy, reached, needed = surrogate_rounds(
            self.scenario,
            np.array([p.progress for p in providers], dtype=np.float64),
            *surrogate_inputs(result.evaluation.decision, closing),
        )
        for provider, value in zip(providers, progress.tolist(), strict=True):
            provider.progress = value
        k = self.num_envs

        def column(values: NDArray[np.float64]) -> NDArray[np.float64]:
            out = np.zeros(k, dtype=np.float64)
            out[envs] = values
            return out

        infos["accuracy"], infos["_accuracy"] = column(accuracy), _mask(k, envs)
        extras = {"rounds_needed": column(needed), "_rounds_needed": _mask(k, envs)}
        infos["accuracy_extras"], infos["_accuracy_extras"] = extras, _mask(k, envs)
        result.terminated[closing] = reached

    def _advance(self, rows: NDArray[np.int64], ended: NDArray[np.bool_]) -> None:
        """Draw the next epoch's state of every env in ``rows`` whose episode goes on.

        The rows' streams at once (:meth:`_stream_draws`, :meth:`_batched_draws`); a row whose
        seed is beyond one word (a stored instance's) by its own sampler.
        """
        ep = self._ep
        rows = rows[~ended]
        if not rows.size:
            return
        seeds = self._seeds[rows]
        batched = rows if seeds.max() < WORD else rows[seeds < WORD]
        if batched.size and self._simple:
            ep.draw_faded(batched, *self._stream_draws(batched))
        elif batched.size:
            ep.draw(batched, self._batched_draws(batched))
        if batched.size < rows.size:
            own = rows[seeds >= WORD]
            draws = [self._sampler(i).epoch_draws(int(ep.round[i]), int(ep.epoch[i])) for i in own]
            ep.draw(own, {k: np.stack([d[k] for d in draws]) for k in draws[0]})

    def _batched_draws(self, rows: NDArray[np.int64]) -> dict[str, NDArray[Any]]:
        """:meth:`StateSampler.epoch_draws` of ``rows``' epochs, with dynamics or noise states.

        The epoch streams (:meth:`_stream_draws`), the episodes' processes at their global
        epochs (:class:`~splitenv.vector_dynamics.Trajectories`) applied as the sampler
        applies them (:func:`~splitenv.draws.with_dynamics`), and the noise states of the
        round streams; each kind of stream drawn for the rows at once. (K', N) each.
        """
        scn, ep = self.scenario, self._ep
        fading, fed_fading, flops = self._stream_draws(rows)
        draws = {
            "gain_db": ep.gain_db[rows], "fading": fading, "fed_gain_db": ep.fed_gain_db[rows],
            "fed_fading": fed_fading, "device_flops": flops, "distance_m": ep.distance[rows],
            "active": np.ones((rows.size, scn.n_devices), dtype=bool),
        }  # fmt: skip
        if self._dynamics is not None:
            g = ep.round[rows] * ep.epochs_per_round + ep.epoch[rows]
            proc = self._dynamics.at(rows, self._seeds[rows], g)
            statics = {k: v[rows] for k, v in self._dynamics.statics.items()}
            draws = with_dynamics(scn, statics, proc, draws)
        if scn.network.noise_states_dbm_hz:
            draws["noise_dbm"] = batched_noise_dbm(scn, self._seeds[rows], ep.round[rows])
        else:
            draws["noise_dbm"] = flat_noise_dbm(scn)
        return draws

    def _sampler(self, i: int) -> StateSampler:
        """Env ``i``'s sampler (built when first needed: the batched streams need none)."""
        sampler = self._samplers[i]
        if sampler is None:
            sampler = StateSampler(
                self.scenario, int(self._seeds[i]), self._ep.epochs_per_round, check_memory=False
            )
            self._samplers[i] = sampler
        return sampler

    def _stream_draws(self, rows: NDArray[np.int64]) -> tuple[NDArray[np.float64], ...]:
        """Fading, federated fading and compute of ``rows``' epochs (no dynamics, no noise states).

        Their epoch streams' draws at once (:mod:`splitenv.batch_draws`), as
        :meth:`StateSampler.epoch_draws` draws them one by one.
        """
        ep = self._ep
        return batched_epoch_draws(self.scenario, self._seeds[rows], ep.round[rows], ep.epoch[rows])

    def action_mask(self) -> dict[str, NDArray[np.bool_]]:
        """The K envs' native action masks (:meth:`SplitLoRAEnv.action_mask`), stacked on axis 0."""
        return self._ep.mask_info(masked=False)

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release (no processes, no files)."""


def _mask(k: int, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
    out = np.zeros(k, dtype=bool)
    out[rows] = True
    return out


def _empty() -> Decision:
    return Decision()


def _as_numpy(value: Any) -> Any:
    from splitenv.info import as_numpy

    return as_numpy(value)


def _copy(accuracy: Any) -> Any:
    """A provider per env: a name builds a new one, an object is deep-copied (it keeps state)."""
    return accuracy if accuracy is None or isinstance(accuracy, str) else copy.deepcopy(accuracy)


def _check_scope(timescale: str, autoreset_mode: Any, kwargs: dict[str, Any]) -> None:
    """Refuse, by name, what the vector env does not support yet (never approximate it)."""
    if timescale not in TIMESCALES:
        raise NotImplementedError(
            f"SplitLoRAVectorEnv: timescale = {timescale!r} is not yet supported (supported: "
            f"{', '.join(TIMESCALES)}); use gym.make_vec(..., vectorization_mode='sync')"
        )
    if AutoresetMode(autoreset_mode) not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise NotImplementedError(
            f"SplitLoRAVectorEnv: autoreset_mode = {autoreset_mode!r} is not yet supported "
            "(supported: NextStep, SameStep)"
        )
    if kwargs.get("accuracy") == "train":
        raise NotImplementedError(
            "SplitLoRAVectorEnv: accuracy = 'train' is not supported (real training per env); "
            "supported: None, 'surrogate', 'table'"
        )
    if kwargs.get("render_mode") is not None:
        raise NotImplementedError(
            f"SplitLoRAVectorEnv: render_mode = {kwargs['render_mode']!r} is not yet supported"
        )
