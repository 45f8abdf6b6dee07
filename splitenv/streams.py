"""Many seeded random streams at once, bit-identical to ``default_rng(SeedSequence([seed, *key]))``.

Every random draw of a scenario (:class:`~splitenv.scenarios.StateSampler`) comes from a
generator keyed by ``(seed, stream, round, epoch)``. Building one through numpy costs a
``SeedSequence`` (entropy hashing) plus a new ``PCG64`` and ``Generator``: several times the
draws an epoch needs. :func:`pcg64_states` runs numpy's ``SeedSequence`` hashing (mix_entropy,
then ``generate_state(4, uint64)``) on K keys at once with uint64 arithmetic, and seeds
``PCG64`` as numpy does (``pcg_setseq_128_srandom_r``); :class:`Streams` loads such a state
into a reused generator, so the draws are numpy's own (``exponential``, ``uniform``, ...)
and equal those of a fresh ``default_rng`` bit for bit (tests/env/test_streams.py compares
them on random keys).
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

# numpy/random/bit_generator.pyx (SeedSequence) and numpy/random/src/pcg64 (PCG64 seeding)
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_M32 = 0xFFFFFFFF
_M128 = (1 << 128) - 1
_POOL = 4
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341


def _chain(init: int, mult: int, count: int) -> list[int]:
    """The hash constants before each hashmix: they do not depend on the data."""
    out, h = [init], init
    for _ in range(count):
        h = (h * mult) & _M32
        out.append(h)
    return out


@functools.lru_cache(maxsize=16)
def _chains(width: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """The mixing and the output chains of an entropy of ``width`` words (constants)."""
    a = np.array(_chain(_INIT_A, _MULT_A, _POOL * _POOL + max(0, width - _POOL) * _POOL))
    b = np.array(_chain(_INIT_B, _MULT_B, 8), dtype=np.uint64)
    a, b = a.astype(np.uint64), b
    a.flags.writeable = b.flags.writeable = False
    return a, b


_U32, _S16, _S32 = np.uint64(_M32), np.uint64(16), np.uint64(32)
_UMIX_L, _UMIX_R = np.uint64(_MIX_L), np.uint64(_MIX_R)
#: the pool words a source word mixes into, by source
_DST = [np.array([d for d in range(_POOL) if d != i]) for i in range(_POOL)]
_OUT = np.array([0, 1, 2, 3, 0, 1, 2, 3])


def _hashmix(
    values: NDArray[np.uint64], chain: NDArray[np.uint64], k: int, lanes: int | None = None
) -> NDArray[np.uint64]:
    """Numpy's hashmixes number k, k + 1, ... of a chain, one per lane (row) of ``values``.

    Each xors with its constant, multiplies by the next one and folds the high half in.
    ``lanes``: the number of lanes when ``values`` is one row broadcast to all of them.
    """
    lanes = values.shape[0] if lanes is None else lanes
    before, after = chain[k : k + lanes, None], chain[k + 1 : k + lanes + 1, None]
    v = ((values ^ before) * after) & _U32
    return v ^ (v >> _S16)


def _mix(x: NDArray[np.uint64], y: NDArray[np.uint64]) -> NDArray[np.uint64]:
    r = (_UMIX_L * x - _UMIX_R * y) & _U32
    return r ^ (r >> _S16)


def _words(entropy: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """``SeedSequence(row).generate_state(4, uint64)`` of each row of 32-bit entropy words.

    The pool's four words are lanes of one array: the updates numpy makes one after the
    other are independent within each source word, so they run as one operation.
    """
    k_rows, width = entropy.shape
    a, b = _chains(width)
    ent = entropy.T
    first = (
        ent[:_POOL]
        if width >= _POOL
        else np.vstack([ent, np.zeros((_POOL - width, k_rows), dtype=np.uint64)])
    )
    pool = _hashmix(first, a, 0)
    k = _POOL
    for i_src in range(_POOL):
        dst = _DST[i_src]
        pool[dst] = _mix(pool[dst], _hashmix(pool[i_src], a, k, _POOL - 1))
        k += _POOL - 1
    for i_src in range(_POOL, width):
        pool = _mix(pool, _hashmix(ent[i_src], a, k, _POOL))
        k += _POOL
    w = _hashmix(pool[_OUT], b, 0)
    return (w[0::2] | (w[1::2] << _S32)).T


def seed_words(
    seeds: NDArray[np.int64], key: tuple[NDArray[np.int64] | int, ...]
) -> NDArray[np.uint64]:
    """``SeedSequence([seeds[i], *key_i]).generate_state(4, uint64)`` of every i, (K, 4).

    ``key`` holds ints or arrays over the rows; every value must lie in [0, 2**32) (one
    32-bit word each, as numpy splits larger ones into more words).

    Raises:
        ValueError: a value outside [0, 2**32).
    """
    seeds = np.asarray(seeds, dtype=np.int64)
    entropy = np.empty((*seeds.shape, 1 + len(key)), dtype=np.int64)  # column i: word i
    entropy[..., 0] = seeds
    for i, c in enumerate(key, 1):  # an int or a row of values, broadcast over the rows
        entropy[..., i] = np.asarray(c, dtype=np.int64)
    if entropy.size and (entropy.min() < 0 or entropy.max() > _M32):
        raise ValueError("stream keys must lie in [0, 2**32) for the batched streams")
    return _words(entropy.astype(np.uint64))


def pcg64_states(
    seeds: NDArray[np.int64], key: tuple[NDArray[np.int64] | int, ...]
) -> list[tuple[int, int]]:
    """PCG64's (state, inc) after ``PCG64(SeedSequence([seeds[i], *key_i]))``, for every i.

    ``key`` as in :func:`seed_words`.

    Raises:
        ValueError: a value outside [0, 2**32).
    """
    return states_of_words(seed_words(seeds, key))


def states_of_words(words: NDArray[np.uint64]) -> list[tuple[int, int]]:
    """PCG64's (state, inc) seeded from each row of :func:`seed_words`."""
    out = []
    for s0, s1, s2, s3 in words.tolist():
        inc = ((((s2 << 64) | s3) << 1) | 1) & _M128
        out.append(((((inc + ((s0 << 64) | s1)) * _PCG_MULT) + inc) & _M128, inc))
    return out


class Streams:
    """A reused ``Generator`` into which :func:`pcg64_states` states are loaded, one at a time."""

    def __init__(self) -> None:
        self._gen = np.random.Generator(np.random.PCG64(0))
        self._state = {
            "bit_generator": "PCG64",
            "state": {"state": 0, "inc": 1},
            "has_uint32": 0,
            "uinteger": 0,
        }

    def load(self, state: tuple[int, int]) -> np.random.Generator:
        """The generator in ``state``: valid until the next ``load``."""
        self._state["state"] = {"state": state[0], "inc": state[1]}
        self._gen.bit_generator.state = self._state
        return self._gen
