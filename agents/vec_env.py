"""A stable-baselines3 ``VecEnv`` over splitenv's natively batched vector env.

:class:`NativeVecEnv` steps K episodes with one engine call per epoch
(:class:`splitenv.vector.SplitLoRAVectorEnv`, same-step autoreset, behind the action
wrapper of the run: :class:`~splitenv.vector_wrappers.VectorBoxAction` or
:class:`~splitenv.vector_wrappers.VectorMultiDiscreteAction`), and presents it as SB3's
``DummyVecEnv`` over K wrapped single envs would: the same observations, rewards and
dones, ``info["terminal_observation"]`` and ``info["TimeLimit.truncated"]`` where an
episode ends, the seeds of :meth:`seed` used at the next reset only, and
``env_method("action_masks")`` for sb3-contrib's MaskablePPO. ``make_vec_envs`` wraps it
in SB3's ``VecMonitor`` (episode returns and lengths for the logs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from splitenv.vector import SplitLoRAVectorEnv
from splitenv.vector_wrappers import VectorBoxAction, VectorMultiDiscreteAction

#: the info keys copied into each env's info dict (scalars of the step)
STEP_KEYS = ("latency_s", "energy_j", "cost", "reference_cost", "feasible", "round_latency_s")


class NativeVecEnv(VecEnv):
    """SB3's VecEnv interface over a wrapped native vector env (see the module docstring).

    Args:
        venv: ``VectorBoxAction`` or ``VectorMultiDiscreteAction`` over a
            :class:`~splitenv.vector.SplitLoRAVectorEnv` built with
            ``autoreset_mode=AutoresetMode.SAME_STEP``.

    Raises:
        ValueError: another autoreset mode (SB3 resets an env in the step that ends it).
    """

    def __init__(self, venv: VectorBoxAction | VectorMultiDiscreteAction) -> None:
        base = venv.unwrapped
        if not isinstance(base, SplitLoRAVectorEnv):
            raise TypeError(f"NativeVecEnv needs a SplitLoRAVectorEnv, got {type(base).__name__}")
        if base.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                f"NativeVecEnv needs autoreset_mode = SameStep, got {base.autoreset_mode.value}"
            )
        self.venv, self.base = venv, base
        self._actions: Any = None
        super().__init__(base.num_envs, base.single_observation_space, venv.single_action_space)

    def reset(self) -> Any:
        options = [o or None for o in self._options]
        if any(o != options[0] for o in options):
            raise ValueError("NativeVecEnv: set_options must give every env the same options")
        obs, _ = self.venv.reset(seed=list(self._seeds), options=options[0])  # type: ignore[arg-type]
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> Any:
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        final = info.get("final_info", {})  # the step's info of the envs that ended
        for key in STEP_KEYS:
            for where in (info, final):
                if key not in where:
                    continue
                values, mask = where[key], where[f"_{key}"]
                if mask.all():  # every env: the values in order (numpy scalars, as indexed)
                    for one, value in zip(infos, values, strict=True):
                        one[key] = value
                else:
                    for i in np.flatnonzero(mask).tolist():
                        infos[i][key] = values[i]
        cut = (truncated & ~terminated).tolist()
        for one, flag in zip(infos, cut, strict=True):  # as DummyVecEnv: in every env's info
            one["TimeLimit.truncated"] = flag
        if dones.any():
            for i in np.flatnonzero(dones).tolist():
                infos[i]["terminal_observation"] = info["final_obs"][i]
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """An attribute the K envs share (their settings live in the vector env's template)."""
        value = getattr(self.base.template, attr_name)
        return [value] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise NotImplementedError(
            f"NativeVecEnv: the K envs share their settings; set_attr({attr_name!r}) is not supported"
        )

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        """``action_masks`` (MaskablePPO): each env's row of the batched masks."""
        if method_name != "action_masks" or not hasattr(self.venv, "action_masks"):
            raise NotImplementedError(
                f"NativeVecEnv: env_method({method_name!r}) is not supported (only action_masks "
                "with the multidiscrete wrapper)"
            )
        masks = self.venv.action_masks()
        return [masks[i] for i in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)
