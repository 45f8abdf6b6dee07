"""The SB3 adapter of the native vector env (agents.vec_env) against SB3's DummyVecEnv."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.args import make_args
from agents.envs import EnvRecipe, make_vec_envs
from agents.train import train

N_ENVS = 3


@pytest.mark.parametrize("wrapper", ["box", "multidiscrete"])
@pytest.mark.parametrize("timescale", ["joint", "round"])
def test_native_vec_env_equals_dummy_vec_env(wrapper, timescale):
    recipe = EnvRecipe(
        "sft", timescale=timescale, rounds=2, epochs_per_round=2, inner_allocator="equal",
        wrapper=wrapper,
    )  # fmt: skip
    dummy = make_vec_env(recipe.make_wrapped, n_envs=N_ENVS, seed=5, vec_env_cls=DummyVecEnv)
    native = make_vec_envs(recipe, N_ENVS, seed=5, vec_env="native")
    np.testing.assert_array_equal(dummy.reset(), native.reset())
    dummy.action_space.seed(1)
    ends = 0
    for _ in range(12):
        actions = np.stack([dummy.action_space.sample() for _ in range(N_ENVS)])
        a, b = dummy.step(actions), native.step(actions)
        for x, y in zip(a[:3], b[:3], strict=True):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)
        for i, (p, q) in enumerate(zip(a[3], b[3], strict=True)):
            for key in ("terminal_observation", "TimeLimit.truncated", "latency_s", "cost"):
                assert (key in p) == (key in q), (i, key)
                if key in p:
                    np.testing.assert_array_equal(p[key], q[key])
            assert ("episode" in p) == ("episode" in q)
            if "episode" in p:
                assert p["episode"]["r"] == pytest.approx(q["episode"]["r"], rel=1e-6)
                assert p["episode"]["l"] == q["episode"]["l"]
        ends += int(a[2].sum())
    assert ends >= N_ENVS
    if wrapper == "multidiscrete":
        masks = native.env_method("action_masks")
        want = dummy.env_method("action_masks")
        for m, w in zip(masks, want, strict=True):
            np.testing.assert_array_equal(m, w)


def test_training_with_the_native_vec_env_equals_the_dummy_one(tmp_path):
    tiny = dict(
        timesteps=256, n_envs=2, n_steps=64, batch_size=64, n_epochs=1, eval_freq=10**6,
        eval_episodes=1, checkpoint_freq=10**6, inner_allocator="equal", timescale="joint",
    )  # fmt: skip
    runs = [
        train(make_args("scct", "ppo", out=str(tmp_path / kind), vec_env=kind, **tiny))
        for kind in ("dummy", "native")
    ]
    from stable_baselines3 import PPO

    a, b = (PPO.load(r / "model.zip").policy.state_dict() for r in runs)
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy(), err_msg=key)
