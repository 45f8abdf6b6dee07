"""``joint_exact`` (the flagship's exact reference) against brute force on tiny instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("cvxpy")

from baselines.base import make_solver, problem_family
from baselines.methods.exact import exact_method
from baselines.methods.joint_exact import (
    best_keep_ratio,
    check_structure,
    enumerate_combinations,
)
from splitenv.model import Decision, evaluate_batch
from splitenv.model.compression import bits_per_element
from splitenv.model.constraints import accuracy_shortfall
from splitenv.scenarios import load_scenario, sample_state

TINY = {
    "network.n_devices": 2, "network.n_subchannels": 3, "decision.split_range": (1, 2),
    "workload.rank_choices": (4, 8), "compression.quant_bits_range": (3, 3),
    "decision.default_quant_bits": 3,
    "network.churn_leave_prob": 0.0,
}  # fmt: skip


def _exact(scn, state):
    return make_solver("exact").solve(scn, state, np.random.default_rng(0))


def _grid_rows(scn, combos):
    """Every combination x a grid of powers, shares and clocks, as one decision batch."""
    p_max = scn.network.device_power_w
    f_lo, f_hi = scn.compute.server_freq_hz
    powers = [0.25 * p_max, 0.6 * p_max, p_max]
    shares = np.linspace(0.1, 0.9, 9)
    freqs = [f_lo, 0.5 * (f_lo + f_hi), f_hi]
    rows = []
    for combo, p0, p1, a, f0, f1 in itertools.product(combos, powers, powers, shares, freqs, freqs):
        rows.append({**combo, "power_w": np.array([p0, p1]), "compute_share": np.array([a, 1 - a]),
                     "server_freq_hz": np.array([f0, f1])})  # fmt: skip
    return Decision(**{k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_is_at_least_as_good_as_brute_force_over_a_grid(seed):
    scn = load_scenario("splitlora", TINY)
    state = sample_state(scn, seed)
    sol = _exact(scn, state)
    assert sol.feasible and sol.stats.extra["method"] == "joint_exact"
    ev = evaluate_batch(scn, state, _grid_rows(scn, enumerate_combinations(scn, state)))
    grid_best = float(np.min(np.where(ev.feasible, ev.objective, np.inf)))
    assert sol.objective <= grid_best * (1 + 1e-9)
    assert sol.objective >= 0.8 * grid_best  # the grid is coarse but not far off


@pytest.mark.parametrize("seed", [0, 4])
def test_the_convex_programs_value_is_the_engines_objective(seed):
    """The program's constants come from the engine: its optimum is the engine's number."""
    scn = load_scenario("splitlora", TINY)
    sol = _exact(scn, sample_state(scn, seed))
    assert sol.objective == pytest.approx(sol.stats.extra["program_value"], rel=1e-5)
    assert sol.stats.extra["lower_bound"] <= sol.objective


@pytest.mark.parametrize("seed", [0, 3])
def test_no_feasible_perturbation_of_the_continuous_decisions_improves_it(seed):
    scn = load_scenario("splitlora", TINY)
    state = sample_state(scn, seed)
    sol = _exact(scn, state)
    d, rng = sol.decision, np.random.default_rng(seed)
    p_max, (f_lo, f_hi) = scn.network.device_power_w, scn.compute.server_freq_hz
    b = 400
    power = np.clip(d.power_w * rng.uniform(0.97, 1.03, (b, 2)), 0, p_max)
    share = d.compute_share * rng.uniform(0.97, 1.03, (b, 2))
    share = share / np.maximum(1.0, share.sum(axis=1, keepdims=True))
    freq = np.clip(d.server_freq_hz * rng.uniform(0.97, 1.03, (b, 2)), f_lo, f_hi)
    rep = {k: np.repeat(getattr(d, k), b, axis=0) for k in ("split", "rank", "subchannels",
                                                            "keep_ratio", "quant_bits")}  # fmt: skip
    ev = evaluate_batch(scn, state, Decision(**rep, power_w=power, compute_share=share,
                                             server_freq_hz=freq))  # fmt: skip
    best = np.min(np.where(ev.feasible, ev.objective, np.inf))
    assert best >= sol.objective * (1 - 1e-6)


def test_best_keep_ratio_has_the_fewest_bits_among_feasible_ratios():
    scn = load_scenario("splitlora")
    comp = scn.compression
    rho = np.linspace(*comp.keep_ratio_range, 997)
    for q in (0, 3, 5, 8):
        best = best_keep_ratio(scn, q)
        ok = accuracy_shortfall(scn, rho, np.full(rho.shape, q)) <= 0
        assert accuracy_shortfall(scn, np.asarray(best), np.asarray(q)) <= 0

        def bits(r, q=q):
            return bits_per_element(r, q, dense_bits=16, lossless=True, n_elements=4 * 256 * 2048)

        assert bits(best) <= bits(rho[ok]).min() + 1e-12


def test_energy_budget_variant_meets_its_budget():
    base = load_scenario("splitlora", TINY)
    state = sample_state(base, 0)
    free = _exact(base, state)
    energy = float(free.evaluation.energy_j[0]) * float(free.evaluation.terms["rounds"][0])
    scn = load_scenario(
        "splitlora",
        {**TINY, "objective.energy_weight": 0.0, "objective.energy_budget_j": 0.9 * energy},
    )
    sol = _exact(scn, state)
    assert sol.feasible and sol.evaluation.violations["energy"][0] == 0


def test_flagship_dispatches_to_joint_exact_and_bad_structures_are_named():
    assert problem_family(load_scenario("splitlora")) == "joint"
    assert exact_method(load_scenario("splitlora")) == "joint_exact"
    with pytest.raises(ValueError, match=r"joint_exact needs .*objective\.kind = 'latency'"):
        check_structure(load_scenario("card"))
    big = load_scenario("splitlora", {"network.churn_leave_prob": 0.0})
    with pytest.raises(ValueError, match=r"would enumerate \d+ combinations; allowed: at most"):
        enumerate_combinations(big, sample_state(big, 0))
    few = load_scenario("splitlora", {**TINY, "network.n_subchannels": 1})
    with pytest.raises(ValueError, match=r"1 subchannels cannot give each of 2 active devices"):
        enumerate_combinations(few, sample_state(few, 0))


def test_an_absent_device_gets_nothing_and_the_value_still_matches():
    """Churn: an inactive device takes no subchannel, share or power; the rest is exact."""
    scn = load_scenario("splitlora", {**TINY, "network.n_devices": 3})
    state = sample_state(scn, 1).replace(active=np.array([True, False, True]))
    sol = _exact(scn, state)
    d = sol.decision
    assert sol.feasible and d.subchannels[0, 1] == 0 and d.compute_share[0, 1] == 0
    assert d.power_w[0, 1] == 0 and d.subchannels.sum() == scn.network.n_subchannels
    assert sol.objective == pytest.approx(sol.stats.extra["program_value"], rel=1e-5)
    equal = make_solver("equal").solve(scn, state, np.random.default_rng(0))
    assert sol.objective < equal.objective
