"""Every setting of a training run: the typed :class:`Args`, and where values come from.

Precedence: the field defaults below, then the preset's tuned values in
``configs/agents/<preset>.yaml`` (its ``common`` keys, then the algorithm's), then the
command line (:func:`parse_settings`: ``--set name=value`` for a field, ``--set
section.key=value`` for a scenario override). Each field's doc string is its ``--help``.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import math
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from agents.envs import ALGO_WRAPPERS, EnvRecipe
from splitenv.cli_util import split_settings
from splitenv.scenarios import config_dirs, load_scenario


@dataclass
class Args:
    """Every setting of a training run (``--set name=value`` on the command line)."""

    scenario: str = "scct"
    """preset name or YAML path of the scenario"""
    algo: str = "ppo"
    """ppo (stable-baselines3) or maskable_ppo (sb3-contrib, MultiDiscrete actions with masks)"""
    timesteps: int = 50_000
    """total environment steps of the run (a resumed run trains only the steps its checkpoint lacks)"""
    seed: int = 0
    """seed of the training envs, the network initialization and the run name"""
    out: str = "runs"
    """folder that receives the run folder"""
    resume: str = ""
    """checkpoint (.zip) or run folder to continue from (its latest checkpoint, else model.zip)"""
    max_minutes: float = 0.0
    """stop after this much wall-clock time, evaluations included (0: no limit)"""
    overrides: dict[str, Any] = field(default_factory=dict)
    """dotted scenario overrides, e.g. {"network.n_devices": 6}"""

    timescale: str = "round"
    """round, epoch or joint (see SplitLoRAEnv)"""
    rounds: int = 4
    """rounds per episode"""
    epochs_per_round: int = 3
    """epochs per round"""
    inner_allocator: str = "paper"
    """small-timescale allocator of the training envs (round timescale): paper, equal, ..."""
    eval_inner_allocator: str = ""
    """inner allocator of the validation env ('' = the training one)"""
    wrapper: str = ""
    """box or multidiscrete action encoding ('' = box for ppo, multidiscrete for maskable_ppo)"""
    levels: int = 11
    """levels of each continuous field of the multidiscrete wrapper"""

    n_envs: int = 2
    """parallel training envs"""
    vec_env: str = "native"
    """native (one batched env, one engine call for all), subproc (a process each) or dummy"""
    n_steps: int = 256
    """steps per env between updates (rollout length)"""
    batch_size: int = 64
    """minibatch size of the PPO update"""
    n_epochs: int = 10
    """passes over each rollout"""
    learning_rate: float = 3e-4
    """Adam step size (initial value with lr_schedule = linear)"""
    lr_schedule: str = "constant"
    """constant, or linear decay to 0 over the run"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    clip_range: float = 0.2
    """PPO clipping of the probability ratio"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """gradient clipping"""
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    """hidden layer sizes of the policy and value networks (separate networks)"""
    activation: str = "tanh"
    """tanh or relu"""
    log_std_init: float = 0.0
    """initial log standard deviation of the Gaussian policy (box wrapper only)"""
    policy: str = "mlp"
    """mlp (networks over the flat observation) or device_set (one MLP shared by the devices and a
    pooled context, agents.device_set: the same weights act for any N; ppo with the box wrapper)"""
    action_prior: str = "none"
    """none, or default: the policy's mean action starts at the preset's default decision (the
    reward's reference, splitenv.wrappers.box_default) and training learns a residual around it
    (ppo with the box wrapper and the mlp policy)"""

    eval_freq: int = 2_000
    """environment steps (all envs together) between validation evaluations"""
    eval_episodes: int = 0
    """validation seeds per evaluation (0: the preset's whole validation set)"""
    checkpoint_freq: int = 10_000
    """environment steps between checkpoints"""
    checkpoint_minutes: float = 5.0
    """also save a checkpoint every this many minutes of wall time (0: by steps only)"""
    torch_threads: int = 1
    """torch intra-op threads (the envs are the bottleneck)"""
    progress_bar: bool = False
    """show a progress bar and a line per evaluation on stderr (`splitenv train`: on unless -q)"""
    verbose: int = 0
    """1: print SB3's training and evaluation logs"""

    def __post_init__(self) -> None:
        if self.algo not in ALGO_WRAPPERS:
            raise ValueError(f"algo = {self.algo!r}; allowed: {', '.join(ALGO_WRAPPERS)}")
        self.wrapper = self.wrapper or ALGO_WRAPPERS[self.algo][0]
        if self.wrapper not in ALGO_WRAPPERS[self.algo]:
            raise ValueError(
                f"wrapper = {self.wrapper!r} with algo {self.algo!r}; allowed: "
                f"{', '.join(ALGO_WRAPPERS[self.algo])}"
            )
        _check_ranges(self)
        if self.policy == "device_set" and (self.algo, self.wrapper) != ("ppo", "box"):
            raise ValueError(
                f"policy = 'device_set' needs algo ppo with the box wrapper, not "
                f"{self.algo} with {self.wrapper}"
            )
        if self.action_prior == "default" and (self.wrapper, self.policy) != ("box", "mlp"):
            raise ValueError(
                f"action_prior = 'default' needs the box wrapper and the mlp policy, not "
                f"{self.wrapper} with {self.policy}"
            )
        for name, allowed in (
            ("action_prior", ("none", "default")),
            ("lr_schedule", ("constant", "linear")),
            ("activation", ("tanh", "relu")),
            ("policy", ("mlp", "device_set")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} = {getattr(self, name)!r}; allowed: {', '.join(allowed)}")

    def recipe(self) -> EnvRecipe:
        """The training env's recipe."""
        return EnvRecipe(
            scenario=self.scenario, timescale=self.timescale, rounds=self.rounds,
            epochs_per_round=self.epochs_per_round, inner_allocator=self.inner_allocator,
            wrapper=self.wrapper, levels=self.levels, overrides=dict(self.overrides),
        )  # fmt: skip

    def sb3_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of PPO / MaskablePPO (JSON-able: the activation is a name).

        ``policy = device_set``: ``policy_class`` names it and ``policy_kwargs`` hold its
        ``hidden`` width (the first of ``net_arch``) and activation; the trainer adds the
        action ``layout`` from the env (:func:`agents.device_set.box_layout`).
        """
        if self.policy == "device_set":
            return {n: getattr(self, n) for n in _SB3_NAMES} | {
                "policy_class": "device_set",
                "policy_kwargs": {
                    "hidden": int(self.net_arch[0]),
                    "activation": self.activation,
                    "log_std_init": self.log_std_init,
                },
            }
        policy_kwargs: dict[str, Any] = {
            "net_arch": {"pi": list(self.net_arch), "vf": list(self.net_arch)},
            "activation_fn": self.activation,
        }
        if self.wrapper == "box":
            policy_kwargs["log_std_init"] = self.log_std_init
        return {n: getattr(self, n) for n in _SB3_NAMES} | {"policy_kwargs": policy_kwargs}


#: Args fields passed to PPO / MaskablePPO as they are
_SB3_NAMES = (
    "n_steps", "batch_size", "n_epochs", "learning_rate", "gamma", "gae_lambda",
    "clip_range", "ent_coef", "vf_coef", "max_grad_norm",
)  # fmt: skip

#: integer fields -> (lowest, highest) allowed: the highest bound what one machine can run
INT_RANGES = {
    "timesteps": (1, 10**10), "seed": (0, 2**32 - 1), "rounds": (1, 1_000_000),
    "epochs_per_round": (1, 1_000_000), "levels": (2, 1_000), "n_envs": (1, 4_096),
    "n_steps": (1, 10**7), "batch_size": (1, 10**7), "n_epochs": (1, 10_000),
    "eval_freq": (1, 10**10), "eval_episodes": (0, 100_000), "checkpoint_freq": (1, 10**10),
    "torch_threads": (1, 1_024), "verbose": (0, 2),
}  # fmt: skip
#: float fields -> (lowest, highest, lowest allowed itself): finite values in that range
FLOAT_RANGES = {
    "learning_rate": (0.0, 10.0, False), "gamma": (0.0, 1.0, True),
    "gae_lambda": (0.0, 1.0, True), "clip_range": (0.0, 10.0, False),
    "ent_coef": (0.0, 1e6, True), "vf_coef": (0.0, 1e6, True),
    "max_grad_norm": (0.0, 1e6, False), "log_std_init": (-20.0, 20.0, True),
    "max_minutes": (0.0, 1e7, True), "checkpoint_minutes": (0.0, 1e7, True),
}  # fmt: skip
#: subprocess envs start one process each: more than this is a typo, not a machine
MAX_SUBPROC_ENVS = 256
MAX_LAYER = 65_536


def _check_ranges(args: Args) -> None:
    """Raise ValueError naming the first field outside its allowed range (NaN included)."""
    for name, (lo, hi) in INT_RANGES.items():
        value = getattr(args, name)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"{name} = {value!r}; allowed: an integer in [{lo}, {hi:,}]")
    for name, (bottom, top, closed) in FLOAT_RANGES.items():
        x = float(getattr(args, name))
        if not (math.isfinite(x) and (bottom <= x if closed else bottom < x) and x <= top):
            low = f"[{bottom:g}" if closed else f"({bottom:g}"
            raise ValueError(f"{name} = {x!r}; allowed: a finite number in {low}, {top:g}]")
    if args.vec_env == "subproc" and args.n_envs > MAX_SUBPROC_ENVS:
        raise ValueError(
            f"n_envs = {args.n_envs} with vec_env subproc (a process per env); allowed: at most "
            f"{MAX_SUBPROC_ENVS} (vec_env=dummy runs more in this process)"
        )
    arch = args.net_arch
    if not (0 < len(arch) <= 64 and all(1 <= int(n) <= MAX_LAYER for n in arch)):
        raise ValueError(
            f"net_arch = {arch!r}; allowed: 1 to 64 layer sizes, each in [1, {MAX_LAYER:,}]"
        )


def field_help() -> dict[str, str]:
    """Each Args field's doc string (the string literal under it), for --help texts."""
    tree = ast.parse(inspect.getsource(Args))
    body = tree.body[0].body  # type: ignore[attr-defined]
    out = {}
    for prev, node in itertools.pairwise(body):
        if (
            isinstance(prev, ast.AnnAssign)
            and isinstance(prev.target, ast.Name)
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
        ):
            out[prev.target.id] = str(node.value.value)
    return out


def tuned_defaults(scenario: str, algo: str) -> dict[str, Any]:
    """The preset's tuned values: ``configs/agents/<preset>.yaml``, its ``common`` then ``<algo>`` keys."""
    preset = load_scenario(scenario).name
    paths = [d / "agents" / f"{preset}.yaml" for d in config_dirs()]
    found = [p for p in paths if p.is_file()]
    if not found:
        return {}
    data = yaml.safe_load(found[0].read_text()) or {}
    return {**(data.get("common") or {}), **(data.get(algo) or {})}


def _coerce(name: str, kind: str, value: Any) -> Any:
    """``value`` as the field's type (YAML reads ``3e-4`` as a string, ``1`` as an int)."""
    try:
        if kind == "int" and float(value) == int(float(value)):
            return int(float(value))
        if kind == "float":
            return float(value)
        if kind == "str":
            return str(value)
        if kind == "bool" and isinstance(value, (bool, int)):
            return bool(value)
        if kind == "list[int]":
            return [int(v) for v in value]
        if kind.startswith("dict") and isinstance(value, dict):
            return dict(value)
    except (TypeError, ValueError, OverflowError):
        pass
    raise ValueError(f"{name} = {value!r}; expected {kind}")


def make_args(scenario: str = "scct", algo: str = "ppo", **given: Any) -> Args:
    """Args from the defaults, then the preset's tuned values, then ``given``.

    Raises:
        ValueError: an unknown field (the message lists the known ones) or an invalid value.
    """
    kinds = {f.name: str(f.type) for f in fields(Args)}
    tuned = tuned_defaults(scenario, algo)
    unknown = sorted((set(given) | set(tuned)) - set(kinds))
    if unknown:
        raise ValueError(f"unknown training settings {unknown}; known: {', '.join(sorted(kinds))}")
    values = {**tuned, **given, "scenario": scenario, "algo": algo}
    return Args(**{k: _coerce(k, kinds[k], v) for k, v in values.items()})


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``--set`` pairs as make_args keywords: an Args field, or a dotted scenario override.

    ``learning_rate=1e-3`` and ``net_arch=[128,128]`` set fields of :class:`Args`;
    ``network.n_devices=6`` (a dotted key) goes to ``overrides``
    (:func:`splitenv.cli_util.split_settings`, the one ``--set`` parser).

    Raises:
        ConfigError: a pair without ``=`` (a ValueError).
    """
    settings, overrides = split_settings(pairs)
    return {"overrides": overrides, **settings}
