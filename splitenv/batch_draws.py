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

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.streams import Streams, pcg64_states


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
        self._streams = Streams()

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
            return self._numpy(seeds, key, k)
        values, ints = compiled.draw(entropy, self._plan)
        return [
            ints[:, cols].view(np.int64) if integer else values[:, cols]
            for cols, integer in self._columns
        ]

    def _numpy(
        self, seeds: NDArray[np.int64], key: tuple[NDArray[np.int64] | int, ...], k: int
    ) -> list[NDArray[Any]]:
        """The segments drawn by numpy, stream by stream (the reference path)."""
        values = [
            np.zeros((k, s.count), dtype=np.int64 if s.kind == "integers" else np.float64)
            for s in self.segments
        ]
        states = pcg64_states(seeds, key) if k else []
        for j in range(k):
            gen = self._streams.load(states[j])
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
