"""Closed-form accuracy surrogates used as constraints and round counts by the engine.

* SFT (35): accuracy as a cubic in the sparsity rate and the quantization level,
  ``A(rho, q) = P1 + P2 rho + P3 q + P4 rho^2 + P5 q^2 + P6 rho q + P7 rho^3
  + P8 q^3 + P9 rho^2 q + P10 rho q^2``. The paper does not publish P1..P10;
  presets carry coefficients fitted from our own runs (``splitenv calibrate``).
* FedsLLM (17): ``E(r)``, the global rounds needed to reach the target at LoRA
  rank r, from a (rank, rounds) table, linearly interpolated between ranks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray


def sft_cubic(coeffs: Sequence[float], rho: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """SFT (35) evaluated at (rho, q); broadcasts."""
    p = np.asarray(coeffs, dtype=np.float64)
    if p.shape != (10,):
        raise ValueError(f"SFT (35) needs 10 coefficients, got {p.shape}")
    x = np.asarray(rho, dtype=np.float64)
    y = np.asarray(q, dtype=np.float64)
    return (
        p[0] + p[1] * x + p[2] * y + p[3] * x**2 + p[4] * y**2 + p[5] * x * y
        + p[6] * x**3 + p[7] * y**3 + p[8] * x**2 * y + p[9] * x * y**2
    )  # fmt: skip


def sft_cubic_features(rho: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """The 10 monomials of SFT (35) in coefficient order, stacked on the last axis (for fitting)."""
    x = np.asarray(rho, dtype=np.float64)
    y = np.asarray(q, dtype=np.float64)
    one = np.ones_like(x * y)
    return np.stack([one, x, y, x**2, y**2, x * y, x**3, y**3, x**2 * y, x * y**2], axis=-1)


def rounds_for_rank(table: Sequence[tuple[int, int]], rank: ArrayLike) -> NDArray[np.float64]:
    """E(r) of FedsLLM (17) from (rank, rounds) pairs; linear between listed ranks, flat outside."""
    pairs = sorted(table)
    ranks = np.array([p[0] for p in pairs], dtype=np.float64)
    rounds = np.array([p[1] for p in pairs], dtype=np.float64)
    return np.interp(np.asarray(rank, dtype=np.float64), ranks, rounds)
