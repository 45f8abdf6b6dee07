"""The commands agents adds to ``splitenv``: ``train`` and ``agents`` (entry points of ``splitenv.commands``)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_train(args: argparse.Namespace) -> int:
    """Train an agent; prints a summary and the run folder (the last line).

    A progress bar and a line per evaluation go to stderr (none with ``--quiet``).
    """
    import shlex
    import sys

    from agents.args import make_args, parse_settings
    from splitenv.errors import ConfigError, MissingExtraError

    try:  # torch and stable-baselines3 come with agents' training only
        from agents.train import report, train
    except ModuleNotFoundError as exc:
        raise MissingExtraError(f'training needs {exc.name}: pip install "splitenv[rl]"') from None
    try:
        given = parse_settings(args.set)
        flags = {"timesteps": args.timesteps, "timescale": args.timescale, "seed": args.seed}
        flags.update(out=args.out, resume=args.resume)
        given.update({k: v for k, v in flags.items() if v is not None})  # given flags win
        given.setdefault("progress_bar", not args.quiet)
        run_args = make_args(args.scenario, args.algo, **given)
        run_args.recipe().make().close()  # names a bad allocator or override before training
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    run_dir = train(run_args, command="splitenv " + shlex.join(sys.argv[1:]))
    print("\n".join(report(run_dir)))
    print(run_dir)
    return 0


def add_train(sub: Any) -> None:
    """``splitenv train``."""
    from agents.envs import ALGO_WRAPPERS
    from splitenv.cli_util import examples
    from splitenv.spaces import TIMESCALES

    p = sub.add_parser(
        "train",
        help="train a PPO / MaskablePPO scheduler",
        description="Train a stable-baselines3 agent on a preset's env; writes a run folder "
        "(checkpoints, the best model by periodic evaluation, logs) under --out.",
        epilog="--set takes any field of agents.args.Args (learning_rate=1e-3, n_envs=2, "
        "net_arch=[64,64], inner_allocator=equal, max_minutes=30; `python -m agents.train "
        "--help` lists them) or a dotted scenario override (network.n_devices=6). Defaults "
        "come from configs/agents/<preset>.yaml.\n\n"
        + examples(
            "splitenv train --scenario scct --timesteps 20000 --out runs",
            "splitenv train --scenario sft --algo maskable_ppo --timesteps 100000 "
            "--set learning_rate=1e-3 --out runs",
        ),
    )
    p.add_argument("--scenario", required=True, help="preset name or YAML path")
    p.add_argument("--algo", choices=list(ALGO_WRAPPERS), default="ppo", help="SB3 algorithm")
    p.add_argument("--timesteps", type=int, required=True, help="total environment steps")
    p.add_argument(
        "--timescale", choices=list(TIMESCALES),
        help="what the agent decides (default: the preset's agent config, else round)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, help="training seed (default: 0)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="an Args field or a dotted scenario override, repeatable (see below)",
    )  # fmt: skip
    p.add_argument(
        "--resume", help="checkpoint .zip or run folder to continue (default: a new run)"
    )
    p.add_argument("--out", required=True, help="folder receiving the run folder")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and evaluation lines"
    )
    p.set_defaults(func=cmd_train)


def cmd_agents(args: argparse.Namespace) -> int:
    """List the shipped agents (:mod:`agents.catalog`), as a table or JSON."""
    import json

    from agents.catalog import COLUMNS, agent_rows

    rows = agent_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no shipped agents")
        return 0
    table = [list(COLUMNS)] + [
        [str(r[c]) + (" (stale)" if c == "config" and r["stale"] else "") for c in COLUMNS]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    for line in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    if any(r["stale"] for r in rows):
        print("(stale: the scenario config changed since training; the score may not hold)")
    return 0


def add_agents(sub: Any) -> None:
    """``splitenv agents``."""
    from splitenv.cli_util import examples

    p = sub.add_parser(
        "agents",
        help="list the shipped agents",
        description="The agents agents/pretrained ships: name (use it as ppo:@NAME; bare ppo in "
        "`splitenv bench` is the scenario's), scenario, scenario version, timescale, the hash "
        "of the scenario config it was trained on, training steps, seed and evaluation score "
        "(mean normalized cost on the test instances, 95 % interval).",
        epilog=examples("splitenv agents", "splitenv agents --json"),
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=cmd_agents)
