"""Env-steps per second: single env, SyncVectorEnv, the native vector env, the engine, CartPole.

Run: ``python benchmarks/env_step.py [--seconds 1] [--sizes 1 16 128 1024] [--memory]
[--markdown]``.

In one process and one run, for every registered id at its default timescale (``round``, the
paper's inner allocator) and for SCCT at every timescale:

* ``single``: ``gym.make(id)`` stepped with pre-sampled native actions (default episode,
  resets included);
* ``sync16``: ``gym.vector.SyncVectorEnv`` over 16 of them;
* ``native K``: :class:`splitenv.vector.SplitLoRAVectorEnv` (``gym.make_vec(...,
  vectorization_mode="vector_entry_point")``) at each K, counted in env-steps (K per call);
  at ``round`` only up to ``--max-round-k`` (the papers' inner allocators run batched over
  the K x T rows of a round step, :func:`splitenv.allocation.allocate_rows`, but a step of
  SCCT at K = 1024 still takes seconds; "nan" in the table beyond it);
* ``engine``: :func:`splitenv.evaluate_batch` of 2 x 256 rows (decisions and references, one
  state per row; the epochs of a round step for ``round``) per call, counted as 256
  env-steps: the bound of the engine alone for the native env at K = 256;
* ``CartPole-v1`` in the same run, as the yardstick.

SFT is timed a second time at ``round`` with the opt-in allocator ``sft_bisection``
(:data:`FAST_ALLOCATORS`): the same program as Alg. 3, solved exactly, about 100x cheaper.

Rates are per CPU second of this process (``time.process_time``, best of 3 windows), on one
thread; the load average (``os.getloadavg``) is printed before and after: the machine is
shared, read the numbers with it. ``--memory``: peak memory (``tracemalloc``) of the native
env at K = 4096, N = 100 (reset and 20 steps, SCCT joint).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import gymnasium as gym
import numpy as np

import splitenv  # noqa: F401  (registers the ids)
from splitenv.model import evaluate_batch
from splitenv.registration import ENV_IDS
from splitenv.vector import SplitLoRAVectorEnv
from splitenv.vector_parts import evaluate_rows

ENGINE_K = 256
SCCT = "splitenv/SCCT-v0"
#: opt-in inner allocators timed as an extra ``round`` row of their preset's id: SFT P3 (42)
#: solved exactly (the optimum Alg. 3's SQP approaches, ~1e-9 relative)
FAST_ALLOCATORS = {"sft": "sft_bisection"}


def rate(step, actions: list, seconds: float, per_call: int = 1) -> float:
    """``per_call`` x calls per CPU second of ``step(action)`` cycling over ``actions``."""
    step(actions[0])
    best = 0.0
    for _ in range(3):
        calls, start = 0, time.process_time()
        while (elapsed := time.process_time() - start) < seconds / 3 or calls < 1:
            step(actions[calls % len(actions)])
            calls += 1
        best = max(best, calls / elapsed)
    return best * per_call


def _auto(env):
    """A step function that resets the env when its episode ends (as a training loop does)."""

    def step(action):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()

    return step


def single(env_id: str, kwargs: dict, seconds: float) -> float:
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    env.action_space.seed(0)
    return rate(_auto(env), [env.action_space.sample() for _ in range(64)], seconds)


def vector(env, seconds: float) -> float:
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(16)]
    return rate(env.step, actions, seconds, per_call=env.num_envs)


def engine(env_id: str, kwargs: dict, seconds: float) -> float:
    """Engine-only bound: the native env's engine calls of one step, on pre-built rows."""
    vec = gym.make_vec(env_id, ENGINE_K, vectorization_mode="vector_entry_point", **kwargs)
    vec.reset(seed=0)
    base: SplitLoRAVectorEnv = vec.unwrapped
    rows = np.arange(ENGINE_K)
    ev = evaluate_rows(base.scenario, base._ep, rows, {})
    states = base._ep.state_rows(rows, repeat=2)
    epochs = base.template.epochs_per_round if base.template.timescale == "round" else 1

    def call(_):
        for _ in range(epochs):
            evaluate_batch(base.scenario, states, ev.decision)

    return rate(call, [None], seconds, ENGINE_K)


def cartpole(seconds: float) -> float:
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    env.action_space.seed(0)
    return rate(_auto(env), [env.action_space.sample() for _ in range(64)], seconds)


def peak_memory(k: int = 4096, n: int = 100, steps: int = 20) -> float:
    """Peak traced bytes of the native env at K envs, N devices (build, reset, steps)."""
    tracemalloc.start()
    vec = SplitLoRAVectorEnv(k, "scct", timescale="joint", network__n_devices=n)
    vec.reset(seed=0)
    vec.action_space.seed(0)
    action = vec.action_space.sample()
    for _ in range(steps):
        vec.step(action)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def machine() -> str:
    """The line every speed benchmark prints first: processor, cores, Python, numpy."""
    return (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"python {platform.python_version()}, numpy {np.__version__}"
    )


def rows_to_measure(ids: list[str], timescales: list[str]) -> list[tuple[str, str, str | None]]:
    """(id, timescale, inner allocator or None for the paper's): every id at its default
    timescale, again with an opt-in fast allocator where it has one, SCCT at every timescale."""
    out: list[tuple[str, str, str | None]] = [(eid, "round", None) for eid in ids]
    out += [
        (e, "round", FAST_ALLOCATORS[ENV_IDS[e]]) for e in ids if ENV_IDS.get(e) in FAST_ALLOCATORS
    ]
    out += [(SCCT, ts, None) for ts in timescales if ts != "round"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ids", nargs="+", default=list(ENV_IDS))
    p.add_argument("--timescales", nargs="+", default=["round", "epoch", "joint"])
    p.add_argument("--sizes", nargs="+", type=int, default=[1, 16, 128, 1024])
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--memory", action="store_true", help="peak memory at K = 4096, N = 100")
    p.add_argument(
        "--max-round-k", type=int, default=1024,
        help="largest K timed at the round timescale (a step runs the paper's allocator on K x T rows)",
    )  # fmt: skip
    p.add_argument("--markdown", action="store_true", help="print a README table")
    args = p.parse_args()
    print(machine())
    print(f"load average before: {os.getloadavg()}")
    cart = cartpole(args.seconds)
    print(f"CartPole-v1: {cart:,.0f} steps/s")
    head = ["id", "timescale", "single", "sync16", *[f"native{k}" for k in args.sizes], "engine"]
    print(" | ".join([*head, "best/single", "best/engine", "best/cartpole"]))
    table = []
    for env_id, ts, allocator in rows_to_measure(args.ids, args.timescales):
        kwargs = (
            {"timescale": ts}
            if allocator is None
            else {"timescale": ts, "inner_allocator": allocator}
        )
        if allocator is not None:
            ts = f"{ts} ({allocator})"
        try:
            one = single(env_id, kwargs, args.seconds)
        except ValueError as err:  # this timescale exposes no decision
            print(f"{env_id} | {ts} | skipped: {err}")
            continue
        sync = gym.vector.SyncVectorEnv([lambda e=env_id, kw=kwargs: gym.make(e, **kw)] * 16)
        row = [one, vector(sync, args.seconds)]
        for k in args.sizes:
            if ts == "round" and k > args.max_round_k:  # the paper's allocator on K x T rows
                row.append(float("nan"))
                continue
            vec = gym.make_vec(env_id, k, vectorization_mode="vector_entry_point", **kwargs)
            row.append(vector(vec, args.seconds))
        row.append(engine(env_id, kwargs, args.seconds))
        best = np.nanmax(row[2:-1])
        ratios = [best / one, best / row[-1], best / cart]
        table.append((env_id, ts, row, ratios))
        cells = [f"{x:,.0f}" for x in row] + [f"{r:.2f}x" for r in ratios]
        print(" | ".join([env_id, ts, *cells]), flush=True)
    print(f"load average after: {os.getloadavg()}")
    if args.memory:
        print(f"peak memory, native K = 4096, N = 100: {peak_memory() / 2**20:,.0f} MiB")
    if args.markdown:
        print()
        print(
            "| " + " | ".join([*head, "best / single", "best / engine", "best / CartPole"]) + " |"
        )
        print("|" + " --- |" * (len(head) + 3))
        for env_id, ts, row, ratios in table:
            cells = [f"{x:,.0f}" for x in row] + [f"{r:.1f}x" for r in ratios]
            print("| " + " | ".join([env_id.removeprefix("splitenv/"), ts, *cells]) + " |")
        print(f"\nCartPole-v1: {cart:,.0f} steps/s in the same run.")


if __name__ == "__main__":
    main()
