"""The commands baselines adds to ``splitenv``: ``solvers``, ``solve``, ``bench``, ``reproduce``, ``run``.

Each ``add_*`` function is an entry point of the ``splitenv.commands`` group: it adds one
subcommand with its handler to the ``splitenv`` parser. Handlers import what they need when
they run, and raise splitenv's errors; ``splitenv.cli.main`` maps them to exit statuses.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from splitenv.cli_util import examples, parse_overrides, print_json, read_json


def _set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="config override with a dotted path, repeatable (e.g. network.n_devices=6)",
    )  # fmt: skip


def _runner_args(p: argparse.ArgumentParser, workers: int = 1) -> None:
    p.add_argument(
        "--workers", type=int, default=workers,
        help="worker processes (the numbers do not depend on it)",
    )  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _first_line(doc: str | None) -> str:
    """A docstring's first line as plain text (reST roles and literals unmarked)."""
    import re

    line = (doc or "").strip().split("\n")[0].rstrip(".")
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", line).replace("``", "")


def solver_rows(scenario: str = "") -> list[list[str]]:
    """One row per registered solver: name, kind, paper and equation, description, presets.

    ``kind`` and ``reference`` are class attributes (:class:`baselines.base.BaseSolver`); a
    solver without them shows ``-`` and its docstring's first line. An unavailable solver
    (missing optional dependency) shows why instead of its presets.
    """
    from baselines.base import applicable_solvers, available, solver_class
    from splitenv.errors import PluginError
    from splitenv.scenarios import list_scenarios, load_scenario

    names = [scenario] if scenario else list_scenarios()
    by_preset = {name: set(applicable_solvers(load_scenario(name))) for name in names}
    rows = []
    for solver in available():
        try:
            cls = solver_class(solver)
        except PluginError as exc:
            rows.append([solver, "-", "-", "unavailable", str(exc)])
            continue
        presets = [p for p, applicable in by_preset.items() if solver in applicable]
        if scenario and not presets:
            continue
        rows.append([
            solver, getattr(cls, "kind", "") or "-", getattr(cls, "reference", "") or "-",
            _first_line(cls.__doc__), ", ".join(presets) or "-",
        ])  # fmt: skip
    return rows


def cmd_solvers(args: argparse.Namespace) -> int:
    """Print the registered solvers as a table (what each is, where it comes from)."""
    rows = solver_rows(args.scenario)
    header = ["name", "kind", "paper, equation", "description", "presets"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 2)]
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[3], f"[{row[4]}]"]).rstrip())
    return 0


def add_solvers(sub: Any) -> None:
    """``splitenv solvers``."""
    p = sub.add_parser(
        "solvers", help="list solvers: kind, paper and equation, what each does",
        description="A table of the registered solvers (the splitenv.solvers entry points): "
        "name, kind (paper's method, general, baseline, exact), the paper and equation it "
        "implements, a one-line description, and the presets it applies to.",
        epilog=examples("splitenv solvers", "splitenv solvers --scenario card"),
    )  # fmt: skip
    p.add_argument(
        "--scenario", default="", help="only the solvers that apply to this preset (default: all)"
    )
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
            "trace_of": sol.stats.trace_of or "the objective",
            "extra": {k: v for k, v in sol.stats.extra.items() if isinstance(v, (int, float, str))},
        },
    )
    print_json(result)
    return 0


def add_solve(sub: Any) -> None:
    """``splitenv solve``."""
    p = sub.add_parser(
        "solve", help="solve a seeded instance, print decision and evaluation as JSON",
        description="Run one solver on one state and print its decision, the engine's "
        "evaluation of it and the solve statistics as JSON.",
        epilog=examples("splitenv solve --scenario card --seed 0 --solver card",
                        "splitenv solve --scenario scct --state state.json --solver scctt"),
    )  # fmt: skip
    p.add_argument("--scenario", required=True, help="preset name or YAML path")
    _set_arg(p)
    p.add_argument("--seed", type=int, default=0, help="state seed, and the solver's rng seed")
    p.add_argument(
        "--state", help="state JSON file instead of a seeded state (default: the --seed state)"
    )
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
    if scenarios == ["all"]:  # every preset found (the core's and installed plug-ins')
        from splitenv.scenarios import list_scenarios

        scenarios = list_scenarios()
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
    p = sub.add_parser(
        "bench", help="benchmark methods on the same instances",
        description="Play every method on the same seeded episodes, score them by the cost "
        "engine through the env, and print what is compared, the summary tables and which "
        "methods differ significantly from the best (paired 95 % intervals). The default "
        "timescale is `round`: the method chooses the split / rank / compression and the "
        "paper's inner allocator allocates every epoch, the setting where learned schedulers "
        "act (`splitenv train` trains at the preset's timescale, `round` unless it says "
        "otherwise). Use --timescale joint for the papers' own comparison, where the method "
        "decides everything.",
        epilog=examples(
            "splitenv bench --scenario scct --seeds test --out results/bench",
            "splitenv bench --scenario scct,card --timescale joint --workers 2 --out results/b",
        ),
    )  # fmt: skip
    p.add_argument(
        "--scenario", required=True, help="preset name(s), comma-separated, or all (every preset)"
    )
    p.add_argument(
        "--methods", default="",
        help="comma-separated solver names or KIND:ARG plug-ins such as ppo:PATH; bare ppo is "
        "the scenario's shipped agent (`splitenv agents`) "
        "(default: the scenario's applicable solvers, exact references left out)",
    )  # fmt: skip
    p.add_argument("--seeds", default="0-9", help="0-19, 0,3,7, test or validation")
    p.add_argument(
        "--timescale", default="round",
        help="round (the method sets split/rank/compression, the paper's allocator the rest), "
        "epoch, or joint (the method decides everything: the papers' comparison)",
    )  # fmt: skip
    p.add_argument(
        "--rounds", type=int, default=None, help="rounds per episode (default: the env id's)"
    )
    p.add_argument(
        "--epochs-per-round", type=int, default=None,
        help="epochs per round (default: the env id's)",
    )  # fmt: skip
    p.add_argument("--backend", default="local", help="local or ray")
    _set_arg(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-figures", action="store_true", help="skip the bar charts")
    _out_args(p)
    _runner_args(p)
    p.set_defaults(func=cmd_bench)


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Draw a paper's figures from sweeps of the harness; print every claim's verdict."""
    from baselines.reproduce import reproduce, reproduction
    from baselines.reproduce.sweep import check_lines

    out = Path(args.out) if args.out else Path("results") / "reproduce" / args.paper
    files = reproduce(
        args.paper, out, n_seeds=args.seeds, full=args.full, workers=args.workers,
        progress=not args.quiet, train_model=args.train_model, points=args.points,
    )  # fmt: skip
    repro = reproduction(args.paper)
    seeds = args.seeds or (repro.full if args.full else repro.reduced).seeds
    undecided = 0
    for md in (p for p in files if p.suffix == ".md"):
        text = md.read_text()
        title = next((line[2:] for line in text.splitlines() if line.startswith("# ")), md.stem)
        print(f"{title}  ({md.with_suffix('.png')})")
        for line in check_lines(text):
            print(f"  {line}")
            undecided += "undecided" in line
    print(f"{seeds} seed(s) per point; the numbers behind each verdict are in the .md captions.")
    if undecided or seeds < 3:
        print(
            f"{seeds} seed(s) are too few to decide {undecided or 'some'} claim(s) whose methods "
            "differ by little next to how the difference varies over seeds: run with --seeds 10 "
            "(or --full)."
        )
    print("wrote " + ", ".join(str(p) for p in files))
    return 0


def add_reproduce(sub: Any) -> None:
    """``splitenv reproduce PAPER``."""
    p = sub.add_parser(
        "reproduce", help="a paper's figures: PNG, CSV and caption, verdicts printed",
        description="Draw a paper's figures from sweeps of the benchmark harness (timescale "
        "joint, test instances) and print each figure's claims with the verdict of this run: "
        "holds, fails, or undecided (the 95 % paired interval does not separate the methods "
        "at this number of seeds).",
        epilog=examples("splitenv reproduce card",
                        "splitenv reproduce scct --seeds 10 --out results/scct"),
    )  # fmt: skip
    p.add_argument("paper", help="scct, sft, card or fedsllm (the splitenv.reproductions plug-ins)")
    p.add_argument("--out", default="", help="output folder (default: results/reproduce/PAPER)")
    p.add_argument(
        "--seeds", type=int, default=None,
        help="seeds per point, first ones of the test set (default: 2-3, 10 with --full)",
    )  # fmt: skip
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
    if not args.no_arena:
        arena = main_job.run_arena(
            Path(args.out) / main_job.ARENA_DIR, n_seeds=args.seeds, workers=args.workers,
            progress=not args.quiet, resume=args.resume, overwrite=args.overwrite,
            command=_command(),
        )  # fmt: skip
        _print_bench(arena)
    return 0


def add_run(sub: Any) -> None:
    """``splitenv run``: the main job."""
    p = sub.add_parser(
        "run", help="main job: the SCCT methods, then every method on every scenario",
        description="The main job (`make run`): the SCCT methods on the first test instances "
        "at the joint timescale (the papers' comparison) and at the round timescale (where "
        "learned schedulers act, with the shipped PPO agent), with the tables explained and "
        "a conclusion from the paired intervals; then the arena (in OUT/arena): equal, the "
        "general methods and each paper's own method on every scenario at the joint "
        "timescale, one decision per episode, ending with the methods x scenarios matrix.",
        epilog=examples("splitenv run", "splitenv run --seeds 10 --workers 1 --out results/run10"),
    )  # fmt: skip
    p.add_argument("--out", default="results/run", help="output folder")
    p.add_argument("--seeds", type=int, default=5, help="first seeds of the test set")
    p.add_argument(
        "--no-arena", action="store_true",
        help="skip the arena (every method on every scenario) (default: off)",
    )  # fmt: skip
    _out_args(p)
    _runner_args(p, workers=2)
    p.set_defaults(func=cmd_run)
