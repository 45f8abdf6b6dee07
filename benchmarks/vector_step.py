"""Env-steps per second: single env, SyncVectorEnv, the native vector env, the engine, CartPole.

Run: ``python benchmarks/vector_step.py [--ids splitenv/SCCT-v0 ...] [--timescales joint epoch]
[--sizes 1 16 128 1024] [--seconds 1]``.

For each id x timescale, in one process and one run:

* ``single``: ``gym.make(id)`` stepped with pre-sampled native actions (default episode,
  resets included);
* ``sync16``: ``gym.vector.SyncVectorEnv`` over 16 of them;
* ``native K``: :class:`splitenv.vector.SplitLoRAVectorEnv` (``gym.make_vec(...,
  vectorization_mode="vector_entry_point")``) at each K, counted in env-steps (K per call);
* ``engine``: one :func:`splitenv.evaluate_batch` of 2 x 128 rows (decisions and references,
  one state per row) per call, counted as 128 env-steps: the bound of the engine alone;
* ``cartpole``: ``CartPole-v1`` in the same run, as the yardstick.

Rates are per CPU second of this process (``time.process_time``, best of 3 windows), one
thread; the load average is printed before and after (2 shared cores: read it with the numbers).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import gymnasium as gym
import numpy as np

import splitenv  # noqa: F401  (registers the ids)
from splitenv.env import _stack
from splitenv.model import Decision, StateBatch, evaluate_batch
from splitenv.model.decision import DECISION_FIELDS
from splitenv.registration import ENV_IDS
from splitenv.vector import SplitLoRAVectorEnv

ENGINE_K = 128


def rate(step, actions: list, seconds: float, per_call: int = 1) -> float:
    """``per_call`` x calls per CPU second of ``step(action)`` cycling over ``actions``."""
    for a in actions[:3]:
        step(a)
    best = 0.0
    for _ in range(3):
        calls, start = 0, time.process_time()
        while (elapsed := time.process_time() - start) < seconds / 3 or calls < 2:
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


def single(env_id: str, timescale: str, seconds: float) -> float:
    env = gym.make(env_id, timescale=timescale)
    env.reset(seed=0)
    env.action_space.seed(0)
    return rate(_auto(env), [env.action_space.sample() for _ in range(64)], seconds)


def vector(env, seconds: float) -> float:
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(16)]
    return rate(env.step, actions, seconds, per_call=env.num_envs)


def engine(env_id: str, timescale: str, seconds: float) -> float:
    """Engine-only bound: the native env's one call, on pre-built states and decisions."""
    vec = SplitLoRAVectorEnv(ENGINE_K, ENV_IDS[env_id], timescale=timescale)
    vec.reset(seed=0)
    vec.action_space.seed(0)
    scn = vec.scenario
    fields = vec._decode(vec.action_space.sample())
    plans = [e._plan_epoch({**e.fixed, **f}) for e, f in zip(vec.envs, fields, strict=True)]
    stacked = [_stack(scn, d) for _, d, _ in plans]
    decision = Decision(
        **{
            n: np.concatenate([getattr(d, n) for d in stacked])
            for n in DECISION_FIELDS
            if getattr(stacked[0], n) is not None
        }
    )
    states = StateBatch.stack([s for s, _, _ in plans], repeat=2)
    return rate(lambda _: evaluate_batch(scn, states, decision), [None], seconds, ENGINE_K)


def _maker(env_id: str, timescale: str):
    return lambda: gym.make(env_id, timescale=timescale)


def cartpole(seconds: float) -> float:
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    env.action_space.seed(0)
    return rate(_auto(env), [env.action_space.sample() for _ in range(64)], seconds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ids", nargs="+", default=list(ENV_IDS))
    p.add_argument("--timescales", nargs="+", default=["joint", "epoch"])
    p.add_argument("--sizes", nargs="+", type=int, default=[1, 16, 128, 1024])
    p.add_argument("--seconds", type=float, default=1.0)
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    cart = cartpole(args.seconds)
    print(f"CartPole-v1: {cart:,.0f} steps/s")
    head = ["id", "timescale", "single", "sync16"] + [f"native{k}" for k in args.sizes]
    print(" | ".join([*head, "engine", "best/single", "best/cartpole"]))
    for env_id in args.ids:
        for ts in args.timescales:
            try:
                one = single(env_id, ts, args.seconds)
            except ValueError as err:  # this timescale exposes no decision
                print(f"{env_id} | {ts} | skipped: {err}")
                continue
            make = _maker(env_id, ts)
            sync = gym.vector.SyncVectorEnv([make] * 16)
            row = [one, vector(sync, args.seconds)]
            for k in args.sizes:
                vec = gym.make_vec(
                    env_id, num_envs=k, vectorization_mode="vector_entry_point", timescale=ts
                )
                row.append(vector(vec, args.seconds))
            row.append(engine(env_id, ts, args.seconds))
            best = max(row[2:-1])
            cells = [f"{x:,.0f}" for x in row] + [f"{best / one:.1f}x", f"{best / cart:.2f}x"]
            print(" | ".join([env_id, ts, *cells]), flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
