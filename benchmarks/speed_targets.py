"""Every speed target of issue 11 in one run: what was measured, the threshold, met or not.

Run: ``python benchmarks/speed_targets.py [--seconds 0.5] [--ppo-envs 64]
[--ppo-timesteps 8192] [--no-ppo] [--no-memory]`` (about three minutes).

The targets mix ratios measured in one run (the engine-only bound, CartPole-v1) with absolute
env-steps/s. The absolute ones were set on the machine of the issue's measurements, where
CartPole-v1 ran about 163k steps/s (SCCT-v0 ``joint``: 1,408 steps/s, 116x slower). Each
absolute threshold is printed as set and scaled by this run's CartPole-v1 (threshold x
CartPole here / 163k): on a slower machine the scaled one is the like-for-like reading. The
helpers are ``env_step.py``'s (rates per CPU second, best of 3 windows) and ``ppo_step.py``'s;
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gymnasium as gym
from env_step import SCCT, cartpole, engine, machine, peak_memory, single, vector

from splitenv.registration import ENV_IDS

#: the issue's machine: CartPole-v1 steps/s (SCCT-v0 joint 1,408 steps/s x 116)
ISSUE_CARTPOLE = 1408 * 116
#: the issue's baselines, as ratios to CartPole-v1 in the same run
ISSUE_SINGLE_SLOWER = 116.0
ISSUE_PPO_OVER_CARTPOLE = 437 / 2675
K = 256


class Board:
    """The rows of the report: target, measured, threshold, scaled threshold, verdicts."""

    def __init__(self, cart: float) -> None:
        self.scale = cart / ISSUE_CARTPOLE
        self.rows: list[tuple[str, str, str, str, str]] = []

    def absolute(self, target: str, value: float, threshold: float) -> None:
        """An env-steps/s target set on the issue's machine."""
        scaled = threshold * self.scale
        self.rows.append((
            target, f"{value:,.0f}", f"{threshold:,.0f} ({scaled:,.0f} scaled)",
            _verdict(value >= threshold), _verdict(value >= scaled),
        ))  # fmt: skip

    def ratio(self, target: str, value: float, threshold: float, unit: str = "x") -> None:
        """A ratio measured in this run (machine-independent by construction)."""
        met = _verdict(value >= threshold)
        self.rows.append((target, f"{value:.2f}{unit}", f"{threshold:g}{unit}", met, met))

    def at_most(self, target: str, value: float, threshold: float, unit: str) -> None:
        met = _verdict(value < threshold)
        self.rows.append((target, f"{value:,.0f} {unit}", f"< {threshold:,.0f} {unit}", met, met))

    def print(self) -> None:
        head = ("target", "measured", "threshold", "met as set", "met scaled")
        print("| " + " | ".join(head) + " |")
        print("|" + " --- |" * len(head))
        for row in self.rows:
            print("| " + " | ".join(row) + " |")


def _verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _native(env_id: str, k: int, seconds: float, **kwargs) -> float:
    vec = gym.make_vec(env_id, k, vectorization_mode="vector_entry_point", **kwargs)
    return vector(vec, seconds)


def _ppo(n_envs: int, timesteps: int) -> tuple[float, float]:
    """SB3 PPO env-steps/s on SCCT joint (native vector env) and on CartPole-v1 (DummyVecEnv)."""
    import torch
    from ppo_step import rate as ppo_rate
    from stable_baselines3.common.env_util import make_vec_env

    from agents.envs import EnvRecipe, make_vec_envs
    from splitenv.draw_kernel import kernel

    torch.set_num_threads(1)
    kernel()  # the compiled draws load once per process: not a training cost
    recipe = EnvRecipe("scct", timescale="joint", inner_allocator="equal")
    native = ppo_rate(make_vec_envs(recipe, n_envs, seed=0, vec_env="native"), timesteps, n_envs)
    cart = ppo_rate(make_vec_env("CartPole-v1", n_envs=n_envs, seed=0), timesteps, n_envs)
    return native, cart


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=0.5, help="window budget of each rate")
    p.add_argument("--ppo-envs", type=int, default=64)
    p.add_argument("--ppo-timesteps", type=int, default=8192)
    p.add_argument("--no-ppo", action="store_true", help="skip the SB3 PPO target")
    p.add_argument("--no-memory", action="store_true", help="skip the K = 4096 memory target")
    args = p.parse_args()
    print(machine())
    print(f"load average before: {os.getloadavg()}")
    cart = cartpole(args.seconds)
    board = Board(cart)
    print(f"CartPole-v1: {cart:,.0f} steps/s ({board.scale:.2f} of the issue's machine)")
    for ts in ("epoch", "joint"):
        native = _native(SCCT, K, args.seconds, timescale=ts)
        bound = engine(SCCT, {"timescale": ts}, args.seconds)
        board.absolute(f"SCCT `{ts}` native K = {K} >= 100k", native, 100_000)
        board.ratio(f"SCCT `{ts}` native K = {K} / engine bound >= 0.5", native / bound, 0.5)
    rounds = {}
    for env_id in ENV_IDS:  # each id's default timescale, round, with the paper's allocator
        name = env_id.removeprefix("splitenv/")
        for k in (K, 1024):
            rounds[env_id, k] = _native(env_id, k, args.seconds)
            board.absolute(f"{name} `round` native K = {k} >= 20k", rounds[env_id, k], 20_000)
    board.absolute(f"SCCT `round` (paper's allocator) native K = {K} >= 10k",
                   rounds[SCCT, K], 10_000)  # fmt: skip
    slower = statistics.median(
        cartpole(args.seconds) / single(SCCT, {"timescale": "joint"}, args.seconds)
        for _ in range(3)
    )
    board.ratio("single env SCCT `joint`: 116x / (x slower than CartPole) >= 3",
                ISSUE_SINGLE_SLOWER / slower, 3.0)  # fmt: skip
    if not args.no_ppo:
        native, cart_ppo = _ppo(args.ppo_envs, args.ppo_timesteps)
        board.ratio(f"PPO SCCT `joint`, {args.ppo_envs} envs: (native / CartPole) / 0.163 >= 4",
                    native / cart_ppo / ISSUE_PPO_OVER_CARTPOLE, 4.0)  # fmt: skip
    if not args.no_memory:
        board.at_most("peak memory K = 4096, N = 100", peak_memory() / 2**20, 1024, "MiB")
    print(f"load average after: {os.getloadavg()}")
    print()
    board.print()


if __name__ == "__main__":
    main()
