"""The native vector env (splitenv.vector) against K single envs: bit for bit, and bad input."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import splitenv  # noqa: F401  (registers the ids)
from splitenv import draw_kernel
from splitenv.errors import ActionError, ConfigError
from splitenv.model.engine import feasible_splits
from splitenv.registration import ENV_IDS
from splitenv.vector import SplitLoRAVectorEnv
from splitenv.vector_wrappers import VectorBoxAction, VectorMultiDiscreteAction
from splitenv.wrappers import BoxAction, MultiDiscreteAction

K = 3
STEPS = 11  # two 4-step episodes, each followed by its next-step autoreset, and more
KWARGS = {"rounds": 2, "epochs_per_round": 2}
#: correlated fading, mobility, churn and drifting device compute (states from the same
#: StateSampler streams)
DYNAMICS = {
    "network__fading_correlation": 0.5,
    "network__mobility_step_m": 5.0,
    "network__churn_leave_prob": 0.3,
    "network__churn_join_prob": 0.3,
    "compute__device_availability": (0.3, 1.0),
    "compute__availability_step": 0.1,
}


#: action encodings: (single env wrapper, its vector env wrapper)
ENCODINGS = {
    "native": (lambda env: env, lambda vec: vec),
    "multidiscrete": (MultiDiscreteAction, VectorMultiDiscreteAction),
    "box": (BoxAction, VectorBoxAction),
}


def _pair(env_id, encoding="native", mode=AutoresetMode.NEXT_STEP, k=K, **kwargs):
    """(SyncVectorEnv over k gym.make(env_id), the native vector env), or skip."""
    try:
        gym.make(env_id, **kwargs)
    except ValueError as err:  # this timescale exposes no decision of the scenario
        pytest.skip(str(err))
    wrap, wrap_vec = ENCODINGS[encoding]
    sync = gym.vector.SyncVectorEnv(
        [lambda: wrap(gym.make(env_id, **kwargs)) for _ in range(k)], autoreset_mode=mode
    )
    native = gym.make_vec(
        env_id, num_envs=k, vectorization_mode="vector_entry_point", autoreset_mode=mode, **kwargs
    )
    assert isinstance(native, SplitLoRAVectorEnv)
    return sync, wrap_vec(native)


def _assert_same(a, b, where):
    """Equal values, dtypes and shapes, recursively through info dicts."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (where, sorted(a), sorted(b))
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
        return
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
        return
    if a is None or b is None:
        assert a is None and b is None, where
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (where, a.dtype, b.dtype, a.shape, b.shape)
    if a.dtype == object:  # final_obs: one observation (or None) per env
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
        return
    np.testing.assert_array_equal(a, b, err_msg=where)


def _run_both(sync, native, seed=7):
    _assert_same(sync.reset(seed=seed), native.reset(seed=seed), "reset")
    assert native.action_space == sync.action_space
    sync.action_space.seed(seed)
    ended = 0
    for t in range(STEPS):
        action = sync.action_space.sample()
        a, b = sync.step(action), native.step(action)
        for name, x, y in zip(
            ("obs", "reward", "terminated", "truncated", "info"), a, b, strict=True
        ):
            _assert_same(x, y, f"step {t} {name}")
        ended += int((a[2] | a[3]).sum())
    assert ended >= 2 * sync.num_envs  # every env played two episodes and was autoreset
    return ended


@pytest.mark.parametrize("timescale", ["joint", "epoch", "round"])
@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_native_vector_equals_single_envs(env_id, timescale):
    _run_both(*_pair(env_id, timescale=timescale, **KWARGS))


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("timescale", ["joint", "epoch", "round"])
@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_vector_env_equals_single_envs_with_dynamics(env_id, timescale, encoding):
    _run_both(*_pair(env_id, encoding, timescale=timescale, **KWARGS, **DYNAMICS))


@pytest.mark.parametrize("timescale", ["joint", "round"])
@pytest.mark.parametrize("env_id", ["splitenv/SplitLoRADynamic-v1", "splitenv/CARD-v0"])
def test_batched_dynamics_and_noise_states_equal_single_envs(env_id, timescale):
    """The K streams drawn by the compiled batched path, not by numpy one by one."""
    assert draw_kernel.kernel() is not None
    sync, native = _pair(env_id, timescale=timescale, **KWARGS, **DYNAMICS)
    _run_both(sync, native)
    assert all(sampler is None for sampler in native.unwrapped._samplers)  # no env's own


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("timescale", ["joint", "round"])
def test_same_step_autoreset_equals_single_envs(timescale, encoding):
    pair = _pair("splitenv/SFT-v1", encoding, AutoresetMode.SAME_STEP, timescale=timescale,
                 accuracy="surrogate", **KWARGS, **DYNAMICS)  # fmt: skip
    _run_both(*pair)


def test_native_vector_round_with_the_sft_bisection_allocator():
    """The opt-in exact allocator of SFT P3 (42), batched across the K envs, as K single envs."""
    _run_both(*_pair("splitenv/SFT-v1", timescale="round", inner_allocator="sft_bisection",
                     **KWARGS, **DYNAMICS))  # fmt: skip


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_native_vector_round_with_equal_allocation(env_id):
    _run_both(*_pair(env_id, timescale="round", inner_allocator="equal", **KWARGS, **DYNAMICS))


#: FedsLLM's E(r) (17) cut to 2..5 rounds: episodes end by reaching the accuracy target
#: (surrogate), after rank-dependent numbers of rounds
SHORT_TARGET = {"accuracy__rounds_by_rank": [[1, 5], [8, 2]], "rounds": 6, "epochs_per_round": 2}


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_many_envs_ending_by_the_surrogate_accuracy_equal_single_envs(mode):
    """K = 24: the batched surrogate of the closing envs, one power-control bisection of all rows."""
    sync, native = _pair("splitenv/FedsLLM-v0", "native", mode, k=24, timescale="round",
                         **SHORT_TARGET)  # fmt: skip
    assert native.unwrapped._surrogate  # the batched path runs
    ended = _run_both(sync, native, seed=3)
    assert ended > 2 * 24  # some episodes ended early, by accuracy
    for env, provider in zip(sync.envs, native.unwrapped.providers, strict=True):
        assert provider.progress == env.unwrapped.accuracy.progress


def test_many_envs_with_the_sft_surrogate_ceiling_equal_single_envs():
    """K = 32, SFT's A(rho, q) (35) ceiling on the batched surrogate, episodes of 3 rounds."""
    pair = _pair("splitenv/SFT-v1", "box", k=32, timescale="joint", accuracy="surrogate",
                 schedule__rounds=3, rounds=5, epochs_per_round=1)  # fmt: skip
    _run_both(*pair, seed=4)


#: the dynamic flagship (ranks 2..16) with model distribution (SFT (19)): a round's start
#: costs every device its model, so an epoch booked as a start (or not) shows in the costs;
#: the surrogate's target after 1 (rank 2) to 3 (rank 16) rounds ends episodes at different
#: steps, so the envs fall out of step (one starts a round while another plays its second
#: epoch) and some reach the target in their last round (terminated, not truncated)
OUT_OF_STEP = {
    "accuracy": "surrogate", "accuracy__rounds_by_rank": [[2, 1], [16, 3]],
    "schedule__model_distribution": True, "rounds": 3, "epochs_per_round": 2,
}  # fmt: skip


def test_envs_out_of_step_equal_single_envs():
    """The per-row epoch bookkeeping (envs at different epochs) against K single envs.

    Next-step autoreset: an env that ends skips a step (its reset), so it falls out of step
    with the others (same-step resets keep every env in step).
    """
    k, rounds = 12, OUT_OF_STEP["rounds"]
    sync, native = _pair("splitenv/SplitLoRADynamic-v1", k=k, timescale="joint", **OUT_OF_STEP)
    ep = native.unwrapped._ep
    _assert_same(sync.reset(seed=6), native.reset(seed=6), "reset")
    sync.action_space.seed(6)
    mixed = last_round_terminated = 0
    for t in range(24):
        playing = ~native.unwrapped._autoreset
        mixed += int(len(set(ep.epoch[playing].tolist())) > 1)
        action = sync.action_space.sample()
        a, b = sync.step(action), native.step(action)
        for name, x, y in zip(("obs", "reward", "terminated", "truncated", "info"), a, b,
                              strict=True):  # fmt: skip
            _assert_same(x, y, f"step {t} {name}")
        info = a[4]
        if "round" in info:
            last = info["_round"] & (info["round"] == rounds - 1)
            last_round_terminated += int((a[2] & last).sum())
        assert not (a[2] & a[3]).any()  # an episode ends one way
    assert mixed >= 3 and last_round_terminated >= 1


def test_native_vector_raw_rewards_equal_single_envs():
    """reward_mode="raw": minus the (capped) cost, in s (+ energy_weight J), not over the reference."""
    sync, native = _pair("splitenv/SplitLoRA-v0", "box", timescale="joint", reward_mode="raw",
                         **KWARGS)  # fmt: skip
    _run_both(sync, native)
    sync.reset(seed=1)
    sync.action_space.seed(1)
    _, reward, _, _, info = sync.step(sync.action_space.sample())
    cap = sync.envs[0].unwrapped.cost_cap
    plain = info["feasible"].astype(bool) & (info["cost"] < cap * info["reference_cost"])
    assert plain.any()  # uncapped, unpenalized: the cost itself
    np.testing.assert_allclose(reward[plain], -info["cost"][plain], rtol=1e-12)


def test_native_vector_with_the_table_accuracy_provider():
    _run_both(*_pair("splitenv/SFT-v1", timescale="joint", accuracy="table", **KWARGS))


def test_reset_with_a_seed_list_equals_single_envs():
    sync, native = _pair("splitenv/SFT-v1", timescale="joint", **KWARGS)
    _assert_same(sync.reset(seed=[3, 9, 4]), native.reset(seed=[3, 9, 4]), "reset")
    with pytest.raises(ConfigError, match="got 2 seeds; allowed: one per env \\(3\\)"):
        native.reset(seed=[1, 2])
    sync.action_space.seed(0)
    action = sync.action_space.sample()  # the refused reset moved no env: both go on alike
    _assert_same(sync.step(action), native.step(action), "after the refused reset")


def _sft():
    return gym.make_vec(
        "splitenv/SFT-v1", num_envs=K, vectorization_mode="vector_entry_point",
        timescale="joint", **KWARGS,
    )  # fmt: skip


def test_bad_action_names_env_and_field_and_moves_no_env():
    vec, twin = _sft(), _sft()
    vec.reset(seed=1)
    twin.reset(seed=1)
    vec.action_space.seed(2)
    good = vec.action_space.sample()
    bad = {k: np.array(v, copy=True) for k, v in good.items()}
    bad["bandwidth_hz"] = bad["bandwidth_hz"].astype(np.float64)
    bad["bandwidth_hz"][1, 0] = np.nan
    with pytest.raises(ActionError, match=r"env 1: action\['bandwidth_hz'\] contains NaN"):
        vec.step(bad)
    with pytest.raises(ActionError, match=r"actions\['bandwidth_hz'\] has leading size \(2,\)"):
        vec.step({k: v[:2] for k, v in good.items()})
    _assert_same(vec.step(good), twin.step(good), "after the refused steps")


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"timescale": "joint", "accuracy": "train"}, "accuracy = 'train'"),
        ({"timescale": "joint", "render_mode": "ansi"}, "render_mode = 'ansi'"),
        ({"timescale": "joint", "autoreset_mode": "Disabled"}, "autoreset_mode"),
    ],
)
def test_unsupported_features_are_refused_by_name(kwargs, named):
    with pytest.raises(NotImplementedError, match=named):
        SplitLoRAVectorEnv(2, "scct", **kwargs)


def test_num_envs_must_be_a_positive_integer():
    with pytest.raises(ConfigError, match="num_envs = 0"):
        SplitLoRAVectorEnv(0, "scct", timescale="joint")


@pytest.mark.parametrize(
    ("env_id", "overrides"),
    [
        ("splitenv/SCCT-v0", {}),  # per device: (K, N, n_split)
        # a shared cut, (K, n_split): memory tightened (tests/env/test_masks.py) so that the
        # devices disagree and the cut must fit every device, not some device
        ("splitenv/SFT-v1", {"memory__device_memory_bytes": [2.0e9, 4.5e9]}),
    ],
)
def test_batched_action_masks_stack_the_single_masks(env_id, overrides):
    vec = gym.make_vec(env_id, num_envs=K, vectorization_mode="vector_entry_point",
                       timescale="joint", **overrides).unwrapped  # fmt: skip
    vec.reset(seed=0)
    masks = vec.action_mask()
    assert set(masks) == {"split"}
    disagree = False
    for i in range(K):
        env = gym.make(env_id, timescale="joint", **overrides).unwrapped
        env.reset(seed=i)
        np.testing.assert_array_equal(masks["split"][i], env.action_mask()["split"])
        fits = feasible_splits(env.scenario, env.current_state)  # (n_split, N)
        if env.scenario.decision.shared_split:
            np.testing.assert_array_equal(masks["split"][i], fits.all(axis=1))
        disagree |= bool((fits.any(axis=1) != fits.all(axis=1)).any())
    assert disagree  # some split fits some devices only: the mask has something to decide
    assert not masks["split"].all() and masks["split"].any(axis=-1).all()


@pytest.mark.parametrize("encoding", ["multidiscrete", "box"])
def test_bad_encoded_action_names_the_env_and_moves_no_env(encoding):
    _, vec = _pair("splitenv/SCCT-v0", encoding, timescale="joint", **KWARGS)
    _, twin = _pair("splitenv/SCCT-v0", encoding, timescale="joint", **KWARGS)
    vec.reset(seed=1)
    twin.reset(seed=1)
    vec.action_space.seed(2)
    good = vec.action_space.sample()
    bad = good.astype(np.float64)
    bad[2, 3] = np.nan
    with pytest.raises(ActionError, match=r"^env 2: action contains NaN or inf at indices \[3\]"):
        vec.step(bad)
    bad = good.copy()
    bad[1, -1] = vec.single_action_space.nvec[-1] if encoding == "multidiscrete" else 0.5
    bad = bad[:, :-1]  # one dimension short in every row: env 0 is named first
    with pytest.raises(ActionError, match=r"^env 0: action has shape"):
        vec.step(bad)
    with pytest.raises(ActionError, match=r"leading size \(2,\); allowed: num_envs = 3"):
        vec.step(good[:2])
    _assert_same(vec.step(good), twin.step(good), "after the refused steps")


def test_multidiscrete_masks_are_the_k_single_masks():
    sync, vec = _pair("splitenv/SCCT-v0", "multidiscrete", timescale="joint", **KWARGS)
    sync.reset(seed=4)
    _, info = vec.reset(seed=4)
    masks = vec.action_masks()
    assert masks.shape == (K, vec.single_action_space.nvec.sum())
    for i, env in enumerate(sync.envs):
        np.testing.assert_array_equal(masks[i], env.action_masks())
    np.testing.assert_array_equal(info["action_mask"], masks)


def _arrays(tree, path=""):
    """(path, array) of every numeric array in a step's outputs (dicts and tuples walked)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _arrays(value, f"{path}.{key}")
    elif isinstance(tree, tuple):
        for i, value in enumerate(tree):
            yield from _arrays(value, f"{path}[{i}]")
    elif isinstance(tree, np.ndarray) and tree.dtype != object:
        yield path, tree


@pytest.mark.parametrize("timescale", ["joint", "epoch"])
def test_returned_arrays_are_the_callers_own(timescale):
    """A step's outputs stay as returned, share no memory, and the env keeps no action array.

    The env reuses buffers, lays info columns out in blocks and converts every env's actions
    without a gather: a caller keeping last step's outputs, or writing into its action arrays
    after a step, must not see or change anything (the twin gets copies of the actions).
    """
    kwargs = {"timescale": timescale, **KWARGS}
    _, vec = _pair("splitenv/SCCT-v0", **kwargs)
    _, twin = _pair("splitenv/SCCT-v0", **kwargs)
    kept = [(vec.reset(seed=5), None)]
    twin.reset(seed=5)
    vec.action_space.seed(5)
    for t in range(STEPS):
        action = vec.action_space.sample()
        fresh = copy.deepcopy(action)
        step = vec.step(action)
        _assert_same(step, twin.step(fresh), f"step {t}")
        for arr in action.values():  # the caller reuses its action arrays
            arr[...] = 0
        kept.append((step, copy.deepcopy(step)))
        arrays = list(_arrays(step))
        for i, (p, a) in enumerate(arrays):
            for q, b in arrays[i + 1 :]:
                assert not np.shares_memory(a, b), (t, p, q)
    for t, (out, want) in enumerate(kept[1:]):
        _assert_same(out, want, f"kept step {t}")
