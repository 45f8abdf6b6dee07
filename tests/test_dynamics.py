"""Episode dynamics of the sampler: Gauss-Markov fading, mobility and churn, and their effect on costs."""

import gymnasium as gym
import numpy as np
import pytest

import splitenv as se
from splitenv import Decision, StateSampler


def _scn(**over):
    return se.load_scenario("scct", {f"network.{k}": v for k, v in over.items()})


def _fading_series(scn, seed, epochs):
    sm = StateSampler(scn, seed, epochs_per_round=epochs)
    base = StateSampler(scn.with_overrides({"network.fading": "none"}), seed, epochs).state(0, 0)
    return np.array([sm.state(0, t).channel_gain / base.channel_gain for t in range(epochs)])


def test_gauss_markov_correlation_and_unit_mean():
    """|h|^2 of a Gauss-Markov CN(0, 1) process: mean 1, lag-1 correlation rho^2 (for |h|^2)."""
    rho = 0.95
    series = _fading_series(_scn(fading_correlation=rho), seed=1, epochs=1500)  # (T, N)
    x = series.reshape(-1)
    assert x.mean() == pytest.approx(1.0, abs=0.1)
    lag = [np.corrcoef(series[:-1, n], series[1:, n])[0, 1] for n in range(series.shape[1])]
    # for a complex Gaussian AR(1), corr(|h_t|^2, |h_{t+1}|^2) = rho^2 = 0.9025
    assert np.mean(lag) == pytest.approx(rho**2, abs=0.05)
    iid = _fading_series(_scn(), seed=1, epochs=600)
    lag_iid = np.mean([np.corrcoef(iid[:-1, n], iid[1:, n])[0, 1] for n in range(iid.shape[1])])
    assert abs(lag_iid) < 0.1


def test_dynamics_leave_iid_draws_unchanged_and_are_random_access():
    plain, churn = _scn(), _scn(churn_leave_prob=0.3, churn_join_prob=0.5)
    a, b = StateSampler(plain, 7, 4).state(2, 1), StateSampler(churn, 7, 4).state(2, 1)
    np.testing.assert_array_equal(a.channel_gain, b.channel_gain)  # only presence changed
    np.testing.assert_array_equal(a.device_flops, b.device_flops)
    sm = StateSampler(_scn(fading_correlation=0.8, mobility_step_m=15.0), 7, 4)
    later = sm.state(3, 2)
    sm.state(0, 1)  # going back recomputes from the start
    np.testing.assert_array_equal(later.channel_gain, sm.state(3, 2).channel_gain)
    np.testing.assert_array_equal(
        later.distance_m, StateSampler(sm.scenario, 7, 4).state(3, 2).distance_m
    )


def test_mobility_stays_in_range_and_moves():
    scn = _scn(mobility_step_m=20.0, fading="none")
    sm = StateSampler(scn, 3, 10)
    d = np.array([sm.state(r, t).distance_m for r in range(5) for t in range(10)])
    lo, hi = scn.network.distance_m
    assert d.min() >= lo - 1e-9 and d.max() <= hi + 1e-9
    assert np.abs(np.diff(d, axis=0)).mean() > 1.0  # it moves
    still = np.array(
        [StateSampler(_scn(fading="none"), 3, 10).state(0, t).distance_m for t in range(3)]
    )
    assert np.all(still == still[0])


def test_churn_stationary_fraction():
    """Two-state Markov chain: P(active) -> join / (join + leave) = 0.5 / 0.7."""
    scn = _scn(churn_leave_prob=0.2, churn_join_prob=0.5)
    sm = StateSampler(scn, 0, 50)
    active = np.array([sm.state(r, t).active for r in range(20) for t in range(50)])
    assert active[200:].mean() == pytest.approx(0.5 / 0.7, abs=0.05)


def test_absent_device_costs_nothing():
    scn = se.load_scenario("scct", {"network.n_devices": 3})
    st = se.sample_state(scn, 0)
    gone = st.replace(active=np.array([True, False, True]))
    d = Decision(split=[4, 4, 4], subchannels=[100, 0, 100], compute_share=[0.5, 0.0, 0.5])
    ev_all, ev_gone = se.evaluate(scn, st, d), se.evaluate(scn, gone, d)
    assert not ev_all.feasible[0] and np.isinf(ev_all.latency_s[0])  # device 1 unserved
    assert ev_gone.feasible[0] and np.isfinite(ev_gone.latency_s[0])
    assert ev_gone.per_device["chain_s"][0, 1] == 0.0
    # SCCT (17): the edge-cloud payload counts the devices present: 2 of 3
    assert ev_gone.terms["shared_iteration_s"][0] == pytest.approx(
        ev_all.terms["shared_iteration_s"][0] * 2 / 3, rel=1e-12
    )


def test_env_with_dynamics_runs_and_observes_presence():
    env = gym.make(
        "splitenv/SCCT-v0",
        timescale="epoch",
        **{
            "network.churn_leave_prob": 0.3,
            "network.fading_correlation": 0.9,
            "network.mobility_step_m": 5.0,
        },
    )
    obs, _ = env.reset(seed=0)
    n, f = env.unwrapped.scenario.n_devices, 7
    seen_absent = False
    for _ in range(12):
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        seen_absent |= bool((obs[: n * f].reshape(n, f)[:, 6] == 0).any())
        assert np.isfinite(r)
        if term or trunc:
            break
    assert seen_absent


# --- device availability: a reflected random walk of each device's FLOP/s (issue 13) ---------


def _avail(**over):
    values = {"compute.device_availability": (0.2, 1.0), "compute.availability_step": 0.06}
    values.update({f"compute.{k}": v for k, v in over.items()})
    return se.load_scenario("scct", values)


def test_reflect_folds_any_step_into_the_range_by_hand():
    from splitenv.draws import reflect

    x = np.array([0.5, 1.05, 0.1, 2.0, -0.7, 1.0, 0.2])
    # 1.05 -> 0.95; 0.1 -> 0.3; 2.0: (1.8 mod 1.6) = 0.2 -> 0.4; -0.7: (-0.9 mod 1.6) = 0.7 -> 0.9
    np.testing.assert_allclose(reflect(x, 0.2, 1.0), [0.5, 0.95, 0.3, 0.4, 0.9, 1.0, 0.2])
    np.testing.assert_array_equal(reflect(x, 0.5, 0.5), np.full(7, 0.5))


def test_availability_walk_by_hand_from_the_dynamics_stream():
    """Epoch 0: the static draws' order, then U(lo, hi) (or the top); epoch g: its stream's
    fading and churn draws, then one N(0, step) per device, reflected; FLOP/s = drawn x u."""
    from splitenv.draws import reflect

    seed, n = 11, 10  # scct's ten devices
    for start in ("uniform", "high"):
        scn = _avail(availability_start=start)
        sm, flat = StateSampler(scn, seed, 3), StateSampler(se.load_scenario("scct"), seed, 3)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 3, 0]))
        rng.uniform(size=n), rng.normal(size=(2, n)), rng.normal(size=(2, n))  # angle, fading
        u = rng.uniform(0.2, 1.0, n) if start == "uniform" else np.full(n, 1.0)
        for g in range(6):
            if g:
                rng = np.random.default_rng(np.random.SeedSequence([seed, 3, g]))
                rng.normal(size=(2, n)), rng.normal(size=(2, n)), rng.uniform(size=n)
                u = reflect(u + rng.normal(0.0, 0.06, n), 0.2, 1.0)
            state, plain = sm.state(g // 3, g % 3), flat.state(g // 3, g % 3)
            np.testing.assert_allclose(state.device_flops, plain.device_flops * u, rtol=1e-15)
            np.testing.assert_array_equal(state.channel_gain, plain.channel_gain)  # untouched


def test_availability_is_stationary_uniform_and_strongly_correlated():
    """Started uniform, the walk stays uniform on [0.2, 1]; one epoch moves it by ~step."""
    from scipy import stats

    scn = _avail().with_overrides({"network.n_devices": 300, "compute.device_flops": [1e12, 1e12]})
    sm = StateSampler(scn, 5, 10)
    u = np.array([sm.state(r, t).device_flops / 1e12 for r in range(4) for t in range(10)])
    assert u.min() >= 0.2 - 1e-12 and u.max() <= 1.0 + 1e-12
    for g in (0, 39):  # uniform at the start and 39 epochs later
        assert stats.kstest(u[g], stats.uniform(0.2, 0.8).cdf).pvalue > 0.01
    steps = np.diff(u, axis=0)
    inside = (u[:-1] > 0.35) & (u[:-1] < 0.85)  # reflection can only shorten a step
    assert steps[inside].std() == pytest.approx(0.06, rel=0.05)
    assert np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1] > 0.9  # i.i.d. draws give ~0
    lag10 = np.corrcoef(u[0], u[10])[0, 1]
    assert 0.6 < lag10 < 0.95  # ten steps (one round of ten epochs): moved, not forgotten
    assert np.corrcoef(u[0], u[39])[0, 1] < lag10


def test_availability_leaves_the_other_draws_and_a_constant_walk_stays():
    plain, walk = (
        _scn(churn_leave_prob=0.3, churn_join_prob=0.5),
        _avail().with_overrides({"network.churn_leave_prob": 0.3, "network.churn_join_prob": 0.5}),
    )
    a, b = StateSampler(plain, 4, 3).state(2, 1), StateSampler(walk, 4, 3).state(2, 1)
    np.testing.assert_array_equal(a.channel_gain, b.channel_gain)
    np.testing.assert_array_equal(a.active, b.active)
    assert np.all(b.device_flops <= a.device_flops) and np.any(b.device_flops < a.device_flops)
    still = StateSampler(_avail(availability_step=0.0), 4, 3)
    u = [
        still.state(r, 0).device_flops / StateSampler(plain, 4, 3).state(r, 0).device_flops
        for r in range(3)
    ]
    np.testing.assert_allclose(u[0], u[2])  # drawn once per episode, then constant
    assert not StateSampler(se.load_scenario("scct"), 4, 3).dynamic  # off by default


def test_availability_range_is_validated():
    with pytest.raises(se.ConfigError, match="device_availability"):
        _avail(device_availability=(0.9, 0.5))
    with pytest.raises(se.ConfigError, match="device_availability"):
        _avail(device_availability=(0.0, 1.0))
    with pytest.raises(se.ConfigError, match="availability_start"):
        _avail(availability_start="low")
