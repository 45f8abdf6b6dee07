"""``lookahead`` (baselines.methods.lookahead): J by hand, its options, and the env playing it."""

from __future__ import annotations

import numpy as np
import pytest

import splitenv as se
from baselines import applicable_solvers, make_solver
from baselines.harness.policy import SolverPolicy, run_episode
from baselines.methods.lookahead import _Plan
from splitenv import Decision, allocation
from splitenv.instances import InstanceReset
from splitenv.registration import make

NAME = "splitlora_dynamic"


def _state(round_index=1, seed=20004, prev=(12, 5, 15, 12, 5, 15)):
    scn = se.load_scenario(NAME)
    return scn, se.StateSampler(scn, seed, 5).state(round_index, 0, prev_split=np.array(prev))


def test_applies_where_a_split_change_costs_a_migration_in_a_round_objective():
    assert "lookahead" in applicable_solvers(se.load_scenario(NAME))
    assert "lookahead" in applicable_solvers(se.load_scenario("scct"))  # SCCT (18), D^r
    for name in ("splitlora", "sft", "card", "fedsllm", "splitllm"):  # no migration, or total
        assert "lookahead" not in applicable_solvers(se.load_scenario(name)), name


def test_planned_cost_is_this_round_then_the_rounds_left_in_place_by_hand():
    """J(x) = C(x | prev) + (R - 1) C(x | x): the engine's round objective of the decision
    (the large fields, equal shares), once from the previous split and R - 1 times in place
    with every device present."""
    scn, state = _state()
    large = Decision(split=np.ones((1, 6), dtype=np.int64), rank=np.array([2]),
                     keep_ratio=np.array([0.2]), quant_bits=np.array([4]))  # fmt: skip
    plan = _Plan(scn, state, large, allocation.resolve("paper"), 8)
    x = np.array([12, 1, 15, 1, 1, 15])
    d = Decision(split=x, rank=np.int64(2), keep_ratio=np.float64(0.2), quant_bits=np.int64(4))
    now = se.evaluate(scn, state, d).objective[0]
    later = se.evaluate(scn, state.replace(prev_split=x, active=np.ones(6, bool)), d).objective[0]
    assert plan.value(x) == pytest.approx(now + 8 * later, rel=1e-12)
    assert now > se.evaluate(scn, state.replace(prev_split=x), d).objective[0]  # a migration


def test_rounds_left_one_is_a_snapshot_that_may_stay():
    """With one round left the plan is this round's cost alone: never worse there than the
    previous split (a start) nor than the snapshot solver's own split."""
    scn, state = _state()
    rng = np.random.default_rng(0)
    sol = make_solver("lookahead").solve(scn, state, rng, rounds_left=1)
    hold = make_solver("bcd").solve(scn, state, rng, split=state.prev_split)
    stay = se.evaluate(scn, state, Decision(split=state.prev_split, rank=hold.decision.rank[0],
                       keep_ratio=hold.decision.keep_ratio[0], quant_bits=hold.decision.quant_bits[0]))  # fmt: skip
    assert sol.feasible and sol.stats.extra["rounds_left"] == 1
    assert sol.stats.extra["planned_cost"] <= stay.objective[0] * (1 + 1e-9)


@pytest.mark.parametrize(
    ("options", "match"),
    [({"rounds_left": 0}, "rounds_left"), ({"rounds_left": 2.5}, "rounds_left"),
     ({"horizon": 3}, "unknown option 'horizon'")],
)  # fmt: skip
def test_bad_options_are_config_errors(options, match):
    scn, state = _state()
    with pytest.raises(se.ConfigError, match=match):
        make_solver("lookahead").solve(scn, state, np.random.default_rng(0), **options)


def test_solver_policy_passes_the_rounds_left_and_the_env_allocator():
    seen = []

    class Spy:
        name = "spy"
        plans_ahead = True

        def solve(self, scenario, state, rng, **options):
            seen.append((int(state.round_index), options))
            return make_solver("equal").solve(scenario, state, rng)

    run_episode(make(NAME, rounds=3, epochs_per_round=1), SolverPolicy(Spy()), seed=1)
    assert [r for r, _ in seen] == [0, 1, 2]
    assert [o["rounds_left"] for _, o in seen] == [3, 2, 1]  # this round included
    assert all(callable(o["allocator"]) for _, o in seen)


def test_lookahead_beats_the_snapshot_bcd_on_two_test_seeds():
    """Absolute episode cost (s), 10 rounds: re-solving every round with bcd pays migrations a
    round's gain seems to cover and misses those the rounds left pay for."""
    for seed in (20003, 20017):
        costs = {
            m: run_episode(InstanceReset(make(NAME)), SolverPolicy(m, seed=seed), seed).total_cost
            for m in ("bcd", "lookahead")
        }
        assert costs["lookahead"] < 0.97 * costs["bcd"], (seed, costs)
