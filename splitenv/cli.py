"""The ``splitenv`` command line.

The core's subcommands (``splitenv COMMAND --help`` for each), which need only the core
dependencies:

* ``scenarios``  list the presets with one line each
* ``allocators`` list the env's inner allocators (``inner_allocator=``)
* ``state``      print a seeded state as JSON
* ``evaluate``   print the evaluation of a decision as JSON
* ``breakdown``  cost breakdown of every preset for its default decision
* ``throughput`` engine throughput (batched device-evaluations per second)
* ``calibrate``  real training over a grid; fits SFT's A(rho, q) and FedsLLM's E(r)
  (needs ``splitenv[train]``)

Every other subcommand comes from the ``splitenv.commands`` entry points
(:mod:`splitenv.plugins`): ``baselines`` adds ``solvers``, ``solve``, ``bench``, ``reproduce``
and ``run`` (:mod:`baselines.cli`), ``agents`` adds ``train`` (:mod:`agents.cli`). A command
whose package cannot be imported is listed in ``--help`` with the reason. :func:`main` maps
errors to exit statuses for every command, the plug-ins' included.

Every command taking a scenario accepts ``--set key=value`` overrides with dotted
config paths, e.g. ``--set network.n_devices=6 --set network.bandwidth_hz=1e7``.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from splitenv import plugins
from splitenv.cli_util import CommandParser, examples, parse_overrides, print_json, read_json
from splitenv.errors import ConfigError, Interrupted, PluginError, SolverError, SplitenvError
from splitenv.model import Decision, evaluate
from splitenv.model.types import State
from splitenv.scenarios import list_scenarios, load_scenario, sample_state

#: exit status of an interrupted command (128 + SIGINT, as shells report it)
INTERRUPTED = 130


def cmd_scenarios(args: argparse.Namespace) -> int:
    """List the presets."""
    names = list_scenarios()
    width = max([10, *map(len, names)])
    for name in names:
        scn = load_scenario(name)
        print(f"{name:{width}s} v{scn.version}  N={scn.n_devices:<3d} {scn.description}")
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    """Print a seeded state as JSON."""
    scn = load_scenario(args.scenario, parse_overrides(args.set))
    print_json(sample_state(scn, args.seed, args.round, args.epoch).to_dict())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Print the evaluation of a decision as JSON."""
    scn = load_scenario(args.scenario, parse_overrides(args.set))
    if args.state:
        state = State.from_dict(read_json(args.state, "state"))
    else:
        state = sample_state(scn, args.seed, args.round, args.epoch)
    decision = (
        None
        if args.decision == "default"
        else Decision.from_dict(read_json(args.decision, "decision"))
    )
    result = evaluate(scn, state, decision).item()
    result["scenario"] = scn.name
    print_json(result)
    return 0


def cmd_allocators(args: argparse.Namespace) -> int:
    """Print the registered inner allocators: batched or not, what each does, where ``paper`` picks it."""
    from splitenv import allocation
    from splitenv.allocation.papers import paper_choice

    picks: dict[str, list[str]] = {}
    for name in list_scenarios():
        picks.setdefault(paper_choice(load_scenario(name)) or "", []).append(name)
    header = ["name", "batched", "`paper` runs it for", "what it does"]
    rows = []
    for name in allocation.available():
        fn = allocation.resolve(name)
        doc = (fn.__doc__ or "").strip().split("\n")[0]
        if name == "paper":
            where = "every preset (its choice)"
        elif name == "equal":  # where no paper has an allocator, paper keeps equal shares
            where = ", ".join(picks.get("", [])) or "-"
        else:
            where = ", ".join(picks.get(getattr(fn, "__name__", name), [])) or "-"
        batched = "yes" if allocation.batched_form(fn) is not None else "no"
        rows.append([name, batched, where, doc])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]))
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
        scn = load_scenario(name, parse_overrides(args.set))
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


def cmd_throughput(args: argparse.Namespace) -> int:
    """Print engine throughput."""
    from splitenv.throughput import engine_throughput

    for n in args.devices:
        rate, per_call = engine_throughput(args.scenario, n, args.batch, args.seconds)
        print(
            f"{args.scenario} N={n:<4d} batch={args.batch}: {rate:,.0f} device-evaluations/s "
            f"({per_call * 1e3:.4g} ms per batched call, single thread)"
        )
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
    print_json({"out": args.out, "runs": runs, "total_cpu_s": cpu_s, "fit": summary})
    return 0


def _scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scenario", required=True, help="preset name (`splitenv scenarios`) or YAML path"
    )
    _set_arg(p)


def _set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="config override with a dotted path, repeatable (e.g. network.n_devices=6)",
    )  # fmt: skip


def _state_time_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--round", type=int, default=0, help="round index of the sampled state")
    p.add_argument("--epoch", type=int, default=0, help="epoch index within the round")


def _add_core_commands(sub: Any) -> None:
    """The core's subcommands (they need only the core dependencies)."""
    p = sub.add_parser(
        "scenarios", help="list presets", description="List the presets: name, version, N, description.",
        epilog=examples("splitenv scenarios"),
    )  # fmt: skip
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser(
        "allocators", help="list the env's inner allocators",
        description="A table of the inner allocators (the splitenv.allocators entry points) that "
        "`inner_allocator=` of the round timescale takes: whether a batched form runs the K x T "
        "rows of a vector-env step at once, the presets whose `paper` allocator it is, and its "
        "docstring's first line.",
        epilog=examples("splitenv allocators"),
    )  # fmt: skip
    p.set_defaults(func=cmd_allocators)

    p = sub.add_parser(
        "state", help="print a seeded state as JSON",
        description="Print the state (channel gains, device compute, memory) that a seed draws "
        "for one round and epoch, as JSON (the input of `splitenv evaluate --state`).",
        epilog=examples("splitenv state --scenario sft --seed 3 > state.json",
                        "splitenv state --scenario scct --seed 0 --round 2 --epoch 1"),
    )  # fmt: skip
    _scenario_args(p)
    p.add_argument("--seed", type=int, required=True, help="instance seed")
    _state_time_args(p)
    p.set_defaults(func=cmd_state)

    p = sub.add_parser(
        "evaluate", help="evaluate a decision, print JSON",
        description="Evaluate a decision with the cost engine; print latency_s, energy_j, "
        "objective, feasible, violations, terms and per-device arrays as JSON.",
        epilog=examples("splitenv evaluate --scenario sft --seed 0 --decision default",
                        "splitenv evaluate --scenario scct --state state.json --decision my.json"),
    )  # fmt: skip
    _scenario_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--seed", type=int, help="sample the state from this seed (required unless --state)"
    )
    src.add_argument(
        "--state", help="state JSON file as printed by `splitenv state` (required unless --seed)"
    )
    _state_time_args(p)
    p.add_argument(
        "--decision", required=True,
        help="decision JSON file (fields of splitenv.Decision; missing ones take the preset's "
        "default), or 'default' for the preset's default decision",
    )  # fmt: skip
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "breakdown", help="cost breakdown of every preset's default decision",
        description="Latency, iteration and round times, energy and feasibility of each "
        "preset's default decision on one seeded state.",
        epilog=examples("splitenv breakdown", "splitenv breakdown --scenarios scct,sft -v"),
    )  # fmt: skip
    p.add_argument("--scenarios", default="", help="comma-separated presets (default: all)")
    p.add_argument("--seed", type=int, default=0, help="state seed")
    _set_arg(p)
    p.add_argument("-v", "--verbose", action="store_true", help="per-device terms too")
    p.set_defaults(func=cmd_breakdown)

    p = sub.add_parser(
        "throughput", help="engine throughput (batched device-evaluations/s)",
        description="Time batched engine calls on one thread and print device-evaluations "
        "per second for each number of devices.",
        epilog=examples("splitenv throughput", "splitenv throughput --scenario sft --devices 8 64"),
    )  # fmt: skip
    p.add_argument("--scenario", default="scct", help="preset name or YAML path")
    p.add_argument(
        "--devices", type=int, nargs="+", default=[10, 30, 100],
        help="numbers of devices N to time, one line each",
    )  # fmt: skip
    p.add_argument("--batch", type=int, default=2048, help="decisions per engine call")
    p.add_argument("--seconds", type=float, default=2.0, help="timing budget per N")
    p.set_defaults(func=cmd_throughput)

    p = sub.add_parser(
        "calibrate", help="real training over a grid; fit A(rho, q) or E(r)",
        description="Run real split LoRA training over a grid (needs splitenv[train]) and fit "
        "SFT's accuracy A(rho, q) or FedsLLM's rounds-to-accuracy E(r).",
        epilog=examples("splitenv calibrate --scenario sft --grid small --out cal",
                        "splitenv calibrate --scenario sft --merge a.json b.json --out cal"),
    )  # fmt: skip
    p.add_argument(
        "--scenario", required=True, choices=("sft", "fedsllm"), help="whose fit to measure"
    )
    p.add_argument(
        "--grid", default="default", choices=("default", "small"), help="grid of the runs"
    )
    p.add_argument("--out", required=True, help="output folder (JSON, CSV, PNG)")
    p.add_argument("--model", default=None, help="minilm, tiny, or a BERT folder (default: minilm)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds (default: 0)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument(
        "--workers", type=int, default=1,
        help="runs in parallel processes (the results do not depend on it)",
    )  # fmt: skip
    p.add_argument(
        "--merge", nargs="+", metavar="JSON", default=None,
        help="merge records of the same grid run with other seeds, refit, no training "
        "(default: train)",
    )  # fmt: skip
    p.set_defaults(func=cmd_calibrate)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests), plug-in commands included."""
    import splitenv

    parser = CommandParser(
        prog="splitenv",
        description=(splitenv.__doc__ or "").split("\n")[0]
        + " Every command: `splitenv COMMAND --help`.",
        epilog=examples("splitenv run                      # the main job (make run)",
                        "splitenv bench --scenario scct --timescale joint --seeds test --out b",
                        "splitenv COMMAND --help           # options, defaults, examples"),
    )  # fmt: skip
    parser.add_argument(
        "--version", action="version", version=f"splitenv {splitenv.__version__}",
        help="print the version and exit",
    )  # fmt: skip
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=CommandParser, metavar="COMMAND"
    )
    _add_core_commands(sub)
    missing = _add_plugin_commands(sub)
    if missing:
        parser.epilog = (
            (parser.epilog or "")
            + "\n\nunavailable commands: "
            + "; ".join(f"{name} ({why})" for name, why in missing.items())
        )
    return parser


def _add_plugin_commands(sub: Any) -> dict[str, str]:
    """Add every command of the ``splitenv.commands`` entry points; return those that failed."""
    missing = {}
    for name in plugins.names("commands"):
        try:
            add = plugins.load("commands", name)
        except PluginError as exc:
            missing[name] = str(exc)
            continue
        add(sub)
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``splitenv`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Interrupted as exc:  # Ctrl-C / SIGTERM: what was kept and how to resume
        print(f"splitenv {args.command}: interrupted: {exc}", file=sys.stderr)
        return INTERRUPTED
    except KeyboardInterrupt:
        print(f"splitenv {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except SolverError as exc:  # a run failed (a benchmark job, a solver): the message names it
        print(f"splitenv {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except (SplitenvError, FileNotFoundError, json.JSONDecodeError) as exc:  # bad input
        print(f"splitenv {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional extra (matplotlib, tqdm, torch, ...) is missing
        print(f"splitenv {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in _BAD_PATH:
            raise
        # a path given on the command line no file can have or reach (too long, a directory
        # where a file is due, no permission): one line naming it, as for any bad input
        name = str(exc.filename or "")
        shown = name if len(name) <= 80 else name[:77] + "..."
        print(f"splitenv {args.command}: error: {shown!r}: {exc.strerror}", file=sys.stderr)
        return 2


#: errnos of a bad path (input), not of a failing machine (disk full, I/O error)
_BAD_PATH = frozenset(
    {errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.ELOOP, errno.EPERM}
)


if __name__ == "__main__":
    sys.exit(main())
