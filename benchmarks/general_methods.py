"""The general methods (alns, sqp, bcd, de, random_search) against exact and the papers' methods.

Part 1 (``gaps``): on 20 seeded small instances of every scenario, each method's gap to the
exact reference (``exact``: the family's exact solver) and to the paper's own method on its
preset; on SplitLLM, the paired 95 % CI of each method's saving over ``equal``.
Part 2 (``scale``): decision time of each method at its default budget for N = 10, 30, 100,
300 devices (with its objective relative to ``equal``'s, so that a fast method is seen to
decide something). Part 3 (``splitllm``): SplitLLM at the preset's size (N = 20, five edges), the
paired 95 % CI of each method's saving over ``equal``.

    .venv/bin/python benchmarks/general_methods.py gaps [--seeds 20] [--scenarios all]
    .venv/bin/python benchmarks/general_methods.py scale [--sizes 10,30,100,300] [--scenarios all]
    .venv/bin/python benchmarks/general_methods.py splitllm [--seeds 20]

Gaps are relative: objective / reference - 1 (all objectives are positive costs).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

import splitenv as se
from baselines import make_solver
from baselines.methods.exact import exact_method

GENERAL = ("alns", "sqp", "bcd", "de", "random_search")
#: small instances (exact references fast); presets not listed run at N = 4
SMALL = {
    "scct": {"network.n_devices": 3, "network.n_subchannels": 9, "decision.split_range": [1, 5]},
    "sft": {"network.n_devices": 4},
    "card": {},
    "fedsllm": {"network.n_devices": 3, "network.n_subchannels": 6, "network.fed_n_subchannels": 6},
    "splitllm": {"network.n_devices": 4, "network.n_edge_servers": 2},
    # joint_exact enumerates 5^3 splits x 10 subchannel compositions x 4 ranks x 8 bit widths
    "splitlora": {
        "network.n_devices": 3,
        "network.n_subchannels": 6,
        "decision.split_range": [1, 5],
    },
    "splitlora_dynamic": {
        "network.n_devices": 3,
        "network.n_subchannels": 6,
        "decision.split_range": [1, 5],
    },
}
#: the paper's own method on its preset
PAPER = {"scct": "scctt", "sft": "sft", "card": "card", "fedsllm": "fedsllm_bcd"}


def small(name: str) -> se.Scenario:
    """The small instance of a preset."""
    return se.load_scenario(name, SMALL.get(name, {"network.n_devices": 4}))


def solve(method: str, scn: se.Scenario, state: se.State, seed: int) -> tuple[float, bool, float]:
    """(objective, feasible, seconds) of one solve."""
    start = time.perf_counter()
    sol = make_solver(method).solve(scn, state, np.random.default_rng(seed))
    return sol.objective, sol.feasible, time.perf_counter() - start


def gaps(seeds: int, names: list[str]) -> None:
    """Part 1 (module docstring)."""
    print(
        "| scenario | method | mean gap to exact | max gap to exact | gap to paper (mean / max) | infeasible | mean time (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        scn = small(name)
        try:  # the family's exact method may still refuse the structure (e.g. migration)
            exact_method(scn)
            make_solver("exact").solve(scn, se.sample_state(scn, 0), np.random.default_rng(0))
            refs = ["exact"]
        except ValueError as exc:
            print(f"| {name} | (no exact reference: {exc}) | | | | | |")
            refs = []
        refs += [PAPER[name]] if name in PAPER else []
        refs += ["equal"]
        values: dict[str, list[float]] = {}
        times: dict[str, list[float]] = {}
        infeasible: dict[str, int] = {}
        for seed in range(seeds):
            state = se.sample_state(scn, seed)
            for m in (*refs, *GENERAL):
                obj, ok, sec = solve(m, scn, state, seed)
                values.setdefault(m, []).append(obj if ok else np.inf)
                times.setdefault(m, []).append(sec)
                infeasible[m] = infeasible.get(m, 0) + (not ok)
        ex = np.array(values["exact"]) if "exact" in values else None
        paper = np.array(values[PAPER[name]]) if name in PAPER else None
        for m in (*refs, *GENERAL):
            v = np.array(values[m])
            g = v / ex - 1 if ex is not None else None
            gp = v / paper - 1 if paper is not None else None
            row = [
                name, m,
                f"{g.mean():+.4%}" if g is not None else "-",
                f"{g.max():+.4%}" if g is not None else "-",
                f"{gp.mean():+.4%} / {gp.max():+.4%}" if gp is not None else "-",
                str(infeasible[m]), f"{np.mean(times[m]):.3f}",
            ]  # fmt: skip
            print("| " + " | ".join(row) + " |", flush=True)
        if name == "splitllm":
            savings(values, "small instances")


def savings(values: dict[str, list[float]], label: str) -> None:
    """Each general method's saving over ``equal`` with its paired 95 % t interval."""
    eq = np.array(values["equal"])
    for m in GENERAL:
        saving = (eq - np.array(values[m])) / eq
        lo, hi = stats.t.interval(0.95, len(saving) - 1, saving.mean(), stats.sem(saving))
        print(f"  splitllm ({label}) {m}: saving over equal {saving.mean():.4%}, "
              f"paired 95% CI [{lo:.4%}, {hi:.4%}]")  # fmt: skip


def splitllm(seeds: int) -> None:
    """Part 3: SplitLLM at the preset's size, every general method against ``equal``."""
    scn = se.load_scenario("splitllm")
    values: dict[str, list[float]] = {}
    for seed in range(seeds):
        state = se.sample_state(scn, seed)
        for m in ("equal", *GENERAL):
            obj, ok, _ = solve(m, scn, state, seed)
            values.setdefault(m, []).append(obj if ok else np.inf)
    savings(values, f"preset size N = {scn.n_devices}")


def scale(sizes: list[int], names: list[str]) -> None:
    """Part 2 (module docstring); each cell: seconds (objective / equal's on the instance)."""
    print("| scenario | N | " + " | ".join(GENERAL) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in GENERAL) + " |")
    for name in names:
        for n in sizes:
            over: dict[str, object] = {"network.n_devices": n}
            if name == "fedsllm":  # keep K >= N (FedsLLM has one subchannel per client at least)
                over |= {"network.n_subchannels": 2 * n, "network.fed_n_subchannels": 2 * n}
            if name == "scct":
                over |= {"network.n_subchannels": max(200, 2 * n)}
            if name == "splitlora":  # keep K >= N and the preset's 24 GB of edge memory per 6
                over |= {
                    "network.n_subchannels": max(20, 2 * n),
                    "memory.edge_memory_bytes": 4e9 * n,
                }
            scn = se.load_scenario(name, over)
            state = se.sample_state(scn, 0)
            equal, _, _ = solve("equal", scn, state, 0)
            cells = []
            for m in GENERAL:
                obj, ok, sec = solve(m, scn, state, 0)
                cells.append(f"{sec:.2f} ({obj / equal:.3f})" + ("" if ok else " infeasible"))
            print(f"| {name} | {n} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("gaps", "scale", "splitllm"))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sizes", default="10,30,100,300")
    parser.add_argument("--scenarios", default="all", help="comma-separated (default: all)")
    args = parser.parse_args()
    names = se.list_scenarios() if args.scenarios == "all" else args.scenarios.split(",")
    if args.part == "gaps":
        gaps(args.seeds, names)
    elif args.part == "splitllm":
        splitllm(args.seeds)
    else:
        scale([int(x) for x in args.sizes.split(",")], names)


if __name__ == "__main__":
    main()
