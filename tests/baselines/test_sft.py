"""SFT solvers (baselines/sft_bandwidth.py, baselines/sft_config.py) against exact references.

Zhang et al., "Split Fine-Tuning for Large Language Models in Wireless Networks": Alg. 2
(Lagrangian configuration), Alg. 3 (SQP bandwidth), the Fig. 10 baselines. Every number is
scored by the cost engine; the solvers' closed forms are checked against it here.

The ``sft`` preset publishes no accuracy fit (SFT (35) has no printed P_1..P_10), so the
instances with an accuracy constraint use the test surface ``P_TEST`` below, written to be
plausible, not fitted: A = 0.75 + 0.10 (1 - (1 - rho)^3) + 0.06 (1 - (1 - q/8)^3), rising
in both rho and q, flat at rho = 1 and q = 8 (max 0.91), expanded into the (35) monomials.
"""

from __future__ import annotations

import numpy as np
import pytest

from baselines.base import make_solver
from baselines.papers.sft.config import lagrangian_config
from splitenv.allocation.sft_bandwidth import (
    bisection_bandwidth,
    device_coefficients,
    device_latency,
    sqp_bandwidth,
)
from splitenv.errors import FitError
from splitenv.model import Decision, evaluate, evaluate_batch
from splitenv.model.accuracy import sft_cubic
from splitenv.scenarios import load_scenario, sample_state

P_TEST = (0.75, 0.3, 0.06 * 3 / 8, -0.3, -0.06 * 3 / 64, 0.0, 0.1, 0.06 / 512, 0.0, 0.0)
SFT_SOLVERS = (
    "sft",
    "sft_lagrangian",
    "sft_sqp",
    "sft_bisection",
    "sft_equal_bw",
    "sft_random_bw",
    "sft_nocompress",
)


def test_test_surface_is_the_documented_cubic():
    rho, q = np.linspace(0.05, 1, 7)[:, None], np.arange(1, 9)[None, :]
    want = 0.75 + 0.1 * (1 - (1 - rho) ** 3) + 0.06 * (1 - (1 - q / 8) ** 3)
    assert np.allclose(sft_cubic(P_TEST, rho, q), want, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------------------------
# tau_n(b) = a_n + c_n / b_n, read from the engine
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coefficients_reproduce_the_engine(seed):
    """The fitted a_n + c_n / b_n equals the engine's per-device objective share and its max the
    objective (total over 20 rounds, round 0 with the model distribution), at random bandwidths.

    SFT's preset has no fading and one fixed SNR (17 dB): every device sends the same bits at
    the same spectral efficiency, so c_n is the same for all devices and only a_n (compute)
    differs.
    """
    scn = load_scenario("sft")
    state = sample_state(scn, seed)
    rng = np.random.default_rng(seed)
    splits, keep, bits = np.array([1, 5, 11]), np.array([0.05, 0.2, 1.0]), np.array([1, 3, 0])
    a, c = device_coefficients(scn, state, splits, keep, bits)
    for k in range(3):
        b = rng.dirichlet(np.ones(scn.n_devices), size=4) * scn.network.bandwidth_hz
        dec = Decision(
            split=np.full((4, scn.n_devices), splits[k]),
            keep_ratio=keep[k],
            quant_bits=bits[k],
            bandwidth_hz=b,
        )
        tau, _ = device_latency(scn, state, dec)
        assert np.allclose(a[k] + c[k] / b, tau, rtol=1e-10, atol=0)
        ev = evaluate_batch(scn, state, dec)
        assert np.allclose((a[k] + c[k] / b).max(axis=1), ev.latency_s, rtol=1e-10, atol=0)
        assert np.ptp(c[k]) <= 1e-12 * c[k].max()  # devices differ by compute only
        assert np.ptp(a[k]) > 0


def test_fit_check_raises_when_rates_are_not_linear_in_bandwidth():
    """With Shannon rates, b log2(1 + G P / (N0 b)), tau_n is not a_n + c_n / b_n: refuse."""
    scn = load_scenario(
        "sft", {"network.rate_model": "shannon", "network.distance_m": [50.0, 300.0]}
    )
    with pytest.raises(FitError):
        device_coefficients(scn, sample_state(scn, 0), [5], [0.2], [3])


# --------------------------------------------------------------------------------------------
# Alg. 3 (SQP) against the exact bisection
# --------------------------------------------------------------------------------------------


def test_bisection_matches_an_independent_convex_solve():
    """bisection_bandwidth against cvxpy on the convex epigraph form P3 (42), with and without caps.

    With an unbinding cap every device finishes exactly at t*; a binding cap can make t* the
    capped device's a_n + c_n / b_max, and then the others only need to finish by t*.
    """
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(7)
    total = 20e6
    for cap in (total, 1.3 * total / 6, 1.05 * total / 6):
        a, c = rng.uniform(10, 100, 6), rng.uniform(1e7, 1e9, 6)
        b, t = bisection_bandwidth(a, c, total, cap)
        assert b.sum() == pytest.approx(total, rel=1e-12)
        assert np.all(b <= cap * (1 + 1e-12))
        assert (a + c / b).max() == pytest.approx(t, rel=1e-12)
        if cap == total:
            assert np.allclose(a + c / b, t, rtol=1e-12)
        x, s = cp.Variable(6), cp.Variable()  # bandwidth in MHz, for conditioning
        prob = cp.Problem(
            cp.Minimize(s),
            [
                a + cp.multiply(c / 1e6, cp.inv_pos(x)) <= s,
                cp.sum(x) == total / 1e6,
                x <= cap / 1e6,
            ],
        )
        prob.solve()
        assert t == pytest.approx(prob.value, rel=1e-5)
        # the convex solver's allocation, made exactly feasible, is never better than the bisection
        b_cvx = np.minimum(np.maximum(x.value, 1e-12) * 1e6, cap)
        b_cvx = b_cvx * total / b_cvx.sum()
        if np.all(b_cvx <= cap):
            assert t <= (a + c / b_cvx).max() * (1 + 1e-12)


@pytest.mark.parametrize("bandwidth_mhz", [5, 10, 20, 30])
def test_sqp_equals_bisection(bandwidth_mhz):
    """SFT Alg. 3 (SLSQP on the epigraph form) reaches the exact optimum to 1e-6 relative.

    Measured: |SQP - bisection| / bisection <= 2e-14 on these 3 seeds x 4 bandwidths, with
    and without a per-device cap b_max = 1.5 B / N.
    """
    scn = load_scenario("sft", {"network.bandwidth_hz": bandwidth_mhz * 1e6})
    worst = 0.0
    for seed in range(3):
        state = sample_state(scn, seed)
        for cap in (None, 1.5 * scn.network.bandwidth_hz / scn.n_devices):
            sqp = make_solver("sft_sqp", b_max_hz=cap).solve(scn, state, np.random.default_rng(0))
            ref = make_solver("sft_bisection", b_max_hz=cap).solve(
                scn, state, np.random.default_rng(0)
            )
            assert sqp.feasible and ref.feasible
            err = abs(sqp.objective - ref.objective) / ref.objective
            worst = max(worst, err)
            assert err <= 1e-6
            if cap is not None:
                assert sqp.decision.bandwidth_hz.max() <= cap * (1 + 1e-9)
    print(f"\nB = {bandwidth_mhz} MHz: max |SQP - bisection| / bisection = {worst:.2e}")


def test_sqp_handles_caps_and_unequal_devices():
    """A binding cap (4 MHz) on the slowest device: the optimum value is unique, the allocation
    of the others is not (they only need to finish by t*): only t and feasibility are compared.
    """
    a, c = np.array([5.0, 50.0, 500.0]), np.array([1e8, 1e8, 1e8])
    for cap in (10e6, 4e6):
        b_ref, t_ref = bisection_bandwidth(a, c, 10e6, cap)
        b, t, _ = sqp_bandwidth(a, c, 10e6, cap)
        assert t == pytest.approx(t_ref, rel=1e-9)
        assert b.sum() == pytest.approx(10e6, rel=1e-12) and np.all(b <= cap * (1 + 1e-12))
        if cap == 10e6:
            assert np.allclose(b, b_ref, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Alg. 2 and the exact reference
# --------------------------------------------------------------------------------------------


def small_instance(seed: int):
    """Seeded small instance: N = 3..6, B = 5..30 MHz, cut 1..6, accuracy limit on odd seeds."""
    overrides = {
        "network.n_devices": 3 + seed % 4,
        "network.bandwidth_hz": (5e6, 10e6, 20e6, 30e6)[(seed // 2) % 4],
        "decision.split_range": [1, 6],
    }
    if seed % 2:
        overrides["accuracy.cubic_coeffs"] = list(P_TEST)
        overrides["accuracy.threshold"] = (0.85, 0.87, 0.88, 0.89, 0.90)[(seed // 2) % 5]
    scn = load_scenario("sft", overrides)
    return scn, sample_state(scn, seed)


def test_exact_is_never_beaten_and_gap_table():
    """sft_exact is below every SFT solver's feasible answer on 20 seeded small instances.

    The gap table printed below (relative to the exact optimum, over the instances where the
    solver is feasible) is the measurement of this module's docstring claims.
    """
    gaps: dict[str, list[float]] = {name: [] for name in SFT_SOLVERS}
    unconstrained_sft_gaps = []
    infeasible = {name: 0 for name in SFT_SOLVERS}
    for seed in range(20):
        scn, state = small_instance(seed)
        exact = make_solver("sft_exact").solve(scn, state, np.random.default_rng(seed))
        assert exact.feasible, seed
        for name in SFT_SOLVERS:
            sol = make_solver(name).solve(scn, state, np.random.default_rng(seed))
            if not sol.feasible:
                infeasible[name] += 1
                continue
            assert sol.objective >= exact.objective * (1 - 1e-9), (
                seed,
                name,
                sol.objective,
                exact.objective,
            )
            gaps[name].append(sol.objective / exact.objective - 1)
            if name == "sft" and seed % 2 == 0:
                unconstrained_sft_gaps.append(gaps[name][-1])
    print("\nsolver           feasible   mean gap    max gap   (vs sft_exact, 20 instances)")
    for name in SFT_SOLVERS:
        g = np.array(gaps[name]) * 100
        stats = f"{g.mean():9.2f} % {g.max():9.2f} %" if g.size else "        -           -"
        print(f"{name:16s} {20 - infeasible[name]:4d}/20 {stats}")
    # without an accuracy constraint (even seeds) Alg. 2 + Alg. 3 finds the optimum
    assert len(unconstrained_sft_gaps) == 10 and max(unconstrained_sft_gaps) <= 1e-9


def test_lagrangian_signs_and_absent_accuracy_constraint():
    """Without coefficients the accuracy constraint is absent: lambda stays 0 and Alg. 2 returns
    the most compressed configuration (rho_min, q_min) at the smallest cut; with P_TEST the
    corrected signs raise lambda_1 until the iterate meets A_th."""
    scn = load_scenario("sft", {"network.n_devices": 4})
    state = sample_state(scn, 0)
    cfg, info = lagrangian_config(scn, state)
    assert (cfg.split, cfg.keep_ratio, cfg.quant_bits) == (1, 0.05, 1)
    assert info["iterations"] == 2 and all(lam == [0.0, 0.0] for lam in info["lambda_trace"])
    assert not info["accuracy_constraint"]

    scn = load_scenario(
        "sft",
        {"network.n_devices": 4, "accuracy.cubic_coeffs": list(P_TEST), "accuracy.threshold": 0.88},
    )
    cfg, info = lagrangian_config(scn, state)
    assert info["feasible_found"] and info["lambda_trace"][1][0] > 0
    assert sft_cubic(P_TEST, cfg.keep_ratio, cfg.quant_bits) >= 0.88
    ev = evaluate(scn, state, cfg.decision(4, np.full(4, scn.network.bandwidth_hz / 4)))
    assert ev.feasible[0]


# --------------------------------------------------------------------------------------------
# SFT Fig. 10: optimized bandwidth vs equal and random
# --------------------------------------------------------------------------------------------


def test_fig10_optimized_bandwidth_beats_equal_and_random():
    """Fig. 10 ordering: Alg. 3 below equal and random bandwidth at B = 5, 10, 20, 30 MHz.

    Preset ``sft`` (N = 8, l = 5, rho = 0.2, q = 3), seeds 0..4, random bandwidth over 10
    Dirichlet(1) draws per seed. The SFT preset has no fading and a fixed SNR, so the devices
    differ by compute only (0.5-1.5 GHz): the gain over equal bandwidth comes only from
    giving the slow devices more band, and it grows with B as communication stops
    dominating the round. Measured per-round reduction (a round >= 1) of Alg. 3:

        B [MHz]          5       10      20      30
        vs equal        6.7 %   10.6 %  14.3 %  15.3 %
        vs random mean  97.9 %  97.6 %  96.9 %  96.2 %   (a draw can starve a device)

    The ordering is strict with margins: the total (20 rounds) of Alg. 3 is at least 5 %
    below equal and 80 % below the random mean at every B. The paper reports "up to 53.1 %"
    per round at 5 MHz without naming the baseline: ours is 6.7 % vs equal at 5 MHz (the
    paper's devices must differ by more than compute, or its baseline is the random one).
    """
    print(
        "\nB [MHz]  round [s]: SQP   equal  random(mean)  reduction vs equal  vs random"
        "   paper: up to 53.1 %"
    )
    for mhz in (5, 10, 20, 30):
        scn = load_scenario("sft", {"network.bandwidth_hz": mhz * 1e6})
        rows = []
        for seed in range(5):
            state = sample_state(scn, seed).replace(round_index=1)
            sqp = make_solver("sft_sqp").solve(scn, state, np.random.default_rng(seed))
            equal = make_solver("sft_equal_bw").solve(scn, state, np.random.default_rng(seed))
            rng = np.random.default_rng(seed)
            rand = [make_solver("sft_random_bw").solve(scn, state, rng) for _ in range(10)]
            rows.append(
                [
                    sqp.objective,
                    equal.objective,
                    np.mean([r.objective for r in rand]),
                    sqp.evaluation.terms["round_s"][0],
                    equal.evaluation.terms["round_s"][0],
                    np.mean([r.evaluation.terms["round_s"][0] for r in rand]),
                ]
            )
        total_sqp, total_eq, total_rand, r_sqp, r_eq, r_rand = np.mean(rows, axis=0)
        assert total_sqp < 0.95 * total_eq and total_sqp < 0.2 * total_rand
        assert r_sqp < 0.95 * r_eq and r_sqp < 0.2 * r_rand
        print(
            f"{mhz:7d}  {r_sqp:14.2f} {r_eq:7.2f} {r_rand:13.2f}  "
            f"{100 * (1 - r_sqp / r_eq):17.1f} %  {100 * (1 - r_sqp / r_rand):8.1f} %"
        )
