"""FedsLLM power control: the min-max upload delay of one subchannel pool (FedsLLM (20)-(25)).

Given each client's subchannels (total width W_k), the problem of one pool is

    min_P  max_k  rest_k + bits_k / R_k(P_k),   R_k(P) = W_k log2(1 + a_k P / W_k)
    s.t.   0 <= P_k <= p_max (C4),   sum_k P_k <= P_tot (C5),

with a_k = G_k / N0 the client's gain over the noise PSD. A client's subchannels share
one (average) gain, so spreading P_k uniformly over them is optimal (the rate is concave
in the PSD) and the engine's rate (:func:`splitenv.model.channel.link_rate`) is exactly
R_k. ``rest_k`` is what precedes the upload: the client forward t_F_k for the
main-server pool (T1 of (21)), 0 for the federated pool (T3).

Two solvers, cross-checked in tests/baselines/test_fedsllm.py:

* :func:`solve_bisection` (exact reference): a delay t is reachable iff the minimum
  powers ``P_k(t) = (W_k / a_k)(2^{bits_k / (W_k (t - rest_k))} - 1)`` meet C4 and C5;
  the sum is decreasing in t, so bisection on t finds t* (to ``rtol``).
* ``solve_cvxpy`` (the paper's CVX route, (22)-(25), in
  :mod:`baselines.papers.fedsllm.power_cvxpy`: cvxpy is the optional extra ``splitenv[solvers]``):
  the epigraph with auxiliary spectral efficiencies rho_k <= log2(1 + a_k P_k / W_k)
  (exponential cone) and t >= rest_k + bits_k / (W_k rho_k).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]
_LN2 = math.log(2.0)


def rate_bps(width_hz: ArrayLike, snr_coeff: ArrayLike, power_w: ArrayLike) -> Array:
    """Shannon rate ``W log2(1 + a P / W)``, FedsLLM (9)/(14) with uniform PSD P / W; 0 if W = 0."""
    w = np.asarray(width_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = w * np.log2(1.0 + np.asarray(snr_coeff) * np.asarray(power_w) / w)
    return np.where(w > 0, r, 0.0)


def min_power(
    t: ArrayLike, rest: ArrayLike, bits: ArrayLike, width_hz: ArrayLike, snr_coeff: ArrayLike
) -> Array:
    """Least power with ``rest + bits / R(P) <= t``: ``(W / a)(2^{bits / (W (t - rest))} - 1)``.

    Infinite where t <= rest (and bits > 0) or W = 0; zero where bits = 0.
    """
    t, rest, bits = (np.asarray(x, dtype=np.float64) for x in (t, rest, bits))
    w = np.asarray(width_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _min_power(t, rest, bits, w, w / np.asarray(snr_coeff))


def _min_power(
    t: Array,
    rest: Array,
    bits: Array,
    w: Array,
    w_over_a: Array,
    usable: NDArray[np.bool_] | None = None,
    sending: NDArray[np.bool_] | None = None,
) -> Array:
    """:func:`min_power` on float64 arrays with ``W / a`` given (the bisection's inner loop).

    ``usable`` (W > 0) and ``sending`` (bits > 0) may be given (the loop computes them once).
    The caller silences numpy's floating-point warnings (infinite powers are expected).
    """
    p = w_over_a * np.expm1(_LN2 * (bits / (w * (t - rest))))
    p = np.where((t > rest) & (w > 0 if usable is None else usable), p, np.inf)
    return np.where(bits > 0 if sending is None else sending, p, 0.0)


def _client_sums(p: Array) -> Array:
    """``p.sum(axis=-1)`` bit for bit, without the reduction's cost per row for few clients.

    numpy adds the entries of a row of fewer than 8 in order (its pairwise summation pairs
    blocks of 8 and more), as these column additions do; 8 clients or more go to numpy.
    tests/allocation/test_batched_allocators.py checks the equality.
    """
    n = p.shape[-1]
    if not 2 <= n < 8:
        return p.sum(axis=-1)
    out = p[..., 0] + p[..., 1]
    for k in range(2, n):
        out += p[..., k]
    return out


def fit_budget(power: ArrayLike, p_max: float, p_total: float) -> Array:
    """Clip powers to p_max and scale them into p_total so the engine's checks hold bit-exactly."""
    p = np.minimum(np.maximum(np.asarray(power, dtype=np.float64), 0.0), p_max)
    total = p.sum(axis=-1, keepdims=True)
    p = np.where(total > p_total, p * (p_total / np.where(total > 0, total, 1.0)), p)
    while np.any(p.sum(axis=-1) > p_total):  # rounding of the product above
        p = np.where(p.sum(axis=-1, keepdims=True) > p_total, p * (1.0 - 2.0**-50), p)
    return p


def solve_bisection(
    rest: ArrayLike,
    bits: ArrayLike,
    width_hz: ArrayLike,
    snr_coeff: ArrayLike,
    p_max: float,
    p_total: float,
    *,
    rtol: float = 1e-13,
) -> tuple[Array, Array]:
    """Exact min-max delay of one pool by bisection on t, vectorized over leading axes.

    A row whose budget C5 holds at t_lo is solved there; only the others are bisected, each
    bracket stopping on its own (:func:`_bisect`), so a row's result is the one-row call's.

    Args:
        rest: delay before the upload per client, (..., N).
        bits: bits to upload per client, (..., N).
        width_hz: bandwidth per client (its subchannels), (..., N); > 0 where bits > 0.
        snr_coeff: a_k = G_k / N0 in Hz / W, broadcastable to (..., N).
        p_max: per-client power limit (C4), W.
        p_total: network-wide limit of the pool (C5), W (may be inf).
        rtol: relative width of the final bracket on t.

    Returns:
        (t*, P): the optimal max delay (...,) and powers (..., N) meeting C4 and C5
        exactly, whose delays are within ``rtol`` of t*.
    """
    rest, bits, width = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (rest, bits, width_hz))
    )
    a = np.broadcast_to(np.asarray(snr_coeff, dtype=np.float64), rest.shape)
    n = rest.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # t_lo: everyone at p_max, a lower bound (optimal when C5 is slack)
        t_lo = np.max(rest + np.where(bits > 0, bits / rate_bps(width, a, p_max), 0.0), axis=-1)
        w_over_a = width / a
        power = _min_power(t_lo[..., None], rest, bits, width, w_over_a)
        t = np.array(t_lo, dtype=np.float64)
        # the rows where C5 binds at t_lo (the others are solved: t_lo and its powers)
        rows = np.flatnonzero(~(_client_sums(power) <= p_total))
        if rows.size:
            r_rest, r_bits, r_width, r_a, r_w_over_a = (
                x.reshape(-1, n)[rows] for x in (rest, bits, width, a, w_over_a)
            )
            lo = t.reshape(-1)[rows]
            # t_hi: equal powers, feasible
            p_eq = min(p_max, p_total / n)
            t_hi = np.max(
                r_rest + np.where(r_bits > 0, r_bits / rate_bps(r_width, r_a, p_eq), 0.0), axis=-1
            )
            hi = np.maximum(t_hi, lo)
            hi = _bisect(lo, hi, (r_rest, r_bits, r_width, r_w_over_a), p_total, rtol)
            t.reshape(-1)[rows] = hi
            power.reshape(-1, n)[rows] = _min_power(hi[:, None], r_rest, r_bits, r_width,
                                                    r_w_over_a)  # fmt: skip
    return t, fit_budget(power, p_max, p_total)


def _bisect(
    lo: Array, hi: Array, pool: tuple[Array, Array, Array, Array], p_total: float, rtol: float
) -> Array:
    """The upper ends of the brackets [lo, hi] on t, (B,) each, after bisection.

    Only the open brackets go through the loop (an infinite one stays as it is), each
    leaving it when ``hi - lo <= rtol hi``; a bracket's iterates depend on its own row alone
    (elementwise, sums along clients), so they are the one-row call's bit for bit.
    ``pool``: (rest, bits, W, W / a) of the brackets' rows, (B, N) each.
    """
    out = hi.copy()
    rows = np.flatnonzero(np.isfinite(hi))
    rest, bits, width, w_over_a = (x[rows] for x in pool)
    usable, sending = width > 0, bits > 0
    lo, hi = lo[rows], hi[rows]
    for _ in range(200):
        if not rows.size:
            break
        mid = 0.5 * (lo + hi)
        power = _min_power(mid[:, None], rest, bits, width, w_over_a, usable, sending)
        ok = _client_sums(power) <= p_total
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
        going = hi - lo > rtol * hi
        if not going.all():  # brackets that stopped leave the loop
            out[rows[~going]] = hi[~going]
            rows, lo, hi = rows[going], lo[going], hi[going]
            rest, bits, width, w_over_a = rest[going], bits[going], width[going], w_over_a[going]
            usable, sending = usable[going], sending[going]
    out[rows] = hi  # those the 200 steps left open
    return out


def max_delay(
    rest: ArrayLike, bits: ArrayLike, width_hz: ArrayLike, snr_coeff: ArrayLike, power: ArrayLike
) -> Array:
    """``max_k rest_k + bits_k / R_k(P_k)`` over the last axis."""
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 for an absent client
        up = np.where(
            np.asarray(bits) > 0, np.asarray(bits) / rate_bps(width_hz, snr_coeff, power), 0.0
        )
    return np.max(np.asarray(rest) + up, axis=-1)
