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

import json
import platform
import sys
import time
from dataclasses import asdict, fields
from importlib import metadata
from pathlib import Path
from typing import Any

from agents.args import Args, field_help, make_args, parse_settings
from agents.envs import METADATA_NAME, algo_class, make_eval_env, make_vec_envs, read_metadata
from agents.safe_load import load_model
from splitenv.instances import instance_set
from splitenv.scenarios import load_scenario


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


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the env workers, once closed)."""
    import resource

    return sum(
        u.ru_utime + u.ru_stime
        for u in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


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
    recipe = args.recipe()
    recipe.make().close()  # a bad recipe (allocator name, override) fails here, not in a worker
    run_dir.mkdir(parents=True, exist_ok=False)

    # envs: training (vectorized) and validation (fixed seeds, maybe another inner allocator)
    envs = make_vec_envs(recipe, args.n_envs, args.seed, args.vec_env)
    eval_recipe = recipe.replace(inner_allocator=args.eval_inner_allocator or args.inner_allocator)
    seeds = instance_set(preset, "validation")
    seeds = seeds[: args.eval_episodes] if args.eval_episodes else seeds
    eval_env = make_eval_env(eval_recipe, seeds)

    # the model: new, or loaded from a checkpoint with its own hyperparameters
    algo = algo_class(args.algo)
    hyper = args.sb3_kwargs()
    if args.resume:
        resume_from = _resume_path(args.resume)
        hyper = read_metadata(resume_from).get("hyperparameters") or {}
        model = load_model(
            algo, resume_from, observation_space=envs.observation_space,
            action_space=envs.action_space, hyperparameters=hyper, env=envs,
        )  # fmt: skip
    else:
        resume_from = None
        kwargs = json.loads(json.dumps(hyper))  # a copy: the activation name becomes the class
        act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[args.activation]
        kwargs["policy_kwargs"]["activation_fn"] = act
        if args.lr_schedule == "linear":
            lr0 = args.learning_rate
            kwargs["learning_rate"] = lambda progress: lr0 * progress
        model = algo(
            "MlpPolicy", envs, seed=args.seed, device="cpu", verbose=args.verbose, **kwargs
        )
    model.set_logger(
        configure(str(run_dir), ["csv", "tensorboard"] + ["stdout"] * (args.verbose > 0))
    )
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
    learn_start, cpu_start = time.time(), _cpu_seconds()
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
        train_cpu_seconds=round(_cpu_seconds() - cpu_start, 1),
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
    parser = argparse.ArgumentParser(
        prog="python -m agents.train", description=__doc__.split("\n")[0]
    )
    for f in fields(Args):
        if f.name in kinds:
            parser.add_argument(
                f"--{f.name.replace('_', '-')}", dest=f.name, help=helps.get(f.name)
            )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="an Args field (learning_rate=1e-3) or a dotted scenario override (network.n_devices=6)",
    )  # fmt: skip
    ns = vars(parser.parse_args(argv))
    given = parse_settings(ns.pop("set"))
    given.update(
        {k: v if kinds[k] == "str" else parse_value(v) for k, v in ns.items() if v is not None}
    )
    print(train(make_args(**given)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
