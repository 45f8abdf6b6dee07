"""The ``splitenv`` command line.

Subcommands (``splitenv COMMAND --help`` for each):

* ``scenarios``  list the presets with one line each
* ``state``      print a seeded state as JSON
* ``evaluate``   print the evaluation of a decision as JSON
* ``run``        the main job: cost breakdown of every preset for its default decision
* ``solvers``    list the classical solvers and the presets they apply to
* ``solve``      solve a seeded instance with a solver, print decision and evaluation as JSON
* ``throughput`` engine throughput (batched device-evaluations per second)

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


def cmd_run(args: argparse.Namespace) -> int:
    """Until the benchmark harness exists, the main job is the preset cost breakdown."""
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

    p = sub.add_parser("run", help="main job: cost breakdown of every preset")
    p.add_argument("--scenarios", default="", help="comma-separated presets (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-v", "--verbose", action="store_true", help="per-device terms too")
    p.set_defaults(func=cmd_run)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``splitenv`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, DecisionError, StateError, FileNotFoundError, json.JSONDecodeError) as exc:
        print(f"splitenv {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
