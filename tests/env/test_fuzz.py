"""Random and adversarial actions: a malformed action is an ActionError naming what is wrong,
never an exception from deep inside numpy or the engine; a wrapped random action always runs.

A case the library gets wrong is ``xfail(strict=True)`` with the bug in the reason.
"""

from __future__ import annotations

import re
import warnings
import zlib

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import splitenv  # noqa: F401  (registers the ids)
from splitenv.errors import ActionError
from splitenv.observation import DEVICE_FEATURES
from splitenv.registration import ENV_IDS, GENERIC_ID
from splitenv.wrappers import BoxAction, MultiDiscreteAction

ALL_IDS = [*ENV_IDS, GENERIC_ID]
TIMESCALES = ("round", "epoch", "joint")
VALID = [(i, t) for i in ALL_IDS for t in TIMESCALES if (i, t) != ("splitenv/SplitLLM-v0", "epoch")]
VALID_IDS = [f"{i.split('/')[1]}-{t}" for i, t in VALID]
#: every key of the native Dict appears at the joint timescale of some preset
JOINT_KEYS = [
    (env_id, key)
    for env_id in ENV_IDS
    for key in gym.make(env_id, timescale="joint").action_space.spaces
]


def joint_env(env_id: str, **kw):
    env = gym.make(env_id, timescale="joint", rounds=3, epochs_per_round=2, **kw).unwrapped
    env.reset(seed=0)
    return env


def valid_action(env) -> dict:
    env.action_space.seed(0)
    return env.action_space.sample()


def _bad_values(sub: spaces.Space) -> list[tuple[str, object]]:
    """(label, value) pairs every one of which lies outside ``sub``."""
    if isinstance(sub, spaces.Box):
        shape = sub.shape
        one_nan = np.full(shape, 0.5)
        one_nan.flat[0] = np.nan
        return [
            ("nan", np.full(shape, np.nan)),
            ("one-nan", one_nan),
            ("inf", np.full(shape, np.inf)),
            ("-inf", np.full(shape, -np.inf)),
            ("negative", np.full(shape, -0.25)),
            ("above", np.full(shape, 1.5)),
            ("huge", np.full(shape, 1e300)),
            ("long", np.zeros(int(np.prod(shape)) + 1)),
            ("empty", np.zeros(0)),
        ]
    if isinstance(sub, spaces.MultiDiscrete):
        shape = sub.nvec.shape
        above = sub.nvec.copy()
        one_neg = np.zeros(shape, dtype=np.int64)
        one_neg[-1] = -1
        return [
            ("nan", np.full(shape, np.nan)),
            ("inf", np.full(shape, np.inf)),
            ("negative", np.full(shape, -1)),
            ("one-negative", one_neg),
            ("above", above),
            ("huge", np.full(shape, 2**62)),
            ("long", np.zeros(shape[0] + 1, dtype=np.int64)),
            ("scalar", 0),
            ("2-d", np.zeros((2, *shape), dtype=np.int64)),
        ]
    assert isinstance(sub, spaces.Discrete)
    return [
        ("nan", np.nan),
        ("inf", np.inf),
        ("negative", -1),
        ("above", int(sub.n)),
        ("huge", 2**62),
        ("vector", np.array([0, 0])),
    ]


# --------------------------------------------------------------------------------------
# the native Dict
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "key"), JOINT_KEYS, ids=[f"{i.split('/')[1]}-{k}" for i, k in JOINT_KEYS]
)
def test_native_bad_value_is_action_error_naming_the_key(env_id, key):
    env = joint_env(env_id)
    reference = joint_env(env_id)
    good = valid_action(env)
    sub = env.action_space[key]
    for label, value in _bad_values(sub):
        bad = dict(good)
        bad[key] = value
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning from a cast inside numpy either
            with pytest.raises(ActionError, match=re.escape(repr(key))) as caught:
                env.step(bad)
        # the message says what is wrong with the value, not only where
        message = str(caught.value)
        assert any(w in message for w in ("outside", "must be", "NaN or inf")), (label, message)
    # a rejected action leaves the episode untouched
    x, y = env.step(good), reference.step(good)
    np.testing.assert_array_equal(x[0], y[0])
    assert x[1] == y[1]
    np.testing.assert_equal(x[4]["decision"], y[4]["decision"])


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_native_wrong_keys_are_action_errors(env_id):
    env = joint_env(env_id)
    good = valid_action(env)
    key = sorted(good)[0]
    missing = {k: v for k, v in good.items() if k != key}
    with pytest.raises(ActionError, match=rf"missing \['{key}'\]"):
        env.step(missing)
    with pytest.raises(ActionError, match=r"unexpected \['bogus'\]"):
        env.step({**good, "bogus": 1})
    with pytest.raises(ActionError, match=r"unexpected \['SPLIT'\]"):
        env.step({**missing, "SPLIT": good[key]} if key == "split" else {**good, "SPLIT": 0})
    for not_a_dict in (None, 3, [0, 1], np.zeros(3), "split", (("split", 0),)):
        with pytest.raises(ActionError, match="must be a dict with keys"):
            env.step(not_a_dict)
    with pytest.raises(ActionError):
        env.step({})


#: discrete keys and what a non-integer value does today
_INDEX_KEYS = [
    ("splitenv/SCCT-v0", "split"),
    ("splitenv/CARD-v0", "split"),
    ("splitenv/SCCT-v0", "subchannels"),
    ("splitenv/SFT-v1", "split"),
    ("splitenv/SFT-v1", "quant_bits"),
    ("splitenv/SplitLLM-v0", "edge_split"),
    ("splitenv/FedsLLM-v0", "rank"),
    ("splitenv/FedsLLM-v0", "fed_subchannels"),
]


@pytest.mark.parametrize(
    ("env_id", "key"), _INDEX_KEYS, ids=[f"{i.split('/')[1]}-{k}" for i, k in _INDEX_KEYS]
)
def test_native_non_integer_index_is_rejected(env_id, key):
    env = joint_env(env_id)
    good = valid_action(env)
    base = np.asarray(good[key])
    for value in (base + 0.5, np.full(base.shape, -0.5)):
        with pytest.raises(ActionError, match=re.escape(repr(key))):
            env.step({**good, key: value})


@pytest.mark.parametrize(
    ("env_id", "key"), _INDEX_KEYS, ids=[f"{i.split('/')[1]}-{k}" for i, k in _INDEX_KEYS]
)
def test_native_huge_float_index_is_clean_action_error(env_id, key):
    env = joint_env(env_id)
    good = valid_action(env)
    value = np.full(np.shape(good[key]), 1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ActionError, match=re.escape(repr(key))):
            env.step({**good, key: value})


_TYPE_CASES = [
    (env_id, key, kind)
    for env_id, key in [
        ("splitenv/SFT-v1", "keep_ratio"),
        ("splitenv/SFT-v1", "bandwidth_hz"),
        ("splitenv/SFT-v1", "split"),
        ("splitenv/FedsLLM-v0", "split"),
        ("splitenv/FedsLLM-v0", "rank"),
    ]
    for kind in ("str", "None", "complex")
    if not (
        kind == "None" and key in ("keep_ratio", "bandwidth_hz")
    )  # None -> NaN -> ActionError: fine
]


@pytest.mark.parametrize(("env_id", "key", "kind"), _TYPE_CASES)
def test_native_non_numeric_is_rejected(env_id, key, kind):
    env = joint_env(env_id)
    good = valid_action(env)
    shape = np.shape(good[key])
    value = {
        "str": np.full(shape, "a"),
        "None": np.full(shape, None),
        "complex": np.full(shape, 0.5 + 0j),
    }[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ActionError, match=re.escape(repr(key))):
            env.step({**good, key: value})


def _numeric(sub: spaces.Space) -> st.SearchStrategy:
    """Arrays of any numeric value (NaN, inf, huge, negative), the right shape or a wrong one."""
    shape = sub.shape
    shapes = st.sampled_from([shape, (), (1,), (int(np.prod(shape or (1,))) + 1,), (2, *shape)])
    if isinstance(sub, spaces.Box):
        elems = st.floats(allow_nan=True, allow_infinity=True, width=64)
        dtype = np.float64
    else:
        elems = st.integers(-(2**62), 2**62)
        dtype = np.int64
    return shapes.flatmap(
        lambda s: st.lists(elems, min_size=int(np.prod(s)), max_size=int(np.prod(s))).map(
            lambda xs, s=s: np.array(xs, dtype=dtype).reshape(s)
        )
    )


_FUZZ_ENVS = {
    env_id: joint_env(env_id)
    for env_id in ("splitenv/FedsLLM-v0", "splitenv/SFT-v1", "splitenv/SplitLLM-v0")
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_native_numeric_fuzz(data):
    """Any numeric value of any key: either it lies in the space and steps, or ActionError names the key."""
    env_id = data.draw(st.sampled_from(sorted(_FUZZ_ENVS)))
    env = _FUZZ_ENVS[env_id]
    good = valid_action(env)
    key = data.draw(st.sampled_from(sorted(good)))
    sub = env.action_space[key]
    value = data.draw(_numeric(sub))
    env.reset(seed=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            obs, reward, *_ = env.step({**good, key: value})
    except ActionError as err:
        assert repr(key) in str(err)
        return
    in_space = sub.contains(np.asarray(value, dtype=sub.dtype).reshape(sub.shape))
    assert in_space, f"{key} = {value!r} outside {sub} was accepted"
    assert np.isfinite(reward) and env.observation_space.contains(obs)


@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_native_random_actions_never_raise(env_id, timescale):
    env = gym.make(env_id, timescale=timescale, rounds=2, epochs_per_round=2)
    env.reset(seed=1)
    env.action_space.seed(1)
    for _ in range(12):
        obs, reward, term, trunc, info = env.step(env.action_space.sample())
        assert np.isfinite(reward) and env.observation_space.contains(obs)
        if not info["feasible"]:  # the capped cost ratio plus the penalty: never better than -5
            ratio = info["cost"] / info["reference_cost"] if np.isfinite(info["cost"]) else np.inf
            assert reward == pytest.approx(-(min(ratio, 100.0) + 5.0))
        if term or trunc:
            env.reset()


# --------------------------------------------------------------------------------------
# MultiDiscreteAction
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_multidiscrete_rejects(env_id):
    env = MultiDiscreteAction(gym.make(env_id, timescale="joint", rounds=3, epochs_per_round=2))
    env.reset(seed=0)
    nvec = env.nvec
    d = len(nvec)
    good = np.zeros(d, dtype=np.int64)
    cases = [
        ("shape", np.zeros(d + 1, dtype=np.int64)),
        ("shape", np.zeros(d - 1, dtype=np.int64)),
        ("shape", np.zeros((1, d), dtype=np.int64)),
        ("shape", 0),
        ("shape|real numbers", None),  # None is rejected for its type before its shape
        ("NaN", np.full(d, np.nan)),
        ("NaN", np.where(np.arange(d) == 0, np.nan, 0.0)),
        ("NaN or inf", np.full(d, np.inf)),
        ("outside", np.full(d, 0.5)),
        ("outside", np.full(d, 2**62)),
    ]
    for i in (0, d // 2, d - 1):
        low, high = good.copy(), good.copy()
        low[i], high[i] = -1, nvec[i]
        cases += [("outside", low), ("outside", high)]
    for what, action in cases:
        with pytest.raises(ActionError, match=what):
            env.step(action)
    # still usable, and floats that are integers are fine
    *_, info = env.step(good.astype(np.float64))
    assert "decision" in info


# --------------------------------------------------------------------------------------
# BoxAction
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_box_rejects_nan_inf_and_shape(env_id):
    env = BoxAction(gym.make(env_id, timescale="joint", rounds=3, epochs_per_round=2))
    env.reset(seed=0)
    d = env.action_space.shape[0]
    for what, action in [
        ("NaN or inf at indices \\[0\\]", np.where(np.arange(d) == 0, np.nan, 0.0)),
        (f"NaN or inf at indices \\[{d - 1}\\]", np.where(np.arange(d) == d - 1, np.inf, 0.0)),
        ("NaN or inf", np.full(d, -np.inf)),
        ("shape", np.zeros(d + 1)),
        ("shape", np.zeros((1, d))),
        ("shape", np.zeros(())),
        ("shape|real numbers", None),  # None is rejected for its type before its shape
    ]:
        with pytest.raises(ActionError, match=what):
            env.step(action)


@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_box_out_of_bounds_is_clipped(env_id, timescale):
    """Values outside [-1, 1] act as their clipped value (spaces.py: 'Values outside [-1, 1] are clipped')."""
    rng = np.random.default_rng(3)
    kw = dict(timescale=timescale, rounds=2, epochs_per_round=2)
    wild, tame = BoxAction(gym.make(env_id, **kw)), BoxAction(gym.make(env_id, **kw))
    wild.reset(seed=4)
    tame.reset(seed=4)
    d = wild.action_space.shape[0]
    for a in (
        rng.uniform(-1, 1, d) * 50,
        np.full(d, 1e300),
        np.full(d, -1e300),
        rng.choice([-7.0, 7.0], d),
    ):
        x = wild.step(a)
        y = tame.step(np.clip(a, -1, 1).astype(np.float32))
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1] == y[1]
        np.testing.assert_equal(x[4]["decision"], y[4]["decision"])
        assert x[4]["feasible"], x[4]["violations"]
        if x[2] or x[3]:
            wild.reset(seed=4)
            tame.reset(seed=4)


@pytest.mark.parametrize("wrapper", [MultiDiscreteAction, BoxAction])
@pytest.mark.parametrize("kind", ["str", "complex"])
def test_wrapper_non_numeric_is_rejected(wrapper, kind):
    env = wrapper(gym.make("splitenv/FedsLLM-v0", timescale="joint"))
    env.reset(seed=0)
    d = env.action_space.shape[0]
    action = np.full(d, "0") if kind == "str" else np.zeros(d, dtype=complex)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ActionError):
            env.step(action)


# --------------------------------------------------------------------------------------
# random runs through the wrappers: never raise; Box and masked MultiDiscrete always feasible
# --------------------------------------------------------------------------------------


def masked_sample(env: MultiDiscreteAction, rng: np.random.Generator) -> np.ndarray:
    """MaskablePPO-style: each dimension uniform among its unmasked choices."""
    mask = env.action_masks()
    assert mask.shape == (int(env.nvec.sum()),) and mask.dtype == bool
    out, i = [], 0
    for n in env.nvec:
        allowed = np.flatnonzero(mask[i : i + n])
        assert allowed.size, "a dimension with every choice masked"
        out.append(rng.choice(allowed))
        i += n
    return np.array(out, dtype=np.int64)


STEPS = 16


@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_random_wrapped_actions(env_id, timescale):
    kw = dict(timescale=timescale, rounds=2, epochs_per_round=2)
    rng = np.random.default_rng(zlib.crc32(f"{env_id}/{timescale}".encode()))
    box = BoxAction(gym.make(env_id, **kw))
    md = MultiDiscreteAction(gym.make(env_id, **kw))
    masked = MultiDiscreteAction(gym.make(env_id, **kw), levels=5)
    for env in (box, md, masked):
        env.reset(seed=int(rng.integers(1000)))
        env.action_space.seed(int(rng.integers(1000)))
    # a round step runs the paper's inner allocator every epoch (SCCT Alg. 1: ~25 ms)
    for _ in range(STEPS // 2 if timescale == "round" else STEPS):
        for env in (box, md, masked):
            if env is masked:
                action = masked_sample(env, rng)
            elif env is box:  # uniform in the box, and now and then a corner
                action = (
                    env.action_space.sample()
                    if rng.random() < 0.7
                    else rng.choice([-1.0, 1.0], env.action_space.shape)
                )
            else:
                action = env.action_space.sample()
            obs, reward, term, trunc, info = env.step(action)
            assert np.isfinite(reward) and env.observation_space.contains(obs)
            if env is not md:  # Box decoding and masked MultiDiscrete meet every constraint
                assert info["feasible"], (type(env).__name__, info["violations"], info["decision"])
                assert reward < 0
            if term or trunc:
                env.reset()


# --------------------------------------------------------------------------------------
# the same with the scenario dynamics on: correlated fading, mobility, churn
# --------------------------------------------------------------------------------------

DYNAMICS = {
    "network.fading_correlation": 0.7,
    "network.mobility_step_m": 5.0,
    "network.churn_leave_prob": 0.3,
    "network.churn_join_prob": 0.3,
}
#: SFT "round" runs the paper's SQP bandwidth allocator on states with absent devices
#: (regression: splitenv.allocation.sft_bandwidth.device_coefficients raised FitError on 0/0 fit errors)
DYN_CASES = [(i, t) for i, t in VALID if i != GENERIC_ID]


@pytest.mark.parametrize(("env_id", "timescale"), DYN_CASES)
def test_dynamics_random_wrapped_actions(env_id, timescale):
    kw = dict(timescale=timescale, rounds=2, epochs_per_round=3, **DYNAMICS)
    rng = np.random.default_rng(zlib.crc32(f"dyn/{env_id}/{timescale}".encode()))
    box = BoxAction(gym.make(env_id, **kw))
    masked = MultiDiscreteAction(gym.make(env_id, **kw), levels=5)
    inactive = 0
    for env in (box, masked):
        env.reset(seed=5)
        env.action_space.seed(5)
        for _ in range(6):
            action = masked_sample(env, rng) if env is masked else env.action_space.sample()
            obs, reward, term, trunc, info = env.step(action)
            assert np.isfinite(reward) and env.observation_space.contains(obs)
            assert info["feasible"], (type(env).__name__, info["violations"])
            n = env.unwrapped.scenario.n_devices
            active = obs[: len(DEVICE_FEATURES) * n].reshape(n, -1)[
                :, DEVICE_FEATURES.index("active")
            ]
            inactive += int(not active.all())
            if term or trunc:
                env.reset()
    assert inactive > 0  # churn did take devices away
