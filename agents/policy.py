"""A trained agent as a benchmark method: ``policy(env, obs) -> fields``.

:class:`AgentPolicy` loads a PPO / MaskablePPO model and the env recipe saved
with it (:func:`agents.envs.read_metadata`), predicts deterministically on the
env's observation (the action wrappers do not change observations), decodes
the action with the same wrapper the model was trained with into the env's
native action, and converts that to physical decision fields with
:func:`splitenv.spaces.native_to_decision`, ready for ``env.unwrapped.step_decision``.
MaskablePPO models predict under the wrapper's ``action_masks()``.

``ppo_method`` and ``maskable_ppo_method`` are the factories registered in the
``splitenv.methods`` entry-point group, so ``baselines.harness.policy.resolve_method``
resolves ``"ppo:agents/pretrained/scct_round_ppo.zip"`` without importing this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.envs import ALGO_WRAPPERS, EnvRecipe, algo_class, read_metadata
from splitenv.cli_util import PROJECT_ROOT, find_file
from splitenv.spaces import native_to_decision


def find_model(path: str | Path) -> Path:
    """The model file ``path`` (``.zip`` optional), relative to the cwd or the repository root.

    Raises:
        FileNotFoundError: no such file in either place.
    """
    p = Path(path)
    for t in (p, p.with_name(p.name + ".zip")):
        found = find_file(t)
        if found is not None:
            return found
    raise FileNotFoundError(f"no model at {path} (looked in {Path.cwd()} and {PROJECT_ROOT})")


class AgentPolicy:
    """A trained SB3 model acting in a SplitLoRAEnv.

    Args:
        model_path: the model's ``.zip``; its metadata (``<model>.json``, or the
            ``run.json`` of its run) names the algorithm, timescale and action wrapper.
        algo: expected algorithm (``ppo`` or ``maskable_ppo``); ``None`` accepts the recorded one.
        deterministic: predict the mode of the policy (the benchmark's setting).

    Raises:
        ValueError: the recorded algorithm is not ``algo``.
    """

    def __init__(
        self, model_path: str | Path, algo: str | None = None, deterministic: bool = True
    ) -> None:
        self.path = find_model(model_path)
        self.meta = read_metadata(self.path)
        self.algo = self.meta["algo"]
        if algo is not None and algo != self.algo:
            raise ValueError(f"{self.path} is a {self.algo} model, not {algo}")
        if self.algo not in ALGO_WRAPPERS:
            raise ValueError(f"{self.path}: unknown algo {self.algo!r}")
        self.recipe = EnvRecipe.from_dict(self.meta["env"])
        self.deterministic = deterministic
        self.model = _load(self.algo, self.path)
        self._base: Any = None
        self._decoder: Any = None

    def decoder(self, env: gym.Env) -> Any:
        """The recipe's action wrapper around ``env`` (built once per env)."""
        base = self.recipe.check(env)
        if base is not self._base:
            self._decoder = self.recipe.wrap(base)
            self._base = base
        return self._decoder

    def __call__(self, env: gym.Env, obs: Any) -> dict[str, Any]:
        decoder = self.decoder(env)
        obs = np.asarray(obs, dtype=np.float32)
        expected = self.model.observation_space.shape
        if obs.shape != expected:
            raise ValueError(
                f"observation has shape {obs.shape}, the model expects {expected}: "
                f"it was trained on {self.recipe.scenario} with overrides {self.recipe.overrides}"
            )
        if self.algo == "maskable_ppo":
            action, _ = self.model.predict(
                obs, deterministic=self.deterministic, action_masks=decoder.action_masks()
            )
        else:
            action, _ = self.model.predict(obs, deterministic=self.deterministic)
        native = decoder.action(action)
        return native_to_decision(decoder.scn, decoder.base.native_space, native)


def _load(algo: str, path: Path) -> Any:
    return algo_class(algo).load(path, device="cpu")


def ppo_method(arg: str, seed: int = 0) -> AgentPolicy:
    """Entry point ``ppo:PATH``: a PPO model as a benchmark method (``seed`` unused: deterministic)."""
    return AgentPolicy(arg, algo="ppo")


def maskable_ppo_method(arg: str, seed: int = 0) -> AgentPolicy:
    """Entry point ``maskable_ppo:PATH``: a MaskablePPO model (``seed`` unused: deterministic)."""
    return AgentPolicy(arg, algo="maskable_ppo")
