"""Draws of K seeded streams at once (splitenv.batch_draws) equal numpy's own, draw for draw."""

from __future__ import annotations

import numpy as np
import pytest

from splitenv import batch_draws
from splitenv.batch_draws import BatchDraws, Segment
from splitenv.scenarios import (
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
