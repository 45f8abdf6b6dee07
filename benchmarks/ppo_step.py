"""SB3 PPO training steps per second on SCCT: the native vector env, DummyVecEnv, and CartPole.

Run: ``python benchmarks/ppo_step.py [--timesteps 4096] [--n-envs 16] [--timescale joint]``.

One process, one thread: ``PPO("MlpPolicy").learn`` for the same number of env-steps on
SCCT through ``agents.envs.make_vec_envs`` with ``vec_env=native`` (one engine call per
epoch for all envs) and ``vec_env=dummy`` (SB3's loop over single envs), and on
``CartPole-v1`` (DummyVecEnv), as the yardstick. Rates are env-steps per CPU second
(``time.process_time``), after the one-time load of the compiled random draws
(:mod:`splitenv.draw_kernel`); the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ["OMP_NUM_THREADS"] = "1"

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from agents.envs import EnvRecipe, make_vec_envs
from splitenv.draw_kernel import kernel


def rate(env, timesteps: int, n_envs: int) -> float:
    model = PPO("MlpPolicy", env, n_steps=max(2048 // n_envs, 16), batch_size=256, n_epochs=2,
                seed=0, device="cpu", verbose=0)  # fmt: skip
    start = time.process_time()
    model.learn(total_timesteps=timesteps)
    return timesteps / (time.process_time() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--timesteps", type=int, default=4096)
    p.add_argument("--n-envs", type=int, default=16)
    p.add_argument("--timescale", default="joint")
    args = p.parse_args()
    torch.set_num_threads(1)
    kernel()  # the compiled random draws load once per process (~0.3 s): not a training cost
    print(f"load average before: {os.getloadavg()}")
    recipe = EnvRecipe("scct", timescale=args.timescale, inner_allocator="equal")
    rows = {}
    for kind in ("native", "dummy"):
        env = make_vec_envs(recipe, args.n_envs, seed=0, vec_env=kind)
        rows[f"SCCT {args.timescale} ({kind})"] = rate(env, args.timesteps, args.n_envs)
    cart = make_vec_env("CartPole-v1", n_envs=args.n_envs, seed=0)
    rows["CartPole-v1 (dummy)"] = rate(cart, args.timesteps, args.n_envs)
    for name, value in rows.items():
        print(f"{name}: {value:,.0f} env-steps/s")
    native, dummy = rows[f"SCCT {args.timescale} (native)"], rows[f"SCCT {args.timescale} (dummy)"]
    print(f"native / dummy: {native / dummy:.2f}x; native / CartPole: "
          f"{native / rows['CartPole-v1 (dummy)']:.2f}x")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
