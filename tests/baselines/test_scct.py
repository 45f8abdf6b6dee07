"""SCCT solvers (baselines/scct_*.py) against independent references and the paper's Fig. 9.

Paper: Wang et al., "Split Learning based Cloud-edge-end Collaborative Model Training in
Heterogeneous Networks"; digest: /tmp/digests/scct.md. Run with ``-s`` to see the gap
table and the Fig. 9 numbers.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from baselines.methods.generic import EqualAllocation
from baselines.papers.scct.alg1 import ScctAlg1
from baselines.papers.scct.alns import Scctl, Sccts, Scctt
from baselines.papers.scct.exact import ScctExact, scct_exact
from baselines.papers.scct.opt import Problem, solve
from splitenv import Decision, StateSampler, evaluate, evaluate_batch, load_scenario
from splitenv.allocation.scct_alg1 import _Greedy, alg1, greedy_subcarriers, optimal_shares
from splitenv.allocation.scct_tables import build_tables
from splitenv.model.types import equal_counts

SOLVERS = {
    "scctt": Scctt,
    "scctl": Scctl,
    "sccts": Sccts,
    "scct_alg1": ScctAlg1,
    "equal": EqualAllocation,
}
REL = 1e-9  # tolerance of the exact solver's certificate and of "never beats exact"


def bisect_root(a, c, iters=200):
    """Independent reference for SCCT (24): bisection on sum a / (V - c) = 1, rows of (R, N)."""
    a, c = np.atleast_2d(a), np.atleast_2d(c)
    pos = a > 0
    lo = np.max(np.where(pos, c, -np.inf), axis=1)
    hi = lo + a.sum(axis=1)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(pos, a / (mid[:, None] - c), 0.0).sum(axis=1)
        big = s > 1
        lo, hi = np.where(big, mid, lo), np.where(big, hi, mid)
    alpha = np.where(pos, a / np.where(pos, hi[:, None] - c, 1.0), 0.0)
    return hi, np.clip(alpha, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# compute shares (SCCT P1-3, KKT)
# ---------------------------------------------------------------------------------------------


def test_optimal_shares_matches_independent_bisection():
    rng = np.random.default_rng(0)
    for case in range(300):
        n = int(rng.integers(1, 31))
        a = rng.uniform(1e-3, 1.0, n) * 10.0 ** rng.uniform(-3, 1, n)
        c = rng.uniform(0.0, 2.0, n) * 10.0 ** rng.uniform(-2, 1)
        if case % 3 == 0 and n > 1:
            a[rng.integers(n)] = 0.0  # a device without edge work (s_n = L)
        if case % 5 == 0:
            c[:] = c[0]  # closed form: V = c + sum a
        alpha, v = optimal_shares(a, c)
        v_ref, alpha_ref = bisect_root(a, c)
        assert v == pytest.approx(v_ref[0], rel=1e-9)
        np.testing.assert_allclose(alpha, alpha_ref[0], rtol=1e-9, atol=1e-12)
        assert alpha.sum() == pytest.approx(1.0, abs=1e-12) and np.all(alpha <= 1.0)
        busy = a > 0
        np.testing.assert_allclose(
            c[busy] + a[busy] / alpha[busy], v, rtol=1e-9
        )  # all finish together
        if case % 5 == 0:
            assert v == pytest.approx(c[0] + a.sum(), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Algorithm 1
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["iteration", "epoch", "round", "total"])
def test_alg1_objective_matches_the_engine_for_every_scope(scope):
    scn = load_scenario("scct", {"network.n_devices": 6, "schedule.objective_scope": scope})
    state = StateSampler(scn, 3).state(2, 1, prev_split=[1, 2, 3, 4, 5, 6])
    sol = ScctAlg1(split=[2, 2, 3, 4, 6, 6]).solve(scn, state, np.random.default_rng(0))
    assert sol.feasible
    assert sol.stats.extra["objective_tables"] == pytest.approx(sol.objective, rel=1e-12)
    np.testing.assert_array_equal(sol.decision.split[0], [2, 2, 3, 4, 6, 6])


@pytest.mark.parametrize("n", [10, 30])
@pytest.mark.parametrize("seed", [0, 1])
def test_alg1_objective_is_the_engines_and_beats_equal(n, seed):
    scn = load_scenario("scct", {"network.n_devices": n})
    prev = None if seed == 0 else np.random.default_rng(seed).integers(1, 13, n)
    state = StateSampler(scn, seed).state(1, 0, prev_split=prev)
    sol = ScctAlg1().solve(scn, state, np.random.default_rng(0))
    eq = EqualAllocation().solve(scn, state, np.random.default_rng(0))
    assert sol.feasible
    assert sol.stats.extra["objective_tables"] == pytest.approx(sol.objective, rel=1e-12)
    assert sol.objective <= eq.objective
    assert sol.decision.subchannels.sum() == scn.network.n_subchannels


def test_alg1_speculative_greedy_equals_step_by_step_greedy_and_never_beats_exact():
    for n, seed in [(10, 0), (30, 1), (30, 2)]:
        scn = load_scenario("scct", {"network.n_devices": n})
        prev = np.random.default_rng(seed).integers(1, 13, n) if seed else None
        tab = build_tables(
            scn, StateSampler(scn, seed).state(1, 0, prev_split=prev), np.full((1, n), 4)
        )
        opt = np.zeros(n, dtype=np.int64)
        a, base = tab.edge(opt), tab.chain_base(opt)
        mig = tab.migration(opt) if tab.has_migration else None
        beta, obj = greedy_subcarriers(a, base, mig, tab.weights)
        ref = _Greedy(a, base, mig, tab.weights)
        for _ in range(tab.n_subchannels - n):
            ref.step_exact()
        np.testing.assert_array_equal(beta, ref.beta)
        exact = solve(
            Problem(
                a[None],
                base[None],
                None if mig is None else mig[None],
                np.ones((1, n), bool),
                tab.weights,
            )
        )
        assert obj >= exact.objective * (1 - 1e-12)
        assert exact.lower_bound <= exact.objective


def test_alg1_greedy_with_idle_devices_and_heavy_migration():
    # split 4 = L leaves devices without edge work; J = T = 1 makes migration weigh as much
    # as the chain, so the one-step rule often prefers a migration or idle-device bottleneck
    over = {"network.n_devices": 5, "network.n_subchannels": 30, "model.n_layers": 4,
            "decision.split_range": [1, 4], "decision.default_split": 1,
            "schedule.iterations_per_epoch": 1, "schedule.epochs_per_round": 1}  # fmt: skip
    scn = load_scenario("scct", over)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        state = StateSampler(scn, seed).state(1, 0, prev_split=rng.integers(1, 5, 5))
        split = rng.integers(1, 5, 5)
        split[seed % 5] = 4
        sol = ScctAlg1(split=split).solve(scn, state, rng)
        assert sol.stats.extra["objective_tables"] == pytest.approx(sol.objective, rel=1e-12)
        tab = build_tables(scn, state, split[None])
        opt = np.zeros(5, dtype=np.int64)
        a, base, mig = tab.edge(opt), tab.chain_base(opt), tab.migration(opt)
        ref = _Greedy(a, base, mig, tab.weights)
        for _ in range(30 - 5):
            ref.step_exact()
        np.testing.assert_array_equal(sol.decision.subchannels[0], ref.beta)
        exact = solve(Problem(a[None], base[None], mig[None], np.ones((1, 5), bool), tab.weights))
        assert sol.objective >= exact.objective * (1 - 1e-12)


def test_alg1_speed_n30_k200():
    scn = load_scenario("scct", {"network.n_devices": 30})
    tab = build_tables(scn, StateSampler(scn, 0).state(1, 0), np.full((1, 30), 4))
    opt = np.zeros(30, dtype=np.int64)
    alg1(tab, opt)
    runs = []
    for _ in range(5):
        t = time.process_time()
        alg1(tab, opt)
        runs.append(time.process_time() - t)
    print(f"\nAlg. 1, N = 30, K = 200: {1e3 * min(runs):.2f} ms (CPU, best of 5)")
    assert min(runs) < 0.05


# ---------------------------------------------------------------------------------------------
# the exact solver against brute force
# ---------------------------------------------------------------------------------------------

TINY = {"network.n_devices": 2, "network.n_subchannels": 6, "decision.split_range": [1, 4],
        "decision.default_split": 1}  # fmt: skip
TINY_VARIANTS = [
    {"compute.edge_flops": 3e13},  # devices carry layers
    {"compute.edge_flops": 3e13, "model.n_layers": 4},  # split 4 = L: no edge work
    {"compute.edge_flops": 3e13, "memory.device_memory_bytes": [0.1e9, 0.2e9]},  # memory binds
    # one iteration per round: migration weighs as much as the chain and couples the devices
    {
        "schedule.iterations_per_epoch": 1,
        "schedule.epochs_per_round": 1,
        "compute.edge_flops": 3e13,
        "network.distance_m": [50.0, 600.0],
    },
]


def brute_force(scn, state):
    """Every split and subcarrier vector, shares by bisection, evaluated by the engine."""
    n, k = scn.n_devices, scn.network.n_subchannels
    lo, hi = scn.decision.split_range
    splits = list(itertools.product(range(lo, hi + 1), repeat=n))
    betas = [b for b in itertools.product(range(k + 1), repeat=n) if sum(b) <= k]
    s = np.array([x for x in splits for _ in betas])
    b = np.array([y for _ in splits for y in betas])
    probe = evaluate_batch(
        scn, state, Decision(split=s, subchannels=b, compute_share=np.ones((1, n)))
    )
    a = probe.per_device["server_compute_s"]
    c = probe.per_device["chain_s"] - a
    ok = np.all(np.isfinite(c), axis=1)
    alpha = np.full(a.shape, 1.0 / n)
    alpha[ok] = bisect_root(a[ok], c[ok])[1]
    ev = evaluate_batch(scn, state, Decision(split=s, subchannels=b, compute_share=alpha))
    return float(np.where(ev.feasible, ev.objective, np.inf).min())


@pytest.mark.parametrize("variant", range(len(TINY_VARIANTS)))
def test_exact_equals_brute_force_on_tiny_instances(variant):
    scn = load_scenario("scct", {**TINY, **TINY_VARIANTS[variant]})
    for seed in range(3):
        for prev in (None, [2, 3], [4, 1]):
            state = StateSampler(scn, seed).state(1, 0, prev_split=prev)
            decision, obj, lower = scct_exact(scn, state)
            ref = brute_force(scn, state)
            assert evaluate(scn, state, decision).feasible[0]
            assert obj == pytest.approx(ref, rel=1e-9)
            assert lower <= ref * (1 + 1e-12)
            assert obj - lower <= REL * obj


# ---------------------------------------------------------------------------------------------
# no solver beats the exact optimum; the gap table
# ---------------------------------------------------------------------------------------------

SMALL = {"network.n_subchannels": 12, "decision.split_range": [1, 6]}


def small_instance(seed):
    n = 2 + seed % 3
    extra = {"compute.edge_flops": 3e13} if seed % 4 >= 2 else {}
    scn = load_scenario("scct", {**SMALL, "network.n_devices": n, **extra})
    prev = np.random.default_rng(seed).integers(1, 7, n) if seed % 2 else None
    return scn, StateSampler(scn, seed).state(1, 0, prev_split=prev)


def test_no_solver_beats_exact_and_gap_table():
    # "scctt|state": the ALNS with the state itself as its history (no sampling error)
    gaps = {name: [] for name in [*SOLVERS, "scctt|state"]}
    for seed in range(20):
        scn, state = small_instance(seed)
        exact = ScctExact().solve(scn, state, np.random.default_rng(seed))
        assert exact.feasible
        assert exact.stats.extra["lower_bound"] <= exact.objective
        for name in gaps:
            solver = SOLVERS[name.split("|")[0]]()
            extra = {"history": [state]} if name.endswith("|state") else {}
            sol = solver.solve(scn, state, np.random.default_rng(seed), **extra)
            assert sol.feasible, name
            assert sol.objective >= exact.objective * (1 - REL), (name, seed)
            gaps[name].append(sol.objective / exact.objective - 1.0)
    print("\nSCCT, 20 small instances (N = 2..4, K = 12, splits 1..6): gap to scct_exact")
    print(f"{'solver':<12} {'mean gap %':>11} {'max gap %':>10}")
    for name, g in gaps.items():
        print(f"{name:<12} {100 * np.mean(g):>11.4f} {100 * np.max(g):>10.4f}")
    assert np.mean(gaps["scct_alg1"]) <= np.mean(gaps["equal"])
    assert np.max(gaps["scctt|state"]) <= 1e-9  # the search itself finds the optimum here


# ---------------------------------------------------------------------------------------------
# SCCT Fig. 9: SCCTT below SCCTL and SCCTS (average latency over unseen epochs)
# ---------------------------------------------------------------------------------------------


def fig9_latency(n, seeds, epochs, q=5):
    """Mean objective over ``epochs`` epochs of round 1 per scheme.

    Each scheme picks its split at the start of round 1 from round 0's first q epochs
    (the history); in every evaluation epoch SCCTT and SCCTS allocate by Alg. 1 and
    SCCTL equally (SCCT Sec. V-A).
    """
    scn = load_scenario("scct", {"network.n_devices": n})
    out = {"scctt": [], "scctl": [], "sccts": []}
    for seed in seeds:
        sampler = StateSampler(scn, seed)
        history = [sampler.state(0, t) for t in range(q)]
        evals = [sampler.state(1, t) for t in range(epochs)]
        for name in out:
            split = SOLVERS[name]().solve(
                scn, evals[0], np.random.default_rng(seed), history=history
            )
            split = split.decision.split[0]
            values = []
            for state in evals:
                if name == "scctl":
                    beta = equal_counts(scn.network.n_subchannels, n)
                    d = Decision(split=split, subchannels=beta, compute_share=np.full(n, 1.0 / n))
                    values.append(float(evaluate(scn, state, d).objective[0]))
                else:
                    values.append(
                        alg1(build_tables(scn, state, split[None]), np.zeros(n, np.int64))[2]
                    )
            out[name].append(np.mean(values))
    return {k: float(np.mean(v)) for k, v in out.items()}


def _check_fig9(n, seeds, epochs):
    lat = fig9_latency(n, seeds, epochs)
    iters = 60 * 60
    print(f"\nFig. 9, N = {n}: mean round latency / (T J) [s/iteration]: "
          + ", ".join(f"{k} {v / iters:.4f}" for k, v in lat.items()))  # fmt: skip
    assert lat["scctt"] < lat["scctl"]
    assert lat["scctt"] < lat["sccts"]
    return lat


def test_fig9_ordering_n10():
    _check_fig9(10, seeds=range(2), epochs=5)


@pytest.mark.slow
@pytest.mark.parametrize("n", [20, 30])
def test_fig9_ordering_n20_n30(n):
    _check_fig9(n, seeds=range(3), epochs=10)


# ---------------------------------------------------------------------------------------------
# reproducibility and speed
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["scctt", "scctl", "sccts", "scct_alg1"])
def test_same_seed_same_decision(name):
    scn = load_scenario("scct", {"network.n_devices": 6, "network.n_subchannels": 40})
    state = StateSampler(scn, 7).state(1, 0, prev_split=np.full(6, 3))
    one = SOLVERS[name]().solve(scn, state, np.random.default_rng(11)).decision
    two = SOLVERS[name]().solve(scn, state, np.random.default_rng(11)).decision
    assert one.to_dict() == two.to_dict()


def test_binding_edge_memory():
    # 18 edge layers per device on average: the ALNS repairs must raise splits (SCCT 21-7)
    cap = 6 * 18 * 50_348_032.0
    scn = load_scenario("scct", {"network.n_devices": 6, "memory.edge_memory_bytes": cap})
    state = StateSampler(scn, 0).state(1, 0)
    for cls in (Scctt, Scctl):
        sol = cls().solve(scn, state, np.random.default_rng(0))
        assert sol.feasible and sol.evaluation.terms["edge_memory_bytes"][0] <= cap
    with pytest.raises(ValueError, match="binding edge memory"):
        scct_exact(scn, state)


def test_registry_settings_and_inner_alg1():
    from baselines.base import available, solver_class

    for name in ("scct_alg1", "scctt", "scctl", "sccts", "scct_exact"):
        assert name in available() and solver_class(name).name == name
    with pytest.raises(ValueError, match="unknown ALNS setting"):
        Scctt(tau_typo=3)
    scn, state = small_instance(5)
    sol = Scctt(inner="alg1", q=2).solve(scn, state, np.random.default_rng(0))
    assert sol.feasible and sol.stats.extra["q"] == 2
    assert sol.stats.trace == sorted(sol.stats.trace, reverse=True)  # best-so-far curve
    assert len(sol.stats.trace) == sol.stats.iterations + 1


@pytest.mark.slow
def test_alns_n30_decides_in_under_two_seconds():
    scn = load_scenario("scct", {"network.n_devices": 30})
    state = StateSampler(scn, 0).state(1, 0, prev_split=np.full(30, 4))
    t = time.process_time()
    sol = Scctt().solve(scn, state, np.random.default_rng(0))
    cpu = time.process_time() - t
    print(f"\nSCCTT (ALNS, Q = 5, {sol.stats.iterations} iterations), N = 30: {cpu:.2f} s CPU, "
          f"{sol.stats.wall_time_s:.2f} s wall")  # fmt: skip
    assert cpu < 2.0
