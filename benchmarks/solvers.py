"""Wall time and objective of every applicable solver per preset, for N = 10 and 30.

Run: ``python benchmarks/solvers.py [--seeds 3] [--sizes 10 30] [--presets scct,sft]``.
Objectives are relative to the equal allocation on the same instance (lower is better);
exact references are skipped above N = 6 (their enumeration grows exponentially). Where a
preset has fewer subchannels than 2 N (FedsLLM: 20 per pool), K is raised to 2 N so that
every device can get one.
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import splitenv as se
from baselines import applicable_solvers, make_solver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--presets", default=",".join(se.list_scenarios()))
    args = parser.parse_args()
    print(
        f"{'preset':9s} {'N':>3s} {'solver':18s} {'wall s (mean)':>13s} {'max':>7s} {'obj/equal':>10s} feasible"
    )
    for preset in args.presets.split(","):
        for n in args.sizes:
            scn = se.load_scenario(preset, {"network.n_devices": n})
            net = scn.network
            more = {}
            if net.allocation == "subchannels" and net.n_subchannels < 2 * n:
                more["network.n_subchannels"] = 2 * n
            if net.fed_n_subchannels and net.fed_n_subchannels < 2 * n:
                more["network.fed_n_subchannels"] = 2 * n
            scn = scn.with_overrides(more) if more else scn
            for name in applicable_solvers(scn):
                if n > 6 and name.endswith("exact"):
                    continue
                times, ratios, feasible = [], [], 0
                for seed in range(args.seeds):
                    state = se.sample_state(scn, seed)
                    ref = (
                        make_solver("equal")
                        .solve(scn, state, np.random.default_rng(seed))
                        .objective
                    )
                    start = time.perf_counter()
                    sol = make_solver(name).solve(scn, state, np.random.default_rng(seed))
                    times.append(time.perf_counter() - start)
                    ratios.append(sol.objective / ref)
                    feasible += sol.feasible
                print(
                    f"{preset:9s} {n:3d} {name:18s} {np.mean(times):13.3f} {np.max(times):7.3f} "
                    f"{np.mean(ratios):10.4f} {feasible}/{args.seeds}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
