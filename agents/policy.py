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
resolves ``"ppo:PATH"`` (or ``"ppo:@scct_round_ppo"``, an agent this package ships)
without importing this package; bare ``ppo`` is ``ppo:@<scenario>``, the scenario's shipped
agent (:func:`agents.catalog.shipped_for`).

Agent files are data, not code: models load through :mod:`agents.safe_load`, which never
lets stable-baselines3 unpickle a field of the file (spaces and schedules are rebuilt from the
recipe's env and the run's JSON hyperparameters; anything else is refused), and a shipped
agent's file must match the sha256 recorded in its sidecar.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.catalog import SHIPPED, shipped_for, shipped_list
from agents.envs import ALGO_WRAPPERS, EnvRecipe, algo_class, read_metadata
from agents.safe_load import file_sha256, load_model
from splitenv.cli_util import PROJECT_ROOT, find_file
from splitenv.errors import FileFormatError
from splitenv.scenarios import list_scenarios
from splitenv.spaces import native_to_decision


def find_model(path: str | Path, algo: str | None = None) -> Path:
    """The model file: ``@NAME`` is a shipped agent, else a path relative to the cwd or the project.

    ``@NAME`` is the shipped file ``NAME.zip``, else, when ``NAME`` is a scenario, that
    scenario's shipped agent of ``algo`` (:func:`agents.catalog.shipped_for`): bare ``ppo`` in
    ``splitenv bench`` is ``ppo:@<scenario>``.

    Raises:
        FileNotFoundError: no such file; the message names where it looked.
        ConfigError: ``@SCENARIO`` of a scenario without a shipped agent (or with several).
    """
    text = str(path)
    if text.startswith("@"):
        shipped = SHIPPED / f"{text[1:]}.zip"
        if shipped.is_file():
            return shipped
        if text[1:] in list_scenarios():
            return shipped_for(text[1:], algo)
        raise FileNotFoundError(f"no shipped agent {text}; shipped: {shipped_list()}")
    p = Path(path)
    for t in (p, p.with_name(p.name + ".zip")):
        found = find_file(t)
        if found is not None:
            return found
    raise FileNotFoundError(f"no model at {path} (looked in {Path.cwd()} and {PROJECT_ROOT})")


def load_agent(algo: str, path: Path, meta: dict[str, Any], recipe: EnvRecipe) -> Any:
    """The SB3 model at ``path``, loaded without unpickling anything (:mod:`agents.safe_load`).

    Its spaces are rebuilt from the recipe's env, its hyperparameters read from the run's JSON
    metadata; a shipped agent must carry the ``sha256`` of its file in its sidecar.

    Raises:
        FileFormatError: a shipped agent without checksum, a changed file, or a field that
            would need unpickling.
    """
    sha = meta.get("sha256")
    if path.parent == SHIPPED and not sha:
        raise FileFormatError(f"{path}: a shipped agent must record its sha256 in its sidecar")
    env = recipe.wrap(recipe.make())
    try:
        return load_model(
            algo_class(algo), path, observation_space=env.observation_space,
            action_space=env.action_space, hyperparameters=meta.get("hyperparameters") or {},
            sha256=sha,
        )  # fmt: skip
    finally:
        env.close()


#: device-set policies rebuilt for another N, by (model file sha256, observation shape): a
#: benchmark makes one AgentPolicy per episode, and building the policy for the env's N
#: (about 3 ms) would otherwise be paid in the first decision of every episode
_TRANSFERS: dict[tuple[str, tuple[int, ...]], Any] = {}
_TRANSFERS_MAX = 16


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block, then restore the thread count.

    An agent's forward pass is a few small matrix products (about 0.1 ms on one core); with
    torch's default of one thread per core, every product waits for the other cores, which a
    benchmark's other workers keep busy: 12 ms per decision measured on a loaded 2-core machine
    (1.9 ms idle) against 0.17 ms on one thread. Setting the count costs about 0.2 us.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


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
        self.path = find_model(model_path, algo)
        self.meta = read_metadata(self.path)
        self.algo = self.meta["algo"]
        if algo is not None and algo != self.algo:
            raise ValueError(f"{self.path} is a {self.algo} model, not {algo}")
        if self.algo not in ALGO_WRAPPERS:
            raise ValueError(f"{self.path}: unknown algo {self.algo!r}")
        self.recipe = EnvRecipe.from_dict(self.meta["env"])
        self.deterministic = deterministic
        self.model = load_agent(self.algo, self.path, self.meta, self.recipe)
        self._weights = (
            self.meta.get("sha256") or file_sha256(self.path)
            if self.meta.get("hyperparameters", {}).get("policy_class") == "device_set"
            else ""
        )  # the key of this model's rebuilt device-set policies (_TRANSFERS)
        self._base: Any = None
        self._decoder: Any = None

    def _device_set(self, decoder: Any) -> Any:
        """The device-set policy with this model's weights for the decoder's env.

        Built once per (model file, number of devices) in the process (``_TRANSFERS``).
        """
        from agents.device_set import transfer

        key = (self._weights, tuple(decoder.observation_space.shape))
        policy = _TRANSFERS.get(key)
        if policy is None:
            if len(_TRANSFERS) >= _TRANSFERS_MAX:
                _TRANSFERS.pop(next(iter(_TRANSFERS)))
            policy = _TRANSFERS[key] = transfer(self.model.policy, decoder)
        return policy

    def decoder(self, env: gym.Env) -> Any:
        """The recipe's action wrapper around ``env`` (built once per env)."""
        base = self.recipe.check(env)
        if base is not self._base:
            self._decoder = self.recipe.wrap(base)
            self._base = base
        return self._decoder

    def __call__(self, env: gym.Env, obs: Any) -> dict[str, Any]:
        with one_torch_thread():
            return self._decide(env, obs)

    def _decide(self, env: gym.Env, obs: Any) -> dict[str, Any]:
        decoder = self.decoder(env)
        obs = np.asarray(obs, dtype=np.float32)
        expected = self.model.observation_space.shape
        if obs.shape != expected and self.meta.get("hyperparameters", {}).get("policy_class") == (
            "device_set"
        ):  # the same weights for this env's number of devices (agents.device_set)
            action = self._device_set(decoder).predict(obs, deterministic=self.deterministic)[0]
            return native_to_decision(decoder.scn, decoder.base.native_space, decoder.action(action))
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


def ppo_method(arg: str, seed: int = 0) -> AgentPolicy:
    """Entry point ``ppo:PATH``: a PPO model as a benchmark method (``seed`` unused: deterministic)."""
    return AgentPolicy(arg, algo="ppo")


def maskable_ppo_method(arg: str, seed: int = 0) -> AgentPolicy:
    """Entry point ``maskable_ppo:PATH``: a MaskablePPO model (``seed`` unused: deterministic)."""
    return AgentPolicy(arg, algo="maskable_ppo")
