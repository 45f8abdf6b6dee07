"""Batched device-evaluations per second of the cost engine for N = 10, 30, 100.

Run: ``python benchmarks/engine.py [--batch 2048] [--seconds 2]``. One thread
(OMP/MKL limited to 1) so the number is per core.
"""

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from splitenv.scenarios import list_scenarios
from splitenv.throughput import engine_throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--scenarios", default=",".join(list_scenarios()))
    args = parser.parse_args()
    print(
        f"{'scenario':10s} {'N':>4s} {'device-evals/s':>16s} {'ms/call':>9s}  (batch {args.batch})"
    )
    for name in args.scenarios.split(","):
        for n in (10, 30, 100):
            rate, per_call = engine_throughput(name, n, args.batch, args.seconds)
            print(f"{name:10s} {n:4d} {rate:16,.0f} {per_call * 1e3:9.2f}")


if __name__ == "__main__":
    main()
