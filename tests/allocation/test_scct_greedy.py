"""The compiled SCCT Alg. 1 kernel's arithmetic is numpy's (splitenv.allocation.scct_greedy)."""

from __future__ import annotations

import numpy as np
import pytest

from splitenv.allocation.scct_greedy import psum, roots_rows
from splitenv.allocation.scct_kkt import share_root


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 10, 15, 16, 17, 100, 128, 129, 200, 257, 1000])
def test_psum_is_numpys_pairwise_sum_bit_for_bit(n):
    """Every sum over devices in the kernel equals numpy's ``sum`` (blocks of 8, halves > 128)."""
    rng = np.random.default_rng(n)
    for _ in range(50):
        x = rng.standard_normal(n) * 10.0 ** rng.integers(-12, 12, n)
        assert psum(x) == x.sum()
        rows = x.reshape(1, -1).repeat(3, axis=0) * np.array([[1.0], [-3.0], [1e-7]])
        assert [psum(r) for r in rows] == rows.sum(axis=-1).tolist()


def test_share_root_solves_the_kkt_condition_and_ignores_devices_without_edge_work():
    """V with sum_{a_n > 0} a_n / (V - c_n) = 1 (SCCT (24)); -inf without edge work."""
    rng = np.random.default_rng(7)
    a = rng.uniform(0.1, 2.0, (40, 6)) * (rng.random((40, 6)) > 0.3)
    a[0] = 0.0  # no edge work at all
    c = rng.uniform(0.0, 5.0, (40, 6))
    v = share_root(a, c)
    assert v[0] == -np.inf
    pos = a > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        lhs = np.where(pos, a / (v[:, None] - c), 0.0).sum(axis=1)
    np.testing.assert_allclose(lhs[1:], 1.0, rtol=1e-12)
    # the rows are independent: each alone gives the same bits, as does any start NaN
    alone = [roots_rows(a[r : r + 1], c[r : r + 1], np.array([np.nan]), 100)[0] for r in range(40)]
    np.testing.assert_array_equal(alone, v)
