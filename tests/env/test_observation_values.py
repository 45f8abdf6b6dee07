"""Every observation feature by value, recomputed from the state (the env docstring's table).

Per device n (device-major, 7 features): snr_db = 10 log10(G_n / N0_n) scaled affinely into
[0, 1] by the preset's channel range; compute / max device FLOP/s; memory / max device
memory; split (the previous decision's) / L; data size / max samples; distance / max
distance; active. Globals: round / rounds, epoch / epochs_per_round, is_round_start and
last cost ratio / 5. Everything clipped into [0, 1].
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from splitenv import Decision, evaluate
from splitenv.registration import ENV_IDS
from splitenv.wrappers import BoxAction

CASES = {
    **{eid: {} for eid in ENV_IDS},  # every registered preset id, new ones included
    "splitenv/SplitLoRA-v0+config": {  # the generic id with another config
        "config": "scct",
        "network__n_devices": 4,
        "network__churn_leave_prob": 0.4,
        "network__churn_join_prob": 0.5,
        "network__mobility_step_m": 10.0,
    },
}
TIMESCALES = ("round", "epoch", "joint")
ROUNDS, EPOCHS = 2, 3
F = 7  # features per device
#: float32 observations of float64 quantities
ATOL = 2e-7


def make(env_id, timescale, **kwargs):
    return gym.make(
        env_id.split("+")[0], timescale=timescale, rounds=ROUNDS, epochs_per_round=EPOCHS,
        **{**CASES[env_id], **kwargs},
    )  # fmt: skip


def snr_db(state):
    return 10.0 * np.log10(state.channel_gain / state.noise_psd_w_hz)


def scales(scn):
    """The documented denominators, from the scenario's ranges."""
    comp, classes = scn.compute, scn.devices
    return {
        "compute": max(classes.flops)
        if classes.enabled
        else max(comp.device_flops[1], *(comp.device_flops_levels or (0.0,))),
        "memory": max(classes.memory_bytes)
        if classes.enabled
        else scn.memory.device_memory_bytes[1],
        "split": scn.model.n_layers,
        "data_size": scn.workload.samples_per_device[1],
        "distance": scn.network.distance_m[1] + scn.network.fed_server_offset_m,
    }


def expected_features(scn, state, split):
    """Features 1..6 of every device (everything but the SNR), (N, 6), clipped."""
    s = scales(scn)
    cols = [
        state.device_flops / s["compute"],
        state.device_memory_bytes / s["memory"],
        np.asarray(split, dtype=float) / s["split"],
        state.data_size / s["data_size"],
        state.distance_m / s["distance"],
        np.asarray(state.active, dtype=float),
    ]
    return np.clip(np.stack(cols, axis=1), 0.0, 1.0)


def rollout(env, seed, steps):
    """(observation, state, previous split, counters, last ratio) before every step and at the end."""
    base = env.unwrapped
    obs, _ = env.reset(seed=seed)
    scn = base.scenario
    default_split = evaluate(scn, base.current_state, Decision()).decision.split[0]
    split, ratio, rnd, ep = default_split, 1.0, 0, 0
    out = [(obs, base.current_state, split, rnd, ep, ratio)]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        action = rng.uniform(-1, 1, env.action_space.shape)
        obs, reward, terminated, truncated, info = env.step(action)
        split = np.asarray(info["decision"]["split"])
        ratio = -reward  # normalized mode: the reward is minus the (penalized) capped ratio
        ep += EPOCHS if base.timescale == "round" else 1
        if ep >= EPOCHS:
            rnd, ep = rnd + 1, 0
        out.append((obs, base.current_state, split, rnd, ep, ratio))
        if terminated or truncated:
            break
    return out


@pytest.mark.parametrize("timescale", TIMESCALES)
@pytest.mark.parametrize("env_id", list(CASES))
def test_every_feature_equals_its_documented_quantity(env_id, timescale):
    try:
        env = BoxAction(make(env_id, timescale))
    except ValueError:
        return  # no decision at this timescale (tests/env/test_reward_values.py checks why)
    scn = env.unwrapped.scenario
    n = scn.n_devices
    assert env.observation_space.shape == (F * n + 4,)
    snr_obs, snr_true = [], []
    for obs, state, split, rnd, ep, ratio in rollout(env, seed=3, steps=ROUNDS * EPOCHS):
        assert obs.dtype == np.float32 and obs.shape == (F * n + 4,)
        dev = obs[: F * n].reshape(n, F)
        np.testing.assert_allclose(dev[:, 1:], expected_features(scn, state, split), atol=ATOL)
        glob = obs[F * n :]
        np.testing.assert_allclose(
            glob,
            [rnd / ROUNDS, ep / EPOCHS, float(ep == 0), min(ratio / 5.0, 1.0)],
            atol=ATOL,
        )
        snr_obs.append(dev[:, 0])
        snr_true.append(snr_db(state))
    _check_snr_affine(np.concatenate(snr_obs), np.concatenate(snr_true))


def _check_snr_affine(obs, true):
    """obs = (snr - lo) / (hi - lo) with one (lo, hi) per scenario, where not clipped."""
    inside = (obs > 1e-6) & (obs < 1 - 1e-6)
    if inside.sum() < 4 or np.ptp(true[inside]) <= 1.0:
        # no fading (CARD): the three noise states are the range's own ends, 0 and 1 exactly
        inside = np.ones_like(obs, dtype=bool)
    x, y = true[inside], obs[inside].astype(np.float64)
    assert np.ptp(x) > 1.0  # devices differ by more than 1 dB: a swap of channels would show
    slope, intercept = np.polyfit(x, y, 1)
    assert slope > 0
    np.testing.assert_allclose(y, slope * x + intercept, atol=5e-6)
    # clipped ones lie beyond the range on the right side
    lo, hi = -intercept / slope, (1 - intercept) / slope
    assert np.all(true[obs <= 1e-6] <= lo + 1e-3) and np.all(true[obs >= 1 - 1e-6] >= hi - 1e-3)


def test_snr_feature_belongs_to_its_own_device():
    """Device n's SNR feature orders like device n's own SNR (a swap of two devices fails)."""
    env = make("splitenv/SCCT-v0", "epoch")
    obs, _ = env.reset(seed=0)
    state = env.unwrapped.current_state
    n = env.unwrapped.scenario.n_devices
    feat = obs[: F * n].reshape(n, F)[:, 0]
    snr = snr_db(state)
    assert len(np.unique(np.round(snr, 3))) == n
    np.testing.assert_array_equal(np.argsort(feat, kind="stable"), np.argsort(snr, kind="stable"))
    # the scaled SNR is affine in the true one: check on the pairs of this one state
    _check_snr_affine(feat, snr)


def test_dict_observation_is_the_flat_one_split():
    flat = make("splitenv/FedsLLM-v0", "joint")
    dct = make("splitenv/FedsLLM-v0", "joint", observation="dict")
    a, _ = flat.reset(seed=1)
    b, _ = dct.reset(seed=1)
    n = flat.unwrapped.scenario.n_devices
    np.testing.assert_array_equal(b["devices"], a[: F * n].reshape(n, F))
    np.testing.assert_array_equal(b["globals"], a[F * n :])
    action = flat.action_space.sample()
    a, *_ = flat.step(action)
    b, *_ = dct.step(action)
    np.testing.assert_array_equal(b["devices"], a[: F * n].reshape(n, F))
    np.testing.assert_array_equal(b["globals"], a[F * n :])


def test_churn_shows_in_the_active_flag():
    """With churn some device is inactive at some epoch, and the feature says so."""
    env = BoxAction(make("splitenv/SplitLoRA-v0+config", "epoch"))
    seen = []
    for obs, state, *_ in rollout(env, seed=0, steps=ROUNDS * EPOCHS):
        n = state.active.shape[0]
        np.testing.assert_array_equal(obs[: F * n].reshape(n, F)[:, 6], state.active.astype(float))
        seen.append(state.active.copy())
    assert not np.all(seen)  # the override makes devices leave


def test_last_cost_ratio_saturates_at_five():
    """The ratio feature is min(ratio / 5, 1): an infeasible step (ratio + 5) reads 1."""
    env = make("splitenv/SCCT-v0", "epoch")
    env.reset(seed=0)
    n = env.unwrapped.scenario.n_devices
    obs, reward, *_ = env.step({"subchannels": np.zeros(n, int), "compute_share": np.ones(n)})
    assert reward < -5 and obs[-1] == 1.0
