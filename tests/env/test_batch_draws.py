"""Draws of K seeded streams at once (splitenv.batch_draws) equal numpy's own, draw for draw."""

from __future__ import annotations

import numpy as np
import pytest

from splitenv import batch_draws
from splitenv.batch_draws import BatchDraws, Segment
from splitenv.scenarios import (
    dynamics_segments,
    dynamics_shaped,
    dynamics_start_draws,
    dynamics_step_draws,
    epoch_segments,
    epoch_stream,
    list_scenarios,
    load_scenario,
    static_draws,
    static_segments,
)

SEGMENTS = (
    Segment("exponential", 23),
    Segment("uniform", 5, 1e9, 5e9),
    Segment("normal", 17, 0.0, 8.0),
    Segment("uniform", 3, -2.0, 7.5),
)


def _numpy_draws(seed, key, segments):
    gen = np.random.default_rng(np.random.SeedSequence([int(seed), *(int(k) for k in key)]))
    out = []
    for seg in segments:
        if seg.kind == "uniform":
            out.append(gen.uniform(seg.low, seg.high, seg.count))
        elif seg.kind == "exponential":
            out.append(gen.standard_exponential(seg.count))
        elif seg.kind == "integers":
            out.append(gen.integers(int(seg.low), int(seg.high), seg.count))
        else:
            out.append(gen.normal(seg.low, seg.high, seg.count))
    return out


def _keys(rng, k):
    seeds = rng.integers(0, 2**32, k)
    seeds[:3] = (0, 1, 2**32 - 1)
    return seeds, (1, rng.integers(0, 2**32, k), rng.integers(0, 5, k))


@pytest.mark.parametrize(("fast", "k"), [(True, 400), (True, 7), (False, 400)])
def test_batched_draws_equal_numpy_on_random_keys(fast, k, monkeypatch):
    if not fast:  # the fallback: numpy stream by stream
        monkeypatch.setattr(batch_draws, "_TABLES", [None])
    rng = np.random.default_rng(3)
    seeds, key = _keys(rng, k)
    got = BatchDraws(SEGMENTS).draw(seeds, key)
    for i in range(k):
        want = _numpy_draws(seeds[i], (key[0], key[1][i], key[2][i]), SEGMENTS)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g[i], w)


def test_the_fast_path_is_taken_and_some_streams_leave_it():
    tables = batch_draws.ziggurat_tables()
    assert tables is not None  # this numpy draws as the batched path does
    rng = np.random.default_rng(4)
    seeds, key = _keys(rng, 200)
    assert 200 >= batch_draws.VECTOR_MIN_STREAMS
    draws = BatchDraws(SEGMENTS)
    words = batch_draws.seed_words(seeds, key)
    s0, s1, s2, s3 = words.T
    u = np.uint64
    inc = ((s2 << u(1)) | (s3 >> u(63)), (s3 << u(1)) | u(1))
    t_lo = s1 + inc[1]
    out = draws._jumps.outputs(s0 + inc[0] + (t_lo < s1).astype(u), t_lo, inc)
    _, slow = draws._convert(out, tables)
    assert 0 < slow.sum() < 200  # both paths are exercised above


def test_the_self_check_runs_the_batched_path_and_catches_a_difference(monkeypatch):
    """The check numpy's tables pass before use compares the batched path, not numpy twice."""
    assert batch_draws.ziggurat_tables() is not None
    assert batch_draws._self_check()
    redraw, convert = BatchDraws._redraw, BatchDraws._convert
    monkeypatch.setattr(BatchDraws, "_redraw", lambda self, st: [v + 1 for v in redraw(self, st)])
    assert not batch_draws._self_check()  # the slow streams' redraw off by one
    monkeypatch.setattr(BatchDraws, "_redraw", redraw)

    def off(self, out, tables):
        values, slow = convert(self, out, tables)
        return [v + 1 for v in values], slow

    monkeypatch.setattr(BatchDraws, "_convert", off)
    assert not batch_draws._self_check()  # the fast path off by one


def test_empty_batches_and_bad_keys():
    assert [v.shape for v in BatchDraws(SEGMENTS).draw(np.zeros(0, np.int64), (1,))] == [
        (0, s.count) for s in SEGMENTS
    ]
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        BatchDraws(SEGMENTS).draw(np.array([2**32]), (0,))


@pytest.mark.parametrize("name", list_scenarios())
def test_segments_are_the_samplers_draws(name):
    """static_segments / epoch_segments draw what static_draws / epoch_stream draw."""
    scn = load_scenario(name)
    n = scn.n_devices
    seeds = np.array([11, 2**31 - 5])
    statics = BatchDraws(tuple(s for _, s in static_segments(scn))).draw(seeds, (0,))
    epochs = BatchDraws(tuple(s for _, s in epoch_segments(scn))).draw(seeds, (1, 2, 1))
    for i, seed in enumerate(seeds):
        want = static_draws(scn, np.random.default_rng(np.random.SeedSequence([int(seed), 0])))
        for (name_, _), got in zip(static_segments(scn), statics, strict=True):
            np.testing.assert_array_equal(got[i], want[name_])
        fadings, flops = np.ones(2 * n), np.zeros(n)
        epoch_stream(scn, np.random.default_rng(np.random.SeedSequence([int(seed), 1, 2, 1])),
                     fadings, flops)  # fmt: skip
        named = dict(zip([k for k, _ in epoch_segments(scn)], epochs, strict=True))
        if "fadings" in named:
            np.testing.assert_array_equal(named["fadings"][i], fadings)
        if "flops" in named:
            np.testing.assert_array_equal(named["flops"][i], flops)


#: bounded integers between doubles, odd counts (numpy keeps an output's high half for the
#: next integer), one value (no draw), the full 32-bit range, and a range that rejects a
#: quarter of its draws (2^32 mod 3 2^30 = 2^30)
INTEGERS = (
    Segment("integers", 5, 0, 3),
    Segment("normal", 3, 0.0, 1.0),
    Segment("integers", 3, -2, 3 << 30),
    Segment("integers", 4, 7, 8),
    Segment("uniform", 2, 0.0, 1.0),
    Segment("integers", 1, 0, 2**32),
    Segment("integers", 2, 1, 6),
)


@pytest.mark.parametrize(("fast", "k"), [(True, 300), (True, 5), (False, 300)])
def test_batched_integers_equal_numpy_on_random_keys(fast, k, monkeypatch):
    if not fast:
        monkeypatch.setattr(batch_draws, "_TABLES", [None])
    rng = np.random.default_rng(5)
    seeds, key = _keys(rng, k)
    got = BatchDraws(INTEGERS).draw(seeds, key)
    for i in range(k):
        want = _numpy_draws(seeds[i], (key[0], key[1][i], key[2][i]), INTEGERS)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype == np.int64 or g.dtype == w.dtype == np.float64
            np.testing.assert_array_equal(g[i], w)


def test_batched_integers_take_lemires_fast_path_and_some_streams_reject():
    tables = batch_draws.ziggurat_tables()
    assert tables is not None
    draws = BatchDraws(INTEGERS)
    out = np.random.default_rng(6).integers(0, 2**64, (400, draws.width), dtype=np.uint64)
    values, slow = draws._convert(out, tables)
    assert 0 < slow.sum() < 400  # the rejecting range sends some streams to numpy
    assert values[3].tolist() == [[7] * 4] * 400  # one value: no draw


def test_choice_is_integers_indexing():
    """Generator.choice(a, n) (the sampler's noise states) draws a[integers(0, len(a), n)]."""
    states = np.array([-166.0, -163.0, -160.0])
    for seed in range(50):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        np.testing.assert_array_equal(a.choice(states, 7), states[b.integers(0, 3, 7)])
        assert a.bit_generator.state == b.bit_generator.state


def test_bad_integer_bounds_are_refused():
    for seg in (Segment("integers", 2, 0, 0), Segment("integers", 2, 0, 2**32 + 1),
                Segment("integers", 2, 0.5, 3)):  # fmt: skip
        with pytest.raises(ValueError, match="integer bounds"):
            BatchDraws((seg,))


DYNAMICS = {
    "network.fading_correlation": 0.5,
    "network.mobility_step_m": 5.0,
    "network.churn_leave_prob": 0.3,
    "compute.device_availability": (0.3, 1.0),
    "compute.availability_step": 0.1,
}


@pytest.mark.parametrize("dynamics", [{}, DYNAMICS])
@pytest.mark.parametrize("name", list_scenarios())
def test_dynamics_segments_are_the_samplers_draws(name, dynamics):
    """dynamics_segments draw what dynamics_start_draws / dynamics_step_draws draw, in shape."""
    scn = load_scenario(name, dynamics)
    seeds = np.array([11, 2**31 - 5])
    for start, draw in ((True, dynamics_start_draws), (False, dynamics_step_draws)):
        plan = dynamics_segments(scn, start)
        drawn = BatchDraws(tuple(s for _, s in plan)).draw(seeds, (3, 0 if start else 4))
        named = dynamics_shaped(scn, {n: v for (n, _), v in zip(plan, drawn, strict=True)})
        for i, seed in enumerate(seeds):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), 3, 0 if start else 4]))
            want = draw(scn, rng)
            assert set(named) == set(want)
            for key, value in want.items():
                assert named[key][i].shape == value.shape, key
                np.testing.assert_array_equal(named[key][i], value)
