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
