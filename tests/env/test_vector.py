"""Pickling and vectorization: Gymnasium's async vector env and SB3's SubprocVecEnv."""

from __future__ import annotations

import pickle
import time

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import SubprocVecEnv

import splitenv  # noqa: F401  (registers the ids)
from splitenv.observation import DEVICE_FEATURES, GLOBAL_FEATURES
from splitenv.registration import ENV_IDS
from splitenv.wrappers import BoxAction, MultiDiscreteAction

#: observation size of SCCT (N = 10)
OBS = len(DEVICE_FEATURES) * 10 + len(GLOBAL_FEATURES)


def _same_step(a, b):
    oa, ra, ta, tra, ia = a
    ob, rb, tb, trb, ib = b
    np.testing.assert_array_equal(oa, ob)
    assert (ra, ta, tra) == (rb, tb, trb)
    assert set(ia) == set(ib)
    for k in ia:
        if isinstance(ia[k], np.ndarray):
            np.testing.assert_array_equal(ia[k], ib[k])
        elif isinstance(ia[k], dict):
            assert set(ia[k]) == set(ib[k])
            for kk in ia[k]:
                np.testing.assert_array_equal(np.asarray(ia[k][kk]), np.asarray(ib[k][kk]))
        else:
            assert ia[k] == ib[k] or (ia[k] != ia[k] and ib[k] != ib[k]), k  # NaN-safe


@pytest.mark.parametrize("env_id", list(ENV_IDS))
@pytest.mark.parametrize("wrapper", [None, MultiDiscreteAction, BoxAction])
def test_pickle_round_trip_steps_identically(env_id, wrapper):
    env = gym.make(env_id, timescale="joint", rounds=3, epochs_per_round=2)
    if wrapper is not None:
        env = wrapper(env)
    fresh = pickle.loads(pickle.dumps(env))  # before reset
    env.reset(seed=5)
    fresh.reset(seed=5)
    env.action_space.seed(3)
    actions = [env.action_space.sample() for _ in range(8)]
    _same_step(env.step(actions[0]), fresh.step(actions[0]))
    clone = pickle.loads(pickle.dumps(env))  # mid-episode
    for a in actions[1:4]:
        x, y, z = env.step(a), clone.step(a), fresh.step(a)
        _same_step(x, y)
        _same_step(x, z)
        if x[2] or x[3]:
            break
    if wrapper is MultiDiscreteAction:
        np.testing.assert_array_equal(env.action_masks(), clone.action_masks())
    # the clone is independent: stepping it does not move the original
    before = pickle.dumps(env)
    clone.step(actions[4])
    assert pickle.dumps(env) == before


def test_make_vec_async_1000_steps():
    n_envs, steps = 4, 1000
    envs = gym.make_vec(
        "splitenv/SCCT-v0",
        n_envs,
        vectorization_mode="async",
        timescale="epoch",
        rounds=2,
        epochs_per_round=3,
    )
    try:
        obs, infos = envs.reset(seed=0)
        assert obs.shape == (n_envs, OBS) and obs.dtype == np.float32
        envs.action_space.seed(0)
        ends = 0
        start = time.perf_counter()
        for _ in range(steps):
            obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
            assert obs.shape == (n_envs, OBS)
            assert np.all(np.isfinite(rewards))
            assert envs.observation_space.contains(obs)
            ends += int(np.sum(terminated | truncated))
        elapsed = time.perf_counter() - start
        # episodes of 6 steps; next-step auto-reset spends a 7th call on the reset
        assert ends >= n_envs * (steps // 7 - 1)
        assert "latency_s" in infos and "feasible" in infos
    finally:
        envs.close()
    print(f"make_vec async: {n_envs * steps / elapsed:.0f} env-steps/s")


def _wrapped(rank: int, wrapper):
    def thunk():
        env = wrapper(gym.make("splitenv/SCCT-v0", timescale="epoch", rounds=2, epochs_per_round=3))
        env.reset(seed=rank)
        return env

    return thunk


def _run_subproc(wrapper, steps: int) -> None:
    n_envs = 4
    # fork: the workers need not re-import this module (and torch with it); they never use torch
    vec = SubprocVecEnv([_wrapped(i, wrapper) for i in range(n_envs)], start_method="fork")
    try:
        vec.seed(0)
        obs = vec.reset()
        assert obs.shape == (n_envs, OBS)
        rng = np.random.default_rng(0)
        space = vec.action_space
        ends = 0
        start = time.perf_counter()
        for _ in range(steps):
            if isinstance(space, gym.spaces.Box):
                actions = rng.uniform(-1, 1, (n_envs, *space.shape)).astype(np.float32)
            else:
                actions = rng.integers(0, space.nvec, (n_envs, len(space.nvec)))
            obs, rewards, dones, infos = vec.step(actions)
            assert obs.shape == (n_envs, OBS)
            assert np.all(np.isfinite(rewards))
            assert all(info["feasible"] for info in infos)  # both decoders meet every budget
            ends += int(dones.sum())
        elapsed = time.perf_counter() - start
        assert ends >= n_envs * (steps // 6 - 1)  # SB3 resets inside the done step
        if wrapper is MultiDiscreteAction:  # no split at the epoch timescale: masks by value below
            masks = vec.env_method("action_masks")
            assert [m.shape for m in masks] == [(int(space.nvec.sum()),)] * n_envs
    finally:
        vec.close()
    print(f"SubprocVecEnv: {n_envs * steps / elapsed:.0f} env-steps/s")


@pytest.mark.parametrize("wrapper", [BoxAction, MultiDiscreteAction])
def test_sb3_subproc_vec_env_1000_steps(wrapper):
    # ~7 s each on an idle 2-core machine (4000 env-steps at ~1 ms plus IPC): not marked slow
    _run_subproc(wrapper, 1000)


def _joint_masked(rank: int):
    def thunk():
        env = MultiDiscreteAction(gym.make("splitenv/SCCT-v0", timescale="joint", rounds=2))
        env.reset(seed=rank)
        return env

    return thunk


def test_sb3_subproc_masks_equal_the_single_env_masks():
    """SCCT masks memory-infeasible splits: the masks read across processes are the local ones."""
    n_envs = 2
    vec = SubprocVecEnv([_joint_masked(i) for i in range(n_envs)], start_method="fork")
    try:
        masks = vec.env_method("action_masks")
        rng = np.random.default_rng(0)
        actions = [
            np.array([rng.choice(np.flatnonzero(m)) for m in _dims(mask, vec.action_space)])
            for mask in masks
        ]
        vec.step_async(np.stack(actions))
        _, _, _, infos = vec.step_wait()
        after = vec.env_method("action_masks")
    finally:
        vec.close()
    for rank in range(n_envs):
        local = _joint_masked(rank)()
        np.testing.assert_array_equal(masks[rank], local.action_masks())
        _, _, _, _, info = local.step(actions[rank])
        np.testing.assert_array_equal(after[rank], info["action_mask"])
        assert infos[rank]["feasible"] == info["feasible"]
    assert not all(m.all() for m in masks)  # some split is masked: the comparison has content


def _dims(mask, space):
    out, i = [], 0
    for k in space.nvec:
        out.append(mask[i : i + k])
        i += k
    return out
