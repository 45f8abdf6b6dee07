"""The vector env's batched dynamics and noise states against StateSampler, at K = 128.

The processes move by the batched draws of their streams (:mod:`splitenv.batch_draws`, the
compiled kernel), and every row is checked against its episode's own sampler.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import splitenv  # noqa: F401  (registers the ids)
from splitenv import draw_kernel
from splitenv.scenarios import StateSampler, load_scenario
from splitenv.vector_dynamics import STATICS, Trajectories
from tests.env.test_native_vector import DYNAMICS

K = 128  # DYNAMICS: correlated fading, mobility, churn, a drifting availability
FIELDS = ("channel_gain", "fed_channel_gain", "noise_psd_w_hz", "device_flops", "distance_m",
          "active")  # fmt: skip


def _dotted(over):
    return {k.replace("__", "."): v for k, v in over.items()}


@pytest.mark.parametrize(
    "over",
    [
        DYNAMICS,
        {**DYNAMICS, "network__placement": "disk", "compute__availability_start": "high"},
        {"network__churn_leave_prob": 0.2},  # churn alone: the fading and positions still move
    ],
)
def test_trajectories_equal_the_samplers_processes(over):
    """Rows moved one epoch, several epochs, back (a new episode) and not at all."""
    assert draw_kernel.kernel() is not None  # the batched path, not numpy stream by stream
    scn = load_scenario("scct", _dotted(over))
    rng = np.random.default_rng(1)
    seeds = rng.integers(0, 2**32, K)
    samplers = [StateSampler(scn, int(s), 3) for s in seeds]
    rows = np.arange(K)
    traj = Trajectories(scn, K)
    traj.start(rows, {k: np.stack([sm.statics[k] for sm in samplers]) for k in STATICS})
    epochs = np.zeros(K, dtype=np.int64)
    for t in range(8):
        if t:  # most rows one epoch on; some jump, some go back to an earlier epoch
            epochs = epochs + rng.choice([1, 1, 1, 3], K)
            back = rng.random(K) < 0.1
            epochs[back] = rng.integers(0, epochs[back] + 1)
        some = rows if t % 3 else np.sort(rng.choice(K, K - 20, replace=False))
        got = traj.at(some, seeds[some], epochs[some])
        for j, i in enumerate(some):
            want = samplers[i]._dynamics(int(epochs[i]))
            assert set(got) == set(want)
            for key, value in want.items():
                np.testing.assert_array_equal(got[key][j], value, err_msg=f"{t} {i} {key}")


def _vector(env_id, **kwargs):
    vec = gym.make_vec(env_id, num_envs=K, vectorization_mode="vector_entry_point", **kwargs)
    return vec.unwrapped


def _assert_rows_equal_samplers(vec, where):
    """Every env's state (not awaiting its autoreset) is its episode's sampler's state."""
    ep, e = vec._ep, vec._ep.epochs_per_round
    for i in np.flatnonzero(vec._seeds < 2**32):
        assert vec._samplers[i] is None  # drawn by the batched streams, not by a sampler
    for i in np.flatnonzero(~vec._autoreset):
        sm = StateSampler(vec.scenario, int(vec._seeds[i]), e)
        want = sm.state(int(ep.round[i]), int(ep.epoch[i]))
        for name in FIELDS:
            np.testing.assert_array_equal(
                ep.state[name][i], getattr(want, name), err_msg=f"{where} env {i} {name}"
            )


@pytest.mark.parametrize(
    ("env_id", "over"),
    [
        ("splitenv/SplitLoRADynamic-v1", {}),
        ("splitenv/SCCT-v0", {**DYNAMICS, "network__placement": "disk"}),
        ("splitenv/CARD-v0", {}),  # noise states per round, no dynamics
        ("splitenv/CARD-v0", DYNAMICS),  # both
    ],
)
def test_vector_states_equal_samplers_with_dynamics_and_noise_states(env_id, over):
    """K = 128 episodes, epoch by epoch, over autoresets and resets of some envs mid-episode."""
    vec = _vector(env_id, timescale="joint", rounds=3, epochs_per_round=3, **over)
    vec.reset(seed=3)
    _assert_rows_equal_samplers(vec, "reset")
    vec.action_space.seed(3)
    rng = np.random.default_rng(4)
    for t in range(11):  # episodes of 9 epochs: every env is autoreset once
        vec.step(vec.action_space.sample())
        _assert_rows_equal_samplers(vec, f"step {t}")
        if t in (2, 5):  # some envs start new episodes while the others go on
            rows = np.sort(rng.choice(K, 40, replace=False))
            rows = rows[~vec._autoreset[rows]]
            vec._reset_rows(rows, [None] * rows.size, None)
            _assert_rows_equal_samplers(vec, f"after resets at step {t}")


def test_round_steps_equal_samplers_with_dynamics():
    """Round steps draw the round's epochs in turn; the next round's first epoch is checked."""
    vec = _vector("splitenv/SplitLoRA-v0", rounds=3, **DYNAMICS)
    vec.reset(seed=8)
    vec.action_space.seed(8)
    for t in range(4):
        vec.step(vec.action_space.sample())
        _assert_rows_equal_samplers(vec, f"step {t}")


def test_seeds_beyond_one_word_are_drawn_by_their_samplers_beside_the_batched_rows():
    """A stored instance's seed (>= 2**32) in some rows, one-word seeds in the others."""
    vec = _vector("splitenv/CARD-v0", timescale="joint", rounds=3, epochs_per_round=3, **DYNAMICS)
    vec.reset(seed=5, options={"instance": {"seed": 2**33 + 5}})
    rows = np.arange(0, K, 2)
    vec._reset_rows(rows, [None] * rows.size, None)  # these start episodes of one-word seeds
    assert (vec._seeds[rows] < 2**32).all() and (vec._seeds[rows + 1] >= 2**32).all()
    vec.action_space.seed(5)
    for t in range(4):
        vec.step(vec.action_space.sample())
        _assert_rows_equal_samplers(vec, f"step {t}")
