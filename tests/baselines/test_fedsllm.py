"""FedsLLM solvers (baselines/fedsllm*.py): power control, exactness, and the paper's Fig. 5.

Paper: Zhao, Yang et al., "Efficient Federated Split Learning for Large Language Models
over Communication Networks" (arXiv 2504.14667); digest: /tmp/digests/fedsllm.md.
Run with ``-s`` to see the gap table and the Fig. 5 reductions next to the paper's.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from baselines.base import solver_class
from baselines.papers.fedsllm.bcd import (
    BLOCKS,
    FedsllmA,
    FedsllmB,
    FedsllmBCD,
    FedsllmC,
    FedsllmD,
    bcd,
    initial_point,
)
from baselines.papers.fedsllm.exact import FedsllmExact, compositions
from baselines.papers.fedsllm.power_cvxpy import solve_cvxpy
from splitenv import load_scenario, sample_state
from splitenv.allocation.fedsllm_power import max_delay, min_power, rate_bps, solve_bisection
from splitenv.allocation.fedsllm_tables import build_tables, greedy_subchannels
from splitenv.model import channel
from splitenv.model.types import equal_counts

# solvers by registered name, imported directly: make_solver imports every module of baselines/
CLASSES = {
    "fedsllm_bcd": FedsllmBCD, "fedsllm_a": FedsllmA, "fedsllm_b": FedsllmB, "fedsllm_c": FedsllmC,
    "fedsllm_d": FedsllmD, "fedsllm_exact": FedsllmExact,
}  # fmt: skip
SOLVERS = ("fedsllm_bcd", "fedsllm_a", "fedsllm_b", "fedsllm_c", "fedsllm_d")
SMALL = {"network.n_devices": 4, "network.n_subchannels": 8, "network.fed_n_subchannels": 8}
SLOW_SERVER = {"compute.edge_flops": 5e10}  # slower than N x a client: deep splits win
P_MAX, P_TOT = 0.19952623149688786, 0.5000345349769784  # the preset's 23 dBm and 26.99 dBm


def _solve(name, scn, state, seed=0, **kwargs):
    return CLASSES[name](**kwargs).solve(scn, state, np.random.default_rng(seed))


def test_registered_names():
    for name, cls in CLASSES.items():
        assert solver_class(name) is cls and cls.name == name


# ---------------------------------------------------------------------------------------------
# power control: cvxpy (the paper's CVX route) against the exact bisection
# ---------------------------------------------------------------------------------------------


def _power_instances():
    rng = np.random.default_rng(7)
    for i in range(12):
        n = int(rng.integers(2, 6))
        width = rng.integers(1, 9, n) * 1e6
        a = 10 ** rng.uniform(8.0, 12.5, n)  # G / N0 of clients from ~50 m to ~500 m
        if i % 2:  # main pool: client forward before a ~400 Mbit upload
            rest, bits = rng.uniform(15, 40, n), np.full(n, 4.0265e8)
        else:  # federated pool: LoRA bits, nothing before
            rest, bits = np.zeros(n), rng.uniform(1e5, 2e6, n)
        p_tot = P_TOT if i % 3 else 0.25  # C5 binding in some, slack in others
        yield rest, bits, width, a, p_tot


def test_cvxpy_power_equals_bisection():
    worst = 0.0
    for rest, bits, width, a, p_tot in _power_instances():
        t_bis, p_bis = solve_bisection(rest, bits, width, a, P_MAX, p_tot)
        t_cvx, p_cvx = solve_cvxpy(rest, bits, width, a, P_MAX, p_tot)
        err = abs(t_cvx - t_bis) / t_bis
        worst = max(worst, err)
        assert err <= 1e-6
        # the powers of both meet C4 and C5 exactly; bisection's reach its t*, cvxpy's are no better
        for p in (p_bis, p_cvx):
            assert np.all(p <= P_MAX) and p.sum() <= p_tot and np.all(p >= 0)
        assert max_delay(rest, bits, width, a, p_bis) <= t_bis * (1 + 1e-12)
        assert max_delay(rest, bits, width, a, p_cvx) >= t_bis * (1 - 1e-12)
    print(f"\ncvxpy vs bisection power control: max relative error in t* {worst:.1e}")


def test_min_power_inverts_the_engine_rate():
    width, a = np.array([1e6, 3e6]), np.array([2e9, 5e11])
    gain, noise = a * 4e-21, np.full(2, 4e-21)
    p = min_power(30.0, np.array([10.0, 20.0]), np.array([4e8, 1e8]), width, a)
    rate = channel.link_rate(
        "shannon", width, gain=gain, power_w=p, noise_psd_w_hz=noise, fixed_snr=0.0
    )
    np.testing.assert_allclose(
        np.array([10.0, 20.0]) + np.array([4e8, 1e8]) / rate, 30.0, rtol=1e-12
    )
    np.testing.assert_allclose(rate_bps(width, a, p), rate, rtol=1e-14)


def test_bisection_without_a_binding_budget_uses_full_power():
    rest, bits, width, a, _ = next(_power_instances())
    t, _ = solve_bisection(rest, bits, width, a, P_MAX, np.inf)
    assert t == pytest.approx(
        float(max_delay(rest, bits, width, a, np.full(len(rest), P_MAX))), rel=1e-14
    )


# ---------------------------------------------------------------------------------------------
# Alg. 2 and the BCD
# ---------------------------------------------------------------------------------------------


def test_greedy_subchannels_is_optimal_for_fixed_powers():
    """Giving each next unit to the current maximum is optimal for a min-max of decreasing terms."""
    scn = load_scenario("fedsllm", SMALL)
    tab = build_tables(scn, sample_state(scn, 2))
    rest, bits, power = tab.fwd[0, -1], tab.up_bits[0, -1], np.full(tab.n, 0.1)
    counts = greedy_subchannels(rest, bits, power, tab.main)
    assert counts.sum() == tab.main.n_subchannels and counts.min() >= 1
    comps = compositions(tab.main.n_subchannels, tab.n)
    every = max_delay(rest, bits, comps * tab.main.subchannel_hz, tab.main.snr_coeff, power)
    assert (
        max_delay(rest, bits, counts * tab.main.subchannel_hz, tab.main.snr_coeff, power)
        == every.min()
    )


def test_bcd_trace_falls_and_the_tables_match_the_engine():
    scn = load_scenario("fedsllm")
    for seed in range(3):
        sol = _solve("fedsllm_bcd", scn, sample_state(scn, seed))
        assert sol.feasible
        trace = np.array(sol.stats.trace)
        assert np.all(np.diff(trace) <= 0) and sol.objective == pytest.approx(trace[-1], rel=1e-12)
        assert sol.stats.extra["surrogate_rel_err"] < 1e-12


def test_bcd_with_cvxpy_power_matches_bisection():
    scn = load_scenario("fedsllm")
    state = sample_state(scn, 1)
    a, b = _solve("fedsllm_bcd", scn, state), _solve("fedsllm_bcd", scn, state, power="cvxpy")
    assert b.feasible and b.objective == pytest.approx(a.objective, rel=1e-6)


def test_baselines_keep_their_random_blocks():
    scn = load_scenario("fedsllm")
    state = sample_state(scn, 4)
    tab = build_tables(scn, state)
    a = _solve("fedsllm_a", scn, state, seed=11)
    even = np.sort(equal_counts(tab.main.n_subchannels, tab.n))
    np.testing.assert_array_equal(np.sort(a.decision.subchannels[0]), even)
    np.testing.assert_allclose(a.decision.power_w[0], min(P_MAX, P_TOT / tab.n))
    b = _solve("fedsllm_b", scn, state, seed=11)
    np.testing.assert_array_equal(b.decision.subchannels, a.decision.subchannels)  # same draw
    c, d = _solve("fedsllm_c", scn, state, seed=11), _solve("fedsllm_d", scn, state, seed=11)
    np.testing.assert_array_equal(c.decision.split, a.decision.split)  # same random split as a
    assert d.decision.rank[0] == tab.ranks[np.random.default_rng(11).integers(len(tab.ranks))]
    assert c.decision.rank[0] == 8  # optimized: E(r) is smallest at the largest rank
    again = _solve("fedsllm_c", scn, state, seed=11)
    assert again.objective == c.objective  # randomness only from the rng argument
    with pytest.raises(ValueError, match="BCD blocks"):
        bcd(tab, initial_point(tab, scn), ("comm", "power"))
    assert set(BLOCKS) == {"comm", "split", "rank"}


# ---------------------------------------------------------------------------------------------
# exact reference
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("server", [{}, SLOW_SERVER], ids=["fast_server", "slow_server"])
def test_exact_pruning_equals_full_enumeration(server):
    """The branch and bound over split vectors agrees with solving every (split, rank) exactly."""
    tiny = {"network.n_devices": 3, "network.n_subchannels": 5, "network.fed_n_subchannels": 5}
    scn = load_scenario("fedsllm", {**tiny, **server})
    for seed in range(2):
        state = sample_state(scn, seed)
        pruned = _solve("fedsllm_exact", scn, state)
        full = _solve("fedsllm_exact", scn, state, prune=False)
        assert full.stats.extra["pruned"] == 0 and pruned.stats.extra["pruned"] > 0
        assert pruned.objective == pytest.approx(full.objective, rel=1e-12)
        if server:  # a slow server makes deep splits optimal: the smallest split is not assumed
            assert full.decision.split.max() > 1


def test_exact_is_never_beaten_on_20_small_instances():
    gaps = {name: [] for name in SOLVERS}
    for seed in range(20):
        scn = load_scenario("fedsllm", {**SMALL, **(SLOW_SERVER if seed % 2 else {})})
        state = sample_state(scn, seed)
        exact = _solve("fedsllm_exact", scn, state)
        assert exact.feasible
        assert exact.objective == pytest.approx(exact.stats.extra["optimum"], rel=1e-12)
        for name in SOLVERS:
            sol = _solve(name, scn, state, seed=seed)
            assert sol.feasible
            gap = sol.objective / exact.objective - 1
            assert gap >= -1e-9, (name, seed, gap)
            gaps[name].append(gap)
    lines = [f"{'solver':<14}{'mean gap':>10}{'max gap':>10}"]
    lines += [f"{n:<14}{100 * np.mean(g):>9.2f}%{100 * np.max(g):>9.2f}%" for n, g in gaps.items()]
    print(
        "\nFedsLLM gap to fedsllm_exact, 20 instances (N = 4, 8 + 8 subchannels):\n"
        + "\n".join(lines)
    )
    assert np.mean(gaps["fedsllm_bcd"]) < 0.01


def test_bcd_near_exact_at_the_preset():
    """The exact search also runs at the preset size (N = 5, 20 + 20 subchannels)."""
    scn = load_scenario("fedsllm")
    gaps = []
    for seed in range(3):
        state = sample_state(scn, seed)
        exact, ours = _solve("fedsllm_exact", scn, state), _solve("fedsllm_bcd", scn, state)
        gaps.append(ours.objective / exact.objective - 1)
        assert -1e-9 <= gaps[-1] < 0.02
    print(
        "\nfedsllm_bcd gap to the exact optimum at the preset: "
        + ", ".join(f"{100 * g:.2f} %" for g in gaps)
    )


# ---------------------------------------------------------------------------------------------
# Fig. 5: total delay against the total bandwidth
# ---------------------------------------------------------------------------------------------


def _fig5(bandwidths_hz, seeds):
    """Total delay of every solver, per bandwidth: {bandwidth: {solver: (n_seeds,) array}}."""
    out = {}
    for bw in bandwidths_hz:
        scn = load_scenario("fedsllm", {"network.bandwidth_hz": bw, "network.fed_bandwidth_hz": bw})
        totals = {name: [] for name in SOLVERS}
        for seed in seeds:
            state = sample_state(scn, seed)
            for name in SOLVERS:
                totals[name].append(_solve(name, scn, state, seed=seed).objective)
        out[bw] = {name: np.asarray(v) for name, v in totals.items()}
    return out


def _report_and_check(results):
    print("\nFedsLLM Fig. 5: mean total delay (h) over seeds, and reductions of fedsllm_bcd")
    gap_b = []
    for bw, r in results.items():
        m = {name: float(v.mean()) for name, v in r.items()}
        row = "  ".join(f"{n.removeprefix('fedsllm_')} {v / 3600:7.2f}" for n, v in m.items())
        cut = 100 * (1 - m["fedsllm_bcd"] / m["fedsllm_a"])
        cut_b = 100 * (1 - m["fedsllm_bcd"] / m["fedsllm_b"])
        gap_b.append(float(np.median(r["fedsllm_b"] / r["fedsllm_bcd"])))
        print(
            f"  B = {bw / 1e6:4.0f} MHz: {row}  | vs a: ours -{cut:.1f} % (paper ~-60 %),"
            f" vs b: -{cut_b:.1f} % (median b/bcd {gap_b[-1]:.3f})"
        )
        for name in SOLVERS[1:]:
            assert m["fedsllm_bcd"] < m[name], (bw, name)
    # "the performance gap between the proposed solution and baseline b gradually narrows":
    # true of the typical drop (the median); a client so far away that it is power-limited
    # gains nothing from more band, so the mean gap can stay flat (seeds 14, 15)
    assert all(x >= y for x, y in itertools.pairwise(gap_b))
    # "latency decreases as the total bandwidth increases"
    delay = [float(r["fedsllm_bcd"].mean()) for r in results.values()]
    assert all(x >= y for x, y in itertools.pairwise(delay))


def test_fig5_bcd_beats_baselines_over_bandwidth():
    _report_and_check(_fig5((10e6, 20e6, 40e6), range(10)))


@pytest.mark.slow
def test_fig5_full_sweep():
    _report_and_check(_fig5((5e6, 10e6, 15e6, 20e6, 25e6, 30e6), range(20)))
