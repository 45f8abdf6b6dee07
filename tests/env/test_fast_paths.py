"""The envs' fast paths equal the checked paths they stand for, value for value and dtype for dtype.

Validation happens once at the public boundary (an action from outside); what the env built
itself is trusted: a plainly well-formed action is decoded in one pass, the env's own decision
is stacked without revalidation, its own state and decision are evaluated without re-checks,
an episode's epochs are drawn a block at a time, one observation is written in place, and
the vector env's reset masks share one split grid. Each is compared with the checked path.
"""

from __future__ import annotations

from collections import OrderedDict

import gymnasium as gym
import numpy as np
import pytest

from splitenv import Decision, evaluate_batch
from splitenv.model import State
from splitenv.model.decision import DECISION_FIELDS
from splitenv.model.engine import evaluate_own, feasible_splits
from splitenv.model.state import StateBatch
from splitenv.model.types import complete, enabled_fields
from splitenv.model.validation import assemble
from splitenv.reference import stack_with_reference
from splitenv.registration import ENV_IDS
from splitenv.scenarios import StateSampler, list_scenarios, load_scenario
from splitenv.spaces import native_to_decision
from splitenv.vector_parts import feasible_splits_rows

TIMESCALES = ("joint", "epoch", "round")


def _env(env_id, timescale, **kwargs):
    try:
        return gym.make(env_id, timescale=timescale, **kwargs).unwrapped
    except ValueError as err:  # this timescale exposes no decision of the scenario
        pytest.skip(str(err))


def _same(a, b, where=""):
    assert set(a) == set(b), where
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.dtype == y.dtype and x.shape == y.shape, (where, k, x.dtype, y.dtype)
        np.testing.assert_array_equal(x, y, err_msg=f"{where} {k}")


def _variants(action, space):
    """The action as numpy values of other dtypes that the space accepts."""
    out = [action]
    narrow = {}
    for name, sub in space.spaces.items():
        v = np.asarray(action[name])
        if isinstance(sub, gym.spaces.Box):
            narrow[name] = v.astype(np.float32)
        else:
            narrow[name] = v.astype(np.int32) if v.ndim else np.int16(v)
    out.append(narrow)
    return out


@pytest.mark.parametrize("timescale", TIMESCALES)
@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_plain_actions_decode_as_the_checked_path(env_id, timescale):
    env = _env(env_id, timescale)
    space = env.native_space
    space.seed(3)
    for _ in range(20):
        for action in _variants(space.sample(), space):
            fast = native_to_decision(env.scenario, space, action, env.fixed)
            # an OrderedDict is no plain dict: it takes the checked path
            checked = native_to_decision(env.scenario, space, OrderedDict(action), env.fixed)
            _same(fast, checked, env_id)


def _outcome(env, action):
    try:
        return native_to_decision(env.scenario, env.native_space, action, env.fixed)
    except Exception as err:  # the error itself is the outcome
        return type(err), str(err)


def test_other_actions_take_the_checked_path():
    """Lists, NaN, values out of range, missing keys: the same result or the same error."""
    env = _env("splitenv/SCCT-v0", "joint")
    space = env.native_space
    space.seed(0)
    good = space.sample()
    name = next(k for k, s in space.spaces.items() if isinstance(s, gym.spaces.Box))
    disc = next(k for k, s in space.spaces.items() if not isinstance(s, gym.spaces.Box))
    for other in (
        {**good, name: np.full(space.spaces[name].shape, np.nan)},
        {**good, name: np.full(space.spaces[name].shape, 1.5)},
        {**good, name: list(np.asarray(good[name]))},
        {**good, disc: np.asarray(good[disc]).astype(np.float64)},
        {**good, disc: np.asarray(good[disc]).astype(bool)},
        {k: v for k, v in good.items() if k != name},
    ):
        fast, checked = _outcome(env, other), _outcome(env, OrderedDict(other))
        if isinstance(checked, dict):
            _same(fast, checked)
        else:
            assert fast == checked


def _assembled(scn, decision):
    """What stack_with_reference built before its trusted path: np.stack of [given, default], assembled."""
    ref = complete(scn, None)
    values = {}
    for f in enabled_fields(scn):
        default = getattr(ref, f)[0]
        given = getattr(decision, f)
        values[f] = np.stack([default if given is None else np.asarray(given), default])
    return assemble(scn, values)


@pytest.mark.parametrize("timescale", TIMESCALES)
@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_trusted_stack_is_the_assembled_stack(env_id, timescale):
    env = _env(env_id, timescale)
    env.reset(seed=1)
    env.native_space.seed(1)
    for _ in range(10):
        fields = native_to_decision(env.scenario, env.native_space, env.native_space.sample())
        _, decision, _ = env._plan_epoch({**env.fixed, **fields})
        got, want = stack_with_reference(env.scenario, decision, True), _assembled(env.scenario, decision)
        assert got.batch_size == want.batch_size == 2
        for f in DECISION_FIELDS:
            a, b = getattr(got, f), getattr(want, f)
            assert (a is None) == (b is None), f
            if a is not None:
                assert a.dtype == b.dtype and not a.flags.writeable, f
                np.testing.assert_array_equal(a, b, err_msg=f)


@pytest.mark.parametrize("name", list_scenarios())
def test_presampled_states_are_the_epoch_by_epoch_states(name):
    scn = load_scenario(name)
    lo = scn.decision.split_range[0]
    for seed in (0, 2**31 - 2):
        one, block = StateSampler(scn, seed, 3), StateSampler(scn, seed, 3, presample=2)
        for r in (0, 1, 2, 4, 1):  # across blocks, and back
            for e in range(3):
                prev = None if r == e == 0 else np.full(scn.n_devices, lo)
                a, b = one.state(r, e, prev_split=prev), block.state(r, e, prev_split=prev)
                _same(a.to_dict(), b.to_dict(), f"{name} {seed} {r} {e}")


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_evaluate_own_is_evaluate_batch(env_id):
    env = _env(env_id, "joint")
    env.reset(seed=5)
    env.native_space.seed(5)
    fields = native_to_decision(env.scenario, env.native_space, env.native_space.sample())
    _, decision, _ = env._plan_epoch({**env.fixed, **fields})
    stacked = stack_with_reference(env.scenario, decision, True)
    a = evaluate_own(env.scenario, env.current_state, stacked)
    b = evaluate_batch(env.scenario, env.current_state, stacked)
    for key in ("latency_s", "energy_j", "objective", "feasible"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    _same(a.terms, b.terms)
    _same(a.per_device, b.per_device)
    _same(a.violations, b.violations)
    with pytest.raises(Exception, match="split"):  # an uncompleted decision is still validated
        evaluate_own(env.scenario, env.current_state, Decision(split=np.full(99, 1)))


@pytest.mark.parametrize("mode", ["flat", "dict"])
def test_one_observation_is_the_batch_row(mode):
    env = _env("splitenv/SCCT-v0", "joint", observation=mode)
    env.reset(seed=2)
    st = env.current_state
    gains, noise = st.channel_gain.copy(), st.noise_psd_w_hz.copy()
    gains[:3], noise[2] = (0.0, 1e30, 0.0), 0.0  # SNR -inf, huge and 0 / 0 (NaN)
    for gain, n0 in ((st.channel_gain, st.noise_psd_w_hz), (gains, noise)):
        state = State(**{**st.to_dict(), "channel_gain": gain, "noise_psd_w_hz": n0})
        counters = {"round_progress": 0.25, "epoch_progress": 2 / 3, "round_start": False}
        split = np.arange(state.n_devices) % 5
        with np.errstate(invalid="ignore"):  # 0 / 0: a NaN feature, observed as 0
            one = env.features.observe(state, split=split, last_ratio=7.5, mode=mode, **counters)
            batch = env.features.observe_batch(
                {n: getattr(state, n)[None] for n in _FEATURES},
                split=split[None], last_ratio=np.array([7.5]), mode=mode,
                **{k: np.array([v]) for k, v in counters.items()},
            )  # fmt: skip
        rows = {k: v[0] for k, v in batch.items()} if mode == "dict" else {"obs": batch[0]}
        _same({"obs": one} if mode != "dict" else one, rows)


_FEATURES = (
    "channel_gain", "noise_psd_w_hz", "device_flops", "device_memory_bytes", "data_size",
    "distance_m", "active",
)  # fmt: skip


@pytest.mark.parametrize("name", ["scct", "sft", "splitllm"])
def test_reset_masks_with_and_without_absent_devices(name):
    scn = load_scenario(name)
    sampler = StateSampler(scn, 9)
    states = [sampler.state(0, e) for e in range(3)]
    absent = states[1].active.copy()
    absent[0] = False
    states.append(State(**{**states[1].to_dict(), "active": absent}))
    got = feasible_splits_rows(scn, StateBatch.stack(states))
    for i, state in enumerate(states):
        want = feasible_splits(scn, state)
        want = want.all(axis=1) if scn.decision.shared_split else want.T
        np.testing.assert_array_equal(got[i], want)


@pytest.mark.parametrize("wrapper", ["box", "multidiscrete"])
def test_vector_wrappers_step_alike_with_a_wrapper_between(wrapper):
    """Directly on the native env (step_decoded, unchecked) or through another vector wrapper
    (the native batch, checked): the same steps."""
    from gymnasium.vector import AutoresetMode, VectorWrapper

    from splitenv.vector_wrappers import VectorBoxAction, VectorMultiDiscreteAction

    wrap = VectorBoxAction if wrapper == "box" else VectorMultiDiscreteAction

    def make():
        return gym.make_vec(
            "splitenv/SCCT-v0", num_envs=3, vectorization_mode="vector_entry_point",
            timescale="joint", rounds=2, epochs_per_round=2, autoreset_mode=AutoresetMode.SAME_STEP,
        )  # fmt: skip

    direct, between = wrap(make()), wrap(VectorWrapper(make()))
    assert direct.env is direct.base and between.env is not between.base
    a, b = direct.reset(seed=4), between.reset(seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    direct.action_space.seed(4)
    for _ in range(9):
        action = direct.action_space.sample()
        for x, y in zip(direct.step(action)[:4], between.step(action)[:4], strict=True):
            np.testing.assert_array_equal(x, y)
