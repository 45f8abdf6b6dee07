"""The ``splitenv`` command line.

Subcommands (``splitenv COMMAND --help`` for each):

* ``scenarios``  list the presets with one line each
* ``state``      print a seeded state as JSON
* ``evaluate``   print the evaluation of a decision as JSON
* ``run``        the main job: a short benchmark of the SCCT methods (summary + figures)
* ``bench``      benchmark methods on the same instances: tidy CSV, summary, figures
* ``reproduce``  the papers' figures (PNG + the CSV drawn from + a caption with the claims)
* ``breakdown``  cost breakdown of every preset for its default decision
* ``solvers``    list the classical solvers and the presets they apply to
* ``solve``      solve a seeded instance with a solver, print decision and evaluation as JSON
* ``throughput`` engine throughput (batched device-evaluations per second)
* ``calibrate``  real training over a grid; fits SFT's A(rho, q) and FedsLLM's E(r)
  (needs ``splitenv[train]``)
* ``train``      train a PPO / MaskablePPO scheduler (needs the ``agents`` package and ``[rl]``)

Every command taking a scenario accepts ``--set key=value`` overrides with dotted
config paths, e.g. ``--set network.n_devices=6 --set network.bandwidth_hz=1e7``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from splitenv._fields import ConfigError, parse_value
from splitenv.model import Decision, DecisionError, StateError, evaluate
from splitenv.model.types import State
from splitenv.scenarios import list_scenarios, load_scenario, sample_state


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r}: expected key=value, e.g. network.n_devices=6")
        key, value = pair.split("=", 1)
        out[key.strip()] = parse_value(value)
    return out


def _json_default(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


def _clean(obj: Any) -> Any:
    """Replace non-finite floats by strings so the output is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _print_json(obj: Any) -> None:
    print(json.dumps(_clean(obj), indent=2, default=_json_default))


def _read_json(path: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return json.loads(p.read_text())


def cmd_scenarios(args: argparse.Namespace) -> int:
    """List the presets."""
    for name in list_scenarios():
        scn = load_scenario(name)
        print(f"{name:10s} v{scn.version}  N={scn.n_devices:<3d} {scn.description}")
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    """Print a seeded state as JSON."""
    scn = load_scenario(args.scenario, _overrides(args.set))
    _print_json(sample_state(scn, args.seed, args.round, args.epoch).to_dict())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Print the evaluation of a decision as JSON."""
    scn = load_scenario(args.scenario, _overrides(args.set))
    if args.state:
        state = State.from_dict(_read_json(args.state))
    else:
        state = sample_state(scn, args.seed, args.round, args.epoch)
    decision = None if args.decision == "default" else Decision.from_dict(_read_json(args.decision))
    result = evaluate(scn, state, decision).item()
    result["scenario"] = scn.name
    _print_json(result)
    return 0


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "inf"
    return f"{x:.4g}"


def cmd_breakdown(args: argparse.Namespace) -> int:
    """Print the cost breakdown of every preset for its default decision."""
    names = args.scenarios.split(",") if args.scenarios else list_scenarios()
    header = [
        "scenario",
        "N",
        "scope",
        "latency_s",
        "iteration_s",
        "round_s",
        "energy_j",
        "feasible",
    ]
    rows = []
    for name in names:
        scn = load_scenario(name, _overrides(args.set))
        ev = evaluate(scn, sample_state(scn, args.seed))
        t = ev.terms
        rows.append([
            scn.name, str(scn.n_devices), scn.schedule.objective_scope, _fmt(ev.latency_s[0]),
            _fmt(t["iteration_s"][0]), _fmt(t["round_s"][0]), _fmt(ev.energy_j[0]),
            "yes" if ev.feasible[0] else "NO",
        ])  # fmt: skip
        if args.verbose:
            per = ev.per_device
            for key in (
                "device_compute_s",
                "uplink_s",
                "server_compute_s",
                "downlink_s",
                "round_s",
            ):
                print(f"  {name} {key}: " + " ".join(_fmt(v) for v in per[key][0]))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"Default decision of every preset, state seed {args.seed}:")
    for row in [header, *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    return 0


def _baselines():  # the CLI may import upward, lazily
    try:
        import baselines
    except ModuleNotFoundError as exc:
        raise ConfigError(f"the solvers need the baselines package ({exc}): pip install -e .") from None
    return baselines


def cmd_solvers(args: argparse.Namespace) -> int:
    """List the registered solvers, with the presets they apply to."""
    b = _baselines()
    from baselines.base import applicable_solvers

    by_preset = {name: set(applicable_solvers(load_scenario(name))) for name in list_scenarios()}
    for solver in b.available():
        presets = [p for p, names in by_preset.items() if solver in names]
        print(f"{solver:18s} {', '.join(presets)}")
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    """Solve one seeded instance with a solver and print the decision and its evaluation."""
    import numpy as np

    b = _baselines()
    scn = load_scenario(args.scenario, _overrides(args.set))
    state = State.from_dict(_read_json(args.state)) if args.state else sample_state(scn, args.seed)
    try:
        solver = b.make_solver(args.solver)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
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
    _print_json(result)
    return 0


def _print_bench(result: Any) -> None:
    print(result.markdown)
    paths = [result.csv_path, result.summary_path, *result.figures]
    print("wrote " + ", ".join(str(p) for p in paths))


def cmd_bench(args: argparse.Namespace) -> int:
    """Benchmark methods on the same instances; print the summary, write CSV and figures."""
    _baselines()
    from baselines.benchmark import plan
    from baselines.report import bench

    scenarios = [s.strip() for s in args.scenario.split(",") if s.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    jobs = plan(
        scenarios, methods, args.seeds, _overrides(args.set), args.timescale,
        args.rounds, args.epochs_per_round,
    )  # fmt: skip
    result = bench(
        jobs, args.out, workers=args.workers, backend=args.backend,
        progress=not args.quiet, figures=not args.no_figures,
    )  # fmt: skip
    _print_bench(result)
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Draw a paper's figures from sweeps of the harness."""
    _baselines()
    from baselines.reproduce import PAPERS, reproduce

    if args.paper not in PAPERS:
        raise ConfigError(f"unknown paper {args.paper!r}; papers: {', '.join(PAPERS)}")
    out = Path(args.out) if args.out else Path("results") / "reproduce" / args.paper
    files = reproduce(
        args.paper, out, n_seeds=args.seeds, full=args.full, workers=args.workers,
        progress=not args.quiet, train_model=args.train_model, points=args.points,
    )  # fmt: skip
    for path in files:
        print(path)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: a short benchmark of the SCCT methods, summary table and figures."""
    _baselines()
    from baselines import main_job

    result = main_job.run(
        args.out, n_seeds=args.seeds, workers=args.workers, progress=not args.quiet
    )
    _print_bench(result)
    return 0


def cmd_throughput(args: argparse.Namespace) -> int:
    """Print engine throughput."""
    from splitenv.bench import engine_throughput

    for n in args.devices:
        rate, per_call = engine_throughput(args.scenario, n, args.batch, args.seconds)
        print(
            f"{args.scenario} N={n:<4d} batch={args.batch}: {rate:,.0f} device-evaluations/s "
            f"({per_call * 1e3:.2f} ms per batched call, single thread)"
        )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train an agent; prints the run folder."""
    try:  # the CLI may import upward, lazily; torch comes with agents' training only
        from agents.args import make_args, parse_settings
        from agents.train import train
    except ModuleNotFoundError as exc:
        raise ConfigError(f'training needs {exc.name}: pip install -e ".[rl]"') from None
    try:
        given = parse_settings(args.set)
        flags = {"timesteps": args.timesteps, "timescale": args.timescale, "seed": args.seed}
        flags.update(out=args.out, resume=args.resume)
        given.update({k: v for k, v in flags.items() if v is not None})  # given flags win
        run_args = make_args(args.scenario, args.algo, **given)
        run_args.recipe().make().close()  # names a bad allocator or override before training
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print(train(run_args))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Run a calibration grid with real training (or merge records) and write the fits."""
    try:
        from splitenv.training.calibrate import calibrate, merge
    except ImportError as exc:
        raise ConfigError(str(exc)) from None
    command = "splitenv calibrate " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""
    try:
        if args.merge:
            record = merge(args.merge, args.out, command=command, scenario=args.scenario)
        else:
            record = calibrate(
                args.scenario, args.grid, args.out, model=args.model, seeds=args.seeds,
                threads=args.threads, workers=args.workers, command=command,
            )  # fmt: skip
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    fit = record["fit"]
    summary = {k: v for k, v in fit.items() if k != "accuracy_loss_vs_reference"}
    runs, cpu_s = len(record["runs"]), record["total_cpu_s"]
    _print_json({"out": args.out, "runs": runs, "total_cpu_s": cpu_s, "fit": summary})
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(prog="splitenv", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def scenario_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scenario", required=True, help="preset name or YAML path")
        p.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE", help="config override"
        )

    p = sub.add_parser("scenarios", help="list presets")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser("state", help="print a seeded state as JSON")
    scenario_args(p)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--round", type=int, default=0)
    p.add_argument("--epoch", type=int, default=0)
    p.set_defaults(func=cmd_state)

    p = sub.add_parser("evaluate", help="evaluate a decision, print JSON")
    scenario_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--seed", type=int, help="sample the state from this seed")
    src.add_argument("--state", help="state JSON file (as printed by `splitenv state`)")
    p.add_argument("--round", type=int, default=0)
    p.add_argument("--epoch", type=int, default=0)
    p.add_argument("--decision", required=True, help="decision JSON file, or 'default'")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("breakdown", help="cost breakdown of every preset's default decision")
    p.add_argument("--scenarios", default="", help="comma-separated presets (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-v", "--verbose", action="store_true", help="per-device terms too")
    p.set_defaults(func=cmd_breakdown)

    def runner_args(p: argparse.ArgumentParser, workers: int = 1) -> None:
        p.add_argument("--workers", type=int, default=workers, help="worker processes")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("run", help="main job: short benchmark of the SCCT methods")
    p.add_argument("--out", default="results/run", help="output folder")
    p.add_argument("--seeds", type=int, default=5, help="first seeds of the test set")
    runner_args(p, workers=2)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("bench", help="benchmark methods on the same instances")
    p.add_argument("--scenario", required=True, help="preset name(s), comma-separated")
    p.add_argument("--methods", default="", help="comma-separated (default: applicable, no exact)")
    p.add_argument("--seeds", default="0-9", help="0-19, 0,3,7, test or validation")
    p.add_argument("--timescale", default="round", help="round, epoch or joint")
    p.add_argument("--rounds", type=int, default=None, help="rounds per episode (env default 4)")
    p.add_argument("--epochs-per-round", type=int, default=None, help="(env default 3)")
    p.add_argument("--backend", default="local", help="local or ray")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-figures", action="store_true", help="skip the bar charts")
    runner_args(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("reproduce", help="a paper's figures: PNG, CSV and caption")
    p.add_argument("paper", help="scct, sft, card or fedsllm")
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
    runner_args(p, workers=2)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("solvers", help="list solvers and the presets they apply to")
    p.set_defaults(func=cmd_solvers)

    p = sub.add_parser("solve", help="solve a seeded instance, print decision and evaluation as JSON")
    scenario_args(p)
    p.add_argument("--seed", type=int, default=0, help="state seed, and the solver's rng seed")
    p.add_argument("--state", help="state JSON file instead of a seeded state")
    p.add_argument("--solver", required=True, help="a name from `splitenv solvers`")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("throughput", help="engine throughput (batched device-evaluations/s)")
    p.add_argument("--scenario", default="scct")
    p.add_argument("--devices", type=int, nargs="+", default=[10, 30, 100])
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--seconds", type=float, default=2.0)
    p.set_defaults(func=cmd_throughput)

    p = sub.add_parser(
        "train",
        help="train a PPO / MaskablePPO scheduler",
        epilog="--set takes any field of agents.args.Args (learning_rate=1e-3, n_envs=2, "
        "net_arch=[64,64], inner_allocator=equal, max_minutes=30; `python -m agents.train "
        "--help` lists them) or a dotted scenario override (network.n_devices=6). Defaults "
        "come from configs/agents/<preset>.yaml.",
    )
    p.add_argument("--scenario", required=True, help="preset name or YAML path")
    p.add_argument("--algo", choices=["ppo", "maskable_ppo"], default="ppo")
    p.add_argument("--timesteps", type=int, required=True, help="total environment steps")
    p.add_argument(
        "--timescale", choices=["round", "epoch", "joint"], help="default: the preset's, else round"
    )
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--resume", help="checkpoint .zip or run folder to continue")
    p.add_argument("--out", required=True, help="folder receiving the run folder")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("calibrate", help="real training over a grid; fit A(rho, q) or E(r)")
    p.add_argument("--scenario", required=True, choices=("sft", "fedsllm"))
    p.add_argument("--grid", default="default", choices=("default", "small"))
    p.add_argument("--out", required=True, help="output folder (JSON, CSV, PNG)")
    p.add_argument("--model", default=None, help="minilm (default), tiny, or a BERT folder")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds (default: 0)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    p.add_argument(
        "--workers", type=int, default=1,
        help="runs in parallel processes (default 1; the results do not depend on it)",
    )  # fmt: skip
    p.add_argument(
        "--merge", nargs="+", metavar="JSON", default=None,
        help="merge records of the same grid run with other seeds, refit (no training)",
    )  # fmt: skip
    p.set_defaults(func=cmd_calibrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``splitenv`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, DecisionError, StateError, FileNotFoundError, json.JSONDecodeError) as exc:
        print(f"splitenv {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional extra (matplotlib, tqdm, torch, ...) is missing
        print(f"splitenv {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # a benchmark job failed: the message names it
        if type(exc).__name__ != "JobError":
            raise
        print(f"splitenv {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
