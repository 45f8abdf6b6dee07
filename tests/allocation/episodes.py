"""Rows for the allocator tests: the states and round decisions of random episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import splitenv  # noqa: F401  (registers the ids)
from splitenv.model import Decision
from splitenv.model.decision import DECISION_FIELDS


def episode_rows(env_id: str, episodes: int = 3, **kwargs):
    """(scenario, states, round decisions) met in ``episodes`` random episodes of 3 rounds."""
    env = gym.make(env_id, rounds=3, **kwargs).unwrapped
    states, larges = [], []
    for seed in range(episodes):
        env.reset(seed=seed)
        env.action_space.seed(seed)
        while True:
            states.append(env.current_state)
            _, _, term, trunc, _ = env.step(env.action_space.sample())
            larges.append(env.large_decision)
            if term or trunc:
                break
    return env.scenario, states, larges


def large_rows(larges: list[Decision]) -> dict[str, np.ndarray]:
    """The round decisions' set fields stacked as ``{name: (R, ...) array}``."""
    names = [f for f in DECISION_FIELDS if getattr(larges[0], f) is not None]
    return {f: np.stack([np.asarray(getattr(d, f)) for d in larges]) for f in names}
