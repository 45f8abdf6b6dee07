"""Train a PPO or MaskablePPO scheduler on a splitenv scenario (``splitenv train``).

Reads top to bottom like cleanrl's ``ppo.py``, but the algorithm is
stable-baselines3's: a typed :class:`Args` (defaults, then the preset's tuned values
from ``configs/agents/<preset>.yaml``, then the command line), vectorized envs,
TensorBoard and CSV logs, periodic evaluation on the preset's fixed validation
seeds with best-model checkpointing (and once more at the end: every run length has a best
model), checkpoints to resume from every ``checkpoint_freq`` steps and every
``checkpoint_minutes`` of wall time, and a metadata file (``run.json``) holding the
hyperparameters and the env recipe the model needs at inference, and the run's status
(:mod:`agents.run_status`: running, then finished, interrupted or failed). Ctrl-C or SIGTERM
stops at the next step, saves a checkpoint and raises :class:`~splitenv.errors.Interrupted`
naming the command that resumes; env worker processes ignore Ctrl-C and exit when the trainer
dies. Output of a run ``{scenario}__{algo}__{seed}__{time}`` (created once the envs and the
model are built, so a setup error leaves no folder)::

    run.json          args, env recipe, hyperparameters, versions, status, timing, best validation,
                      scenario version and config hash, seed
    model.zip         the final model;  best_model.zip: best on the validation seeds
    evaluations.npz   EvalCallback's log;  progress.csv, events.out.tfevents.*: training logs
    checkpoints/      model_<steps>_steps.zip, for --resume

Usage::

    splitenv train --scenario scct --algo ppo --timesteps 40000 --out runs
    python -m agents.train --scenario scct --algo maskable_ppo --set n_envs=1 --set ent_coef=0.01
"""

from __future__ import annotations

import contextlib
import json
import platform
import re
import shlex
import sys
import time
from dataclasses import asdict, fields
from importlib import metadata
from pathlib import Path
from typing import Any

from agents.args import Args, field_help, make_args, parse_settings
from agents.envs import METADATA_NAME, algo_class, make_eval_env, make_vec_envs, read_metadata
from agents.run_status import resume_hint, run_status
from agents.safe_load import load_model
from splitenv.errors import ConfigError, Interrupted
from splitenv.instances import instance_set
from splitenv.limits import ENV_VAR, limit_bytes
from splitenv.scenarios import load_scenario


def _resume_path(path: str) -> Path:
    """A checkpoint file, or the newest checkpoint (else model.zip) of a run folder."""
    p = Path(path)
    if p.is_dir():
        steps = {
            c: re.fullmatch(r"model_(\d+)_steps", c.stem) for c in (p / "checkpoints").glob("*.zip")
        }
        found = sorted((int(m.group(1)), c) for c, m in steps.items() if m)
        p = found[-1][1] if found else p / "model.zip"
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


def check_rollout_memory(args: Args, env: Any) -> None:
    """Refuse a rollout buffer (``n_steps x n_envs`` transitions) beyond the memory cap.

    SB3 stores each transition's observation, action and six scalars as float32, and copies
    the buffer once when it trains on it (hence the factor 2); the cap is
    :func:`splitenv.limits.limit_bytes`.

    Raises:
        ConfigError: naming n_steps x n_envs, the estimate and the cap.
    """
    import gymnasium as gym

    width = gym.spaces.flatdim(env.observation_space) + gym.spaces.flatdim(env.action_space) + 6
    need = args.n_steps * args.n_envs * width * 4 * 2
    cap = limit_bytes()
    if need > cap:
        raise ConfigError(
            f"n_steps x n_envs = {args.n_steps:,} x {args.n_envs:,} needs an estimated "
            f"{need / 1e9:.3g} GB of rollout buffer, above the cap of {cap / 1e9:.3g} GB (80 % of "
            f"the available memory, or ${ENV_VAR}); allowed: n_steps x n_envs up to "
            f"{cap // (width * 8):,}"
        )


def _close(env: Any) -> None:
    """Close an env, whatever state an interrupt left its workers in."""
    with contextlib.suppress(Exception):
        env.close()


def _new_model(args: Args, envs: Any, hyper: dict[str, Any]) -> Any:
    """A fresh PPO / MaskablePPO with ``hyper`` (the activation name becomes the class)."""
    import torch

    kwargs = json.loads(json.dumps(hyper))  # a copy: the activation name becomes the class
    policy: Any = "MlpPolicy"
    if kwargs.pop("policy_class", None) == "device_set":
        from agents.device_set import DeviceSetPolicy

        policy = DeviceSetPolicy  # takes its activation by name
    else:
        act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[args.activation]
        kwargs["policy_kwargs"]["activation_fn"] = act
    if args.lr_schedule == "linear":
        lr0 = args.learning_rate
        kwargs["learning_rate"] = lambda progress: lr0 * progress
    algo = algo_class(args.algo)
    model = algo(policy, envs, seed=args.seed, device="cpu", verbose=args.verbose, **kwargs)
    if args.action_prior == "default":
        _start_at_default(args, model)
    return model


def _start_at_default(args: Args, model: Any) -> None:
    """Move the policy's mean action to the preset's default decision (``action_prior``).

    SB3 initializes the action head with orthogonal weights of gain 0.01, so its output is
    about its bias: setting the bias to the BoxAction encoding of the default decision makes
    the untrained policy play the reward's reference (reward about -1), and training learns
    the residual from there.
    """
    import torch

    probe = args.recipe().make_wrapped()
    try:
        target = torch.as_tensor(probe.get_wrapper_attr("default_action")(), dtype=torch.float32)
    finally:
        probe.close()
    with torch.no_grad():
        model.policy.action_net.bias.copy_(target)


def _model(args: Args, envs: Any) -> tuple[Any, dict[str, Any], Path | None]:
    """The model (new, or a checkpoint with its own hyperparameters), those, and the checkpoint."""
    if not args.resume:
        hyper = args.sb3_kwargs()
        if hyper.get("policy_class") == "device_set":  # its action layout, read from the env
            from agents.device_set import box_layout

            probe = args.recipe().make_wrapped()
            hyper["policy_kwargs"]["layout"] = [list(f) for f in box_layout(probe)]
            probe.close()
        return _new_model(args, envs, hyper), hyper, None
    resume_from = _resume_path(args.resume)
    hyper = read_metadata(resume_from).get("hyperparameters") or {}
    model = load_model(
        algo_class(args.algo), resume_from, observation_space=envs.observation_space,
        action_space=envs.action_space, hyperparameters=hyper, env=envs,
    )  # fmt: skip
    return model, hyper, resume_from


def _new_run_dir(run_dir: Path) -> Path:
    """Create ``run_dir``, or ``run_dir-2``, ``-3``, ... when a run of the same second has it.

    (A resume started within the second of the run it continues would otherwise collide.)
    """
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = run_dir if n == 1 else run_dir.with_name(f"{run_dir.name}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"{run_dir}: 999 runs of the same name in one second")


def train(args: Args, command: str = "") -> Path:
    """Run the training described by ``args``; return the run folder.

    Args:
        args: every setting of the run.
        command: the command line that started it (the resume hint repeats it).

    Raises:
        ConfigError: a rollout buffer beyond the memory cap (before anything is created).
        Interrupted: Ctrl-C or SIGTERM; a checkpoint of the last step was saved, ``run.json``
            says ``interrupted`` and the message gives the command that resumes.
    """
    import torch
    from stable_baselines3.common.logger import configure

    torch.set_num_threads(args.torch_threads)
    started = time.time()
    scenario = load_scenario(args.scenario, args.overrides)
    preset = scenario.name
    run_name = f"{preset}__{args.algo}__{args.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(args.out) / run_name
    recipe = args.recipe()
    probe = (
        recipe.make_wrapped()
    )  # a bad recipe (allocator name, override) fails here, not in a worker
    probe.close()
    check_rollout_memory(args, probe)

    with contextlib.ExitStack() as stack:
        # envs: training (vectorized) and validation (fixed seeds, maybe another inner allocator)
        envs = make_vec_envs(recipe, args.n_envs, args.seed, args.vec_env)
        stack.callback(_close, envs)
        eval_recipe = recipe.replace(
            inner_allocator=args.eval_inner_allocator or args.inner_allocator
        )
        seeds = instance_set(preset, "validation")
        seeds = seeds[: args.eval_episodes] if args.eval_episodes else seeds
        eval_env = make_eval_env(eval_recipe, seeds)
        stack.callback(_close, eval_env)
        model, hyper, resume_from = _model(args, envs)

        run_dir = _new_run_dir(run_dir)  # only now: a failed setup leaves no folder
        run_name = run_dir.name
        logger = configure(str(run_dir), ["csv", "tensorboard"] + ["stdout"] * (args.verbose > 0))
        model.set_logger(logger)
        stack.callback(logger.close)  # the progress.csv and event files, closed on every exit
        meta: dict[str, Any] = {
            "run_name": run_name,
            "algo": args.algo,
            # what `splitenv agents` lists (agents.catalog): the config the agent learned on
            "scenario_version": scenario.version,
            "config_sha256": scenario.sha256(),
            "seed": args.seed,
            "env": recipe.to_dict(),
            "eval_env": eval_recipe.to_dict(),
            "validation_seeds": seeds,
            "args": asdict(args),
            "hyperparameters": hyper,
            "resumed_from": str(resume_from) if resume_from else None,
            "command": command or " ".join(sys.argv),
            "versions": _versions(),
        }
        with run_status(run_dir, meta):
            _learn(args, model, run_dir, eval_env, len(seeds), meta, command)
            meta["total_seconds"] = round(time.time() - started, 1)
    return run_dir


def _learn(
    args: Args, model: Any, run_dir: Path, eval_env: Any, episodes: int, meta: dict[str, Any],
    command: str,
) -> None:  # fmt: skip
    """Train to ``args.timesteps`` with evaluations, checkpoints and budgets; save the model.

    Raises:
        Interrupted: a stop request or a KeyboardInterrupt; a checkpoint was saved first.
    """
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList

    from agents.callbacks import (
        Checkpoints,
        InitialEvaluation,
        Progress,
        StopRequest,
        WallClock,
        eval_callback,
        final_evaluation,
        save_atomically,
        summary,
    )

    per_env = lambda steps: max(steps // args.n_envs, 1)  # noqa: E731  (callbacks count vec steps)
    evaluator = eval_callback(args.algo, eval_env, episodes, per_env(args.eval_freq), run_dir)
    folder = run_dir / "checkpoints"
    stop = StopRequest()
    chain: list[BaseCallback] = [
        InitialEvaluation(evaluator), evaluator, Checkpoints(folder, per_env(args.checkpoint_freq), args.checkpoint_minutes),
        WallClock(args.max_minutes), stop,
    ]  # fmt: skip
    progress = Progress(args.timesteps, evaluator) if args.progress_bar else None
    chain += [progress] if progress is not None else []
    start_steps, learn_start, cpu_start = model.num_timesteps, time.time(), _cpu_seconds()
    remaining = max(args.timesteps - start_steps, 0)
    stopped = ""
    try:
        with stop.listening():
            if remaining:
                model.learn(
                    remaining, callback=CallbackList(chain),
                    reset_num_timesteps=meta["resumed_from"] is None, progress_bar=False,
                )  # fmt: skip
    except KeyboardInterrupt:
        stopped = "SIGINT"
    stopped = stopped or stop.requested
    meta.update(
        num_timesteps=int(model.num_timesteps),
        trained_timesteps=int(model.num_timesteps - start_steps),
        train_seconds=round(time.time() - learn_start, 1),
        train_cpu_seconds=round(_cpu_seconds() - cpu_start, 1),
    )
    if stopped:
        path = save_atomically(model, folder / f"model_{model.num_timesteps}_steps.zip")
        meta.update(best_validation=summary(evaluator), checkpoint=str(path), stopped_by=stopped)
        raise Interrupted(
            f"{stopped}: stopped at {model.num_timesteps:,} of {args.timesteps:,} steps; "
            f"checkpoint {path}; resume with: {resume_hint(command, run_dir)}"
        )
    if remaining:  # the end of the run is evaluated too: short runs get a best model
        final_evaluation(evaluator)
        if progress is not None:
            progress.report()
    save_atomically(model, run_dir / "model.zip")
    meta.update(best_validation=summary(evaluator))


def report(run_dir: Path) -> list[str]:
    """A finished run in a few lines: best evaluation and where the models are."""
    meta = json.loads((run_dir / METADATA_NAME).read_text())
    best = meta.get("best_validation") or {}
    lines = []
    if best.get("evaluations"):
        lines.append(
            f"best evaluation: mean episode reward {best['best_mean_reward']:.5g} at "
            f"{best['best_at_timesteps']:,} steps ({best['evaluations']} evaluations), saved as "
            f"{run_dir / 'best_model.zip'}"
        )
    lines.append(
        f"final model: {run_dir / 'model.zip'} ({meta.get('num_timesteps', 0):,} steps, "
        f"{meta.get('train_seconds', 0)} s of training)"
    )
    return lines


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
    run_dir = train(
        make_args(**given), command=shlex.join(["python", "-m", "agents.train", *sys.argv[1:]])
    )
    print("\n".join(report(run_dir)))
    print(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
