"""The device-set policy: one set of weights acting for any number of devices."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

import torch as th

from agents.device_set import DeviceSetPolicy, box_layout, transfer
from splitenv.errors import ConfigError
from splitenv.registration import make
from splitenv.wrappers import BoxAction


def _env(n: int):
    # the flagship at the round timescale: per-device splits and the global rank, keep ratio, bits
    return BoxAction(make("splitlora", inner_allocator="equal", **{"network.n_devices": n}))


def _policy(env, seed: int = 0) -> DeviceSetPolicy:
    th.manual_seed(seed)
    return DeviceSetPolicy(
        env.observation_space, env.action_space, lambda _: 3e-4, layout=box_layout(env), hidden=32
    )


def test_one_set_of_weights_acts_for_5_10_and_20_devices():
    ten = _env(10)
    policy = _policy(ten)
    assert box_layout(ten) == [
        ("split", True), ("rank", False), ("keep_ratio", False), ("quant_bits", False)
    ]  # fmt: skip
    shapes = {name: tuple(p.shape) for name, p in policy.state_dict().items()}
    for n in (5, 10, 20):
        env = _env(n)
        other = transfer(policy, env)
        assert {k: tuple(p.shape) for k, p in other.state_dict().items()} == shapes  # no N in them
        obs, _ = env.reset(seed=n)
        action, _ = other.predict(obs, deterministic=True)
        assert action.shape == (n + 3,) and env.action_space.contains(action)
        _, reward, *_ = env.step(action)  # a valid action of that env
        assert np.isfinite(reward)
        # the same weights give the same values: V at N = 10 through both policies
        if n == 10:
            o = th.as_tensor(obs[None])
            assert th.allclose(other.predict_values(o), policy.predict_values(o))


def test_permuting_devices_permutes_their_actions():
    env = _env(6)
    policy = _policy(env, seed=1)
    obs, _ = env.reset(seed=3)
    perm = np.array([3, 0, 5, 1, 4, 2])
    devices = obs[: 6 * 7].reshape(6, 7)
    swapped = np.concatenate([devices[perm].reshape(-1), obs[6 * 7 :]])
    a, _ = policy.predict(obs, deterministic=True)
    b, _ = policy.predict(swapped, deterministic=True)
    np.testing.assert_allclose(b[:6], a[:6][perm], atol=1e-6)  # per-device splits follow
    np.testing.assert_allclose(b[6:], a[6:], atol=1e-6)  # globals do not see the order


def test_learns_with_ppo_and_rejects_what_it_cannot_serve():
    from stable_baselines3 import PPO

    env = _env(4)
    model = PPO(
        DeviceSetPolicy, env, n_steps=16, batch_size=8, n_epochs=1, device="cpu", seed=0,
        policy_kwargs={"layout": box_layout(env), "hidden": 16},
    )  # fmt: skip
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(32)
    assert any(not th.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))
    with pytest.raises(ConfigError, match="action dimensions"):
        DeviceSetPolicy(
            env.observation_space, env.action_space, lambda _: 0.0, layout=[("split", True)]
        )
    with pytest.raises(ConfigError, match="not the policy's"):
        transfer(model.policy, BoxAction(make("scct", inner_allocator="equal")))


def test_trained_device_set_agent_loads_safely_and_plays_other_sizes(tmp_path):
    from agents.args import make_args
    from agents.policy import AgentPolicy
    from agents.train import train
    from baselines.harness.policy import run_episode

    args = make_args(
        "splitlora", "ppo", out=str(tmp_path), policy="device_set", timesteps=64, n_envs=2,
        n_steps=32, batch_size=32, n_epochs=1, eval_freq=64, eval_episodes=1,
        inner_allocator="equal", net_arch=[16], vec_env="dummy",
    )  # fmt: skip
    run = train(args)
    agent = AgentPolicy(run / "best_model.zip")  # through agents.safe_load: no unpickling
    assert type(agent.model.policy).__name__ == "DeviceSetPolicy"
    for n in (3, 6, 9):  # trained at the preset's N = 6
        env = make("splitlora", inner_allocator="equal", **{"network.n_devices": n})
        result = run_episode(env, agent, seed=1)
        assert result.steps == 4 and np.isfinite(result.total_cost)
    with pytest.raises(ValueError, match="needs algo ppo with the box wrapper"):
        make_args("splitlora", "maskable_ppo", policy="device_set")
