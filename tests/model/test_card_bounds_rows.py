"""CARD (12)'s extremes of a StateBatch: the grid once per distinct state row, the same bits.

:func:`splitenv.model.card_bounds` runs its grid of 2 x n_cuts decisions only on the distinct
states of a batch (:func:`~splitenv.model.objectives.distinct_rows`) not met before under the
scenario (its table of row bytes -> extremes) and gathers the extremes back; these tests
compare it bit for bit with the plain grid in every row and in every row's ``State`` alone,
and check that the fields the dedupe leaves out change no cost of the grid.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from splitenv import load_scenario, sample_state
from splitenv.model import StateBatch, card_bounds, objectives
from splitenv.model.objectives import _UNREAD, _card_grid, _grid_costs, _grid_rows, distinct_rows


def _plain(scn, batch):
    """The grid in every row of ``batch``, no dedupe: (D_min, D_max, E_min, E_max), (B, N)."""
    grid = _card_grid(scn)
    g, b, n = grid.batch_size, batch.batch_size, scn.n_devices
    rows = batch.take(np.repeat(np.arange(b), g))
    delay, energy = _grid_costs(scn, rows, _grid_rows(scn, grid, b))
    delay, energy = delay.reshape(b, g, n), energy.reshape(b, g, n)
    return delay.min(axis=1), delay.max(axis=1), energy.min(axis=1), energy.max(axis=1)


def _same_bits(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype
        assert x.tobytes() == y.tobytes()


def _batch(scn, seeds):
    return StateBatch.stack([sample_state(scn, s) for s in seeds])


@pytest.mark.parametrize(
    "overrides",
    [{}, {"schedule.migration": True}, {"schedule.model_distribution": True}],
    ids=["preset", "migration", "distribution"],
)
def test_repeated_and_distinct_rows_give_the_plain_grid_bits(overrides):
    scn = load_scenario("card", overrides)
    # repeated rows (in and out of order) next to distinct ones
    batch = _batch(scn, [0, 1, 0, 2, 3, 1, 1, 4, 0])
    first, inverse = distinct_rows(scn, batch)
    assert first.size == 5 and inverse.shape == (9,)
    got = card_bounds(scn, batch)
    _same_bits(got, _plain(scn, batch))
    for i in range(batch.batch_size):  # and every row as its State alone
        _same_bits([b[i] for b in got], card_bounds(scn, batch.row(i)))


def test_all_distinct_and_all_equal_rows():
    scn = load_scenario("card")
    distinct = _batch(scn, range(6))
    assert distinct_rows(scn, distinct)[0].size == 6
    _same_bits(card_bounds(scn, distinct), _plain(scn, distinct))
    equal = StateBatch.stack([sample_state(scn, 7)], repeat=5)
    first, inverse = distinct_rows(scn, equal)
    assert first.size == 1 and (inverse == 0).all()
    _same_bits(card_bounds(scn, equal), _plain(scn, equal))


def test_rows_differing_in_read_fields_stay_apart():
    """The channel, compute and activity of a row are read: rows differing there are distinct."""
    scn = load_scenario("card")
    state = sample_state(scn, 0)
    changed = [
        state.replace(channel_gain=state.channel_gain * 2),
        state.replace(noise_psd_w_hz=state.noise_psd_w_hz * 2),
        state.replace(device_flops=state.device_flops * 2),
        state.replace(active=[True, False, True, True, True]),
    ]
    batch = StateBatch.stack([state, *changed])
    assert distinct_rows(scn, batch)[0].size == 5
    _same_bits(card_bounds(scn, batch), _plain(scn, batch))


def _unread_changes(scn, state):
    """``state`` with each field the dedupe leaves out changed (a valid value)."""
    out = {
        "distance_m": state.replace(distance_m=state.distance_m * 3 + 1),
        "data_size": state.replace(data_size=state.data_size * 3 + 1),
        "device_memory_bytes": state.replace(device_memory_bytes=state.device_memory_bytes / 2),
        "epoch_index": state.replace(epoch_index=state.epoch_index + 2),
    }
    if not scn.schedule.migration:
        out["prev_split"] = state.replace(prev_split=np.full(scn.n_devices, 17))
    if not scn.schedule.model_distribution:
        out["round_index"] = state.replace(round_index=state.round_index + 3)
    return out


@pytest.mark.parametrize(
    "overrides",
    [{}, {"schedule.migration": True}, {"schedule.model_distribution": True}],
    ids=["preset", "migration", "distribution"],
)
def test_left_out_fields_change_no_cost_of_the_grid(overrides):
    """What :func:`distinct_rows` leaves out is read by no cost of the grid (the same bits)."""
    scn = load_scenario("card", overrides)
    state = sample_state(scn, 3)
    changes = _unread_changes(scn, state)
    assert set(changes) >= _UNREAD
    grid = _card_grid(scn)
    base = _grid_costs(scn, state, grid)
    for other in changes.values():
        _same_bits(_grid_costs(scn, other, grid), base)
    batch = StateBatch.stack([state, *changes.values()])
    first, inverse = distinct_rows(scn, batch)
    assert first.size == 1 and (inverse == 0).all()
    _same_bits(card_bounds(scn, batch), _plain(scn, batch))


def test_read_previous_split_and_round_are_kept_apart():
    """With migration the previous split is read; with model distribution the round index."""
    mig = load_scenario("card", {"schedule.migration": True})
    state = sample_state(mig, 0)
    batch = StateBatch.stack([state, state.replace(prev_split=np.full(mig.n_devices, 17))])
    assert distinct_rows(mig, batch)[0].size == 2
    _same_bits(card_bounds(mig, batch), _plain(mig, batch))
    dist = load_scenario("card", {"schedule.model_distribution": True})
    state = sample_state(dist, 0)
    batch = StateBatch.stack([state, state.replace(round_index=state.round_index + 1)])
    assert distinct_rows(dist, batch)[0].size == 2
    _same_bits(card_bounds(dist, batch), _plain(dist, batch))


def _table(scn):
    return scn.memo("card_bounds_rows", dict)


def test_a_state_alone_gives_the_plain_single_state_grid():
    scn = load_scenario("card")
    _table(scn).clear()
    for seed in range(3):
        state = sample_state(scn, seed)
        delay, energy = _grid_costs(scn, state, _card_grid(scn))
        plain = (delay.min(axis=0), delay.max(axis=0), energy.min(axis=0), energy.max(axis=0))
        _same_bits(card_bounds(scn, state), plain)  # the grid
        _same_bits(card_bounds(scn, state), plain)  # from the table


def test_the_table_gives_the_grid_bits_and_stays_within_its_cap(monkeypatch):
    scn = load_scenario("card")
    table = _table(scn)
    table.clear()
    batch = _batch(scn, [0, 1, 0, 2])
    _same_bits(card_bounds(scn, batch), _plain(scn, batch))
    assert len(table) == 3
    _same_bits(card_bounds(scn, batch), _plain(scn, batch))  # every row from the table
    overlap = _batch(scn, [2, 5, 1, 6, 5])  # two rows met, two new
    _same_bits(card_bounds(scn, overlap), _plain(scn, overlap))
    assert len(table) == 5
    monkeypatch.setattr(objectives, "_TABLE_DEVICE_ROWS", 2 * scn.n_devices)
    more = _batch(scn, [7, 8, 0])  # two new rows would exceed the cap: the table is emptied
    _same_bits(card_bounds(scn, more), _plain(scn, more))
    assert len(table) == 2  # the new rows (row 0 was read from the table before)


def test_other_dtypes_leave_the_table_alone():
    """A batch whose arrays are not the State's dtypes (its bytes are other numbers): no table."""
    scn = load_scenario("card")
    table = _table(scn)
    table.clear()
    batch = _batch(scn, [0, 1, 0])
    fields = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}
    odd = StateBatch(**{**fields, "device_flops": fields["device_flops"].astype(np.float32)})
    _same_bits(card_bounds(scn, odd), _plain(scn, odd))
    assert len(table) == 0
    _same_bits(card_bounds(scn, batch), _plain(scn, batch))
    assert len(table) == 2


def test_a_pickled_scenario_leaves_its_memo_behind():
    """Process pools ship scenarios: the (12) extremes table and other memos stay home."""
    import pickle

    scn = load_scenario("card")
    card_bounds(scn, sample_state(scn, 3))
    assert scn.__dict__.get("_memo")
    copy = pickle.loads(pickle.dumps(scn))
    assert "_memo" not in copy.__dict__
    assert copy == scn and copy.sha256() == scn.sha256()
    np.testing.assert_array_equal(
        card_bounds(copy, sample_state(copy, 3)),
        card_bounds(scn, sample_state(scn, 3)),
    )


def test_a_state_with_a_previous_split_per_row_gives_the_batchs_bounds():
    """The envs' reference rows (State.with_prev_splits) under CARD with split migration."""
    import gymnasium as gym

    scn = load_scenario("card", {"schedule.migration": True})
    state = sample_state(scn, 5)
    lo = scn.decision.split_range[0]
    prev = np.array([np.full(scn.n_devices, lo), np.full(scn.n_devices, -1)])
    got = card_bounds(scn, state.with_prev_splits(prev))
    want = card_bounds(scn, StateBatch.with_prev_splits(state, prev))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    env = gym.make("splitenv/CARD-v0", timescale="joint", schedule__migration=True)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(6):  # rounds with a previous split: the reference row keeps its own
        _, reward, *_ = env.step(env.action_space.sample())
        assert np.isfinite(reward)
