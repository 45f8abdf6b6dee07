"""One state per batch row: evaluate_batch with a StateBatch equals K single-state calls bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from splitenv.errors import StateError
from splitenv.model import Decision, StateBatch, evaluate_batch
from splitenv.scenarios import StateSampler, list_scenarios, load_scenario

#: churn, mobility, correlated fading and drifting compute on, so rows differ in ``active``,
#: distances and compute too
DYNAMICS = {
    "network.fading_correlation": 0.5,
    "network.mobility_step_m": 5.0,
    "network.churn_leave_prob": 0.3,
    "network.churn_join_prob": 0.3,
    "compute.device_availability": (0.3, 1.0),
    "compute.availability_step": 0.1,
}


def _rows(scn, k, rng):
    """K states (different seeds, rounds and previous splits) and K random split decisions."""
    lo, hi = scn.decision.split_range
    n = scn.n_devices
    states = []
    for i in range(k):
        prev = rng.integers(lo, hi + 1, n) if i % 3 else None
        states.append(StateSampler(scn, 100 + i, 3).state(i % 2, i % 3, prev_split=prev))
    split = rng.integers(lo, hi + 1, (k, n))
    if scn.decision.shared_split:
        split = np.repeat(split[:, :1], n, axis=1)
    return states, Decision(split=split)


def _assert_same(batched, single, row):
    for name in ("latency_s", "energy_j", "objective", "feasible"):
        np.testing.assert_array_equal(getattr(batched, name)[row], getattr(single, name)[0], name)
    for group in ("violations", "terms", "per_device"):
        a, b = getattr(batched, group), getattr(single, group)
        assert set(a) == set(b)
        for key in a:
            np.testing.assert_array_equal(a[key][row], b[key][0], f"{group}.{key}")


@pytest.mark.parametrize("dynamics", [False, True])
@pytest.mark.parametrize("preset", list_scenarios())
def test_state_batch_rows_equal_single_state_calls(preset, dynamics):
    scn = load_scenario(preset, DYNAMICS if dynamics else None)
    states, decision = _rows(scn, 7, np.random.default_rng(0))
    batched = evaluate_batch(scn, StateBatch.stack(states), decision)
    for row, state in enumerate(states):
        single = evaluate_batch(scn, state, Decision(split=decision.split[row]))
        _assert_same(batched, single, row)


def test_stack_repeat_and_row_round_trip():
    scn = load_scenario("scct")
    states = [StateSampler(scn, s, 3).state(s, 1) for s in range(3)]
    batch = StateBatch.stack(states, repeat=2)
    assert batch.batch_size == 6
    for row in range(6):
        assert batch.row(row).to_dict() == states[row // 2].to_dict()


def test_state_batch_of_the_wrong_size_is_refused():
    scn = load_scenario("scct")
    batch = StateBatch.stack([StateSampler(scn, 0, 3).state()] * 3)
    with pytest.raises(StateError, match="3 rows but the decision batch has 2"):
        evaluate_batch(scn, batch, Decision(split=np.full((2, scn.n_devices), 2)))


def test_stack_refuses_mixed_device_counts():
    small = StateSampler(load_scenario("scct", {"network.n_devices": 4}), 0).state()
    large = StateSampler(load_scenario("scct"), 0).state()
    with pytest.raises(StateError, match="one device count"):
        StateBatch.stack([small, large])


@pytest.mark.parametrize("preset", list_scenarios())
def test_rows_with_their_own_previous_splits_equal_single_state_calls(preset):
    """``with_prev_splits``: one state, each row its own previous split (none, or a split)."""
    scn = load_scenario(preset, DYNAMICS)
    lo, hi = scn.decision.split_range
    n, rng = scn.n_devices, np.random.default_rng(1)
    state = StateSampler(scn, 7, 3).state(1, 0, prev_split=rng.integers(lo, hi + 1, n))
    prevs = np.stack([state.prev_split, np.full(n, -1), rng.integers(lo, hi + 1, n)])
    batch = StateBatch.with_prev_splits(state, prevs)
    assert batch.batch_size == 3
    assert not np.shares_memory(batch.channel_gain, state.channel_gain)  # copies, not views
    split = np.repeat(rng.integers(lo, hi + 1, (1, n)), 3, axis=0)
    if scn.decision.shared_split:
        split = np.repeat(split[:, :1], n, axis=1)
    batched = evaluate_batch(scn, batch, Decision(split=split))
    for row in range(3):
        assert batch.row(row).to_dict() == state.replace(prev_split=prevs[row]).to_dict()
        single = evaluate_batch(
            scn, state.replace(prev_split=prevs[row]), Decision(split=split[row])
        )
        _assert_same(batched, single, row)
    if scn.schedule.migration:  # the rows differ in their migration alone (SCCT (18))
        moved = batched.per_device["pre_round_s"]
        assert np.all(moved[1] == 0) and moved[0].sum() > 0


@pytest.mark.parametrize("preset", list_scenarios())
def test_a_state_with_row_previous_splits_equals_the_batch(preset):
    """``State.with_prev_splits`` (the envs' reference rows): every number as the StateBatch's."""
    scn = load_scenario(preset, DYNAMICS)
    lo, hi = scn.decision.split_range
    n, rng = scn.n_devices, np.random.default_rng(4)
    state = StateSampler(scn, 9, 3).state(1, 0, prev_split=rng.integers(lo, hi + 1, n))
    prevs = np.stack([state.prev_split, np.full(n, -1), rng.integers(lo, hi + 1, n)])
    split = rng.integers(lo, hi + 1, (3, n))
    if scn.decision.shared_split:
        split = np.repeat(split[:, :1], n, axis=1)
    rows = state.with_prev_splits(prevs)
    assert rows.prev_split.shape == (3, n) and rows.channel_gain is state.channel_gain
    got = evaluate_batch(scn, rows, Decision(split=split))
    want = evaluate_batch(scn, StateBatch.with_prev_splits(state, prevs), Decision(split=split))
    for name in ("latency_s", "energy_j", "objective", "feasible"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), name)
    for part in ("violations", "terms", "per_device"):
        assert getattr(got, part).keys() == getattr(want, part).keys()
        for key, value in getattr(want, part).items():
            np.testing.assert_array_equal(getattr(got, part)[key], value, f"{part}.{key}")


def test_with_prev_splits_refuses_a_wrong_shape():
    state = StateSampler(load_scenario("scct"), 0).state()
    with pytest.raises(StateError, match=r"prev_split has shape \(2, 3\); allowed: \(B, 10\)"):
        StateBatch.with_prev_splits(state, np.zeros((2, 3), dtype=np.int64))


@pytest.mark.parametrize(
    "preset", [p for p in list_scenarios() if not load_scenario(p).schedule.migration]
)
def test_without_migration_the_previous_split_costs_nothing(preset):
    """What lets the envs evaluate the reference on the policy's state without migration
    (``splitenv.reference.with_reference``): prev_split enters SCCT (18) alone."""
    scn = load_scenario(preset, DYNAMICS)
    lo, hi = scn.decision.split_range
    n, rng = scn.n_devices, np.random.default_rng(2)
    state = StateSampler(scn, 7, 3).state(1, 0)
    prevs = np.stack([np.full(n, -1), np.full(n, lo), rng.integers(lo, hi + 1, n)])
    split = rng.integers(lo, hi + 1, (3, n))
    if scn.decision.shared_split:
        split = np.repeat(split[:, :1], n, axis=1)
    batched = evaluate_batch(scn, StateBatch.with_prev_splits(state, prevs), Decision(split=split))
    for row in range(3):
        _assert_same(batched, evaluate_batch(scn, state, Decision(split=split[row])), row)
