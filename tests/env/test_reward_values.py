"""The reward by value, for every registered id and timescale (the env docstring's "Rewards").

    reward = -min(cost / reference, cost_cap)                      (feasible step)
    reward = -(min(cost / reference, cost_cap) + infeasible_penalty)  (infeasible step)

``cost`` is read from ``info``; ``reference`` is recomputed here with an independent call
of the engine (``splitenv.evaluate``) on the step's state(s) with the preset's default
decision and its own previous split (the default; none at the episode's start), composed into the step's latency as the docstring says: an epoch's iterations,
plus the round's start (SCCT (18), SFT (19)) at a round start and its end (adapter
exchange) at its last epoch; barrier sync: ``max_n pre + J iteration + max_n post``
(SCCT (19)-(20), FedsLLM (16)-(17)); independent devices:
``max_n (pre_n + J (chain_n + shared) + post_n)`` (SFT (26)-(27), CARD (10)); CARD's
objective is its normalized cost U (12), summed over the step's epochs.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import splitenv
from splitenv import Decision, StateSampler, evaluate
from splitenv.registration import ENV_IDS
from splitenv.wrappers import BoxAction

#: every registered id; the generic one with a config and overrides (four devices, churn)
CASES = {
    **{eid: {} for eid in ENV_IDS},  # every registered preset id, new ones included
    "splitenv/SplitLoRA-v0+config": {  # the generic id with another config
        "config": "scct",
        "network__n_devices": 4,
        "network__churn_leave_prob": 0.3,
        "network__churn_join_prob": 0.5,
    },
}
TIMESCALES = ("round", "epoch", "joint")
ROUNDS, EPOCHS = 2, 3


def make(env_id, timescale, **kwargs):
    return gym.make(
        env_id.split("+")[0], timescale=timescale, rounds=ROUNDS, epochs_per_round=EPOCHS,
        **{**CASES[env_id], **kwargs},
    )  # fmt: skip


def epoch_cost(scn, ev, first, last, energy_weight=0.0):
    """One epoch's cost of an evaluation (batch row 0), composed as the env docstring says."""
    if scn.objective.kind != "latency":  # CARD: U (12) is the cost
        return float(ev.objective[0])
    j = scn.schedule.iterations_per_epoch
    per = ev.per_device
    pre = per["pre_round_s"][0] if first else np.zeros(scn.n_devices)
    post = per["adapter_s"][0] if last else np.zeros(scn.n_devices)
    if scn.schedule.sync == "independent":
        chain = per["chain_s"][0] + ev.terms["shared_iteration_s"][0]
        latency = float(np.max(pre + j * chain + post))
    else:
        latency = float(pre.max() + j * ev.terms["iteration_s"][0] + post.max())
    # an epoch spends 1/T of the engine's round energy (objectives.scoped_energy)
    return latency + energy_weight * float(ev.energy_j[0]) / scn.schedule.epochs_per_round


def reference_cost(env, states, first_epoch, energy_weight=0.0):
    """Cost of the preset's default decision on the step's states (one per epoch played).

    The reference keeps its own split history: its previous split is the default split from
    the episode's first epoch on (no split before it: -1), whatever the policy played.
    """
    scn = env.unwrapped.scenario
    total = 0.0
    for k, state in enumerate(states):
        t = first_epoch + k
        start = state.round_index == 0 and t == 0
        own = np.full(scn.n_devices, -1 if start else scn.decision.default_split)
        # the default: default split, equal shares, with its own previous split
        ev = evaluate(scn, state.replace(prev_split=own), Decision())
        total += epoch_cost(scn, ev, t == 0, t == EPOCHS - 1, energy_weight)
    return total


def expected_reward(cost, ref, feasible, cap, penalty):
    ratio = min(cost / ref, cap)
    return -ratio if feasible else -(ratio + penalty)


def play(env, actions, seed=0, **check):
    """Step through an episode; return per step (reward, cost, ref, feasible, info)."""
    base = env.unwrapped
    _, reset_info = env.reset(seed=seed)
    sampler = StateSampler(base.scenario, reset_info["episode_seed"], EPOCHS)
    out = []
    for action in actions:
        epoch = base.current_state.epoch_index
        round_index = base.current_state.round_index
        first_state = base.current_state
        _, reward, terminated, truncated, info = env.step(action)
        if base.timescale == "round":  # the env plays every epoch of the round
            split = np.asarray(info["decision"]["split"])
            states = [first_state] + [
                sampler.state(round_index, t, prev_split=split) for t in range(1, EPOCHS)
            ]
            epoch = 0
        else:
            states = [first_state]
        # the env's energy weight defaults to the scenario's (the flagship's 0.01 s/J)
        weight = check.get("energy_weight", base.scenario.objective.energy_weight)
        ref = reference_cost(env, states, epoch, weight)
        assert info["reference_cost"] == pytest.approx(ref, rel=1e-9)
        out.append((reward, info["cost"], ref, info["feasible"], info, states, epoch))
        if terminated or truncated:
            break
    return out


@pytest.mark.parametrize("timescale", TIMESCALES)
@pytest.mark.parametrize("env_id", list(CASES))
def test_reward_is_capped_normalized_cost_plus_penalty(env_id, timescale):
    try:
        env = make(env_id, timescale)
    except ValueError as e:  # documented: a timescale without decisions is refused
        assert "exposes no decision" in str(e)
        assert env_id in ("splitenv/SplitLLM-v0",) and timescale == "epoch"
        return
    env.action_space.seed(1)
    steps = play(env, [env.action_space.sample() for _ in range(ROUNDS * EPOCHS)])
    seen = set()
    ratios = []
    for reward, cost, ref, feasible, _, _, _ in steps:
        assert ref > 0 and math.isfinite(ref)
        assert reward == pytest.approx(expected_reward(cost, ref, feasible, 100.0, 5.0), rel=1e-9)
        seen.add(feasible)
        ratios.append(cost / ref)
    # the sampled actions differ from the default: the ratios are not all 1 (else -sqrt(x)
    # and -x could not be told apart)
    assert any(abs(r - 1.0) > 1e-6 for r in ratios if math.isfinite(r)), ratios

    # the same actions decoded by BoxAction meet every budget: feasible, no penalty
    box = BoxAction(make(env_id, timescale))
    rng = np.random.default_rng(2)
    actions = [rng.uniform(-1, 1, box.action_space.shape) for _ in range(ROUNDS * EPOCHS)]
    box_steps = play(box, actions)
    for reward, cost, ref, feasible, _, _, _ in box_steps:
        if feasible:
            assert reward == pytest.approx(-min(cost / ref, 100.0), rel=1e-9)
        else:
            assert reward == pytest.approx(-(min(cost / ref, 100.0) + 5.0), rel=1e-9)
    box_ratios = [cost / ref for _, cost, ref, *_ in box_steps]
    # a cap between 1 and the smallest ratio above 1 binds on exactly those steps
    above = [r for r in ratios + box_ratios if r > 1.001]
    if above:
        cap = 1.0 + (min(above) - 1.0) / 2
        for wrapped, acts, first in ((False, None, steps), (True, actions, box_steps)):
            env2 = make(env_id, timescale, cost_cap=cap)
            if wrapped:
                env2 = BoxAction(env2)
                again = play(env2, acts)
            else:
                env2.action_space.seed(1)
                again = play(env2, [env2.action_space.sample() for _ in range(ROUNDS * EPOCHS)])
            assert len(again) == len(first)
            for reward, cost, ref, feasible, *_ in again:
                assert reward == pytest.approx(
                    expected_reward(cost, ref, feasible, cap, 5.0), rel=1e-9
                )
                if cost / ref > 1.001:
                    assert reward <= -cap + 1e-12


@pytest.mark.parametrize("timescale", ["epoch", "joint"])
@pytest.mark.parametrize("env_id", list(CASES))
def test_step_cost_is_the_engine_cost_of_the_applied_decision(env_id, timescale):
    """info['cost'] of an epoch step recomputed from info['decision'] on the step's state."""
    try:
        env = BoxAction(make(env_id, timescale))
    except ValueError:
        return  # no epoch decision (checked above)
    rng = np.random.default_rng(4)
    actions = [rng.uniform(-1, 1, env.action_space.shape) for _ in range(ROUNDS * EPOCHS)]
    scn = env.unwrapped.scenario
    for _, cost, _, _, info, states, epoch in play(env, actions):
        decision = Decision(**{k: np.asarray(v) for k, v in info["decision"].items()})
        ev = evaluate(scn, states[0], decision)
        weight = scn.objective.energy_weight  # the env's default weight
        want = epoch_cost(scn, ev, epoch == 0, epoch == EPOCHS - 1, weight)
        assert cost == pytest.approx(want, rel=1e-9)


def _starving_box_action(box, device=0):
    """BoxAction vector giving ``device`` the smallest share of every resource, others the most."""
    a = np.ones(box.action_space.shape)
    i = 0
    base = box.unwrapped
    n = base.scenario.n_devices
    for name in base.fields:
        sub = base.action_space[name]
        dims = (
            n
            if (getattr(sub, "shape", ()) == (n,) or np.shape(getattr(sub, "nvec", 0)) == (n,))
            else 1
        )
        if name in ("subchannels", "bandwidth_hz", "compute_share", "power_w"):
            a[i + device] = -1.0
        if name == "split":
            a[i : i + dims] = -1.0  # the smallest split: the same for the reference's check
        i += dims
    return a


@pytest.mark.parametrize(
    ("env_id", "timescale"),
    [("splitenv/SCCT-v0", "joint"), ("splitenv/SFT-v1", "epoch"), ("splitenv/FedsLLM-v0", "epoch")],
)
def test_cap_binds_on_a_starved_feasible_step(env_id, timescale):
    """A feasible step with cost / reference above the cap is rewarded -cap exactly."""
    env = BoxAction(make(env_id, timescale, cost_cap=2.0))
    steps = play(env, [_starving_box_action(env)])
    reward, cost, ref, feasible, *_ = steps[0]
    assert feasible and cost / ref > 2.0, cost / ref
    assert reward == -2.0
    uncapped = BoxAction(make(env_id, timescale, cost_cap=1e9))
    reward, cost2, ref2, feasible, *_ = play(uncapped, [_starving_box_action(uncapped)])[0]
    assert (cost2, ref2) == (cost, ref) and feasible
    assert reward == pytest.approx(-cost / ref, rel=1e-12)


def test_unserved_device_pays_cap_plus_penalty():
    """No subchannel for device 0: infinite latency, infeasible, -(cap + penalty)."""
    env = make("splitenv/SCCT-v0", "epoch", cost_cap=7.0, infeasible_penalty=3.0)
    env.reset(seed=0)
    n = env.unwrapped.scenario.n_devices
    sub = np.full(n, 20)
    sub[0] = 0
    _, reward, _, _, info = env.step({"subchannels": sub, "compute_share": np.full(n, 1.0 / n)})
    assert not info["feasible"] and math.isinf(info["cost"])
    assert reward == -(7.0 + 3.0)


def test_budget_violation_pays_the_penalty_on_top():
    """More subchannels than K: evaluated as given, the penalty added to the capped ratio."""
    env = make("splitenv/SCCT-v0", "epoch", infeasible_penalty=2.5)
    env.reset(seed=3)
    base = env.unwrapped
    n, k = base.scenario.n_devices, base.scenario.network.n_subchannels
    state = base.current_state
    sub = np.full(n, k // n + 5)  # 50 over the budget
    _, reward, _, _, info = env.step({"subchannels": sub, "compute_share": np.full(n, 1.0 / n)})
    assert not info["feasible"] and info["violations"] == {"subchannels": 50.0}
    ref = reference_cost(env, [state], 0)
    assert reward == pytest.approx(-(min(info["cost"] / ref, 100.0) + 2.5), rel=1e-12)
    assert -reward > 2.5


def test_raw_reward_is_the_ratio_times_the_reference():
    env = make("splitenv/SCCT-v0", "joint", reward_mode="raw")
    env.action_space.seed(0)
    for reward, cost, ref, feasible, *_ in play(env, [env.action_space.sample() for _ in range(6)]):
        assert reward == pytest.approx(
            expected_reward(cost, ref, feasible, 100.0, 5.0) * ref, rel=1e-9
        )


def test_energy_weight_adds_weighted_energy_to_cost_and_reference():
    """cost = latency + energy_weight * energy (the docstring's "Rewards"), SCCT's device energy."""
    kwargs = {"energy_weight": 0.3, "objective__device_energy": True}
    env = BoxAction(make("splitenv/SCCT-v0", "epoch", **kwargs))
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-1, 1, env.action_space.shape) for _ in range(3)]
    steps = play(env, actions, energy_weight=0.3)
    for reward, cost, ref, feasible, info, _, _ in steps:
        assert info["energy_j"] > 0
        assert cost == pytest.approx(info["latency_s"] + 0.3 * info["energy_j"], rel=1e-12)
        assert reward == pytest.approx(expected_reward(cost, ref, feasible, 100.0, 5.0), rel=1e-9)


def test_ids_cover_the_registry():
    assert set(CASES) == set(splitenv.ENV_IDS) | {"splitenv/SplitLoRA-v0+config"}
    assert "splitenv/SplitLoRA-v0" in CASES  # the flagship preset, the generic id's default
