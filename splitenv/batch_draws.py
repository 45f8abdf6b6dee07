"""Draws of many seeded streams at once, bit-identical to numpy's ``Generator`` on each stream.

:mod:`splitenv.streams` seeds K streams at once but then draws from them one at a time (a
state loaded into a ``Generator``, then its ``uniform`` / ``standard_exponential`` /
``normal``): a few microseconds of Python per stream, which at K = 256 envs costs more than
the engine. Here the K streams are stepped together in uint64 arithmetic: the j-th output
of PCG64 (numpy's ``PCG64``: a 128-bit LCG, XSL-RR output) is computed for every stream
and every j at once from the jump-ahead ``s_j = a^j s_0 + (a^(j-1) + ... + 1) inc``, and
turned into numpy's doubles as numpy's ``random_uniform`` (``low + (high - low) * (u >> 11)
* 2^-53``) and its ziggurat samplers of the standard exponential and normal do, or into its
bounded integers (``integers(low, high)`` below 2^32 values: Lemire's multiply-shift on the
32-bit halves of the outputs, low half first, as PCG64's ``next_uint32`` buffers them; what
``Generator.choice(a, n)`` draws for ``a[integers(0, len(a), n)]``). The ziggurat's fast path
takes one output per draw (about 99 % of draws), Lemire's one half-output unless it rejects
(a chance of (2^32 mod range) / 2^32); a stream that leaves them in any draw is redrawn by
numpy itself (:class:`~splitenv.streams.Streams`), so every value is numpy's own. Fewer than :data:`VECTOR_MIN_STREAMS` streams are drawn by numpy one
by one (seeded at once all the same).

The ziggurat's tables are numpy's, read from numpy at first use (one crafted output per
table entry: a draw returns the entry, or tells on which side of the threshold it lies), and
the whole path is compared with numpy on random streams before it is used; should a numpy
version draw differently, :func:`plan_draws` falls back to numpy stream by stream
(tests/env/test_batch_draws.py checks the equality on random keys).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.streams import Streams, seed_words, states_of_words

#: fewer streams are drawn by numpy one by one: the batched path's fixed cost (about 60
#: array operations) and its redraws (a third of the streams leave the exponential's fast
#: path in 20 draws) outweigh numpy's 3 us per stream below about 100 streams
VECTOR_MIN_STREAMS = 96

_U = np.uint64
_M32 = _U(0xFFFFFFFF)
_MULT = (2549297995355413924 << 64) + 4865540595714422341  # numpy's PCG64 multiplier
_M128 = (1 << 128) - 1
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2^-53, numpy's next_double


@dataclass(frozen=True)
class Segment:
    """``count`` consecutive draws of one kind from a stream.

    ``kind``: ``"uniform"`` (numpy's ``uniform(low, high, count)``), ``"exponential"``
    (``standard_exponential(count)``), ``"normal"`` (``normal(low, high, count)``: mean
    ``low``, scale ``high``) or ``"integers"`` (``integers(low, high, count)``, int64; integer
    bounds, at most 2^32 values).
    """

    kind: str
    count: int
    low: float = 0.0
    high: float = 1.0


def _split(value: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    return np.array([value >> 64], dtype=_U), np.array([value & ((1 << 64) - 1)], dtype=_U)


def _mulhi(a: NDArray[np.uint64], b0: NDArray[np.uint64], b1: NDArray[np.uint64]) -> Any:
    """High 64 bits of the 128-bit product a * b (b given as its 32-bit halves b1:b0)."""
    a0, a1 = a & _M32, a >> _U(32)
    t = a0 * b0
    u = a1 * b0 + (t >> _U(32))
    v = a0 * b1 + (u & _M32)
    return a1 * b1 + (u >> _U(32)) + (v >> _U(32))


class _Jumps:
    """``a^j`` and ``1 + a + ... + a^(j-1)`` mod 2^128 for j = 1..J, as uint64 halves (1, J)."""

    def __init__(self, count: int) -> None:
        pows, sums = [], []
        p, s = 1, 0
        for _ in range(count + 1):  # j = 1 .. count + 1 (the seeding adds one step)
            s = (s + p) & _M128
            p = (p * _MULT) & _M128
            pows.append(p)
            sums.append(s)
        self.count = count
        self.pow = self._halves(pows)
        self.sum = self._halves(sums)

    @staticmethod
    def _halves(values: list[int]) -> tuple[NDArray[np.uint64], ...]:
        hi = np.array([v >> 64 for v in values], dtype=_U)[None, :]
        lo = np.array([v & ((1 << 64) - 1) for v in values], dtype=_U)[None, :]
        return hi, lo, lo & _M32, lo >> _U(32)

    def outputs(
        self, t_hi: NDArray[np.uint64], t_lo: NDArray[np.uint64], inc: tuple[Any, Any]
    ) -> NDArray[np.uint64]:
        """PCG64 outputs 1..J of streams whose seeding sum (state + inc) is ``t``, (K, J).

        numpy seeds PCG64 as ``s = (t) a + inc`` and steps ``s <- s a + inc`` before each
        output, so output j reads ``s_j = a^(j+1) t + (1 + ... + a^j) inc``.
        """
        p_hi, p_lo, p_b0, p_b1 = (x[:, 1:] for x in self.pow)
        q_hi, q_lo, q_b0, q_b1 = (x[:, 1:] for x in self.sum)
        i_hi, i_lo = inc
        t_hi, t_lo, i_hi, i_lo = t_hi[:, None], t_lo[:, None], i_hi[:, None], i_lo[:, None]
        lo1 = t_lo * p_lo
        hi1 = _mulhi(t_lo, p_b0, p_b1) + t_hi * p_lo + t_lo * p_hi
        lo2 = i_lo * q_lo
        hi2 = _mulhi(i_lo, q_b0, q_b1) + i_hi * q_lo + i_lo * q_hi
        lo = lo1 + lo2
        hi = hi1 + hi2 + (lo < lo1).astype(_U)
        x = hi ^ lo  # XSL-RR: xor the halves, rotate right by the top 6 bits
        rot = hi >> _U(58)
        return (x >> rot) | (x << ((_U(64) - rot) & _U(63)))


@dataclass(frozen=True)
class _Tables:
    """numpy's ziggurat tables (exponential: ke, we; normal: ki, wi), 256 entries each."""

    ke: NDArray[np.uint64]
    we: NDArray[np.float64]
    ki: NDArray[np.uint64]
    wi: NDArray[np.float64]


class _Probe:
    """A numpy Generator made to return a chosen next PCG64 output (to read numpy's tables)."""

    def __init__(self) -> None:
        self.gen = np.random.Generator(np.random.PCG64(0))
        self._inverse = pow(_MULT, -1, 1 << 128)

    def draw(self, output: int, method: str) -> tuple[float, bool]:
        """The value ``method`` returns when the next output is ``output``; one output taken?"""
        # the state whose XSL-RR output is ``output``: high half 0 (no rotation), low half it
        after = output
        before = ((after - 1) * self._inverse) & _M128
        self.gen.bit_generator.state = {
            "bit_generator": "PCG64", "state": {"state": before, "inc": 1},
            "has_uint32": 0, "uinteger": 0,
        }  # fmt: skip
        value = float(getattr(self.gen, method)())
        return value, self.gen.bit_generator.state["state"]["state"] == after

    def table(self, method: str, craft: Any, top: int) -> tuple[NDArray[Any], NDArray[Any]]:
        """(threshold, weight) of each of the 256 entries.

        ``craft(idx, r)``: the output that selects entry idx with magnitude r. The weight is the
        value at r = 1; the threshold the least r that leaves the fast path (bisection: the
        fast path is ``r < threshold``; an entry whose threshold is at most 1 never needs its
        weight).
        """
        weights, limits = np.zeros(256), np.zeros(256, dtype=_U)
        for idx in range(256):
            value, fast = self.draw(craft(idx, 1), method)
            if not fast:  # an entry that always leaves it (numpy's exponential entry 1)
                limits[idx] = 1 if self.draw(craft(idx, 0), method)[1] else 0
                continue
            weights[idx] = value
            lo, hi = 1, top  # fast at lo; hi is past every magnitude the output can hold
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self.draw(craft(idx, mid), method)[1]:
                    lo = mid
                else:
                    hi = mid
            limits[idx] = hi
        return limits, weights


def _read_tables() -> _Tables:
    probe = _Probe()
    ke, we = probe.table("standard_exponential", lambda i, r: ((r << 8) | i) << 3, 1 << 53)
    ki, wi = probe.table("standard_normal", lambda i, r: (r << 9) | i, 1 << 52)
    return _Tables(ke, we, ki, wi)


class BatchDraws:
    """Draws of K streams, each a fixed sequence of :class:`Segment` (see the module docstring).

    Args:
        segments: what each stream draws, in order.
    """

    def __init__(self, segments: tuple[Segment, ...]) -> None:
        self.segments = tuple(s for s in segments if s.count > 0)
        #: each segment's outputs: a slice of the outputs (doubles), or the indices of its
        #: 32-bit halves (integers: 2 j the low half of output j, 2 j + 1 its high half)
        self._places: list[slice | NDArray[np.intp]] = []
        at, held = 0, -1  # the next output; the output whose high half numpy holds (or -1)
        for seg in self.segments:
            if seg.kind != "integers":
                self._places.append(slice(at, at + seg.count))
                at += seg.count
                continue
            span = int(seg.high) - int(seg.low)
            if not 1 <= span <= 2**32 or int(seg.low) != seg.low or int(seg.high) != seg.high:
                raise ValueError(f"{seg}: integer bounds with 1 to 2**32 values allowed")
            halves = []
            for _ in range(seg.count if span > 1 else 0):  # one value: numpy draws nothing
                if held >= 0:
                    halves.append(2 * held + 1)
                    held = -1
                else:
                    halves.append(2 * at)
                    held, at = at, at + 1
            self._places.append(np.array(halves, dtype=np.intp))
        self.width = at
        self._jumps = _Jumps(self.width)
        self._streams = Streams()
        #: the redraw's calls (:meth:`_redraw`): runs of segments of one kind of double drawn
        #: by one call into a buffer of the doubles' unit draws, (kind, start, stop) each;
        #: integers one call per segment, (kind, segment index, -1)
        self._runs: list[tuple[str, int, int]] = []
        self._unit: list[slice | None] = []  # each segment's unit draws in that buffer
        width = 0
        for i, seg in enumerate(self.segments):
            if seg.kind == "integers":
                self._runs.append((seg.kind, i, -1))
                self._unit.append(None)
                continue
            if self._runs and self._runs[-1][0] == seg.kind:
                self._runs[-1] = (seg.kind, self._runs[-1][1], width + seg.count)
            else:
                self._runs.append((seg.kind, width, width + seg.count))
            self._unit.append(slice(width, width + seg.count))
            width += seg.count
        self._unit_width = width

    def draw(
        self, seeds: NDArray[np.int64], key: tuple[NDArray[np.int64] | int, ...]
    ) -> list[NDArray[Any]]:
        """Each segment's draws of the streams ``[seeds[i], *key_i]``, (K, count) each.

        Bit for bit what ``default_rng(SeedSequence([seeds[i], *key_i]))`` draws, segment after
        segment (numpy redraws the streams that leave a ziggurat's fast path).

        Raises:
            ValueError: a seed or key value outside [0, 2**32) (as :func:`pcg64_states`).
        """
        words = seed_words(seeds, key)
        k = words.shape[0]
        if not k or not self.width:
            return self._empty(k)
        tables = ziggurat_tables() if k >= VECTOR_MIN_STREAMS else None  # (read when needed)
        if tables is None:
            return self._numpy(np.arange(k), states_of_words(words), k)
        s0, s1, s2, s3 = words.T
        inc_hi, inc_lo = (s2 << _U(1)) | (s3 >> _U(63)), (s3 << _U(1)) | _U(1)
        t_lo = s1 + inc_lo
        t_hi = s0 + inc_hi + (t_lo < s1).astype(_U)
        out = self._jumps.outputs(t_hi, t_lo, (inc_hi, inc_lo))
        values, slow = self._convert(out, tables)
        if slow.any():
            rows = np.flatnonzero(slow)
            redrawn = self._redraw(states_of_words(words[rows]))
            for arr, again in zip(values, redrawn, strict=True):
                arr[rows] = again
        return values

    def _redraw(self, states: list[tuple[int, int]]) -> list[NDArray[Any]]:
        """The segments of the streams in ``states`` drawn by numpy (those that left a fast path).

        As :meth:`_numpy`, with fewer calls a stream: a run of segments of one kind is one call
        of numpy's unit sampler (``standard_normal``, ``random``, ``standard_exponential``) and
        the segments' ``low + scale * x`` (numpy's ``normal``, ``uniform``) are applied to all
        the streams at once after; the self-check (:func:`ziggurat_tables`) covers it.
        """
        m = len(states)
        unit = np.empty((m, self._unit_width))
        ints = {i: np.empty((m, s.count), dtype=np.int64) for i, s in enumerate(self.segments)
                if s.kind == "integers"}  # fmt: skip
        gen = self._streams.load(states[0])  # the one generator every state is loaded into
        samplers = {"normal": gen.standard_normal, "uniform": gen.random,
                    "exponential": gen.standard_exponential}  # fmt: skip
        calls = [(samplers.get(kind), a, b) for kind, a, b in self._runs]
        for j, state in enumerate(states):
            self._streams.load(state)
            for sample, a, b in calls:
                if sample is not None:
                    sample(out=unit[j, a:b])
                else:  # integers: ``a`` is the segment
                    seg = self.segments[a]
                    ints[a][j] = gen.integers(int(seg.low), int(seg.high), seg.count)
        values: list[NDArray[Any]] = []
        for i, (seg, place) in enumerate(zip(self.segments, self._unit, strict=True)):
            if place is None:
                values.append(ints[i])
            elif seg.kind == "uniform":
                values.append(seg.low + (seg.high - seg.low) * unit[:, place])
            elif seg.kind == "normal":
                values.append(seg.low + seg.high * unit[:, place])
            else:
                values.append(unit[:, place])
        return values

    def _empty(self, k: int) -> list[NDArray[Any]]:
        """Each segment's (k, count) array of its dtype (int64 for integers), zero."""
        return [
            np.zeros((k, s.count), dtype=np.int64 if s.kind == "integers" else np.float64)
            for s in self.segments
        ]

    def _convert(
        self, out: NDArray[np.uint64], tables: _Tables
    ) -> tuple[list[NDArray[Any]], NDArray[np.bool_]]:
        """The values numpy makes of the outputs, and the streams that left a fast path."""
        values: list[NDArray[Any]] = []
        slow = np.zeros(out.shape[0], dtype=bool)
        halves = None
        for seg, place in zip(self.segments, self._places, strict=True):
            if seg.kind == "integers":  # Lemire: m = x * range, rejected if m mod 2^32 < t
                if halves is None:  # (K, 2 W): each output's low half, then its high half
                    halves = np.stack([out & _M32, out >> _U(32)], axis=-1)
                    halves = halves.reshape(out.shape[0], -1)
                span = int(seg.high) - int(seg.low)
                if span == 1:
                    values.append(np.full((out.shape[0], seg.count), int(seg.low), dtype=np.int64))
                    continue
                m = halves[:, place] * _U(span)
                values.append((m >> _U(32)).astype(np.int64) + int(seg.low))
                slow |= ((m & _M32) < _U((2**32 - span) % span)).any(axis=1)
                continue
            u = out[:, place]
            if seg.kind == "uniform":
                d = (u >> _U(11)).astype(np.float64) * _TO_DOUBLE
                values.append(seg.low + (seg.high - seg.low) * d)
            elif seg.kind == "exponential":
                r = u >> _U(3)
                idx = (r & _U(0xFF)).astype(np.intp)
                r = r >> _U(8)
                values.append(r.astype(np.float64) * tables.we[idx])
                slow |= (r >= tables.ke[idx]).any(axis=1)
            else:  # normal: sign bit, then 52 bits of magnitude
                idx = (u & _U(0xFF)).astype(np.intp)
                r = u >> _U(8)
                mag = (r >> _U(1)) & _U(0x000FFFFFFFFFFFFF)
                x = mag.astype(np.float64) * tables.wi[idx]
                x = np.where((r & _U(1)).astype(bool), -x, x)
                values.append(seg.low + seg.high * x)
                slow |= (mag >= tables.ki[idx]).any(axis=1)
        return values, slow

    def _numpy(
        self, rows: NDArray[np.int64], states: list[tuple[int, int]], k: int
    ) -> list[NDArray[Any]]:
        """The segments drawn by numpy, stream by stream (the reference path)."""
        values = self._empty(k)
        for j in range(len(rows)):
            gen = self._streams.load(states[j])
            for seg, arr in zip(self.segments, values, strict=True):
                if seg.kind == "uniform":
                    arr[j] = gen.uniform(seg.low, seg.high, seg.count)
                elif seg.kind == "exponential":
                    gen.standard_exponential(out=arr[j])
                elif seg.kind == "integers":
                    arr[j] = gen.integers(int(seg.low), int(seg.high), seg.count)
                else:
                    arr[j] = gen.normal(seg.low, seg.high, seg.count)
        return values


_TABLES: list[_Tables | None] = []


def ziggurat_tables() -> _Tables | None:
    """The ziggurat tables of numpy, read once per process and checked; None if it draws otherwise."""
    if not _TABLES:
        tables: _Tables | None = _read_tables()
        _TABLES.append(tables)
        if not _self_check():
            warnings.warn(
                "splitenv.batch_draws: this numpy draws differently from the batched path; "
                "drawing stream by stream with numpy (slower, same values)",
                RuntimeWarning,
                stacklevel=2,
            )
            tables = None
        _TABLES[0] = tables
    return _TABLES[0]


def _self_check() -> bool:
    """The batched path against numpy on random streams (every kind, fast and slow paths).

    On enough streams for the batched path (:data:`VECTOR_MIN_STREAMS`): fewer would be drawn
    by numpy itself, and the check would compare numpy with numpy.
    """
    k = max(128, VECTOR_MIN_STREAMS)
    rng = np.random.default_rng(12345)
    seeds = rng.integers(0, 2**32, k)
    key = (1, rng.integers(0, 2**32, k))
    segments = (
        Segment("exponential", 40), Segment("integers", 3, 0, 3), Segment("uniform", 7, 2.0, 3.5),
        Segment("integers", 4, 2, 3 << 30), Segment("normal", 40, 0.5, 8.0),
    )  # fmt: skip
    got = BatchDraws(segments).draw(seeds, key)
    for i in range(k):
        ref = np.random.default_rng(np.random.SeedSequence([int(seeds[i]), 1, int(key[1][i])]))
        want = [
            ref.standard_exponential(40), ref.integers(0, 3, 3), ref.uniform(2.0, 3.5, 7),
            ref.integers(2, 3 << 30, 4), ref.normal(0.5, 8.0, 40),
        ]  # fmt: skip
        if not all(np.array_equal(g[i], w) for g, w in zip(got, want, strict=True)):
            return False
    return True
