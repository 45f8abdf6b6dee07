"""Smoke runs of SB3 PPO (BoxAction) and sb3-contrib MaskablePPO (MultiDiscreteAction + masks).

2000 environment steps each on splitenv/SCCT-v0; the point is that training runs end to end
with finite rewards, that the Box decoder stays feasible, and that the masked policy never
picks a split that overflows a device's memory.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import splitenv  # noqa: F401  (registers the ids)
from splitenv.wrappers import BoxAction, MultiDiscreteAction

pytestmark = pytest.mark.slow

STEPS = 2000
ENV_KW = dict(timescale="joint", rounds=4, epochs_per_round=3)


class Recorder(gym.Wrapper):
    """Keeps every step's reward, feasibility, violations and the applied split."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.rewards: list[float] = []
        self.feasible: list[bool] = []
        self.violations: list[dict] = []
        self.split_ok: list[bool] = []

    def step(self, action):
        base = self.env.unwrapped
        mask = base.action_mask().get("split")  # what the agent was offered for this step
        obs, reward, terminated, truncated, info = super().step(action)
        self.rewards.append(reward)
        self.feasible.append(info["feasible"])
        self.violations.append(info["violations"])
        if mask is not None:  # the applied split (chosen at the round start) must be offered
            lo = base.scenario.decision.split_range[0]
            index = np.asarray(info["decision"]["split"]) - lo
            ok = mask[index] if mask.ndim == 1 else mask[np.arange(len(index)), index]
            self.split_ok.append(bool(np.all(ok)))
        return obs, reward, terminated, truncated, info


def _check(rec: Recorder) -> None:
    assert len(rec.rewards) >= STEPS
    rewards = np.asarray(rec.rewards)
    assert np.all(np.isfinite(rewards))
    assert rewards.max() < 0  # a cost is never negative


def test_ppo_box_action():
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor

    rec = Recorder(BoxAction(gym.make("splitenv/SCCT-v0", **ENV_KW)))
    env = Monitor(rec)
    model = PPO(
        "MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=2, seed=0, device="cpu", verbose=0
    )
    model.learn(total_timesteps=STEPS)
    _check(rec)
    assert all(rec.feasible), [v for v in rec.violations if v][
        :3
    ]  # the Box decoder meets every budget
    episodes = env.get_episode_rewards()
    assert len(episodes) >= STEPS // 12 - 1 and np.all(np.isfinite(episodes))
    obs, _ = env.reset(seed=123)
    for _ in range(24):
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(action)
        assert np.isfinite(reward) and info["feasible"]
        if terminated or truncated:
            obs, _ = env.reset()


def test_maskable_ppo_multidiscrete():
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.wrappers import ActionMasker
    from stable_baselines3.common.monitor import Monitor

    md = MultiDiscreteAction(gym.make("splitenv/SCCT-v0", **ENV_KW), levels=5)
    rec = Recorder(md)
    env = ActionMasker(Monitor(rec), lambda _env: md.action_masks())
    model = MaskablePPO(
        "MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=2, seed=0, device="cpu", verbose=0
    )
    model.learn(total_timesteps=STEPS)
    _check(rec)
    assert rec.split_ok and all(rec.split_ok), "the masked policy picked a memory-infeasible split"
    assert not any("device_memory" in v for v in rec.violations)
    assert all(rec.feasible), [v for v in rec.violations if v][:3]
    # deterministic masked inference stays feasible too
    obs, _ = env.reset(seed=7)
    for _ in range(24):
        action, _ = model.predict(obs, deterministic=True, action_masks=md.action_masks())
        obs, reward, terminated, truncated, info = env.step(action)
        assert np.isfinite(reward) and "device_memory" not in info["violations"]
        if terminated or truncated:
            obs, _ = env.reset()
    # the masks mattered: without them, random choices do overflow memory on this preset
    md.reset(seed=7)
    rng = np.random.default_rng(0)
    overflow = 0
    for _ in range(24):
        *_, terminated, truncated, info = md.step(rng.integers(0, md.nvec))
        overflow += "device_memory" in info["violations"]
        if terminated or truncated:
            md.reset()
    assert overflow > 0
