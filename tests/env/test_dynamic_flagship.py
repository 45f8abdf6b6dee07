"""The dynamic flagship ``splitlora_dynamic`` (issue 13): its id, its dynamics, its migration cost,
and the classical methods on it as snapshot re-solvers."""

from __future__ import annotations

import dataclasses
import itertools

import gymnasium as gym
import numpy as np
import pytest

import splitenv
from baselines.harness.policy import SolverPolicy, run_episode
from splitenv import Decision, evaluate_batch
from splitenv.registration import ENV_KWARGS, env_id, make, make_vec

NAME = "splitlora_dynamic"


def test_preset_loads_as_the_flagship_with_dynamics_and_migration():
    dyn, flag = splitenv.load_scenario(NAME), splitenv.load_scenario("splitlora")
    assert (dyn.name, dyn.version, dyn.id_name) == (NAME, 1, "SplitLoRADynamic")
    assert dyn.network.fading_correlation == 0.99 > flag.network.fading_correlation
    assert (dyn.network.churn_leave_prob, dyn.network.churn_join_prob) == (0.02, 0.2)
    assert dyn.schedule.migration and not flag.schedule.migration
    assert dyn.schedule.objective_scope == "round"
    comp = dyn.compute  # a Jetson AGX Orin 64GB edge, counted as the device classes are
    assert comp.server_flops_per_cycle * comp.server_freq_hz[1] == pytest.approx(5.32e12, rel=1e-3)
    assert comp.server_power_coeff * comp.server_freq_hz[1] ** 3 == pytest.approx(60.0, rel=1e-3)
    assert dyn.memory.edge_memory_bytes == 48e9
    assert (comp.device_availability, comp.availability_step) == ((0.2, 1.0), 0.06)
    assert comp.availability_start == "high"
    # everything else is the flagship's (base: splitlora)
    assert dyn.model == flag.model and dyn.devices == flag.devices and dyn.decision == flag.decision
    assert dyn.workload == flag.workload and dyn.objective == flag.objective
    assert splitenv.StateSampler(dyn, 0).dynamic


def test_an_equal_share_of_the_edge_is_comparable_to_a_device():
    """Six equal shares of 5.32 TFLOP/s: 0.89 each, between a phone's 1.0 x 0.2 and 1.0."""
    scn = splitenv.load_scenario(NAME)
    share = scn.compute.edge_flops / scn.n_devices
    lo, hi = scn.compute.device_availability
    for flops in scn.devices.flops[:2]:  # phone, Jetson Orin Nano
        assert lo * flops < share < hi * flops


def test_env_id_works_in_make_and_make_vec():
    eid = env_id(NAME)
    assert eid == "splitenv/SplitLoRADynamic-v1"
    env = gym.make(eid)
    base = env.unwrapped
    assert base.scenario.name == NAME
    assert (base.rounds, base.epochs_per_round) == (10, 5) == tuple(ENV_KWARGS[NAME].values())
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    vec = make_vec(NAME, 2)
    obs, _ = vec.reset(seed=1)
    assert obs.shape == (2, *env.observation_space.shape)
    _, reward, *_ = vec.step(vec.action_space.sample())
    assert reward.shape == (2,) and np.all(np.isfinite(reward))
    vec.close()


def test_fading_is_strongly_correlated_and_devices_churn():
    sampler = splitenv.StateSampler(splitenv.load_scenario(NAME), 3, epochs_per_round=5)
    states = [sampler.state(r, t) for r in range(40) for t in range(5)]
    gain = np.log(np.array([s.channel_gain for s in states]))  # (200, N)
    lag1 = np.mean([np.corrcoef(gain[:-1, n], gain[1:, n])[0, 1] for n in range(gain.shape[1])])
    assert lag1 > 0.9  # i.i.d. fading gives ~0 (tests/test_dynamics.py)
    active = np.array([s.active for s in states])
    assert not active.all() and active.mean() > 0.7  # some leave, most are present


def test_device_compute_starts_at_its_class_peak_and_wanders_down_by_hand():
    """Availability 1 at the start (idle, cool devices), then a walk of N(0, 0.06) steps per
    epoch reflected in [0.2, 1] (splitenv.draws.availability), from the dynamics stream
    after the fading and churn draws; the device's FLOP/s is its class's times it."""
    from splitenv.draws import reflect

    scn = splitenv.load_scenario(NAME)
    seed, n = 20000, scn.n_devices
    peak = np.asarray(scn.devices.flops)[list(scn.devices.of_devices(n))]
    sampler = splitenv.StateSampler(scn, seed, 5)
    u = np.ones(n)
    for g in range(4):
        if g:
            rng = np.random.default_rng(np.random.SeedSequence([seed, 3, g]))
            rng.normal(size=(2, n)), rng.normal(size=(2, n)), rng.uniform(size=n)
            u = reflect(u + rng.normal(0.0, 0.06, n), 0.2, 1.0)
        np.testing.assert_allclose(sampler.state(0, g).device_flops, peak * u, rtol=1e-15)
    # over the 50 epochs of the test set's episodes: down from 1 on average, inside the range
    u = np.array(
        [
            splitenv.StateSampler(scn, s, 5).state(r, t).device_flops / peak
            for s in range(20000, 20020)
            for r in (0, 9)
            for t in (0, 4)
        ]
    ).reshape(20, 4, n)
    assert np.all(u[:, 0] == 1.0) and u.min() >= 0.2
    assert 0.6 < u[:, 3].mean() < 0.85  # E|walk| after 49 steps of 0.06 from the top: ~0.33


def test_the_best_split_moves_and_a_move_pays_over_the_rounds_left_only():
    """Test seed 20004: the split planned at round 0 (phones 12 layers, their memory's limit;
    Jetsons an interior 5; laptops 15) is no longer the best at round 1, where phone 3 slowed to
    0.66 of its peak. Moving (phone 3 and the Jetsons give their layers back) gains G per round
    and costs a migration M with G < M < 9 G: a snapshot (one round left) stays, ``lookahead``
    with the 9 rounds left moves."""
    from baselines.base import make_solver
    from baselines.methods.lookahead import _Plan
    from splitenv import allocation

    scn = splitenv.load_scenario(NAME)
    sampler, rng = splitenv.StateSampler(scn, 20004, 5), np.random.default_rng(0)
    planner = make_solver("lookahead")
    first = planner.solve(scn, sampler.state(0, 0), rng, rounds_left=10).decision.split[0]
    np.testing.assert_array_equal(first, [12, 5, 15, 12, 5, 15])
    state = sampler.state(1, 0, prev_split=first)
    snapshot = planner.solve(scn, state, rng, rounds_left=1).decision.split[0]
    np.testing.assert_array_equal(snapshot, first)  # one round's gain does not pay the move
    moved = planner.solve(scn, state, rng, rounds_left=9).decision.split[0]
    np.testing.assert_array_equal(moved, [12, 1, 15, 1, 1, 15])
    snap = make_solver("bcd").solve(scn, state, rng)
    plan = _Plan(scn, state, snap.decision, allocation.resolve("paper"), 0)
    gain = plan.steady(first[None])[0] - plan.steady(moved[None])[0]
    migration = (
        plan.round_cost(plan._first, moved[None], first[None])[0]
        - plan.round_cost(plan._first, moved[None], moved[None])[0]
    )
    assert 0 < gain < migration < 9 * gain
    assert migration > 100.0  # s: 11 layers of 0.973 Gbit over the phone's uplink


def test_a_split_change_costs_the_migration_of_scct_18_by_hand():
    """Device 0 takes two more layers (down), device 1 gives one back (up), the others stay.

    A Llama-3.2-1B block: q, o 2048^2 each, k, v 2048 x 512 each (8 KV heads of 64), SwiGLU
    3 x 2048 x 8192, two RMSNorms 2 x 2048: 60,821,504 parameters x 16 bits = 973,144,064 bits.
    """
    scn = splitenv.load_scenario(NAME)
    prev = np.array([1, 3, 2, 2, 2, 2])
    split = np.array([3, 2, 2, 2, 2, 2])
    state = splitenv.StateSampler(scn, 5, 5).state(1, 0, prev_split=prev)
    state = state.replace(active=np.ones(6, dtype=bool)) if not state.active.all() else state
    sub = np.array([4, 4, 3, 3, 3, 3])
    power = np.full(6, 0.1)
    d = Decision(split=split, rank=np.int64(8), subchannels=sub, power_w=power)
    ev = evaluate_batch(scn, state, d)
    block_bits = 60_821_504 * 16
    n0 = 10 ** (-174 / 10) / 1000  # W/Hz
    width = sub * 1e6  # 20 MHz / 20 subchannels
    p_edge = 10 ** (43 / 10) / 1000  # 43 dBm, each device's downlink (downlink_power per_device)
    g = state.channel_gain
    down = width[0] * np.log2(1 + p_edge * g[0] / (n0 * width[0]))
    up = width[1] * np.log2(1 + 0.1 * g[1] / (n0 * width[1]))
    expected = np.array([2 * block_bits / down, block_bits / up, 0, 0, 0, 0])
    np.testing.assert_allclose(ev.per_device["pre_round_s"][0], expected, rtol=1e-9)
    assert expected[0] > 1.0  # seconds: a migration is not negligible
    # and the env charges it: the round after a split change starts with it
    same = evaluate_batch(scn, state, d.replace(split=prev))
    assert np.all(same.per_device["pre_round_s"] == 0)


def test_env_passes_the_last_rounds_split_to_the_next_round():
    env = make(NAME, rounds=2, epochs_per_round=2, inner_allocator="equal")
    env.reset(seed=4)
    base = env.unwrapped
    first = np.array([1, 2, 3, 1, 2, 3])
    base.step_decision({"split": first, "rank": np.int64(8)})
    np.testing.assert_array_equal(base.current_state.prev_split, first)
    moved = first + 1
    _, _, _, _, info = base.step_decision({"split": moved, "rank": np.int64(8)})
    kept = make(NAME, rounds=2, epochs_per_round=2, inner_allocator="equal")
    kept.reset(seed=4)
    kept.unwrapped.step_decision({"split": first, "rank": np.int64(8)})
    _, _, _, _, same = kept.unwrapped.step_decision({"split": first, "rank": np.int64(8)})
    assert info["latency_s"] > same["latency_s"]  # moving every device costs its migration


class _Counting(SolverPolicy):
    """A SolverPolicy recording the round, the previous split and the split of each solve."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[tuple[int, np.ndarray, np.ndarray]] = []

    def __call__(self, env, obs=None):
        state = env.unwrapped.current_state
        fields = super().__call__(env, obs)
        self.seen.append((int(state.round_index), state.prev_split.copy(), fields["split"]))
        return fields


@pytest.mark.parametrize("solver", ["bcd"])
def test_classical_methods_are_snapshot_re_solvers(solver):
    """Every round the solver solves that round's first state alone (its split from last round
    in ``prev_split``, nothing of the rounds to come): the snapshot baseline of issue 13."""
    policy = _Counting(solver)
    result = run_episode(make(NAME, rounds=3), policy, seed=20000)
    assert [r for r, _, _ in policy.seen] == [0, 1, 2]  # one solve per round, no look-ahead
    assert np.all(policy.seen[0][1] == -1)  # no split before the first round
    for (_, _, chosen), (_, prev, _) in itertools.pairwise(policy.seen):
        np.testing.assert_array_equal(prev, chosen)  # it saw the split it chose last round
    assert result.steps == 3 and result.infeasible_steps == 0
    assert result.total_cost < result.total_reference  # it beats the default decision


def test_the_reference_cost_does_not_depend_on_the_policys_splits():
    totals = []
    for method in ("equal", "fixed_split"):
        env = make(NAME, rounds=3, epochs_per_round=2)
        totals.append(run_episode(env, SolverPolicy(method), seed=20000).total_reference)
    assert totals[1] == pytest.approx(totals[0], rel=1e-9)  # the same states, the same reference


def _reference_by_round(splits, seed=3):
    """Play splitlora_dynamic (equal shares inside) with a split per round; per round: the
    reference cost, the episode seed and the states' previous splits."""
    env = make(NAME, rounds=len(splits), epochs_per_round=2, inner_allocator="equal")
    _, info = env.reset(seed=seed)
    base, out = env.unwrapped, []
    for split in splits:
        prev = base.current_state.prev_split.copy()
        _, _, _, _, step = base.step_decision({"split": np.asarray(split), "rank": np.int64(8)})
        out.append((float(step["reference_cost"]), prev))
    return out, int(info["episode_seed"]), base


def test_a_moving_policy_gets_the_reference_of_a_policy_keeping_the_default_split():
    """By hand: the reference (default split 1, equal shares) keeps its own split, so its
    migration SCCT (18) |1 - 1| = 0 in every round, and its cost is the one of the policy that
    never moves; before the fix it paid |s_prev - 1| blocks from the moving policy's split."""
    n = 6
    moving = [np.full(n, 1 + 2 * r) for r in range(1, 5)]  # 3, 5, 7, 9 layers: moves each round
    keeping = [np.ones(n, dtype=np.int64)] * 4  # the default split, every round
    moved, seed, base = _reference_by_round(moving)
    kept, _, _ = _reference_by_round(keeping)
    assert [ref for ref, _ in moved] == [ref for ref, _ in kept]  # bit for bit, every round
    assert all(np.all(prev == moving[r - 1]) for r, (_, prev) in enumerate(moved) if r)
    # the reference's round, composed by hand from the engine's terms (the env docstring's
    # Rewards): max_n pre_n at the round start, J iteration_t per epoch, max_n post_n at the
    # end, and 1/T of the round's energy per epoch (T: the preset's epochs per round)
    scn = base.scenario
    j, weight = scn.schedule.iterations_per_epoch, scn.objective.energy_weight
    sampler = splitenv.StateSampler(scn, seed, 2)
    for r, (ref, prev) in enumerate(moved):
        own = np.full(n, -1 if r == 0 else 1)  # no split before round 0, then its own
        total = 0.0
        for t in range(2):
            state = sampler.state(r, t, prev_split=own if t == 0 else np.ones(n, dtype=np.int64))
            ev = evaluate_batch(scn, state, Decision())
            assert np.all(ev.per_device["pre_round_s"] == 0)  # the reference never migrates
            pre = ev.per_device["pre_round_s"][0].max() if t == 0 else 0.0
            post = ev.per_device["adapter_s"][0].max() if t == 1 else 0.0
            energy = float(ev.energy_j[0]) / scn.schedule.epochs_per_round
            total += pre + j * float(ev.terms["iteration_s"][0]) + post + weight * energy
        assert ref == pytest.approx(total, rel=1e-12)
        if r:  # what the bug charged: the default split on the moving policy's state
            state = sampler.state(r, 0, prev_split=prev)
            biased = evaluate_batch(scn, state, Decision())
            assert biased.per_device["pre_round_s"][0][state.active].min() > 1.0  # seconds


def test_the_vector_env_gives_the_reference_its_own_split_too():
    """The native vector env's reference rows: the single env's, bit for bit, with a moving
    policy in one env and the default split (index 0) in the other, the same seed."""
    kwargs = {"rounds": 3, "epochs_per_round": 2, "inner_allocator": "equal"}
    vec = make_vec(NAME, 2, **kwargs)
    vec.reset(seed=[3, 3])
    single = make(NAME, **kwargs)
    single.reset(seed=3)
    n, refs = 6, []
    for r in range(3):
        moving = {"split": np.full(n, 2 + 2 * r), "rank": 0, "quant_bits": 0, "keep_ratio": [1.0]}
        keeping = {**moving, "split": np.zeros(n, dtype=np.int64)}
        both = {k: np.stack([np.asarray(moving[k]), np.asarray(keeping[k])]) for k in moving}
        _, _, _, _, info = vec.step(both)
        _, _, _, _, one = single.step({k: np.asarray(v) for k, v in moving.items()})
        refs.append((*info["reference_cost"], one["reference_cost"]))
    vec.close()
    refs = np.array(refs)
    np.testing.assert_array_equal(refs[:, 0], refs[:, 1])  # moving or not: the same reference
    np.testing.assert_array_equal(refs[:, 0], refs[:, 2])  # the single env's


def test_the_vector_envs_reference_rows_of_some_envs_are_those_of_all():
    """The rows of the envs that play (autoreset leaves some out) as in the whole batch: the
    policy's previous splits, then the reference's own (the default, 1, after round 0)."""
    vec = make_vec(NAME, 4, rounds=3, epochs_per_round=2, inner_allocator="equal")
    vec.action_space.seed(0)
    vec.reset(seed=5)
    for _ in range(2):  # into round 2: the previous splits are the policies' round-1 splits
        vec.step(vec.action_space.sample())
    ep, some = vec.unwrapped._ep, np.array([1, 3])
    every, part = ep.reference_states(np.arange(4)), ep.reference_states(some)
    rows = np.concatenate([some, some + 4])
    for field in dataclasses.fields(every):
        np.testing.assert_array_equal(getattr(every, field.name)[rows], getattr(part, field.name))
    assert np.all(part.prev_split[2:] == 1) and np.any(part.prev_split[:2] != 1)
    vec.close()
