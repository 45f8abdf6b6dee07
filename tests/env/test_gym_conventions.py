"""Gymnasium conventions other RL libraries rely on (issue 10).

Unknown keywords are TypeErrors (SB3's ``make_vec_env`` and torchrl's ``GymEnv`` fall back
on them), the action wrappers record their constructor arguments (``gym.make(spec)`` and
``check_env`` on a wrapped env), and no action dimension is dead.
"""

from __future__ import annotations

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env

import splitenv  # noqa: F401  (registers the ids)
from splitenv import ConfigError
from splitenv.env import SplitLoRAEnv
from splitenv.registration import ENV_IDS
from splitenv.wrappers import BoxAction, MultiDiscreteAction

IDS = list(ENV_IDS)
TIMESCALES = ("round", "epoch", "joint")
VALID = [(i, t) for i in IDS for t in TIMESCALES if (i, t) != ("splitenv/SplitLLM-v0", "epoch")]
VALID_IDS = [f"{i.split('/')[1]}-{t}" for i, t in VALID]
WRAPPERS = [BoxAction, MultiDiscreteAction]


# --------------------------------------------------------------------------------------
# unknown keywords
# --------------------------------------------------------------------------------------


def test_unknown_keyword_is_type_error_naming_it_and_the_accepted_ones():
    with pytest.raises(TypeError) as err:
        gym.make("splitenv/SCCT-v0", frameskip=4)
    text = str(err.value)
    assert "unexpected keyword argument 'frameskip'" in text
    accepted = re.search(r"accepted: (.*?), or a config override", text)
    assert accepted, text
    named = {"config", "timescale", "rounds", "render_mode", "inner_allocator", "overrides"}
    assert named <= set(accepted.group(1).split(", "))
    assert "network.n_devices" in text and "network__n_devices" in text
    with pytest.raises(TypeError, match=r"'bogus' \(and 'other'\)"):
        SplitLoRAEnv("scct", bogus=1, other=2)


@pytest.mark.parametrize(
    "override", [{"network.no_such_field": 1}, {"network__n_devicez": 3}, {"nosection.x": 1}]
)
def test_wrong_dotted_field_stays_a_config_error(override):
    field = next(iter(override)).replace("__", ".")
    with pytest.raises(ConfigError, match=re.escape(field)):
        gym.make("splitenv/SCCT-v0", **override)


def test_dotted_overrides_stay_accepted():
    a = gym.make("splitenv/SCCT-v0", **{"network.n_devices": 6})
    b = gym.make("splitenv/SCCT-v0", network__n_devices=6)
    assert a.unwrapped.scenario.n_devices == b.unwrapped.scenario.n_devices == 6


def test_torchrl_style_frameskip_probe_falls_back():
    """torchrl's GymEnv: ``make(id, frameskip=k)``, and on this TypeError ``make(id)``."""
    try:
        env = gym.make("splitenv/SCCT-v0", frameskip=2)
    except TypeError as err:
        assert "unexpected keyword argument 'frameskip" in str(err)  # torchrl's test
        env = gym.make("splitenv/SCCT-v0")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


# --------------------------------------------------------------------------------------
# wrappers record their arguments: gym.make(spec) round trip and check_env
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_check_env_on_wrapped_env(env_id, timescale, wrapper):
    env = wrapper(gym.make(env_id, timescale=timescale, rounds=2, epochs_per_round=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # check_env renders a copy made from env.spec in every render mode: the spec must
        # rebuild the wrapper; it warns (only) that a wrapped env is not its unwrapped self
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        gym_check_env(env)


@pytest.mark.parametrize("env_id", IDS)
def test_make_spec_round_trip(env_id):
    box = BoxAction(gym.make(env_id, timescale="joint", rounds=2, network__n_devices=3))
    multi = MultiDiscreteAction(gym.make(env_id, timescale="round"), levels=5)
    for wrapped in (box, multi):
        spec = wrapped.spec
        assert spec is not None
        names = [w.name for w in spec.additional_wrappers]
        assert names[-1] == type(wrapped).__name__
        remade = gym.make(spec)
        assert type(remade) is type(wrapped)
        assert remade.action_space == wrapped.action_space
        assert remade.observation_space == wrapped.observation_space
        assert remade.unwrapped.timescale == wrapped.unwrapped.timescale
        assert remade.unwrapped.scenario == wrapped.unwrapped.scenario
        a = wrapped.action_space.sample()
        wrapped.reset(seed=3)
        remade.reset(seed=3)
        x, y = wrapped.step(a), remade.step(a)
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1] == y[1]
    assert gym.make(multi.spec).levels == 5


# --------------------------------------------------------------------------------------
# no dead action dimensions
# --------------------------------------------------------------------------------------


def _native_choices(space: spaces.Space) -> list[int | float]:
    """Per native dimension: its number of values (discrete) or its width (Box)."""
    if isinstance(space, spaces.Discrete):
        return [int(space.n)]
    if isinstance(space, spaces.MultiDiscrete):
        return np.asarray(space.nvec).reshape(-1).tolist()
    assert isinstance(space, spaces.Box), space
    return (space.high - space.low).reshape(-1).tolist()


@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_no_dead_dimension(env_id, timescale):
    env = gym.make(env_id, timescale=timescale)
    for key, sub in env.action_space.spaces.items():
        assert all(c > 1 if isinstance(c, int) else c > 0 for c in _native_choices(sub)), key
    assert (MultiDiscreteAction(env).action_space.nvec >= 2).all()
    box = BoxAction(env).action_space
    assert (box.high - box.low > 0).all() and box.shape[0] > 0


def test_single_rank_is_applied_by_the_env():
    """SCCT's ``rank_choices: [0]``: no rank key, the env applies rank 0 (as the old Discrete(1))."""
    env = gym.make("splitenv/SCCT-v0", timescale="joint", rounds=1, epochs_per_round=1)
    scn = env.unwrapped.scenario
    assert list(scn.workload.rank_choices) == [0]
    assert "rank" not in env.action_space.spaces and "rank" in env.unwrapped.fixed
    env.reset(seed=0)
    *_, info = env.step(env.action_space.sample())
    assert info["decision"]["rank"] == 0
    # FedsLLM has five ranks: its rank stays an action
    assert gym.make("splitenv/FedsLLM-v0").action_space["rank"] == spaces.Discrete(5)


def test_one_value_compression_ranges_are_fixed():
    env = gym.make(
        "splitenv/SFT-v1",
        timescale="round",
        rounds=1,
        **{
            "compression.keep_ratio_range": [0.3, 0.3],
            "compression.quant_bits_range": [4, 4],
            "decision.default_keep_ratio": 0.3,
            "decision.default_quant_bits": 4,
        },
    )
    assert set(env.unwrapped.fixed) == {"rank", "keep_ratio", "quant_bits"}
    assert list(env.action_space.spaces) == ["split"]
    assert BoxAction(env).action_space.shape == (1,)
    env.reset(seed=0)
    *_, info = env.step(env.action_space.sample())
    assert info["decision"]["keep_ratio"] == 0.3 and info["decision"]["quant_bits"] == 4


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_one_device_has_no_resource_dimension(wrapper):
    env = wrapper(gym.make("splitenv/SCCT-v0", timescale="joint", network__n_devices=1))
    # split only: subchannels and compute share of a single device are all of them
    assert env.action_space.shape == (1,)
    env.reset(seed=0)
    env.action_space.seed(0)
    action = env.action_space.sample()
    if wrapper is MultiDiscreteAction:  # a memory-feasible split (Box maps into those only)
        action = np.flatnonzero(env.action_masks())[-1:]
    *_, info = env.step(action)
    scn = env.unwrapped.scenario
    assert info["decision"]["subchannels"].tolist() == [scn.network.n_subchannels]
    assert info["decision"]["compute_share"].tolist() == [1.0]
    assert info["feasible"]


# --------------------------------------------------------------------------------------
# stable-baselines3 by id
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_make_vec_env_by_id(env_id):
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(env_id, n_envs=2, seed=0, wrapper_class=BoxAction)
    assert venv.get_attr("render_mode") == ["rgb_array", "rgb_array"]
    venv.reset()
    frames = venv.get_images()
    assert len(frames) == 2 and all(f.dtype == np.uint8 and f.ndim == 3 for f in frames)
    venv.close()


def test_sb3_make_vec_env_trains_ppo():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(
        "splitenv/SCCT-v0",
        n_envs=2,
        seed=0,
        wrapper_class=BoxAction,
        env_kwargs={"inner_allocator": "equal"},
    )
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=1000)
    assert model.num_timesteps >= 1000
    action, _ = model.predict(venv.reset(), deterministic=True)
    assert action.shape == (2, *venv.action_space.shape)
    venv.close()
