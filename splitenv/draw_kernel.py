"""Many seeded numpy streams drawn in one compiled loop, by numpy's own C distributions.

Every random draw of a scenario comes from a generator keyed by ``(seed, stream, round,
epoch)``: ``default_rng(SeedSequence([seed, *key]))``. Building each through numpy costs a
few microseconds of Python per stream (``SeedSequence`` hashing, a new ``PCG64`` and
``Generator``, one call per draw kind), more than the engine at K = 256 envs. Here one
numba-compiled loop does, for every stream:

1. numpy's ``SeedSequence`` on the entropy words ``[seed, *key]`` (``mix_entropy``, then
   ``generate_state(4, uint64)``, uint32 arithmetic as in ``numpy/random/bit_generator.pyx``);
2. ``PCG64``'s seeding from those words (``pcg_setseq_128_srandom_r``: 128-bit arithmetic on
   uint64 halves), written into the state of one reused ``PCG64`` (its ``ctypes``
   interface's ``state_address``);
3. the draws, by numpy's own exported C functions (numpy's documented C API for random,
   the one its CFFI example loads from ``numpy.random._generator``): ``random_uniform``,
   ``random_standard_exponential_fill``, ``random_normal`` and
   ``random_bounded_uint64_fill`` (``Generator.integers``, unmasked), called as
   ``Generator.uniform``, ``standard_exponential``, ``normal`` and ``integers`` call them.

So every value is numpy's own (the ziggurat, its tables, libm), not a re-implementation.
What numpy keeps private (the layout of the ``PCG64`` state struct: the 128-bit state and
increment, low word first, then the buffered half-output) is checked at first use against
``default_rng`` on random keys (:func:`kernel`); should it differ, :func:`kernel` returns
None and :mod:`splitenv.batch_draws` draws stream by stream with numpy.

numba, not hand-written C: the loop needs no compiler at install time, and numba links
numpy's functions by name (``llvmlite.binding.add_symbol``), so the compiled loop is cached
on disk (``cache=True``; about 0.25 s to load in a new process, 1 s to compile the first
time). Imported at the first draw (:mod:`splitenv.batch_draws`), not with :mod:`splitenv`.
At K = 256 streams of 20 exponential and 10 uniform draws a call takes about 30 us, 3 us at
K = 12 (numpy stream by stream: about 4 us per stream).
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Any

import llvmlite.binding as llvm  # numba's own dependency
import numpy as np
from numba import njit, types, uint64
from numpy.typing import NDArray

#: segment kinds, as the kernel's integer codes
UNIFORM, EXPONENTIAL, NORMAL, INTEGERS = 0, 1, 2, 3
KINDS = {"uniform": UNIFORM, "exponential": EXPONENTIAL, "normal": NORMAL, "integers": INTEGERS}

# numpy/random/bit_generator.pyx (SeedSequence) and numpy/random/src/pcg64 (PCG64 seeding)
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL = 4
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341

#: numpy's exported C functions the kernel calls
_C_FUNCTIONS = (
    "random_uniform",
    "random_standard_exponential_fill",
    "random_normal",
    "random_bounded_uint64_fill",
)
_PREFIX = "splitenv_numpy_"


@dataclass(frozen=True)
class Plan:
    """What each stream draws, in order: per segment its kind code, count and two parameters.

    ``a``/``b``: uniform (low, high - low); normal (loc, scale); integers (low, high - 1 -
    low) as uint64 in ``ia``/``ib`` (numpy's offset and closed range; the draws are the
    uint64 sums, int64 in two's complement); exponential none. ``start``: each segment's first column.
    """

    kinds: NDArray[np.int64]
    counts: NDArray[np.int64]
    start: NDArray[np.int64]
    a: NDArray[np.float64]
    b: NDArray[np.float64]
    ia: NDArray[np.uint64]
    ib: NDArray[np.uint64]
    width: int


def plan(segments: tuple[tuple[str, int, float, float], ...]) -> Plan:
    """The kernel's plan of ``(kind, count, low, high)`` segments (see :class:`Plan`).

    Raises:
        ValueError: an unknown kind, or integer bounds that are not integers in
            [-2**63, 2**63] with at least one value.
    """
    kinds, counts, a, b, ia, ib = [], [], [], [], [], []
    for kind, count, low, high in segments:
        if kind not in KINDS:
            raise ValueError(f"segment kind {kind!r}; allowed: {', '.join(KINDS)}")
        kinds.append(KINDS[kind])
        counts.append(int(count))
        a.append(float(low))
        b.append(float(high) - float(low) if kind == "uniform" else float(high))
        if kind == "integers":
            if (
                int(low) != low
                or int(high) != high
                or not -(2**63) <= int(low) < int(high) <= 2**63
            ):
                raise ValueError(
                    f"integers({low}, {high}): integer bounds with -2**63 <= low < high <= 2**63"
                )
            ia.append(int(low) % 2**64)  # numpy's offset: the int64 low as uint64
            ib.append(int(high) - 1 - int(low))  # numpy's closed range high - 1 - low
        else:
            ia.append(0)
            ib.append(0)
    start = (np.cumsum(counts) - np.array(counts, dtype=np.int64)).astype(np.int64)
    return Plan(
        np.array(kinds, dtype=np.int64), np.array(counts, dtype=np.int64), start,
        np.array(a), np.array(b), np.array(ia, dtype=np.uint64), np.array(ib, dtype=np.uint64),
        int(sum(counts)),
    )  # fmt: skip


class Kernel:
    """The compiled loop with its reused ``PCG64`` (one per thread: :func:`kernel`)."""

    def __init__(self, loop: Any) -> None:
        self._loop = loop
        self._bit_generator = np.random.PCG64(0)  # kept alive: the kernel writes its state
        iface = self._bit_generator.ctypes
        self._bitgen = int(iface.bit_generator.value)
        # pcg64_state {pcg64_random_t *pcg_state; int has_uint32; uint32_t uinteger}
        address = int(iface.state_address)
        self._pcg = int(ctypes.cast(address, ctypes.POINTER(ctypes.c_void_p))[0])
        # has_uint32, uinteger: the half-output next_uint32 keeps (integers draw halves)
        self._buffer = np.ctypeslib.as_array(
            ctypes.cast(address + ctypes.sizeof(ctypes.c_void_p), ctypes.POINTER(ctypes.c_uint32)),
            shape=(2,),
        )
        # pcg64_random_t {pcg128_t state; pcg128_t inc}: 128-bit little-endian (low word first)
        self._state = np.ctypeslib.as_array(
            ctypes.cast(self._pcg, ctypes.POINTER(ctypes.c_uint64)), shape=(4,)
        )

    def draw(
        self, entropy: NDArray[np.uint64], p: Plan
    ) -> tuple[NDArray[np.float64], NDArray[np.uint64]]:
        """Every stream's draws: (K, width) doubles and (K, width) integers (their segments' columns).

        ``entropy``: (K, W) the streams' 32-bit entropy words ``[seed, *key]`` (uint64 holding
        values below 2**32).
        """
        k = entropy.shape[0]
        values = np.zeros((k, p.width))
        ints = np.zeros((k, p.width), dtype=np.uint64)
        if k and p.width:
            self._loop(
                np.ascontiguousarray(entropy, dtype=np.uint64), self._state, self._buffer,
                self._bitgen,
                p.kinds, p.counts, p.start, p.a, p.b, p.ia, p.ib, values, ints,
            )  # fmt: skip
        return values, ints

    def seed_states(self, entropy: NDArray[np.uint64]) -> NDArray[np.uint64]:
        """``PCG64(SeedSequence(row))``'s (state low, high, inc low, high) of each entropy row, (K, 4)."""
        out = np.zeros((entropy.shape[0], 4), dtype=np.uint64)
        _seed_rows(np.ascontiguousarray(entropy, dtype=np.uint64), out)
        return out

    def bounded(
        self, states: NDArray[np.uint64], buffers: NDArray[np.uint32], low: int, high: int
    ) -> NDArray[np.int64]:
        """``Generator.integers(low, high)`` of each generator (row of ``states``/``buffers``).

        The generators advance in place: ``states`` (K, 4) as :meth:`seed_states` and
        ``buffers`` (K, 2) their ``has_uint32, uinteger`` (the half-output numpy keeps).
        """
        out = np.zeros(states.shape[0], dtype=np.uint64)
        _bounded_rows(
            states, buffers, self._state, self._buffer, self._bitgen,
            np.uint64(low % 2**64), np.uint64(high - 1 - low), out,
        )  # fmt: skip
        return out.view(np.int64)


def _link() -> tuple[Any, ...] | None:
    """The C functions of numpy's random C API as numba external functions, linked by name.

    None if this numpy does not export them (then :func:`kernel` is None).
    """
    try:
        lib = ctypes.CDLL(np.random._generator.__file__)
        addresses = [
            ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in _C_FUNCTIONS
        ]
    except (OSError, AttributeError):
        return None
    for name, address in zip(_C_FUNCTIONS, addresses, strict=True):
        llvm.add_symbol(_PREFIX + name, address)
    vp, f64, i64, u64 = types.voidptr, types.float64, types.int64, types.uint64
    return (
        types.ExternalFunction(_PREFIX + "random_uniform", f64(vp, f64, f64)),
        types.ExternalFunction(
            _PREFIX + "random_standard_exponential_fill", types.void(vp, i64, vp)
        ),
        types.ExternalFunction(_PREFIX + "random_normal", f64(vp, f64, f64)),
        types.ExternalFunction(
            _PREFIX + "random_bounded_uint64_fill", types.void(vp, u64, u64, i64, types.boolean, vp)
        ),
    )


_LINKED = _link()
_uniform, _exp_fill, _normal, _int_fill = _LINKED or (None, None, None, None)
_M32 = uint64(0xFFFFFFFF)
_S16, _S32, _S63, _ONE, _ZERO = uint64(16), uint64(32), uint64(63), uint64(1), uint64(0)
_U_INIT_A, _U_MULT_A = uint64(_INIT_A), uint64(_MULT_A)
_U_INIT_B, _U_MULT_B = uint64(_INIT_B), uint64(_MULT_B)
_U_MIX_L, _U_MIX_R = uint64(_MIX_L), uint64(_MIX_R)
_MULT_HI, _MULT_LO = uint64(_PCG_MULT >> 64), uint64(_PCG_MULT & (2**64 - 1))


@njit(cache=True)
def _hashmix(value, h):  # type: ignore[no-untyped-def]
    """The hashmix of numpy's SeedSequence: (mixed value, next hash constant), uint32 values held in uint64."""
    value = (value ^ h) & _M32
    h = (h * _U_MULT_A) & _M32
    value = (value * h) & _M32
    return value ^ (value >> _S16), h


@njit(cache=True)
def _mix(x, y):  # type: ignore[no-untyped-def]
    r = (_U_MIX_L * x - _U_MIX_R * y) & _M32
    return r ^ (r >> _S16)


@njit(cache=True)
def _mulhi(a, b):  # type: ignore[no-untyped-def]
    """High 64 bits of the 128-bit product of two uint64."""
    a0, a1, b0, b1 = a & _M32, a >> _S32, b & _M32, b >> _S32
    t = a0 * b0
    u = a1 * b0 + (t >> _S32)
    v = a0 * b1 + (u & _M32)
    return a1 * b1 + (u >> _S32) + (v >> _S32)


@njit(cache=True)
def _add128(a_hi, a_lo, b_hi, b_lo):  # type: ignore[no-untyped-def]
    """(a + b) mod 2**128 as (high, low)."""
    lo = a_lo + b_lo
    return a_hi + b_hi + (_ONE if lo < a_lo else _ZERO), lo


@njit(cache=True)
def _pcg_state(entropy, pool, words):  # type: ignore[no-untyped-def]
    """PCG64(SeedSequence(entropy)): its (state high, state low, inc high, inc low)."""
    width = entropy.shape[0]
    # SeedSequence.mix_entropy (numpy/random/bit_generator.pyx)
    h = _U_INIT_A
    for j in range(4):
        pool[j], h = _hashmix(entropy[j] if j < width else _ZERO, h)
    for src in range(4):
        for dst in range(4):
            if src != dst:
                mixed, h = _hashmix(pool[src], h)
                pool[dst] = _mix(pool[dst], mixed)
    for src in range(4, width):
        for dst in range(4):
            mixed, h = _hashmix(entropy[src], h)
            pool[dst] = _mix(pool[dst], mixed)
    # SeedSequence.generate_state(4, uint64): 8 uint32 words cycling over the pool
    h = _U_INIT_B
    for j in range(8):
        value = (pool[j % 4] ^ h) & _M32
        h = (h * _U_MULT_B) & _M32
        value = (value * h) & _M32
        words[j] = value ^ (value >> _S16)
    s0 = words[0] | (words[1] << _S32)  # uint32 pairs, little-endian
    s1 = words[2] | (words[3] << _S32)
    s2 = words[4] | (words[5] << _S32)
    s3 = words[6] | (words[7] << _S32)
    # pcg_setseq_128_srandom_r(seed = s0:s1, seq = s2:s3): inc = seq << 1 | 1,
    # state = (inc + seed) * MULT + inc, all mod 2**128
    inc_hi = (s2 << _ONE) | (s3 >> _S63)
    inc_lo = (s3 << _ONE) | _ONE
    t_hi, t_lo = _add128(inc_hi, inc_lo, s0, s1)
    m_hi = _mulhi(t_lo, _MULT_LO) + t_lo * _MULT_HI + t_hi * _MULT_LO
    m_lo = t_lo * _MULT_LO
    st_hi, st_lo = _add128(m_hi, m_lo, inc_hi, inc_lo)
    return st_hi, st_lo, inc_hi, inc_lo


@njit(cache=True)
def _loop(entropy, state, buffer, bitgen, kinds, counts, start, a, b, ia, ib, values, ints):  # type: ignore[no-untyped-def]
    """Seed each stream into ``state`` (the reused PCG64's), then draw its segments."""
    pool = np.zeros(4, dtype=np.uint64)
    words = np.zeros(8, dtype=np.uint64)
    for i in range(entropy.shape[0]):
        st_hi, st_lo, inc_hi, inc_lo = _pcg_state(entropy[i], pool, words)
        state[0], state[1], state[2], state[3] = st_lo, st_hi, inc_lo, inc_hi
        buffer[0], buffer[1] = 0, 0  # a fresh generator holds no half-output
        for seg in range(kinds.shape[0]):
            c0, n, kind = start[seg], counts[seg], kinds[seg]
            if kind == 0:  # Generator.uniform: low + (high - low) * next_double
                for j in range(n):
                    values[i, c0 + j] = _uniform(bitgen, a[seg], b[seg])
            elif kind == 1:  # Generator.standard_exponential (ziggurat)
                _exp_fill(bitgen, n, values[i, c0:].ctypes.data)
            elif kind == 2:  # Generator.normal: loc + scale * standard normal (ziggurat)
                for j in range(n):
                    values[i, c0 + j] = _normal(bitgen, a[seg], b[seg])
            else:  # Generator.integers(low, high): unmasked bounded, off = low, rng = high-1-low
                _int_fill(bitgen, ia[seg], ib[seg], n, False, ints[i, c0:].ctypes.data)


@njit(cache=True)
def _seed_rows(entropy, out):  # type: ignore[no-untyped-def]
    """:func:`_pcg_state` of every entropy row, as (state low, high, inc low, high)."""
    pool = np.zeros(4, dtype=np.uint64)
    words = np.zeros(8, dtype=np.uint64)
    for i in range(entropy.shape[0]):
        st_hi, st_lo, inc_hi, inc_lo = _pcg_state(entropy[i], pool, words)
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = st_lo, st_hi, inc_lo, inc_hi


@njit(cache=True)
def _bounded_rows(states, buffers, state, buffer, bitgen, off, rng, out):  # type: ignore[no-untyped-def]
    """One ``Generator.integers`` draw from each generator, their states advanced in place."""
    for i in range(states.shape[0]):
        state[0], state[1], state[2], state[3] = (
            states[i, 0],
            states[i, 1],
            states[i, 2],
            states[i, 3],
        )
        buffer[0], buffer[1] = buffers[i, 0], buffers[i, 1]
        _int_fill(bitgen, off, rng, 1, False, out[i:].ctypes.data)
        states[i, 0], states[i, 1], states[i, 2], states[i, 3] = (
            state[0],
            state[1],
            state[2],
            state[3],
        )
        buffers[i, 0], buffers[i, 1] = buffer[0], buffer[1]


#: the process's checked kernel, or None (built and checked at the first call of :func:`kernel`)
_KERNEL: list[Kernel | None] = []
#: each thread's own kernel: a Kernel writes its reused PCG64's state, so threads do not share one
_THREAD = threading.local()


def kernel() -> Kernel | None:
    """This thread's compiled kernel; None if unavailable or drawing differently from numpy.

    Built and checked against numpy once per process (:func:`_self_check`); every other
    thread gets a kernel of its own (one reused ``PCG64`` each).
    """
    if not _KERNEL:
        built: Kernel | None = None
        if _LINKED is not None:
            try:
                built = Kernel(_loop)
            except (OSError, AttributeError, ValueError):  # numpy without the state interface
                built = None
        if built is not None and not _self_check(built):
            built = None
        _KERNEL.append(built)
        _THREAD.kernel = built
    checked = _KERNEL[0]
    if checked is None:
        return None
    own: Kernel | None = getattr(_THREAD, "kernel", None)
    if own is None:
        own = _THREAD.kernel = Kernel(_loop)
    return own


def entropy_words(seeds: NDArray[np.int64], key: tuple[NDArray[np.int64] | int, ...]) -> Any:
    """(K, 1 + len(key)) entropy words ``[seeds[i], *key_i]`` as uint64.

    Raises:
        ValueError: a value outside [0, 2**32) (numpy splits larger ones into more words).
    """
    seeds = np.asarray(seeds, dtype=np.int64)
    entropy = np.empty((*seeds.shape, 1 + len(key)), dtype=np.int64)
    entropy[..., 0] = seeds
    for i, c in enumerate(key, 1):
        entropy[..., i] = np.asarray(c, dtype=np.int64)
    # a word is in [0, 2**32) iff nothing is left above its low 32 bits (negatives keep -1)
    if np.logical_or.reduce(entropy >> 32, axis=None):
        raise ValueError("stream keys must lie in [0, 2**32) for the batched streams")
    return entropy.view(np.uint64)  # non-negative: the same values


def _self_check(k: Kernel) -> bool:
    """The kernel against ``default_rng`` on random keys of every width and kind."""
    rng = np.random.default_rng(20261206)
    segments = (
        ("exponential", 40, 0.0, 1.0), ("uniform", 7, 2.0, 3.5), ("normal", 40, 0.5, 8.0),
        ("integers", 9, 0, 3), ("uniform", 3, 0.0, 1.0),
    )  # fmt: skip
    p = plan(segments)
    for width in (1, 3, 4, 6):
        ent = rng.integers(0, 2**32, (32, width)).astype(np.uint64)
        values, ints = k.draw(ent, p)
        for i in range(ent.shape[0]):
            gen = np.random.default_rng(np.random.SeedSequence([int(v) for v in ent[i]]))
            want = [
                gen.standard_exponential(40), gen.uniform(2.0, 3.5, 7), gen.normal(0.5, 8.0, 40),
                gen.integers(0, 3, 9), gen.uniform(0.0, 1.0, 3),
            ]  # fmt: skip
            got = [
                values[i, :40],
                values[i, 40:47],
                values[i, 47:87],
                ints[i, 87:96],
                values[i, 96:],
            ]
            for g, w in zip(got, want, strict=True):
                if not np.array_equal(np.asarray(g).astype(w.dtype), w):
                    return False
    return True
