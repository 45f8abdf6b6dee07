"""Raw SplitLoRAEnv steps per second on SCCT, per timescale and N, on one thread.

Run: ``python benchmarks/env_step.py [--devices 10 30] [--seconds 2] [--profile-steps 2000]``.

* Actions are valid native Dict actions sampled before timing (splits among the
  memory-feasible ones, subchannel counts summing to K, shares summing to 1), so
  no decoding is timed in the ``raw`` column; ``box`` is the same loop through
  :class:`~splitenv.wrappers.BoxAction` (pre-sampled Box actions, decoding included)
  and ``decode`` the Box decoder alone.
* Episodes are made long (``rounds`` huge) so the step loop never resets; ``reset``
  is timed on its own, and ``loop`` is the rate of a training loop with the
  default episode (4 rounds x 3 epochs) including its resets.
* A ``round`` step plays ``epochs_per_round`` (3) epochs, each with the inner
  allocator: it is timed with the env's default allocator (``paper``: the
  preset's own, SCCT Alg. 1) and with ``equal`` (three engine calls, no solver).
* Rates are per CPU second of this process (``time.process_time``), so a busy
  machine slows them less than wall time would; the load average is printed.
* cProfile of the epoch timescale at N = 10 (top 15 by tottime), and a rough
  breakdown of one epoch step into its parts.

The project's goal is >= 20,000 steps/s at N = 10 for ``epoch``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import numpy as np

from splitenv.env import SplitLoRAEnv
from splitenv.model import evaluate_batch
from splitenv.model.engine import feasible_splits
from splitenv.spaces import native_resource, native_to_decision, power_fractions
from splitenv.wrappers import BoxAction

GOAL = 20_000
LONG = 10**6  # rounds of a benchmark episode: never truncated inside the timing loop


def make_env(
    config: str, timescale: str, n: int, rounds: int = LONG, allocator: str | None = None
) -> SplitLoRAEnv:
    kw = {} if allocator is None else {"inner_allocator": allocator}
    env = SplitLoRAEnv(config, timescale=timescale, rounds=rounds, network__n_devices=n, **kw)
    env.reset(options={"instance": {"seed": 0}})
    return env


def valid_actions(env: SplitLoRAEnv, count: int, seed: int = 0) -> list[dict]:
    """Native actions that meet every budget and every device's memory (at reset's masks)."""
    rng = np.random.default_rng(seed)
    scn, n = env.scenario, env.scenario.n_devices
    masks = env.action_mask()
    out = []
    for _ in range(count):
        a: dict = {}
        for key, sub in env.action_space.spaces.items():
            if key == "split":
                m = masks["split"]
                if m.ndim == 1:
                    a[key] = int(rng.choice(np.flatnonzero(m)))
                else:
                    a[key] = np.array(
                        [rng.choice(np.flatnonzero(row)) for row in m], dtype=np.int64
                    )
            elif key in ("subchannels", "fed_subchannels", "bandwidth_hz", "compute_share"):
                a[key] = native_resource(scn, key, rng.dirichlet(np.ones(n)))
            elif key in ("power_w", "fed_power_w"):
                a[key] = power_fractions(scn, rng.uniform(0.01, 1.0, n))
            else:  # rank, quant bits, edge split, keep ratio, server clock: anything in the space
                sub.seed(int(rng.integers(2**31)))
                a[key] = sub.sample()
        out.append(a)
    return out


def rate(step, actions: list, seconds: float) -> float:
    """Calls per CPU second of ``step(action)`` cycling over ``actions`` (best of 3 windows)."""
    start = time.process_time()
    for a in actions[:20]:  # warm caches (at most ~1 s)
        step(a)
        if time.process_time() - start > 1.0:
            break
    best = 0.0
    for _ in range(3):
        calls, start, i = 0, time.process_time(), 0
        while (elapsed := time.process_time() - start) < seconds / 3 or calls < 3:
            step(actions[i % len(actions)])
            i += 1
            calls += 1
        best = max(best, calls / elapsed)
    return best


def reset_time(config: str, timescale: str, n: int, repeats: int = 30) -> float:
    env = make_env(config, timescale, n)
    start = time.process_time()
    for k in range(repeats):
        env.reset(options={"instance": {"seed": k}})
    return (time.process_time() - start) / repeats


def measure(
    config: str, timescale: str, n: int, seconds: float, allocator: str | None = None
) -> dict[str, float]:
    env = make_env(config, timescale, n, allocator=allocator)
    actions = valid_actions(env, 256)
    feasible = [env.step(a)[4]["feasible"] for a in actions[:3]]
    assert all(feasible), "benchmark actions must be valid"
    raw = rate(env.step, actions, seconds)

    wrapped = BoxAction(make_env(config, timescale, n, allocator=allocator))
    rng = np.random.default_rng(1)
    boxes = list(rng.uniform(-1, 1, (256, wrapped.action_space.shape[0])).astype(np.float32))
    box = rate(wrapped.step, boxes, seconds)
    decode = rate(wrapped.action, boxes, seconds / 2)

    t_reset = reset_time(config, timescale, n)
    per_episode = 4 * (1 if timescale == "round" else 3)
    loop = per_episode / (per_episode / raw + t_reset)
    return {"raw": raw, "box": box, "decode": decode, "reset_ms": t_reset * 1e3, "loop": loop}


def breakdown(config: str, n: int, repeats: int = 2000) -> list[tuple[str, float]]:
    """Microseconds of the main parts of one epoch step (each timed alone)."""
    env = make_env(config, "epoch", n)
    actions = valid_actions(env, 64)
    scn, sampler, state = env.scenario, env._sampler, env._state
    from splitenv.env import _stack  # the env's own helpers: decision + reference batch

    fields = native_to_decision(scn, env.native_space, actions[0])
    decision = env._large.replace(**fields)
    both = _stack(scn, decision)

    def timeit(fn) -> float:
        fn()
        start = time.process_time()
        for _ in range(repeats):
            fn()
        return (time.process_time() - start) / repeats * 1e6

    parts = [
        (
            "native_to_decision (action check + units)",
            lambda: native_to_decision(scn, env.native_space, actions[0]),
        ),
        ("_stack (decision + reference, B=2)", lambda: _stack(scn, decision)),
        ("evaluate_batch(B=2)", lambda: evaluate_batch(scn, state, both)),
        ("evaluate_batch(B=1, default)", lambda: evaluate_batch(scn, state, None)),
        ("StateSampler.state (next epoch)", lambda: sampler.state(0, 1, prev_split=None)),
        ("observe", env._observe),
        ("feasible_splits (reset / round/joint masks)", lambda: feasible_splits(scn, state)),
    ]
    out = [(name, timeit(fn)) for name, fn in parts]
    total = 1e6 / rate(env.step, actions, 1.0)
    out.append(("env.step total (epoch)", total))
    return out


def profile(config: str, n: int, steps: int, top: int = 15) -> str:
    env = make_env(config, "epoch", n)
    actions = valid_actions(env, 256)
    for a in actions[:20]:
        env.step(a)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(steps):
        env.step(actions[i % len(actions)])
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    buf.write("\n--- same run, by cumulative time ---\n")
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="scct")
    parser.add_argument("--devices", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--timescales", nargs="+", default=["round", "epoch", "joint"])
    parser.add_argument("--seconds", type=float, default=2.0, help="timing window per measurement")
    parser.add_argument("--profile-steps", type=int, default=2000, help="0: no profile")
    args = parser.parse_args()

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"splitenv env step throughput, {args.config}, one thread (OMP_NUM_THREADS=1)")
    print(f"{os.cpu_count()} CPUs, load average {load}; rates per CPU second\n")
    print(f"{'timescale':15s} {'N':>3s} {'raw steps/s':>12s} {'us/step':>8s} {'box steps/s':>12s} "
          f"{'decode/s':>9s} {'reset ms':>9s} {'loop steps/s':>13s}")  # fmt: skip
    results = {}
    for n in args.devices:
        for ts in args.timescales:
            allocators = ["paper", "equal"] if ts == "round" else [None]
            for alloc in allocators:
                r = measure(args.config, ts, n, args.seconds, alloc)
                results[(ts, n, alloc)] = r
                label = ts if alloc is None else f"{ts} ({alloc})"
                print(
                    f"{label:15s} {n:3d} {r['raw']:12,.0f} {1e6 / r['raw']:8.0f} "
                    f"{r['box']:12,.0f} {r['decode']:9,.0f} {r['reset_ms']:9.2f} {r['loop']:13,.0f}",
                    flush=True,
                )
    if ("epoch", 10, None) in results:
        got = results[("epoch", 10, None)]["raw"]
        verdict = "meets" if got >= GOAL else f"misses (x{GOAL / got:.0f} short of)"
        print(f"\nepoch, N = 10: {got:,.0f} steps/s {verdict} the goal of {GOAL:,} steps/s")

    print(f"\nbreakdown of one epoch step, N = {args.devices[0]} (each part timed alone, us):")
    for name, us in breakdown(args.config, args.devices[0]):
        print(f"  {name:45s} {us:9.1f}")

    if args.profile_steps:
        print(
            f"\ncProfile, epoch timescale, N = {args.devices[0]}, {args.profile_steps} steps, top 15 by tottime:"
        )
        print(profile(args.config, args.devices[0], args.profile_steps))


if __name__ == "__main__":
    main()
