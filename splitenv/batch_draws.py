"""Draws of many seeded streams at once, bit-identical to numpy's ``Generator`` on each stream.

Every random draw of a scenario (:class:`~splitenv.scenarios.StateSampler`) comes from a
generator keyed by ``(seed, stream, round, epoch)``: ``default_rng(SeedSequence([seed,
*key]))``. :class:`BatchDraws` draws a fixed sequence of :class:`Segment` from K such
streams in one call of :mod:`splitenv.draw_kernel` (a compiled loop that seeds each stream
as numpy does and draws with numpy's own C distributions), so every value is numpy's own.
Where the kernel is unavailable (:func:`splitenv.draw_kernel.kernel` is None: its self-check
against numpy failed) the streams are drawn by numpy one by one (the same values, slower).
tests/env/test_batch_draws.py checks both paths against numpy on random keys.

:mod:`splitenv.draw_kernel` (and with it numba) is imported at the first draw, not with
:mod:`splitenv`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Segment:
    """``count`` consecutive draws of one kind from a stream.

    ``kind``: ``"uniform"`` (numpy's ``uniform(low, high, count)``), ``"exponential"``
    (``standard_exponential(count)``), ``"normal"`` (``normal(low, high, count)``: mean
    ``low``, scale ``high``) or ``"integers"`` (``integers(low, high, count)``, int64;
    integer bounds ``-2**63 <= low < high <= 2**63``).
    """

    kind: str
    count: int
    low: float = 0.0
    high: float = 1.0


class BatchDraws:
    """Draws of K streams, each a fixed sequence of :class:`Segment` (see the module docstring).

    Args:
        segments: what each stream draws, in order.

    Raises:
        ValueError: an unknown kind or bad integer bounds (naming the segment).
    """

    def __init__(self, segments: tuple[Segment, ...]) -> None:
        from splitenv.draw_kernel import plan

        self.segments = tuple(s for s in segments if s.count > 0)
        self._plan = plan(tuple((s.kind, s.count, s.low, s.high) for s in self.segments))
        #: each segment's columns of the kernel's output, and whether they are integers
        self._columns = tuple(
            (slice(int(c0), int(c0) + s.count), s.kind == "integers")
            for s, c0 in zip(self.segments, self._plan.start, strict=True)
        )

    def draw(
        self, seeds: NDArray[np.int64], key: tuple[NDArray[np.int64] | int, ...]
    ) -> list[NDArray[Any]]:
        """Each segment's draws of the streams ``[seeds[i], *key_i]``, (K, count) each.

        Bit for bit what ``default_rng(SeedSequence([seeds[i], *key_i]))`` draws, segment after
        segment: float64 arrays, int64 for ``integers``.

        Raises:
            ValueError: a seed or key value outside [0, 2**32) (one 32-bit entropy word each).
        """
        from splitenv.draw_kernel import entropy_words, kernel

        entropy = entropy_words(seeds, key)
        k = entropy.shape[0]
        compiled = kernel() if k else None
        if compiled is None:
            return self._numpy(entropy)
        values, ints = compiled.draw(entropy, self._plan)
        return [
            ints[:, cols].view(np.int64) if integer else values[:, cols]
            for cols, integer in self._columns
        ]

    def _numpy(self, entropy: NDArray[np.uint64]) -> list[NDArray[Any]]:
        """The segments drawn by numpy, stream by stream: ``default_rng(SeedSequence(row))``."""
        k = entropy.shape[0]
        values = [
            np.zeros((k, s.count), dtype=np.int64 if s.kind == "integers" else np.float64)
            for s in self.segments
        ]
        for j in range(k):
            gen = np.random.default_rng(np.random.SeedSequence(entropy[j].tolist()))
            for seg, arr in zip(self.segments, values, strict=True):
                if seg.kind == "uniform":
                    arr[j] = gen.uniform(seg.low, seg.high, seg.count)
                elif seg.kind == "exponential":
                    gen.standard_exponential(out=arr[j])
                elif seg.kind == "normal":
                    arr[j] = gen.normal(seg.low, seg.high, seg.count)
                else:
                    arr[j] = gen.integers(int(seg.low), int(seg.high), seg.count)
        return values


_M64 = (1 << 64) - 1


class GeneratorRows:
    """K numpy generators held as arrays: what ``gymnasium.utils.seeding.np_random`` gives each env.

    Row i's generator is ``Generator(PCG64(SeedSequence(seed_i)))`` (or fresh OS entropy),
    held as its PCG64 state, (state low, high, inc low, high) in ``state`` (K, 4), and the
    half-output it keeps for 32-bit draws in ``buffer`` (K, 2). :meth:`integers` draws
    ``Generator.integers(high)`` from many rows at once (the compiled kernel,
    :mod:`splitenv.draw_kernel`): bit for bit each row's Generator, advanced in place
    (tests/env/test_batch_draws.py compares them with numpy's).
    """

    def __init__(self, k: int) -> None:
        self.state = np.zeros((k, 4), dtype=np.uint64)
        self.buffer = np.zeros((k, 2), dtype=np.uint32)
        self.seeded = np.zeros(k, dtype=bool)

    def seed(self, rows: NDArray[np.int64], seeds: list[Any]) -> None:
        """Seed ``rows[j]`` with ``seeds[j]``; None keeps its generator (fresh entropy if none).

        Raises:
            gymnasium.error.Error: a seed ``seeding.np_random`` refuses (not a non-negative int).
        """
        from gymnasium.utils import seeding

        from splitenv.draw_kernel import kernel

        if seeds.count(None) == len(seeds) and self.seeded[rows].all():
            return  # every row keeps its generator (an autoreset): nothing to seed
        small, words = [], []
        for i, s in zip(rows, seeds, strict=True):
            if s is None and self.seeded[i]:
                continue
            if s is not None and isinstance(s, int) and 0 <= s < 2**32 and kernel() is not None:
                small.append(i)
                words.append(s)
                continue
            gen, _ = seeding.np_random(s)  # (raises for what gymnasium refuses)
            self._store(int(i), gen.bit_generator.state)
        if small:
            at = np.array(small, dtype=np.int64)
            compiled = kernel()
            assert compiled is not None
            self.state[at] = compiled.seed_states(np.array(words, dtype=np.uint64)[:, None])
            self.buffer[at] = 0
            self.seeded[at] = True

    def _store(self, i: int, st: Mapping[str, Any]) -> None:
        state, inc = st["state"]["state"], st["state"]["inc"]
        self.state[i] = (state & _M64, state >> 64, inc & _M64, inc >> 64)
        self.buffer[i] = (st["has_uint32"], st["uinteger"])
        self.seeded[i] = True

    def integers(self, rows: NDArray[np.int64], high: int) -> NDArray[np.int64]:
        """``Generator.integers(high)`` of each row's generator (int64), advancing them."""
        from splitenv.draw_kernel import kernel

        compiled = kernel()
        if compiled is not None:
            state, buffer = self.state[rows], self.buffer[rows]
            out = compiled.bounded(state, buffer, 0, high)
            self.state[rows], self.buffer[rows] = state, buffer
            return out
        out = np.zeros(rows.size, dtype=np.int64)  # numpy generator by generator
        gen = np.random.Generator(np.random.PCG64(0))
        for j, i in enumerate(rows):
            lo, hi, inc_lo, inc_hi = (int(x) for x in self.state[i])
            gen.bit_generator.state = {
                "bit_generator": "PCG64",
                "state": {"state": (hi << 64) | lo, "inc": (inc_hi << 64) | inc_lo},
                "has_uint32": int(self.buffer[i, 0]), "uinteger": int(self.buffer[i, 1]),
            }  # fmt: skip
            out[j] = gen.integers(high)
            self._store(int(i), gen.bit_generator.state)
        return out
