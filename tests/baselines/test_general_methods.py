"""The general methods (alns, sqp, bcd, de, random_search) on every registered scenario.

The full 20-seed gap table and the time vs N are in benchmarks/general_methods.py; here:
feasibility on every scenario, the budget and trace contract, bad input, determinism, the
infeasibility report, the exactness of the subchannel relaxation, and gaps to the exact
references on a few small instances.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import splitenv as se
from baselines import applicable_solvers, make_solver
from baselines.methods.evaluator import Evaluator
from baselines.methods.search_space import Space, decode, dimension
from baselines.methods.sqp import Relaxation
from splitenv.errors import ConfigError, UnknownNameError

GENERAL = ("alns", "sqp", "bcd", "de", "random_search")
#: small instances (N <= 4); a scenario not listed (a new preset) runs with N = 4
SMALL = {
    "scct": {"network.n_devices": 3, "network.n_subchannels": 9, "decision.split_range": [1, 5]},
    "sft": {"network.n_devices": 4},
    "card": {},
    "fedsllm": {"network.n_devices": 3, "network.n_subchannels": 6, "network.fed_n_subchannels": 6},
    "splitllm": {"network.n_devices": 4, "network.n_edge_servers": 2},
    # joint_exact enumerates 5^3 splits x 10 subchannel compositions x 4 ranks x 8 bit widths
    "splitlora": {
        "network.n_devices": 3,
        "network.n_subchannels": 6,
        "decision.split_range": [1, 5],
    },
}
SCENARIOS = se.list_scenarios()
BUDGET = 400


def small(name: str) -> se.Scenario:
    return se.load_scenario(name, SMALL.get(name, {"network.n_devices": 4}))


def test_general_methods_apply_to_every_scenario():
    for name in SCENARIOS:
        offered = applicable_solvers(se.load_scenario(name))
        assert set(GENERAL) <= set(offered), name


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("method", GENERAL)
def test_feasible_within_budget_with_a_consistent_trace(name, method):
    scn = small(name)
    for seed in (0, 1):
        state = se.sample_state(scn, seed)
        sol = make_solver(method, budget=BUDGET).solve(scn, state, np.random.default_rng(seed))
        equal = make_solver("equal").solve(scn, state, np.random.default_rng(seed))
        assert sol.feasible and sol.stats.extra["feasible"], (name, method, seed)
        # the default decision is scored first, so a method never ends worse than equal
        assert sol.objective <= equal.objective * (1 + 1e-12)
        assert sol.stats.evaluations <= BUDGET + 1  # + the final re-evaluation
        anytime = sol.stats.extra["anytime"]
        counts = [n for n, _ in anytime]
        best = [b for _, b in anytime]
        assert counts == sorted(counts) and counts[-1] <= BUDGET
        assert all(b2 <= b1 for b1, b2 in itertools.pairwise(best))
        assert sol.stats.trace == best
        assert sol.stats.extra["trace_gap"] == 0.0
        assert sol.objective == best[-1]
        assert sol.stats.wall_time_s > 0


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "100"])
def test_bad_budget_is_a_config_error_naming_it(bad):
    with pytest.raises(ConfigError, match="budget"):
        make_solver("bcd", budget=bad)
    scn = small("card")
    with pytest.raises(ConfigError, match="budget"):
        make_solver("alns").solve(
            scn, se.sample_state(scn, 0), np.random.default_rng(0), budget=bad
        )


def test_the_default_budget_grows_with_the_devices():
    """alns, sqp and bcd: 3000, 120 per device from N = 25 to 100, then flat; black boxes flat."""
    few, many = small("card"), se.load_scenario("card", {"network.n_devices": 50})
    most = se.load_scenario("card", {"network.n_devices": 300})
    for method in ("alns", "sqp", "bcd"):
        assert make_solver(method).default_for(few) == 3000
        assert make_solver(method).default_for(many) == 6000
        assert make_solver(method).default_for(most) == 12_000
        assert make_solver(method, budget=50).budget == 50
    for method in ("de", "random_search"):
        assert make_solver(method).default_for(many) == 2000
    sol = make_solver("bcd").solve(few, se.sample_state(few, 0), np.random.default_rng(0))
    assert sol.stats.extra["budget"] == 3000


def test_unknown_method_and_option():
    with pytest.raises(UnknownNameError, match="alnss"):
        make_solver("alnss")
    scn = small("card")
    with pytest.raises(ConfigError, match="temperature"):
        make_solver("sqp").solve(
            scn, se.sample_state(scn, 0), np.random.default_rng(0), temperature=1
        )


def test_scenario_without_a_decision_is_an_error_naming_method_and_scenario():
    scn = se.load_scenario(
        "card",
        {
            "decision.split_range": [4, 4], "decision.default_split": 4,
            "compute.server_freq_hz": [2.0e9, 2.0e9],
        },
    )  # fmt: skip
    for method in GENERAL:
        with pytest.raises(ConfigError, match=rf"{method}.*card.*no decision"):
            make_solver(method).solve(scn, se.sample_state(scn, 0), np.random.default_rng(0))


@pytest.mark.parametrize("method", GENERAL)
def test_deterministic_for_a_fixed_rng(method):
    scn = small("scct")
    state = se.sample_state(scn, 3)
    a = make_solver(method, budget=BUDGET).solve(scn, state, np.random.default_rng(7))
    b = make_solver(method, budget=BUDGET).solve(scn, state, np.random.default_rng(7))
    assert a.decision.to_dict() == b.decision.to_dict()
    assert a.stats.extra["anytime"] == b.stats.extra["anytime"]


def test_fewer_subchannels_than_devices_is_reported_infeasible_with_the_reason():
    scn = se.load_scenario(
        "fedsllm",
        {"network.n_devices": 5, "network.n_subchannels": 3, "network.fed_n_subchannels": 6},
    )
    state = se.sample_state(scn, 0)
    for method in ("bcd", "sqp", "alns"):
        sol = make_solver(method, budget=200).solve(scn, state, np.random.default_rng(0))
        assert not sol.feasible and sol.stats.extra["feasible"] is False
        assert "3 subchannels for 5 active devices" in sol.stats.extra["reason"]
        assert "no time sharing" in sol.stats.extra["reason"]


def test_an_unmeetable_budget_is_reported_infeasible_with_the_excess():
    """Never silent: the report says infeasible, which constraint and by how much."""
    scn = se.load_scenario("splitlora", {"network.n_devices": 3, "objective.energy_budget_j": 1.0})
    state = se.sample_state(scn, 0)
    for method in GENERAL:
        sol = make_solver(method, budget=200).solve(scn, state, np.random.default_rng(0))
        assert not sol.feasible and sol.stats.extra["feasible"] is False, method
        excess = sol.stats.extra["violations"]["energy"]
        assert excess > 0 and excess == pytest.approx(sol.evaluation.violations["energy"][0])
        assert f"energy by {excess:.6g}" in sol.stats.extra["reason"], method


def test_the_epoch_split_option_is_kept():
    scn = small("scct")
    state = se.sample_state(scn, 0)
    split = np.array([2, 3, 1])
    for method in ("bcd", "sqp", "alns"):
        sol = make_solver(method, budget=200).solve(
            scn, state, np.random.default_rng(0), split=split
        )
        np.testing.assert_array_equal(sol.decision.split[0], split)
        assert sol.feasible


@pytest.mark.parametrize("name", SCENARIOS)
def test_decoded_points_meet_every_budget(name):
    scn = se.load_scenario(name)
    state = se.sample_state(scn, 0)
    space = Space.build(scn, state, "test")
    rng = np.random.default_rng(0)
    points = [decode(space, u) for u in rng.random((64, dimension(space)))]
    ev = se.evaluate_batch(
        scn, state, se.Decision(**{k: np.stack([p[k] for p in points]) for k in points[0]})
    )
    for key in ("subchannels", "fed_subchannels", "bandwidth", "compute_share", "device_power",
                "total_power", "fed_device_power", "fed_total_power", "device_memory"):  # fmt: skip
        if key in ev.violations:
            assert not ev.violations[key].any(), (name, key)


def test_subchannel_relaxation_is_exact_at_integer_counts():
    """A count c of K scores in the M-times finer pool as c M of K M (same band, same cost)."""
    scn = small("scct")
    state = se.sample_state(scn, 0)
    space = Space.build(scn, state, "sqp")
    ev = Evaluator(scn, state, 10_000)
    point = dict(space.start, subchannels=np.array([2, 3, 4]))
    rel = Relaxation(space, ev, point)
    z = rel.encode(point)
    relaxed = ev.scores([rel.decode(z, relaxed=True)], scenario=rel.fine)[0]
    exact = ev.scores([rel.decode(z, relaxed=False)])[0]
    assert relaxed == pytest.approx(exact, rel=1e-12)
    np.testing.assert_array_equal(rel.decode(z, relaxed=False)["subchannels"], [2, 3, 4])


#: small instances where the exact references take about a second
GAP_SEEDS = {"scct": (0, 1), "card": (0, 1), "fedsllm": (0, 1), "splitllm": (0, 1), "sft": (0,),
             "splitlora": (0,)}  # fmt: skip
PAPER = {"scct": "scctt", "sft": "sft", "card": "card", "fedsllm": "fedsllm_bcd"}


@pytest.mark.parametrize("name", sorted(GAP_SEEDS))
def test_gaps_to_exact_and_to_the_paper_method(name):
    scn = small(name)
    for seed in GAP_SEEDS[name]:
        state = se.sample_state(scn, seed)
        exact = make_solver("exact").solve(scn, state, np.random.default_rng(seed)).objective
        values = {
            m: make_solver(m).solve(scn, state, np.random.default_rng(seed)).objective
            for m in ("alns", "sqp", "bcd")
        }
        assert min(values.values()) <= exact * 1.01, (name, seed, values, exact)
        assert all(v >= exact * (1 - 1e-9) for v in values.values())  # exact is never beaten
        if name in PAPER:
            paper = (
                make_solver(PAPER[name]).solve(scn, state, np.random.default_rng(seed)).objective
            )
            for m, v in values.items():
                assert v <= paper * 1.02, (name, seed, m, v, paper)


@pytest.mark.parametrize("method", GENERAL)
def test_a_device_away_at_the_decision_gets_a_split_within_its_memory(method):
    """Churn: a device absent now returns within the round with the split chosen now, so the
    general methods keep its split within its memory although the engine charges it none."""
    from splitenv.model import constraints
    from splitenv.model.engine import feasible_splits, split_grid

    scn = se.load_scenario("splitlora_dynamic", {"network.n_devices": 3})
    state = se.sample_state(scn, 0)
    # device 0's memory holds the middle of the split range, not more
    need = constraints.tier_memory(scn, state, split_grid(scn))["device"][:, 0]
    memory = np.array(state.device_memory_bytes, dtype=float)
    memory[0] = need[need.size // 2]
    present = state.replace(device_memory_bytes=memory)
    away = present.replace(active=np.array([False, True, True]))
    lo = scn.decision.split_range[0]
    fits = lo + np.flatnonzero(feasible_splits(scn, present)[:, 0])
    assert fits.max() < lo + need.size - 1  # the memory binds
    assert feasible_splits(scn, away)[:, 0].all()  # the engine's own mask: away holds nothing
    sol = make_solver(method, budget=BUDGET).solve(scn, away, np.random.default_rng(0))
    chosen = np.asarray(sol.decision.split).reshape(-1, scn.n_devices)[:, 0]
    assert set(chosen.tolist()) <= set(fits.tolist()), (chosen, fits)
