"""The environment a run trains on, as data, and the vectorized envs built from it.

An :class:`EnvRecipe` names everything needed to rebuild the env a model acts in:
scenario and overrides, timescale, episode length, inner allocator and the action
wrapper that encodes the native ``Dict`` action for stable-baselines3. A run
stores it in its metadata file, so :class:`agents.policy.AgentPolicy` decodes
actions with the wrapper the model was trained with.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import gymnasium as gym

from splitenv.env import SplitLoRAEnv
from splitenv.errors import FileFormatError
from splitenv.instances import InstanceReset
from splitenv.lifecycle import worker_init
from splitenv.registration import make
from splitenv.spaces import TIMESCALES
from splitenv.wrappers import BoxAction, MultiDiscreteAction

#: algorithm -> the action wrappers it can train with (the first is its default)
ALGO_WRAPPERS = {"ppo": ("box", "multidiscrete"), "maskable_ppo": ("multidiscrete",)}
#: algorithm -> "module:class" of its stable-baselines3 implementation (imported when used)
ALGO_CLASSES = {"ppo": "stable_baselines3:PPO", "maskable_ppo": "sb3_contrib:MaskablePPO"}


def algo_class(algo: str) -> Any:
    """The SB3 class of ``algo`` (imports stable-baselines3 / sb3-contrib now).

    Raises:
        ValueError: unknown algorithm.
    """
    if algo not in ALGO_CLASSES:
        raise ValueError(f"algo = {algo!r}; allowed: {', '.join(ALGO_CLASSES)}")
    module, name = ALGO_CLASSES[algo].split(":")
    return getattr(importlib.import_module(module), name)


#: file written next to a run's models (``<model>.json`` for a single shipped model)
METADATA_NAME = "run.json"


@dataclass(frozen=True)
class EnvRecipe:
    """Everything that defines the env a model acts in.

    Attributes:
        scenario: preset name or YAML path.
        timescale: ``round``, ``epoch`` or ``joint`` (:class:`splitenv.env.SplitLoRAEnv`).
        rounds: rounds per episode.
        epochs_per_round: epochs per round.
        inner_allocator: the env's small-timescale allocator for ``round`` (``paper``, ``equal``, ...).
        wrapper: ``box`` (:class:`~splitenv.wrappers.BoxAction`) or ``multidiscrete``
            (:class:`~splitenv.wrappers.MultiDiscreteAction`, with ``action_masks()``).
        levels: levels of each continuous field of the MultiDiscrete wrapper.
        overrides: dotted scenario overrides (``{"network.n_devices": 6}``).
    """

    scenario: str = "scct"
    timescale: str = "round"
    rounds: int = 4
    epochs_per_round: int = 3
    inner_allocator: str = "paper"
    wrapper: str = "box"
    levels: int = 11
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.timescale not in TIMESCALES:
            raise ValueError(f"timescale = {self.timescale!r}; allowed: {', '.join(TIMESCALES)}")
        if self.wrapper not in ("box", "multidiscrete"):
            raise ValueError(f"wrapper = {self.wrapper!r}; allowed: box, multidiscrete")

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~splitenv.env.SplitLoRAEnv`."""
        return {
            "config": self.scenario,
            "timescale": self.timescale,
            "rounds": self.rounds,
            "epochs_per_round": self.epochs_per_round,
            "inner_allocator": self.inner_allocator,
            "overrides": dict(self.overrides),
        }

    def make(self) -> gym.Env:
        """The env with its native ``Dict`` action, through the registry (per-id defaults apply)."""
        kwargs = self.env_kwargs()
        return make(kwargs.pop("config"), **kwargs)

    def wrap(self, env: gym.Env) -> BoxAction | MultiDiscreteAction:
        """``env`` with this recipe's action wrapper: SB3's action space and the decoder."""
        if self.wrapper == "box":
            return BoxAction(env)
        return MultiDiscreteAction(env, levels=self.levels)

    def make_wrapped(self) -> gym.Env:
        """The env the agent trains in: native env, then the action wrapper."""
        return self.wrap(self.make())

    def replace(self, **changes: Any) -> EnvRecipe:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvRecipe:
        """Inverse of :meth:`to_dict`; unknown keys raise naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown env recipe keys {unknown}; known: {sorted(known)}")
        return cls(**data)

    def check(self, env: gym.Env) -> SplitLoRAEnv:
        """The env's SplitLoRAEnv, after checking it is the kind of env this recipe builds.

        Raises:
            ValueError: another timescale, or another number of devices.
        """
        base = env.unwrapped
        if not isinstance(base, SplitLoRAEnv):
            raise TypeError(f"an agent needs a SplitLoRAEnv, got {type(base).__name__}")
        if base.timescale != self.timescale:
            raise ValueError(
                f"the agent was trained at timescale {self.timescale!r}; the env's is {base.timescale!r}"
            )
        return base


#: the instance-cycling wrapper of the validation env (one class, in the core)
SeedCycle = InstanceReset


@dataclass(frozen=True)
class InWorker:
    """An env factory for a worker process: :func:`splitenv.lifecycle.worker_init`, then the env.

    The worker then ignores Ctrl-C (the trainer stops the run) and exits when the trainer dies,
    even by SIGKILL (else it would wait on its pipe forever: forked siblings hold its other end).
    """

    recipe: EnvRecipe

    def __call__(self) -> gym.Env:
        worker_init()
        return self.recipe.make_wrapped()


#: the VecEnv kinds make_vec_envs builds (the first is the default)
VEC_ENVS = ("native", "subproc", "dummy")


def make_native_vec_env(recipe: EnvRecipe, n_envs: int, seed: int):
    """``n_envs`` episodes in splitenv's natively batched vector env, as a monitored SB3 VecEnv.

    :class:`agents.vec_env.NativeVecEnv` (one engine call per epoch for all envs), seeded as
    ``make_vec_env`` seeds its envs (env i gets ``seed + i`` at the first reset).
    """
    from gymnasium.vector import AutoresetMode
    from stable_baselines3.common.vec_env import VecMonitor

    from agents.vec_env import NativeVecEnv
    from splitenv.registration import make_vec
    from splitenv.vector_wrappers import VectorBoxAction, VectorMultiDiscreteAction

    kwargs = recipe.env_kwargs()
    vec = make_vec(kwargs.pop("config"), n_envs, autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
    wrapped = (
        VectorBoxAction(vec)
        if recipe.wrapper == "box"
        else VectorMultiDiscreteAction(vec, levels=recipe.levels)
    )
    env = NativeVecEnv(wrapped)
    env.seed(seed)
    return VecMonitor(env)


def make_vec_envs(recipe: EnvRecipe, n_envs: int, seed: int, vec_env: str = "native"):
    """``n_envs`` monitored training envs in a SB3 VecEnv (``native``, ``subproc`` or ``dummy``).

    ``native``: :func:`make_native_vec_env`. ``subproc``: worker processes, forked where the
    OS allows (the workers run only numpy code, and a fork starts in milliseconds where
    forkserver re-imports the caller's modules for seconds); each worker builds its env through
    :class:`InWorker`. ``dummy``: all in this process.
    """
    import multiprocessing

    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    if vec_env not in VEC_ENVS:
        raise ValueError(f"vec_env = {vec_env!r}; allowed: {', '.join(VEC_ENVS)}")
    if vec_env == "native":
        return make_native_vec_env(recipe, n_envs, seed)
    if vec_env == "dummy" or n_envs == 1:
        return make_vec_env(recipe.make_wrapped, n_envs=n_envs, seed=seed, vec_env_cls=DummyVecEnv)
    methods = multiprocessing.get_all_start_methods()
    kwargs = {"start_method": "fork"} if "fork" in methods else {}
    return make_vec_env(
        InWorker(recipe),
        n_envs=n_envs,
        seed=seed,
        vec_env_cls=SubprocVecEnv,
        vec_env_kwargs=kwargs,
    )


def make_eval_env(recipe: EnvRecipe, seeds: list[int]):
    """One monitored env replaying ``seeds`` (a DummyVecEnv, for EvalCallback)."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    factory: Callable[[], gym.Env] = lambda: InstanceReset(Monitor(recipe.make_wrapped()), seeds)  # noqa: E731
    return DummyVecEnv([factory])


def metadata_path(model_path: str | Path) -> Path:
    """The metadata file of a model: ``<model>.json``, else ``run.json`` of its run.

    Raises:
        FileNotFoundError: none exists; the message names the places looked at.
    """
    p = Path(model_path)
    stem = p.with_suffix("") if p.suffix == ".zip" else p
    candidates = [
        stem.with_suffix(".json"),
        p.parent / METADATA_NAME,
        p.parent.parent / METADATA_NAME,
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"no metadata for model {model_path}: looked for {', '.join(map(str, candidates))}"
    )


def read_metadata(model_path: str | Path) -> dict[str, Any]:
    """The run metadata of a model (see :func:`metadata_path`): plain JSON, checked for shape.

    Raises:
        FileFormatError: not UTF-8 JSON, not an object, or without ``algo`` and ``env``.
    """
    path = metadata_path(model_path)
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path}: not a JSON metadata file ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("env"), dict) or "algo" not in meta:
        raise FileFormatError(f"{path}: metadata must be a JSON object with 'algo' and 'env'")
    return meta
