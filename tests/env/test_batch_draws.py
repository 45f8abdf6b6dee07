"""Draws of K seeded streams at once (splitenv.batch_draws) equal numpy's own, draw for draw."""

from __future__ import annotations

import numpy as np
import pytest

from splitenv import draw_kernel, scenarios
from splitenv.batch_draws import BatchDraws, Segment
from splitenv.draws import (
    dynamics_segments,
    dynamics_shaped,
    dynamics_start_draws,
    dynamics_step_draws,
    epoch_segments,
    epoch_stream,
    static_draws,
    static_segments,
)
from splitenv.scenarios import StateSampler, list_scenarios, load_scenario

SEGMENTS = (
    Segment("exponential", 23),
    Segment("uniform", 5, 1e9, 5e9),
    Segment("normal", 17, 0.0, 8.0),
    Segment("integers", 7, 0, 3),  # an odd count: the next segment starts on a held half-output
    Segment("uniform", 3, -2.0, 7.5),
    Segment("integers", 4, 5, 2**33),  # a range beyond 32 bits
)


def _numpy_draws(seed, key, segments):
    gen = np.random.default_rng(np.random.SeedSequence([int(seed), *(int(k) for k in key)]))
    out = []
    for seg in segments:
        if seg.kind == "uniform":
            out.append(gen.uniform(seg.low, seg.high, seg.count))
        elif seg.kind == "exponential":
            out.append(gen.standard_exponential(seg.count))
        elif seg.kind == "normal":
            out.append(gen.normal(seg.low, seg.high, seg.count))
        else:
            out.append(gen.integers(int(seg.low), int(seg.high), seg.count))
    return out


def _keys(rng, k):
    seeds = rng.integers(0, 2**32, k)
    seeds[:3] = (0, 1, 2**32 - 1)[: min(k, 3)]
    return seeds, (1, rng.integers(0, 2**32, k), rng.integers(0, 5, k))


@pytest.mark.parametrize(("compiled", "k"), [(True, 300), (True, 1), (False, 40)])
def test_batched_draws_equal_numpy_on_random_keys(compiled, k, monkeypatch):
    if compiled:
        assert draw_kernel.kernel() is not None  # this numpy passed the kernel's self-check
    else:  # the fallback: numpy stream by stream
        monkeypatch.setattr(draw_kernel, "_KERNEL", [None])
    rng = np.random.default_rng(3)
    seeds, key = _keys(rng, k)
    got = BatchDraws(SEGMENTS).draw(seeds, key)
    for i in range(k):
        want = _numpy_draws(seeds[i], (key[0], key[1][i], key[2][i]), SEGMENTS)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g[i], w)


def test_the_kernel_seeds_every_entropy_width_as_numpy():
    """SeedSequence pools of 1 to 7 words (fewer and more than its 4-word pool)."""
    rng = np.random.default_rng(5)
    draws = BatchDraws((Segment("uniform", 2), Segment("exponential", 3)))
    for width in range(1, 8):
        seeds = rng.integers(0, 2**32, 50)
        key = tuple(rng.integers(0, 2**32, 50) for _ in range(width - 1))
        got = draws.draw(seeds, key)
        for i in range(50):
            gen = np.random.default_rng(
                np.random.SeedSequence([int(seeds[i]), *(int(c[i]) for c in key)])
            )
            np.testing.assert_array_equal(got[0][i], gen.uniform(size=2))
            np.testing.assert_array_equal(got[1][i], gen.standard_exponential(3))


def test_a_layout_the_kernel_does_not_know_is_refused(monkeypatch):
    """The self-check catches a kernel that seeds differently (here: the words swapped)."""
    kern = draw_kernel.Kernel(draw_kernel._loop)
    assert draw_kernel._self_check(kern)
    kern._state = kern._state[::-1]  # write the state's words in the wrong order
    assert not draw_kernel._self_check(kern)


def test_empty_batches_and_bad_keys():
    assert [v.shape for v in BatchDraws(SEGMENTS).draw(np.zeros(0, np.int64), (1,))] == [
        (0, s.count) for s in SEGMENTS
    ]
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        BatchDraws(SEGMENTS).draw(np.array([2**32]), (0,))
    with pytest.raises(ValueError, match="segment kind 'gamma'"):
        BatchDraws((Segment("gamma", 3),))


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
#: next integer), a negative low, one value (no draw), the full 32-bit range, and a range
#: that rejects a quarter of its draws (2^32 mod 3 2^30 = 2^30)
INTEGERS = (
    Segment("integers", 5, 0, 3),
    Segment("normal", 3, 0.0, 1.0),
    Segment("integers", 3, -2, 3 << 30),
    Segment("integers", 4, 7, 8),
    Segment("uniform", 2, 0.0, 1.0),
    Segment("integers", 1, 0, 2**32),
    Segment("integers", 2, 1, 6),
)


@pytest.mark.parametrize(("compiled", "k"), [(True, 300), (True, 5), (False, 30)])
def test_batched_integers_equal_numpy_on_random_keys(compiled, k, monkeypatch):
    if not compiled:
        monkeypatch.setattr(draw_kernel, "_KERNEL", [None])
    rng = np.random.default_rng(5)
    seeds, key = _keys(rng, k)
    got = BatchDraws(INTEGERS).draw(seeds, key)
    for i in range(k):
        want = _numpy_draws(seeds[i], (key[0], key[1][i], key[2][i]), INTEGERS)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype == np.int64 or g.dtype == w.dtype == np.float64
            np.testing.assert_array_equal(g[i], w)


def test_choice_is_integers_indexing():
    """Generator.choice(a, n) (the sampler's noise states) draws a[integers(0, len(a), n)]."""
    states = np.array([-166.0, -163.0, -160.0])
    for seed in range(50):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        np.testing.assert_array_equal(a.choice(states, 7), states[b.integers(0, 3, 7)])
        assert a.bit_generator.state == b.bit_generator.state


def test_bad_integer_bounds_are_refused():
    for seg in (Segment("integers", 2, 0, 0), Segment("integers", 2, 3, 1),
                Segment("integers", 2, 0.5, 3), Segment("integers", 2, -(2**63) - 1, 0)):  # fmt: skip
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


@pytest.mark.parametrize("compiled", [True, False])
def test_generator_rows_draw_as_gymnasiums_generators(compiled, monkeypatch):
    """Each row draws what seeding.np_random(seed) draws, call after call (the half-output kept)."""
    from gymnasium.utils import seeding

    from splitenv.batch_draws import GeneratorRows

    if not compiled:
        monkeypatch.setattr(draw_kernel, "_KERNEL", [None])
    seeds = [0, 1, 7, 2**32 - 1, 2**32, 2**40 + 3, None, 12345]
    rows = np.arange(len(seeds))
    gens = GeneratorRows(len(seeds))
    gens.seed(rows, seeds)
    refs = [seeding.np_random(s)[0] for s in seeds[:6]] + [None] + [seeding.np_random(12345)[0]]
    for high in (2**31 - 1, 3, 2**31 - 1, 2**40, 5):
        got = gens.integers(rows, high)
        for j, ref in enumerate(refs):
            if ref is not None:
                assert got[j] == ref.integers(high), (seeds[j], high)
    some = np.array([1, 5])  # a subset advances alone; a None seed keeps the generator
    gens.seed(some, [None, None])
    got = gens.integers(some, 2**31 - 1)
    assert got.tolist() == [refs[1].integers(2**31 - 1), refs[5].integers(2**31 - 1)]
    assert 0 <= gens.integers(np.array([6]), 10)[0] < 10  # fresh entropy: any value in range
    with pytest.raises(Exception, match="Seed must be"):
        gens.seed(np.array([0]), [-1])


NOISE = {"network.noise_states_dbm_hz": (-174.0, -170.0, -165.0)}


@pytest.mark.parametrize("over", [{}, DYNAMICS, NOISE])
@pytest.mark.parametrize("name", list_scenarios())
def test_sampler_streams_equal_numpys_below_and_above_one_word(name, over, monkeypatch):
    """The sampler's batched streams (seeds below 2**32) equal numpy's, stream by stream.

    Statics against ``draw_statics(default_rng([seed, 0]))``, and every epoch (epoch, dynamics
    and round streams) against a sampler drawing all with numpy (``WORD`` = 0); a seed beyond
    one word takes the numpy path itself.
    """
    scn = load_scenario(name, over)
    for seed in (0, 77, 2**32 - 1, 2**32 + 5):
        sampler = StateSampler(scn, seed, 2)
        statics = sampler.statics
        with monkeypatch.context() as m:
            m.setattr(scenarios, "WORD", 0)  # every stream by numpy
            numpy_sampler = StateSampler(scn, seed, 2)
            want = numpy_sampler.draw_statics(
                np.random.default_rng(np.random.SeedSequence([seed, 0]))
            )
            numpy_epochs = [numpy_sampler.epoch_draws(r, t) for r in range(2) for t in range(2)]
        assert set(statics) == set(want)
        for key, value in want.items():
            np.testing.assert_array_equal(statics[key], value, err_msg=key)
        epochs = [sampler.epoch_draws(r, t) for r in range(2) for t in range(2)]
        for got, ref in zip(epochs, numpy_epochs, strict=True):
            assert set(got) == set(ref)
            for key, value in ref.items():
                assert np.shape(got[key]) == np.shape(value), key
                np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_threads_draw_with_kernels_of_their_own():
    """Threads drawing at once get numpy's values each (no shared generator state)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(9)
    seeds, key = _keys(rng, 200)
    want = BatchDraws(SEGMENTS).draw(seeds, key)
    main = draw_kernel.kernel()

    def job(_):
        assert draw_kernel.kernel() is not main
        return BatchDraws(SEGMENTS).draw(seeds, key)

    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(job, range(8)):
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)
