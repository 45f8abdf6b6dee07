"""Train a PPO or MaskablePPO scheduler on a splitenv scenario (``splitenv train``).

Reads top to bottom like cleanrl's ``ppo.py``, but the algorithm is
stable-baselines3's: a typed :class:`Args` (defaults, then the preset's tuned values
from ``configs/agents/<preset>.yaml``, then the command line), vectorized envs,
TensorBoard and CSV logs, periodic evaluation on the preset's fixed validation
seeds with best-model checkpointing, periodic checkpoints to resume from, and a
metadata file (``run.json``) holding the hyperparameters and the env recipe the
model needs at inference. Output of a run ``{scenario}__{algo}__{seed}__{time}``::

    run.json          args, env recipe, hyperparameters, versions, timing, best validation
    model.zip         the final model;  best_model.zip: best on the validation seeds
    evaluations.npz   EvalCallback's log;  progress.csv, events.out.tfevents.*: training logs
    checkpoints/      model_<steps>_steps.zip, for --resume

Usage::

    splitenv train --scenario scct --algo ppo --timesteps 40000 --out runs
    python -m agents.train --scenario scct --algo maskable_ppo --set n_envs=1 --set ent_coef=0.01
"""

from __future__ import annotations

import ast
import inspect
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from agents.envs import ALGO_WRAPPERS, METADATA_NAME, EnvRecipe, make_eval_env, make_vec_envs
from splitenv.instances import instance_set
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
    vec_env: str = "subproc"
    """subproc (one process per env) or dummy (all in this process)"""
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

    eval_freq: int = 2_000
    """environment steps (all envs together) between validation evaluations"""
    eval_episodes: int = 0
    """validation seeds per evaluation (0: the preset's whole validation set)"""
    checkpoint_freq: int = 10_000
    """environment steps between checkpoints"""
    torch_threads: int = 1
    """torch intra-op threads (the envs are the bottleneck)"""
    progress_bar: bool = False
    """show a progress bar (tqdm + rich)"""
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
        for name in ("timesteps", "n_envs", "n_steps", "batch_size", "n_epochs", "eval_freq"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)!r}; allowed: an integer >= 1")
        for name, allowed in (("lr_schedule", ("constant", "linear")), ("activation", ("tanh", "relu"))):
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
        """Keyword arguments of PPO / MaskablePPO (JSON-able: the activation is a name)."""
        policy_kwargs: dict[str, Any] = {
            "net_arch": {"pi": list(self.net_arch), "vf": list(self.net_arch)},
            "activation_fn": self.activation,
        }
        if self.wrapper == "box":
            policy_kwargs["log_std_init"] = self.log_std_init
        names = ("n_steps", "batch_size", "n_epochs", "learning_rate", "gamma", "gae_lambda")
        names += ("clip_range", "ent_coef", "vf_coef", "max_grad_norm")
        return {n: getattr(self, n) for n in names} | {"policy_kwargs": policy_kwargs}


def field_help() -> dict[str, str]:
    """Each Args field's doc string (the string literal under it), for --help texts."""
    tree = ast.parse(inspect.getsource(Args))
    body = tree.body[0].body  # type: ignore[attr-defined]
    out = {}
    for prev, node in zip(body, body[1:], strict=False):
        if isinstance(prev, ast.AnnAssign) and isinstance(node, ast.Expr):
            out[prev.target.id] = node.value.value  # type: ignore[attr-defined]
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
    except (TypeError, ValueError):
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
    ``network.n_devices=6`` (a dotted key) goes to ``overrides``.

    Raises:
        ValueError: a pair without ``=``.
    """
    from splitenv._fields import parse_value

    given: dict[str, Any] = {"overrides": {}}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set {pair!r}: expected key=value, e.g. learning_rate=1e-3")
        key, text = (part.strip() for part in pair.split("=", 1))
        if "." in key:
            given["overrides"][key] = parse_value(text)
        else:
            given[key] = parse_value(text)
    return given


def _algo_class(algo: str):
    if algo == "maskable_ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    from stable_baselines3 import PPO

    return PPO


def _resume_path(path: str) -> Path:
    """A checkpoint file, or the newest checkpoint (else model.zip) of a run folder."""
    p = Path(path)
    if p.is_dir():
        found = sorted(
            (p / "checkpoints").glob("*_steps.zip"), key=lambda c: int(c.stem.split("_")[-2])
        )
        p = found[-1] if found else p / "model.zip"
    if not p.is_file():
        raise FileNotFoundError(f"--resume {path}: no checkpoint at {p}")
    return p


def _versions() -> dict[str, str]:
    names = ("splitenv", "stable_baselines3", "sb3_contrib", "torch", "gymnasium", "numpy")
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def train(args: Args) -> Path:
    """Run the training described by ``args``; return the run folder."""
    import torch
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback
    from stable_baselines3.common.logger import configure

    from agents.callbacks import WallClock, eval_callback, summary

    torch.set_num_threads(args.torch_threads)
    started = time.time()
    preset = load_scenario(args.scenario, args.overrides).name
    run_name = f"{preset}__{args.algo}__{args.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(args.out) / run_name
    run_dir.mkdir(parents=True, exist_ok=False)

    # envs: training (vectorized) and validation (fixed seeds, maybe another inner allocator)
    recipe = args.recipe()
    envs = make_vec_envs(recipe, args.n_envs, args.seed, args.vec_env)
    eval_recipe = recipe.replace(inner_allocator=args.eval_inner_allocator or args.inner_allocator)
    seeds = instance_set(preset, "validation")
    seeds = seeds[: args.eval_episodes] if args.eval_episodes else seeds
    eval_env = make_eval_env(eval_recipe, seeds)

    # the model: new, or loaded from a checkpoint with its own hyperparameters
    algo = _algo_class(args.algo)
    hyper = args.sb3_kwargs()
    if args.resume:
        resume_from = _resume_path(args.resume)
        model = algo.load(resume_from, env=envs, device="cpu")
        hyper = {"loaded_from_checkpoint": str(resume_from)}
    else:
        resume_from = None
        kwargs = json.loads(json.dumps(hyper))  # a copy: the activation name becomes the class
        act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[args.activation]
        kwargs["policy_kwargs"]["activation_fn"] = act
        if args.lr_schedule == "linear":
            lr0 = args.learning_rate
            kwargs["learning_rate"] = lambda progress: lr0 * progress
        model = algo("MlpPolicy", envs, seed=args.seed, device="cpu", verbose=args.verbose, **kwargs)
    model.set_logger(configure(str(run_dir), ["csv", "tensorboard"] + ["stdout"] * (args.verbose > 0)))
    start_steps = model.num_timesteps

    meta: dict[str, Any] = {
        "run_name": run_name,
        "algo": args.algo,
        "env": recipe.to_dict(),
        "eval_env": eval_recipe.to_dict(),
        "validation_seeds": seeds,
        "args": asdict(args),
        "hyperparameters": hyper,
        "resumed_from": str(resume_from) if resume_from else None,
        "command": " ".join(sys.argv),
        "versions": _versions(),
        "status": "running",
    }
    _write_json(run_dir / METADATA_NAME, meta)

    # train: evaluation + best model, checkpoints, wall-clock budget
    per_env = lambda steps: max(steps // args.n_envs, 1)  # noqa: E731  (callbacks count vec steps)
    evaluator = eval_callback(args.algo, eval_env, len(seeds), per_env(args.eval_freq), run_dir)
    callbacks = CallbackList([
        evaluator,
        CheckpointCallback(per_env(args.checkpoint_freq), str(run_dir / "checkpoints"), "model"),
        WallClock(args.max_minutes),
    ])  # fmt: skip
    learn_start = time.time()
    remaining = max(args.timesteps - start_steps, 0)
    if remaining:
        model.learn(
            remaining,
            callback=callbacks,
            reset_num_timesteps=resume_from is None,
            progress_bar=args.progress_bar,
        )
    model.save(run_dir / "model.zip")
    envs.close()
    eval_env.close()

    meta.update(
        status="done",
        num_timesteps=int(model.num_timesteps),
        trained_timesteps=int(model.num_timesteps - start_steps),
        train_seconds=round(time.time() - learn_start, 1),
        total_seconds=round(time.time() - started, 1),
        best_validation=summary(evaluator),
    )
    _write_json(run_dir / METADATA_NAME, meta)
    return run_dir


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.train [--FIELD VALUE ...] [--set KEY=VALUE ...]``: every Args field is a flag."""
    import argparse

    from splitenv._fields import parse_value

    helps = field_help()
    kinds = {f.name: str(f.type) for f in fields(Args) if f.name != "overrides"}
    parser = argparse.ArgumentParser(prog="python -m agents.train", description=__doc__.split("\n")[0])
    for f in fields(Args):
        if f.name in kinds:
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, help=helps.get(f.name))
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="an Args field (learning_rate=1e-3) or a dotted scenario override (network.n_devices=6)",
    )  # fmt: skip
    ns = vars(parser.parse_args(argv))
    given = parse_settings(ns.pop("set"))
    given.update({k: v if kinds[k] == "str" else parse_value(v) for k, v in ns.items() if v is not None})
    print(train(make_args(**given)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
