"""Batched seeded streams (splitenv.streams) equal numpy's own, draw for draw."""

from __future__ import annotations

import numpy as np
import pytest

from splitenv.streams import Streams, pcg64_states


@pytest.mark.parametrize("width", [0, 1, 2, 3, 5])
def test_batched_streams_equal_default_rng_on_random_keys(width):
    rng = np.random.default_rng(width)
    seeds = rng.integers(0, 2**32, 300)
    seeds[:3] = (0, 1, 2**32 - 1)
    keys = tuple(rng.integers(0, 4 if j % 2 else 2**32, 300) for j in range(width))
    streams = Streams()
    for i, state in enumerate(pcg64_states(seeds, keys)):
        ref = np.random.default_rng(
            np.random.SeedSequence([int(seeds[i]), *(int(k[i]) for k in keys)])
        )
        gen = streams.load(state)
        np.testing.assert_array_equal(gen.exponential(1.0, 7), ref.exponential(1.0, 7))
        np.testing.assert_array_equal(gen.uniform(2.0, 3.0, 5), ref.uniform(2.0, 3.0, 5))
        np.testing.assert_array_equal(gen.normal(size=3), ref.normal(size=3))


def test_scalar_key_columns_broadcast_over_the_rows():
    seeds = np.array([5, 6])
    assert pcg64_states(seeds, (1, np.array([3, 4]))) == [
        pcg64_states(np.array([s]), (1, np.array([r])))[0] for s, r in ((5, 3), (6, 4))
    ]


def test_keys_outside_one_word_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        pcg64_states(np.array([2**32]), ())
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        pcg64_states(np.array([1]), (-1,))
