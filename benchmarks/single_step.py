"""The single env against CartPole-v1, paired in one process: how many times slower it steps.

Run: ``python benchmarks/single_step.py [--id splitenv/SCCT-v0] [--timescales joint epoch]
[--seconds 1] [--pairs 3]``.

For each timescale, ``--pairs`` windows of CartPole-v1 then the single env
(``benchmarks/env_step.py``'s ``cartpole`` and ``single``: pre-sampled actions, resets
included, steps per CPU second), interleaved so that both see the same machine; prints each
pair's ratio and the median. Issue 11's baseline: SCCT-v0 ``joint`` 116x slower than CartPole.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from env_step import cartpole, single  # this folder's benchmark helpers


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--id", default="splitenv/SCCT-v0")
    p.add_argument("--timescales", nargs="+", default=["joint", "epoch"])
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--pairs", type=int, default=3)
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()}")
    for ts in args.timescales:
        ratios = []
        for _ in range(args.pairs):
            cart = cartpole(args.seconds)
            one = single(args.id, {"timescale": ts}, args.seconds)
            ratios.append(cart / one)
            print(f"{args.id} {ts}: CartPole-v1 {cart:,.0f} steps/s, single {one:,.0f} steps/s, "
                  f"{cart / one:.1f}x slower", flush=True)  # fmt: skip
        print(f"{args.id} {ts}: median {statistics.median(ratios):.1f}x slower than CartPole-v1")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
