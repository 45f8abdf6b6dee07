"""Size model of compressed activations (SFT Sec. IV-C): splitenv.model.compression.

Expected numbers are computed by hand (comments) or by brute force / Monte Carlo in
plain numpy, independent of the module's closed forms. Run with ``-s`` for the ratios
next to SFT's 12x / 20x.
"""

from __future__ import annotations

import numpy as np
import pytest

from splitenv.model.compression import bits_per_element, compression_ratio, rice_bits_per_position


def test_dense_at_rho_one_unquantized():
    # rho = 1, q = 0: nothing dropped, no positions, no side info -> exactly dense_bits
    for dense in (16.0, 32.0):
        for lossless in (False, True):
            out = bits_per_element(1.0, 0, dense_bits=dense, lossless=lossless, n_elements=1000.0)
            assert float(out) == dense
            assert float(compression_ratio(1.0, 0, dense_bits=dense, lossless=lossless)) == 1.0


@pytest.mark.parametrize(("rho", "q"), [(0.2, 3), (0.5, 8), (0.05, 2), (0.9, 4)])
def test_bitmap_accounting(rho, q):
    """Without lossless coding: rho (q + 1) value+sign bits, a 1-bit/element bitmap, side info."""
    out = bits_per_element(rho, q, dense_bits=32.0, lossless=False, side_bits=0.0)
    assert float(out) == pytest.approx(rho * (q + 1) + 1.0, rel=1e-15)
    # side information: two 32-bit floats spread over the message
    out = bits_per_element(
        rho, q, dense_bits=32.0, lossless=False, side_bits=64.0, n_elements=1000.0
    )
    assert float(out) == pytest.approx(rho * (q + 1) + 1.0 + 0.064, rel=1e-15)
    # unquantized but sparse: the kept value travels as a dense float (sign inside), plus bitmap
    out = bits_per_element(rho, 0, dense_bits=32.0, lossless=False)
    assert float(out) == pytest.approx(rho * 32 + 1.0, rel=1e-15)


def _rice_brute_force(p, g_max=100_000):
    """E[k + 1 + floor(G / 2^k)] with G ~ Geometric(p) on {0, 1, ...}, summed to g_max, best k."""
    g = np.arange(g_max + 1, dtype=np.float64)
    pmf = (1.0 - p) ** g * p
    best = np.inf
    for k in range(16):
        best = min(best, float(np.sum(pmf * (k + 1 + np.floor(g / 2**k)))))
    return best


@pytest.mark.parametrize("rho", [0.9, 0.5, 0.2, 0.05, 0.01, 0.002])
def test_rice_expected_length_vs_brute_force(rho):
    assert float(rice_bits_per_position(rho)) == pytest.approx(_rice_brute_force(rho), rel=1e-9)


def test_rice_hand_value_rho_02():
    """p = 0.2, 1 - p = 0.8: E[floor(G/2^k)] = 0.8^(2^k) / (1 - 0.8^(2^k)).

    k = 0: 1 + 0.8/0.2 = 5.0
    k = 1: 2 + 0.64/0.36 = 3.7778
    k = 2: 3 + 0.4096/0.5904 = 3.69377   <- best
    k = 3: 4 + 0.167772/0.832228 = 4.2016
    """
    assert float(rice_bits_per_position(0.2)) == pytest.approx(3 + 0.4096 / 0.5904, rel=1e-12)


def test_ratios_rho02_q3_vs_sft():
    """rho = 0.2, q = 3 (80 % sparsity, 3 bits), FP32 activations.

    bitmap:   0.2 * (3 + 1) + 1 = 1.8 bit/element -> 32 / 1.8 = 17.78x
    lossless: 0.2 * 4 + 0.2 * 3.69377 = 0.8 + 0.738753 = 1.538753 -> 32 / 1.538753 = 20.796x
    """
    bitmap = float(compression_ratio(0.2, 3, dense_bits=32.0, lossless=False))
    lossless = float(compression_ratio(0.2, 3, dense_bits=32.0, lossless=True))
    assert bitmap == pytest.approx(32 / 1.8, rel=1e-12)
    assert bitmap == pytest.approx(17.78, abs=0.005)
    assert lossless == pytest.approx(32 / (0.8 + 0.2 * (3 + 0.4096 / 0.5904)), rel=1e-12)
    assert lossless == pytest.approx(20.8, abs=0.01)
    print(f"\nrho=0.2, q=3: bitmap {bitmap:.2f}x (SFT: 12x), lossless {lossless:.2f}x (SFT: 20x)")


@pytest.mark.parametrize("lossless", [False, True])
def test_ratio_monotone_in_rho_and_q(lossless):
    # rho < 1: at rho = 1 no positions are sent at all, a (legitimate) step down in size
    rho = np.linspace(0.05, 0.99, 95)
    q = np.arange(1, 9)
    r, qq = np.meshgrid(rho, q, indexing="ij")
    ratio = compression_ratio(r, qq, dense_bits=32.0, lossless=lossless)
    # fewer kept entries -> higher ratio (rho falls along axis 0 reversed)
    assert np.all(np.diff(ratio, axis=0) < 0)
    # fewer bits -> higher ratio
    assert np.all(np.diff(ratio, axis=1) < 0)
    # lossless never loses to the bitmap
    if lossless:
        bitmap = compression_ratio(r, qq, dense_bits=32.0, lossless=False)
        assert np.all(ratio >= bitmap * (1 - 1e-12))
        assert np.all(ratio[rho < 0.3] > bitmap[rho < 0.3])
    # rho = 1: quantized dense tensor, q + 1 bits per element (magnitude index + sign)
    at_one = compression_ratio(1.0, q, dense_bits=32.0, lossless=lossless)
    np.testing.assert_allclose(at_one, 32.0 / (q + 1), rtol=1e-15)


@pytest.mark.parametrize("rho", [0.2, 0.05])
def test_rice_monte_carlo(rho):
    """Bernoulli(rho) positions over 10^6 elements; Rice-code gaps with the best k; count bits."""
    rng = np.random.default_rng(12345)
    kept = np.flatnonzero(rng.random(1_000_000) < rho)
    gaps = np.diff(np.concatenate([[-1], kept])) - 1  # zeros before each kept entry
    assert gaps.min() >= 0
    best = min(int(np.sum(k + 1 + (gaps >> k))) for k in range(16))
    per_position = best / len(kept)
    assert per_position == pytest.approx(float(rice_bits_per_position(rho)), rel=0.01)
    # per element: rho * E[code length] (the expectation, not the sample's kept fraction)
    per_element = best / 1_000_000
    assert per_element == pytest.approx(rho * float(rice_bits_per_position(rho)), rel=0.01)


def test_rice_bits_of_a_large_batch_are_the_elementwise_bits():
    """Batches beyond _UNIQUE_FROM are evaluated on their distinct keep ratios: same bits."""
    rng = np.random.default_rng(5)
    levels = np.r_[np.linspace(0.05, 1.0, 11), 1e-5, np.nan]
    batch = rng.choice(levels, size=(40, 9))
    one_by_one = np.array([rice_bits_per_position(p) for p in batch.ravel()]).reshape(batch.shape)
    np.testing.assert_array_equal(rice_bits_per_position(batch), one_by_one)
    spread = rng.random(300)  # all distinct: the direct path
    np.testing.assert_array_equal(
        rice_bits_per_position(spread), [rice_bits_per_position(p) for p in spread]
    )
