"""A natively batched vector env: K episodes of :class:`~splitenv.env.SplitLoRAEnv` per engine call.

``gymnasium.make_vec(id, num_envs=K, vectorization_mode="vector_entry_point")`` returns a
:class:`SplitLoRAVectorEnv` for every registered id. Each step evaluates the K actions and
the K reference decisions (the preset default on the same states) in ONE call of
:func:`splitenv.evaluate_batch`, with one state per batch row
(:class:`~splitenv.model.state.StateBatch`). The K episodes keep the single env's
bookkeeping and state streams (each row is a :class:`~splitenv.env.SplitLoRAEnv` whose
:class:`~splitenv.scenarios.StateSampler` draws its states, so dynamics come from the same
seeds), and the results equal those of ``SyncVectorEnv`` over K ``gym.make(id)`` envs bit
for bit: observations, rewards, terminated / truncated and ``info`` (Gymnasium's
``_add_info`` layout, ``_key`` masks included).

Supported now: ``timescale="joint"`` and ``"epoch"``, the native ``Dict`` action batched
along a leading K axis, accuracy providers ``surrogate`` and ``table`` (and none), autoreset
in Gymnasium 1.x next-step mode. Not yet supported, each refused with ``NotImplementedError``
naming it: ``timescale="round"`` (inner allocators in the loop), the
``MultiDiscreteAction`` / ``BoxAction`` encodings (wrap the single env and use
``SyncVectorEnv``), the ``train`` accuracy provider, ``render_mode``, and autoreset modes
other than next-step.

Bad input raises :class:`~splitenv.errors.ActionError` naming the env index and the field
(an action batch with the wrong leading size, NaN in one env's action) before any env moves.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array
from numpy.typing import NDArray

from splitenv.env import SplitLoRAEnv, _stack
from splitenv.errors import ActionError, ConfigError
from splitenv.model import Decision, Evaluation, StateBatch, evaluate_batch
from splitenv.model.decision import DECISION_FIELDS
from splitenv.spaces import native_to_decision

#: the timescales whose steps are one epoch each (one engine call per step)
TIMESCALES = ("joint", "epoch")


class SplitLoRAVectorEnv(VectorEnv):
    """K episodes of one scenario stepped with one engine call (see the module docstring).

    Args:
        num_envs: K >= 1.
        config: preset name, YAML path or Scenario (as :class:`~splitenv.env.SplitLoRAEnv`).
        timescale: ``"joint"`` or ``"epoch"`` (``"round"`` is not yet supported).
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (the only mode supported yet).
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
        first = SplitLoRAEnv(config, timescale=timescale, accuracy=_copy(accuracy), **kwargs)
        rest = {
            k: v for k, v in kwargs.items() if k != "overrides" and "__" not in k and "." not in k
        }
        self.envs = [first] + [
            SplitLoRAEnv(first.scenario, timescale=timescale, accuracy=_copy(accuracy), **rest)
            for _ in range(int(num_envs) - 1)
        ]
        self.num_envs = int(num_envs)
        self.scenario = first.scenario
        self.single_action_space = first.action_space
        self.single_observation_space = first.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.render_mode = None
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    # --- reset ------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ):
        """Reset every env; ``seed`` an int (env i gets ``seed + i``) or a list of K seeds.

        Raises:
            ConfigError: a list of seeds whose length is not K.
        """
        if seed is None or isinstance(seed, (int, np.integer)):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(
                    f"reset(seed=...) got {len(seeds)} seeds; allowed: one per env ({self.num_envs})"
                )
        infos: dict[str, Any] = {}
        observations = []
        for i, (env, s) in enumerate(zip(self.envs, seeds, strict=True)):
            obs, info = env.reset(seed=s, options=options)
            observations.append(obs)
            infos = self._add_info(infos, info, i)
        self._autoreset[:] = False
        self._started = True
        return self._batch_obs(observations), infos

    # --- step -------------------------------------------------------------------------------

    def step(self, actions: dict[str, Any]):
        """Step the K envs: envs whose episode ended last step are reset instead (next-step).

        Raises:
            ActionError: the wrong leading size, or a bad action of env i (named with its
                field); no env has moved.
        """
        if not self._started:
            raise RuntimeError("call reset() before step()")
        fields = self._decode(actions)
        playing = [i for i in range(self.num_envs) if not self._autoreset[i]]
        plans = [self.envs[i]._plan_epoch({**self.envs[i].fixed, **fields[i]}) for i in playing]
        evaluations = self._evaluate(plans)
        observations: list[Any] = [None] * self.num_envs
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        infos: dict[str, Any] = {}
        plan_of = dict(zip(playing, zip(plans, evaluations, strict=True), strict=True))
        for i, env in enumerate(self.envs):
            if self._autoreset[i]:
                observations[i], info = env.reset()
            else:
                (state, decision, large), ev = plan_of[i]
                env._large = large
                observations[i], reward, terminated[i], truncated[i], info = env._play_epochs(
                    [(state, decision)], [ev]
                )
                rewards[i] = reward
            infos = self._add_info(infos, info, i)
        self._autoreset = terminated | truncated
        return self._batch_obs(observations), rewards, terminated, truncated, infos

    def _decode(self, actions: dict[str, Any]) -> list[dict[str, Any]]:
        """Per-env decision fields of a batched Dict action, all checked before any env moves."""
        space = self.envs[0].native_space
        if not isinstance(actions, dict) or set(actions) != set(space.spaces):
            got = sorted(actions) if isinstance(actions, dict) else type(actions).__name__
            raise ActionError(f"actions must be a dict with keys {sorted(space.spaces)}, got {got}")
        batched = {}
        for name, value in actions.items():
            arr = np.asarray(value)
            if arr.ndim == 0 or arr.shape[0] != self.num_envs:
                raise ActionError(
                    f"actions[{name!r}] has leading size {arr.shape[:1] or '()'}; "
                    f"allowed: num_envs = {self.num_envs} (one row per env)"
                )
            batched[name] = arr
        out: list[dict[str, Any]] = []
        for i, env in enumerate(self.envs):
            if self._autoreset[i]:  # this env resets: its action is ignored (as SyncVectorEnv)
                out.append({})
                continue
            action = {name: arr[i] for name, arr in batched.items()}
            try:
                out.append(native_to_decision(env.scenario, env.native_space, action, env.fixed))
            except ActionError as err:
                raise ActionError(f"env {i}: {err}") from None
        return out

    def _evaluate(self, plans: list[tuple[Any, Decision, Decision]]) -> list[Evaluation]:
        """One engine call for the K decisions and K references: rows 2i (decision), 2i + 1."""
        if not plans:
            return []
        scn = self.scenario
        decisions = [_stack(scn, decision) for _, decision, _ in plans]
        values = {
            name: np.concatenate([getattr(d, name) for d in decisions])
            for name in DECISION_FIELDS
            if getattr(decisions[0], name) is not None
        }
        states = StateBatch.stack([state for state, _, _ in plans], repeat=2)
        ev = evaluate_batch(scn, states, Decision(**values))  # type: ignore[arg-type]
        return [_rows(ev, 2 * i) for i in range(len(plans))]

    def action_mask(self) -> dict[str, NDArray[np.bool_]]:
        """The K envs' native action masks (:meth:`SplitLoRAEnv.action_mask`), stacked on axis 0."""
        masks = [env.action_mask() for env in self.envs]
        return {k: np.stack([m[k] for m in masks]) for k in masks[0]}

    def _batch_obs(self, observations: list[Any]) -> Any:
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, observations, out)  # type: ignore[arg-type]

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release (no processes, no files)."""


def _rows(ev: Evaluation, start: int) -> Evaluation:
    """Rows ``start`` and ``start + 1`` of a batched evaluation, as views."""
    sl = slice(start, start + 2)
    d = ev.decision
    values = {n: None if getattr(d, n) is None else getattr(d, n)[sl] for n in DECISION_FIELDS}
    decision = Decision(**values, batch_size=2)
    object.__setattr__(decision, "_completed_for", d._completed_for)  # a slice stays validated
    return dataclasses.replace(
        ev,
        latency_s=ev.latency_s[sl],
        energy_j=ev.energy_j[sl],
        objective=ev.objective[sl],
        feasible=ev.feasible[sl],
        violations={k: v[sl] for k, v in ev.violations.items()},
        terms={k: v[sl] for k, v in ev.terms.items()},
        per_device={k: v[sl] for k, v in ev.per_device.items()},
        decision=decision,
    )


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
    if AutoresetMode(autoreset_mode) != AutoresetMode.NEXT_STEP:
        raise NotImplementedError(
            f"SplitLoRAVectorEnv: autoreset_mode = {autoreset_mode!r} is not yet supported "
            "(supported: next-step)"
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
