"""Solvers as env policies and the papers' inner allocators through entry points."""

import gymnasium as gym
import numpy as np
import pytest

import splitenv  # noqa: F401  (registers the ids)
from baselines import SolverPolicy, run_episode
from splitenv import allocation as allocators


def test_paper_allocators_are_registered_entry_points():
    names = allocators.available()
    for name in ("paper", "scct_alg1", "sft_sqp", "sft_bisection", "card_frequency", "fedsllm_comm"):
        assert name in names
    with pytest.raises(ValueError, match="unknown allocator 'nope'"):
        allocators.resolve("nope")


@pytest.mark.parametrize(
    ("env_id", "solver"),
    [("splitenv/SCCT-v0", "scct_alg1"), ("splitenv/SFT-v1", "sft_sqp"), ("splitenv/CARD-v0", "card"),
     ("splitenv/FedsLLM-v0", "fedsllm_bcd"), ("splitenv/SplitLLM-v0", "exact")],
)  # fmt: skip
@pytest.mark.parametrize("timescale", ["round", "joint"])
def test_solver_policy_beats_or_equals_equal_allocation(env_id, solver, timescale):
    """Each paper's method, played through the env, costs no more than equal allocation."""
    env = gym.make(env_id, timescale=timescale)
    ours = run_episode(env, SolverPolicy(solver), seed=5)
    equal = run_episode(gym.make(env_id, timescale=timescale), SolverPolicy("equal"), seed=5)
    assert ours.infeasible_steps == 0 and equal.infeasible_steps == 0
    assert ours.total_reference == pytest.approx(equal.total_reference, rel=1e-12)  # same instance
    assert ours.total_cost <= equal.total_cost * (1 + 1e-9)
    # every round closes; FedsLLM-v0 ends at its rounds-to-target before `rounds`
    assert 1 <= len(ours.round_latencies_s) <= env.unwrapped.rounds


def test_paper_allocator_improves_the_round_timescale():
    """The same random large decisions cost less with the paper's inner allocation than with equal shares."""
    costs = {}
    for alloc in ("paper", "equal"):
        env = gym.make("splitenv/CARD-v0", timescale="round", inner_allocator=alloc)
        env.action_space.seed(0)
        env.reset(seed=2)
        costs[alloc] = sum(env.step(env.action_space.sample())[4]["cost"] for _ in range(4))
    assert costs["paper"] < costs["equal"]


def test_epoch_timescale_policy_respects_the_round_split():
    env = gym.make("splitenv/SCCT-v0", timescale="epoch", split_policy="default")
    env.reset(seed=1)
    fields = SolverPolicy("scct_alg1")(env)
    assert set(fields) == set(env.unwrapped.fields)
    _, _, _, _, info = env.unwrapped.step_decision(fields)
    assert info["feasible"]
    assert np.all(
        np.asarray(info["decision"]["split"]) == env.unwrapped.scenario.decision.default_split
    )


@pytest.mark.parametrize("solver", ["sft", "sft_lagrangian", "sft_exact", "exact"])
def test_shared_cut_solvers_accept_the_round_cut(solver):
    """At joint/epoch a shared cut is imposed by restricting the split range for any solver."""
    kw = {"timescale": "joint", "network.n_devices": 4}
    ours = run_episode(gym.make("splitenv/SFT-v1", **kw), SolverPolicy(solver), seed=3)
    assert ours.infeasible_steps == 0 and ours.steps == 12


def test_scct_exact_honors_an_imposed_split():
    import splitenv as se
    from baselines import make_solver

    scn = se.load_scenario(
        "scct", {"network.n_devices": 3, "network.n_subchannels": 9, "decision.split_range": [1, 5]}
    )
    state = se.sample_state(scn, 1)
    fixed = np.array([5, 4, 5])
    exact = make_solver("scct_exact").solve(scn, state, np.random.default_rng(0), split=fixed)
    alg1 = make_solver("scct_alg1").solve(scn, state, np.random.default_rng(0), split=fixed)
    assert np.array_equal(exact.decision.split[0], fixed)
    assert exact.objective <= alg1.objective * (1 + 1e-9)
    free = make_solver("scct_exact").solve(scn, state, np.random.default_rng(0))
    assert free.objective <= exact.objective * (1 + 1e-9)
