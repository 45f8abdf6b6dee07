"""The commands baselines adds to ``splitenv``: ``solvers``, ``solve``, ``bench``, ``reproduce``, ``run``.

Each ``add_*`` function is an entry point of the ``splitenv.commands`` group: it adds one
subcommand with its handler to the ``splitenv`` parser. Handlers import what they need when
they run, and raise splitenv's errors; ``splitenv.cli.main`` maps them to exit statuses.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from splitenv.cli_util import parse_overrides, print_json, read_json


def _set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )


def _runner_args(p: argparse.ArgumentParser, workers: int = 1) -> None:
    p.add_argument("--workers", type=int, default=workers, help="worker processes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def cmd_solvers(args: argparse.Namespace) -> int:
    """List the registered solvers, with the presets they apply to (and the unavailable ones)."""
    from baselines.base import applicable_solvers, available, unavailable
    from splitenv.scenarios import list_scenarios, load_scenario

    by_preset = {name: set(applicable_solvers(load_scenario(name))) for name in list_scenarios()}
    missing = unavailable()
    for solver in available():
        if solver in missing:
            print(f"{solver:18s} unavailable: {missing[solver]}")
            continue
        presets = [p for p, names in by_preset.items() if solver in names]
        print(f"{solver:18s} {', '.join(presets)}")
    return 0


def add_solvers(sub: Any) -> None:
    """``splitenv solvers``."""
    p = sub.add_parser("solvers", help="list solvers and the presets they apply to")
    p.set_defaults(func=cmd_solvers)


def cmd_solve(args: argparse.Namespace) -> int:
    """Solve one seeded instance with a solver and print the decision and its evaluation."""
    import numpy as np

    from baselines.base import make_solver
    from splitenv.model.types import State
    from splitenv.scenarios import load_scenario, sample_state

    scn = load_scenario(args.scenario, parse_overrides(args.set))
    state = (
        State.from_dict(read_json(args.state, "state"))
        if args.state
        else sample_state(scn, args.seed)
    )
    solver = make_solver(args.solver)
    sol = solver.solve(scn, state, np.random.default_rng(args.seed))
    result = sol.evaluation.item()
    result.update(
        scenario=scn.name,
        solver=args.solver,
        seed=args.seed,
        stats={
            "wall_time_s": sol.stats.wall_time_s,
            "iterations": sol.stats.iterations,
            "evaluations": sol.stats.evaluations,
            "extra": {k: v for k, v in sol.stats.extra.items() if isinstance(v, (int, float, str))},
        },
    )
    print_json(result)
    return 0


def add_solve(sub: Any) -> None:
    """``splitenv solve``."""
    p = sub.add_parser(
        "solve", help="solve a seeded instance, print decision and evaluation as JSON"
    )
    p.add_argument("--scenario", required=True, help="preset name or YAML path")
    _set_arg(p)
    p.add_argument("--seed", type=int, default=0, help="state seed, and the solver's rng seed")
    p.add_argument("--state", help="state JSON file instead of a seeded state")
    p.add_argument("--solver", required=True, help="a name from `splitenv solvers`")
    p.set_defaults(func=cmd_solve)


def _out_args(p: argparse.ArgumentParser) -> None:
    """``--resume`` / ``--overwrite``: what to do with a non-empty output folder."""
    p.add_argument(
        "--resume", action="store_true",
        help="continue the bench journaled in --out: skip the jobs it already holds",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="delete the bench files in --out first")


def _command() -> str:
    """This process's command line as a user would retype it (the resume hint repeats it)."""
    import shlex
    import sys

    return "splitenv " + shlex.join(sys.argv[1:])


def _print_bench(result: Any) -> None:
    print(result.markdown)
    if result.resumed:
        print(f"resumed: {result.resumed} of {len(result.rows)} jobs taken from the journal")
    paths = [result.csv_path, result.summary_path, *result.figures]
    print("wrote " + ", ".join(str(p) for p in paths))


def cmd_bench(args: argparse.Namespace) -> int:
    """Benchmark methods on the same instances; print the summary, write CSV and figures."""
    from baselines.harness.bench import bench
    from baselines.harness.jobs import plan

    scenarios = [s.strip() for s in args.scenario.split(",") if s.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    jobs = plan(
        scenarios, methods, args.seeds, parse_overrides(args.set), args.timescale,
        args.rounds, args.epochs_per_round,
    )  # fmt: skip
    result = bench(
        jobs, args.out, workers=args.workers, backend=args.backend,
        progress=not args.quiet, figures=not args.no_figures,
        resume=args.resume, overwrite=args.overwrite, command=_command(),
    )  # fmt: skip
    _print_bench(result)
    return 0


def add_bench(sub: Any) -> None:
    """``splitenv bench``: the benchmark harness."""
    p = sub.add_parser("bench", help="benchmark methods on the same instances")
    p.add_argument("--scenario", required=True, help="preset name(s), comma-separated")
    p.add_argument("--methods", default="", help="comma-separated (default: applicable, no exact)")
    p.add_argument("--seeds", default="0-9", help="0-19, 0,3,7, test or validation")
    p.add_argument("--timescale", default="round", help="round, epoch or joint")
    p.add_argument("--rounds", type=int, default=None, help="rounds per episode (the id's default)")
    p.add_argument("--epochs-per-round", type=int, default=None, help="(the id's default)")
    p.add_argument("--backend", default="local", help="local or ray")
    _set_arg(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-figures", action="store_true", help="skip the bar charts")
    _out_args(p)
    _runner_args(p)
    p.set_defaults(func=cmd_bench)


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Draw a paper's figures from sweeps of the harness."""
    from baselines.reproduce import reproduce

    out = Path(args.out) if args.out else Path("results") / "reproduce" / args.paper
    files = reproduce(
        args.paper, out, n_seeds=args.seeds, full=args.full, workers=args.workers,
        progress=not args.quiet, train_model=args.train_model, points=args.points,
    )  # fmt: skip
    for path in files:
        print(path)
    return 0


def add_reproduce(sub: Any) -> None:
    """``splitenv reproduce PAPER``."""
    p = sub.add_parser("reproduce", help="a paper's figures: PNG, CSV and caption")
    p.add_argument("paper", help="scct, sft, card or fedsllm (the splitenv.reproductions plug-ins)")
    p.add_argument("--out", default="", help="output folder (default results/reproduce/PAPER)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per point (test set)")
    p.add_argument("--full", action="store_true", help="the paper's sizes (slow)")
    p.add_argument(
        "--points", type=int, default=None,
        help="fedsllm: sweep points per figure, evenly spaced from the first to the last "
        "(default: every point of the size)",
    )  # fmt: skip
    p.add_argument(
        "--train-model", default="minilm", choices=("minilm", "tiny", "none"),
        help="sft: what the time-to-accuracy figure really trains (default minilm; "
        "tiny = seconds, a smoke run; none = no training)",
    )  # fmt: skip
    _runner_args(p, workers=2)
    p.set_defaults(func=cmd_reproduce)


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: a short benchmark of the SCCT methods, summary table and figures."""
    from baselines.harness import main_job

    result = main_job.run(
        args.out, n_seeds=args.seeds, workers=args.workers, progress=not args.quiet,
        resume=args.resume, overwrite=args.overwrite, command=_command(),
    )  # fmt: skip
    _print_bench(result)
    return 0


def add_run(sub: Any) -> None:
    """``splitenv run``: the main job."""
    p = sub.add_parser("run", help="main job: short benchmark of the SCCT methods")
    p.add_argument("--out", default="results/run", help="output folder")
    p.add_argument("--seeds", type=int, default=5, help="first seeds of the test set")
    _out_args(p)
    _runner_args(p, workers=2)
    p.set_defaults(func=cmd_run)
