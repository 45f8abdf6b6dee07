"""SFT Alg. 3 on many rows (sqp_bandwidth_batch, the lockstep SLSQP driver) against public minimize."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
from scipy.optimize import minimize

import splitenv  # noqa: F401  (registers the ids)
from splitenv.allocation import papers, sft_slsqp
from splitenv.allocation.sft_bandwidth import (
    bisection_bandwidth_batch,
    sqp_bandwidth,
    sqp_bandwidth_batch,
)
from splitenv.model import Decision, StateBatch, evaluate_batch
from tests.allocation.episodes import episode_rows, large_rows


def _reference_sqp(a, c, B, b_max, b0=None, *, ftol=1e-14, maxiter=500):
    """The one-row sqp_bandwidth before the batched driver, verbatim: public minimize."""
    a, c = np.asarray(a, float), np.asarray(c, float)
    n, mhz = a.size, 1e6
    cap = np.broadcast_to(np.asarray(b_max, dtype=float), (n,)) / mhz
    start = np.full(n, B / n) if b0 is None else np.asarray(b0, float)
    t0 = float(np.max(a + c / start))
    x0 = np.append(start / mhz, 1.0)

    def lag(x):
        return x[-1] - (a + c / (x[:-1] * mhz)) / t0

    def lag_jac(x):
        jac = np.zeros((n, n + 1))
        jac[np.arange(n), np.arange(n)] = c / (x[:-1] ** 2 * mhz * t0)
        jac[:, -1] = 1.0
        return jac

    cons = [
        {"type": "ineq", "fun": lag, "jac": lag_jac},
        {
            "type": "eq",
            "fun": lambda x: np.array([x[:-1].sum() - B / mhz]),
            "jac": lambda x: np.append(np.ones(n), 0.0)[None],
        },
    ]
    bounds = [(1e-9 * B / n / mhz, cap[i]) for i in range(n)] + [(0.0, None)]
    res = minimize(
        lambda x: x[-1],
        x0,
        jac=lambda x: np.append(np.zeros(n), 1.0),
        method="SLSQP",
        bounds=bounds,
        constraints=cons,
        options={"ftol": ftol, "maxiter": maxiter},
    )
    b = np.clip(res.x[:-1], bounds[0][0], cap) * mhz
    b *= B / b.sum()
    if np.any(b > cap * mhz):
        b = np.minimum(b, cap * mhz)
    t = float(np.max(a + c / b))
    if t > t0:
        b, t = start.copy(), t0
    return b, t, res


def _problems(rng, rows: int, n: int):
    """(a, c) of SFT's shape: a in s, c in s Hz over four decades, ~20 % absent devices."""
    a = rng.uniform(0.0, 50.0, (rows, n)) * (rng.random((rows, 1)) < 0.8)
    c = rng.uniform(1e5, 1e9, (rows, n)) * 10.0 ** rng.integers(-2, 2, (rows, n))
    absent = rng.random((rows, n)) < 0.2
    absent[:, 0] = False  # at least one device present
    a[absent] = c[absent] = 0.0
    return a, c


def _assert_rows_equal(got, want):
    """sqp_bandwidth_batch's rows against _reference_sqp's, bit for bit."""
    b, t, sol = got
    for r, (rb, rt, res) in enumerate(want):
        np.testing.assert_array_equal(b[r], rb)
        assert t[r] == rt
        np.testing.assert_array_equal(sol.x[r], res.x)
        assert sol.fun[r] == res.fun
        assert (sol.nit[r], sol.status[r], sol.message[r]) == (res.nit, res.status, res.message)


@pytest.mark.parametrize("n", [1, 2, 10, 50])
@pytest.mark.parametrize("capped", [False, True])
def test_batch_equals_public_minimize_row_by_row(n, capped):
    rng = np.random.default_rng(10 * n + capped)
    rows = 3 if n == 50 else 16
    a, c = _problems(rng, rows, n)
    B = float(rng.choice([1e6, 10e6, 100e6]))
    cap = 1.3 * B / n if capped and n > 1 else B
    got = sqp_bandwidth_batch(a, c, B, cap)
    _assert_rows_equal(got, [_reference_sqp(a[r], c[r], B, cap) for r in range(rows)])
    if rows > 3 and n > 1:
        assert len(set(got[2].nit.tolist())) > 1  # rows stop at different iterations
    if capped and n > 1:
        assert np.any(np.isclose(got[0], cap, rtol=1e-9))  # some cap binds


def test_failed_rows_behave_as_before():
    """Rows stopped by the iteration limit (mode 9), infeasible caps (sum b_max < B), and a row
    without any device (t0 = 0: NaN constraints) end as the old solve ended them."""
    rng = np.random.default_rng(7)
    a, c = _problems(rng, 8, 6)
    got = sqp_bandwidth_batch(a, c, 10e6, 10e6, maxiter=3)
    _assert_rows_equal(got, [_reference_sqp(a[r], c[r], 10e6, 10e6, maxiter=3) for r in range(8)])
    assert np.any(got[2].status == 9)
    got = sqp_bandwidth_batch(a, c, 10e6, 1e6)  # six devices of at most 1 MHz: (38c) impossible
    _assert_rows_equal(got, [_reference_sqp(a[r], c[r], 10e6, 1e6) for r in range(8)])
    assert np.all(got[2].status != 0)
    a[3], c[3] = 0.0, 0.0
    with np.errstate(invalid="ignore"):
        got = sqp_bandwidth_batch(a, c, 10e6, 10e6)
        _assert_rows_equal(got, [_reference_sqp(a[r], c[r], 10e6, 10e6) for r in range(8)])
    assert got[2].status[3] != 0


def test_start_and_one_row_result():
    """A given start b0, and sqp_bandwidth's OptimizeResult as SciPy's."""
    rng = np.random.default_rng(3)
    a, c = _problems(rng, 1, 5)
    b0 = rng.dirichlet(np.ones(5)) * 20e6
    b, t, res = sqp_bandwidth(a[0], c[0], 20e6, 8e6, b0)
    rb, rt, ref = _reference_sqp(a[0], c[0], 20e6, 8e6, b0)
    np.testing.assert_array_equal(b, rb)
    assert t == rt
    np.testing.assert_array_equal(res.x, ref.x)
    for key in ("fun", "nit", "status", "message", "success"):
        assert res[key] == ref[key], key


def test_fallback_gives_the_same_numbers(monkeypatch, caplog):
    """Without the driver (its self-check failed: here no _slsqplib), public minimize row by row."""
    rng = np.random.default_rng(5)
    a, c = _problems(rng, 6, 4)
    fast = sqp_bandwidth_batch(a, c, 10e6, 4e6)
    monkeypatch.setattr(sft_slsqp, "_DRIVER_OK", [])
    monkeypatch.setitem(sys.modules, "scipy.optimize._slsqplib", None)
    with caplog.at_level(logging.WARNING, logger=sft_slsqp.__name__):
        slow = sqp_bandwidth_batch(a, c, 10e6, 4e6)
        again = sqp_bandwidth_batch(a, c, 10e6, 4e6)
    assert sft_slsqp._DRIVER_OK == [False]
    assert len(caplog.records) == 1 and "row by row" in caplog.records[0].getMessage()
    for other in (slow, again):
        np.testing.assert_array_equal(other[0], fast[0])
        np.testing.assert_array_equal(other[1], fast[1])
        np.testing.assert_array_equal(other[2].x, fast[2].x)
        np.testing.assert_array_equal(other[2].nit, fast[2].nit)
        assert other[2].message == fast[2].message


def test_self_check_rejects_a_driver_that_differs(monkeypatch):
    """One ulp off in one x, or a routine of another signature: the check fails (fallback)."""
    assert sft_slsqp._self_check()
    lockstep = sft_slsqp._lockstep

    def off_by_an_ulp(prog, ftol, maxiter):
        sol = lockstep(prog, ftol, maxiter)
        sol.x[-1, 0] = np.nextafter(sol.x[-1, 0], np.inf)
        return sol

    monkeypatch.setattr(sft_slsqp, "_lockstep", off_by_an_ulp)
    assert not sft_slsqp._self_check()

    def other_signature(*args):
        raise TypeError("slsqp() takes 12 arguments")

    monkeypatch.setattr(sft_slsqp, "_lockstep", lockstep)
    monkeypatch.setattr("scipy.optimize._slsqplib.slsqp", other_signature)
    assert not sft_slsqp._self_check()


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 17, 50, 128, 129, 300])
def test_row_sums_are_one_dimensional_sums(n):
    """Program.constraints sums b over axis 1: per row, bit for bit b[r].sum() (pairwise)."""
    rng = np.random.default_rng(n)
    x = rng.uniform(0.0, 10.0, (40, n + 1)) * 10.0 ** rng.integers(-8, 8, (40, n + 1))
    for rows in (x, x[rng.permutation(40)[:13]], x[:1]):
        want = np.array([row[:-1].sum() for row in rows])
        np.testing.assert_array_equal(rows[:, :-1].sum(axis=1), want)


def test_bad_arguments_name_the_field():
    a, c = np.ones((2, 3)), np.ones((2, 3))
    with pytest.raises(ValueError, match="b_max must be >= 1e-9 B / N"):
        sqp_bandwidth_batch(a, c, 10e6, 1e-6)
    with pytest.raises(ValueError, match="B must be > 0"):
        sqp_bandwidth_batch(a, c, 0.0, 1e6)
    with pytest.raises(ValueError, match="same shape"):
        sqp_bandwidth_batch(a, c[:, :2], 10e6, 1e6)


def _episode_rows():
    """States and round decisions of three SFT-v1 episodes with fading, mobility and churn."""
    dynamics = {
        "network__fading_correlation": 0.5,
        "network__mobility_step_m": 5.0,
        "network__churn_leave_prob": 0.3,
        "network__churn_join_prob": 0.3,
    }
    scn, states, larges = episode_rows("splitenv/SFT-v1", **dynamics)
    return scn, StateBatch.stack(states), large_rows(larges)


def test_sft_sqp_rows_equals_the_old_loop(monkeypatch):
    """The env's allocator (sft_sqp_rows) on rows of SFT-v1 episodes with fading, mobility and
    churn: equal bit for bit to its old body, public minimize row by row."""
    scn, rows, large = _episode_rows()
    got = papers.sft_sqp_rows(scn, rows, large)

    def old_loop(a, c, total, cap):
        return (
            np.stack([_reference_sqp(a[i], c[i], total, cap)[0] for i in range(len(a))]),
            None,
            None,
        )

    monkeypatch.setattr(papers, "sqp_bandwidth_batch", old_loop)
    want = papers.sft_sqp_rows(scn, rows, large)
    assert set(got) == set(want)
    for f, value in want.items():
        np.testing.assert_array_equal(got[f], value, err_msg=f)
    assert not np.all(rows.active)  # some devices absent (a = c = 0)


def test_sft_bisection_rows_reach_the_optimum_the_sqp_approaches():
    """The opt-in allocator ``sft_bisection``: the same program as Alg. 3, solved exactly.

    On every row its min-max time is never above the SQP's (it is P3's optimum), and within
    1e-9 relative of it; it keeps the round's fields and hands out all of B (38c).
    """
    scn, rows, large = _episode_rows()
    sqp = papers.sft_sqp_rows(scn, rows, large)
    exact = papers.sft_bisection_rows(scn, rows, large)
    assert set(exact) == set(sqp)
    for f in set(sqp) - {"bandwidth_hz"}:
        np.testing.assert_array_equal(exact[f], sqp[f], err_msg=f)
    total = scn.network.bandwidth_hz
    b = exact["bandwidth_hz"]
    assert np.all(b >= 0)
    np.testing.assert_allclose(b.sum(axis=1), total, rtol=1e-12)
    t_exact = evaluate_batch(scn, rows, Decision(**exact)).objective
    t_sqp = evaluate_batch(scn, rows, Decision(**sqp)).objective
    assert np.all(t_exact <= t_sqp * (1 + 1e-12))
    np.testing.assert_allclose(t_exact, t_sqp, rtol=1e-9)
    assert np.any(t_exact < t_sqp)  # the SQP stops short of the optimum somewhere
    assert not np.all(rows.active)  # some devices absent (a = c = 0)


def test_bisection_rows_do_not_depend_on_the_batch():
    """bisection_bandwidth_batch: row r alone gives the bits it gets among other rows (each
    row stops at its own 4-ulp bracket), with binding caps and devices without traffic."""
    rng = np.random.default_rng(11)
    a = rng.uniform(0.0, 3.0, (64, 6))
    c = rng.uniform(1e3, 1e7, (64, 6)) * rng.uniform(1e-3, 1.0, (64, 1))  # spread of scales
    c[rng.random(c.shape) < 0.15] = 0.0
    for cap in (10e6, 2.5e6):
        b, t = bisection_bandwidth_batch(a, c, 10e6, cap)
        for r in range(len(a)):
            b1, t1 = bisection_bandwidth_batch(a[r : r + 1], c[r : r + 1], 10e6, cap)
            np.testing.assert_array_equal(b1[0], b[r])
            assert t1[0] == t[r]
