"""SFT configuration: Alg. 2 (Lagrangian relaxation) and the exact joint optimum.

Zhang et al., "Split Fine-Tuning for Large Language Models in Wireless Networks" (SFT),
Sec. VI-A. P1 (37) chooses the cut l, the keep ratio rho and the quantization bits q:

    min tau(rho, q, l)  s.t.  A(rho, q) >= A_th (37b),  M_n(l) <= M_max,n (37c),
                              rho_min <= rho <= rho_max (37d),  q_min <= q <= q_max (37e),
                              l in L (37f).

Alg. 2 relaxes (37b)-(37c) with multipliers (39). As printed its signs are those of a
maximization (maximize tau + lambda g, lambda <- lambda + mu g with g >= 0 meaning
"satisfied"), which would maximize the delay; we use the consistent reading:
minimize

    Lag = tau / tau_ref - lambda_1 (A(rho, q) - A_th) / A_range
                        - lambda_2 min_n (M_max,n - M_n(l)) / M_max,n

over l (exhaustive), q (its integer range) and rho (grid search, which the paper allows
"when differentiability or convexity is not guaranteed", refined by SciPy's bounded
``minimize_scalar``), then lambda_i <- max(0, lambda_i - mu_k g_i) (40) with a
normalized, geometrically decaying step, and stop when |Lag_k - Lag_{k-1}| < eps and the
constraints hold (at most K = 30 iterations, "K <= 30", Sec. VI-C). Choices that are ours: all terms
are normalized (tau_ref = tau of the preset default, accuracy by its range A_range over the
search box, memory by M_max), the step is normalized (see :func:`lagrangian_config`), the box
constraints (37d)-(37f) restrict the search instead of being relaxed (the paper lists
them among the N + 7 subgradients but (39) has two multipliers), one lambda_2 covers the
tightest device, q = 0 ("unquantized") is not searched (the paper's q is in Z^+), and the
answer is the best feasible iterate (the last one when the stopping rule fires).

tau(rho, q, l) is the engine's objective at equal bandwidth B / N: P1 says nothing about
the bandwidth it assumes. The accuracy A is SFT (35) with the preset's
``accuracy.cubic_coeffs`` (:func:`splitenv.model.accuracy.sft_cubic`, the engine's own
accuracy check); presets without coefficients (the ``sft`` preset: the paper publishes no
P_1..P_10) have no accuracy constraint, lambda_1 stays 0, and Alg. 2 then picks the most
compressed configuration. Memory M_n(l) is the engine's ``device_memory_bytes``.

The solvers ``sft_lagrangian`` (Alg. 2, equal bandwidth), ``sft`` (Alg. 2 then Alg. 3,
the paper's full scheme) and ``sft_exact`` (:func:`sft_exact`, the reference optimum) are
registered in :mod:`baselines.papers.sft.solvers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar

from baselines.methods.common import memory_feasible_splits, split_values
from splitenv.allocation.sft_bandwidth import (
    CHUNK,
    SftConfig,
    bisection_bandwidth_batch,
    device_coefficients,
)
from splitenv.config import Scenario
from splitenv.model import Decision, State, evaluate_batch
from splitenv.model.accuracy import sft_cubic

Array = NDArray[np.float64]
AccuracyFn = Callable[[Any, Any], Array]


def accuracy_model(scn: Scenario) -> AccuracyFn | None:
    """A(rho, q) of SFT (35) when the engine checks it (coefficients, A_th > 0, compression on)."""
    coeffs = scn.accuracy.cubic_coeffs
    if not scn.accuracy.constrained or not scn.compression.enabled:
        return None
    return lambda rho, q: sft_cubic(coeffs, rho, q)


def search_space(scn: Scenario, n_grid: int) -> tuple[NDArray[np.int64], NDArray[np.int64], Array]:
    """L values (37f), q values (37e, q >= 1) and an rho grid over (37d)."""
    q_lo, q_hi = scn.compression.quant_bits_range
    rho_lo, rho_hi = scn.compression.keep_ratio_range
    return split_values(scn), np.arange(max(q_lo, 1), q_hi + 1), np.linspace(rho_lo, rho_hi, n_grid)


def memory_slack(scn: Scenario, state: State, splits: NDArray[np.int64]) -> Array:
    """g_2(l) = min_n (M_max,n - M_n(l)) / M_max,n for each l, with M_n(l) from the engine."""
    n = scn.n_devices
    ev = evaluate_batch(scn, state, Decision(split=np.repeat(splits[:, None], n, axis=1)))
    cap = state.device_memory_bytes[None, :]
    return ((cap - ev.per_device["device_memory_bytes"]) / cap).min(axis=1)


def equal_bw_latency(
    scn: Scenario, state: State, split: NDArray[Any], rho: NDArray[Any], q: NDArray[Any]
) -> Array:
    """Engine objective at equal bandwidth for K configurations (batched)."""
    n, out = scn.n_devices, []
    for lo in range(0, split.size, CHUNK):
        sl = slice(lo, lo + CHUNK)
        dec = Decision(
            split=np.repeat(split[sl, None], n, axis=1).astype(np.int64),
            keep_ratio=rho[sl],
            quant_bits=q[sl].astype(np.int64),
        )
        out.append(evaluate_batch(scn, state, dec).objective)
    return np.concatenate(out)


def lagrangian_config(
    scn: Scenario,
    state: State,
    *,
    max_iter: int = 30,
    mu0: float = 3.0,
    decay: float = 0.7,
    tol: float = 1e-3,
    n_grid: int = 49,
    refine_top: int = 1,
    xatol: float = 1e-6,
    lambda0: tuple[float, float] = (0.0, 0.0),
) -> tuple[SftConfig, dict[str, Any]]:
    """SFT Alg. 2 with the corrected signs (see the module docstring).

    The step of (40) is normalized (ours; the paper leaves mu_k open): lambda moves by
    mu_k = mu0 decay^k along -g / ||g||, g restricted to the multipliers that can move
    (lambda_i > 0 or g_i < 0). A plain step mu_k g stalls when an iterate misses A_th by a
    hair, as the cheapest configurations tend to (rho = 1 sends no positions); the geometric
    decay lets the multiplier settle at the kink of the dual function, where the minimizer
    alternates between a feasible and an infeasible configuration, within the K = 30
    iterations (total travel mu0 / (1 - decay) = 10 in normalized units).

    Args:
        scn: the scenario.
        state: the state (device compute and memory enter tau and M_n).
        max_iter: K, the multiplier iterations.
        mu0: first step, in units of lambda (normalized Lagrangian).
        decay: geometric decay of the step.
        tol: epsilon of the stopping rule |Lag_k - Lag_{k-1}| < epsilon max(1, |Lag_k|).
        n_grid: rho grid points of the inner search.
        refine_top: (l, q) pairs, best on the grid, whose rho is refined by ``minimize_scalar``.
        xatol: absolute rho tolerance of the refinement.
        lambda0: initial multipliers (lambda_1, lambda_2).

    Returns:
        (configuration, info with the multiplier and Lagrangian traces).
    """
    acc = accuracy_model(scn)
    a_th = scn.accuracy.threshold
    ls, qs, grid = search_space(scn, n_grid)
    L, Q, G = np.meshgrid(ls, qs, grid, indexing="ij")
    tau = equal_bw_latency(scn, state, L.ravel(), G.ravel(), Q.ravel()).reshape(L.shape)
    dec = scn.decision
    tau_ref = float(
        equal_bw_latency(
            scn,
            state,
            np.array([dec.default_split]),
            np.array([dec.default_keep_ratio]),
            np.array([dec.default_quant_bits]),
        )[0]
    )
    acc_grid = acc(G, Q) if acc else np.zeros_like(G)
    acc_scale = float(np.ptp(acc_grid)) or 1.0  # accuracy slack in units of its range over the box
    acc_grid = (acc_grid - a_th) / acc_scale
    g_mem = memory_slack(scn, state, ls)
    lam = np.array(lambda0, dtype=float)
    counter = {"evaluations": L.size + 1 + ls.size}

    def tau_of(l_: int, rho: float, q: int) -> float:
        counter["evaluations"] += 1
        return float(
            equal_bw_latency(scn, state, np.array([l_]), np.array([rho]), np.array([q]))[0]
        )

    def inner(lam: Array) -> tuple[float, int, float, int]:
        """Min of the Lagrangian over (l, q, rho): grid, then minimize_scalar on the best."""
        values = tau / tau_ref - lam[0] * acc_grid - lam[1] * g_mem[:, None, None]
        best = (np.inf, 0, 0.0, 0)
        for idx in np.argsort(values.min(axis=2), axis=None)[:refine_top]:
            i, j = np.unravel_index(idx, values.shape[:2])
            l_, q_, k = int(ls[i]), int(qs[j]), int(np.argmin(values[i, j]))
            best = min(best, (float(values[i, j, k]), l_, float(grid[k]), q_))

            def f(r: float, l_: int = l_, q_: int = q_, gm: float = float(g_mem[i])) -> float:
                ga = (float(acc(r, q_)) - a_th) / acc_scale if acc else 0.0
                return tau_of(l_, r, q_) / tau_ref - lam[0] * ga - lam[1] * gm

            lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
            res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": xatol})
            best = min(best, (float(res.fun), l_, float(res.x), q_))
        return best

    best: tuple[float, SftConfig] | None = None
    cfg = SftConfig.default(scn)
    trace: list[float] = []
    lam_trace: list[list[float]] = []
    it, prev = 0, None
    for it in range(max_iter):
        value, l_star, rho_star, q_star = inner(lam)
        cfg = SftConfig(l_star, rho_star, q_star)
        g_acc = (float(acc(rho_star, q_star)) - a_th) / acc_scale if acc else 0.0
        g = np.array([g_acc, float(g_mem[ls == l_star][0])])
        feasible = bool(np.all(g >= 0))
        trace.append(value)
        lam_trace.append(lam.tolist())
        if feasible:
            t_star = tau_of(l_star, rho_star, q_star)
            if best is None or t_star < best[0]:
                best = (t_star, cfg)
            if prev is not None and abs(value - prev) < tol * max(1.0, abs(value)):
                best = (t_star, cfg)  # Alg. 2 line 11: converged, return this iterate
                break
        prev = value
        move = np.where((lam > 0) | (g < 0), -g, 0.0)
        norm = float(np.linalg.norm(move))
        if norm > 0:
            mu = mu0 * decay**it
            lam = np.maximum(0.0, lam + mu * move / norm)  # (40), corrected sign
    chosen = best[1] if best is not None else cfg
    info = {
        "iterations": it + 1,
        "lagrangian_trace": trace,
        "lambda_trace": lam_trace,
        "tau_ref_s": tau_ref,
        "feasible_found": best is not None,
        "evaluations": counter["evaluations"],
        "accuracy_constraint": acc is not None,
    }
    return chosen, info


def _boundary_roots(acc: AccuracyFn, a_th: float, q: int, grid: Array) -> list[float]:
    """Rho where A(rho, q) = A_th between grid points, on the feasible side to ~1e-15."""
    g = acc(grid, q) - a_th
    roots = []
    for k in np.flatnonzero(np.sign(g[:-1]) != np.sign(g[1:])):
        lo, hi = grid[k], grid[k + 1]
        feas_hi = g[k + 1] >= 0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if (acc(mid, q) - a_th >= 0) == feas_hi:
                hi = mid
            else:
                lo = mid
        roots.append(float(hi if feas_hi else lo))
    return roots


def sft_exact(
    scn: Scenario,
    state: State,
    *,
    n_grid: int = 101,
    refine_top: int = 2,
    xatol: float = 1e-9,
    zoom_points: int = 65,
    b_max_hz: float | None = None,
) -> tuple[SftConfig, Array, dict[str, Any]]:
    """Reference optimum of P (36): enumeration over (l, q), rho grid + refinement, exact bandwidth.

    For every memory-feasible l of the split range and q in its range, rho runs over
    ``n_grid`` points of [rho_min, rho_max] plus the points where A(rho, q) = A_th (bisected
    to ~1e-15, on the feasible side); every candidate gets its exact min-max bandwidth
    (:func:`bisection_bandwidth_batch` on engine-read coefficients), is scored and checked by
    the engine, and for the ``refine_top`` best feasible (l, q) the bracket between the
    feasible neighbours of their best rho is refined by repeated ``zoom_points``-point grids
    (batched through the engine) until it is narrower than ``xatol``.

    Tolerance: exact (to the bisection's machine precision) at the candidates, and within
    ``xatol`` (1e-9) in rho inside the refined brackets. Global in rho whenever the optimum
    over rho is at a candidate or inside a refined bracket; for the SFT presets the delay
    rises with the bits per element, which rise with rho except at rho = 1 (no positions
    sent), so the optimum is at rho_min, an accuracy boundary, or rho = 1, all candidates.

    Returns:
        (configuration, bandwidth (N,) in Hz, info).
    """
    acc = accuracy_model(scn)
    a_th = scn.accuracy.threshold
    total, n = scn.network.bandwidth_hz, scn.n_devices
    cap = float(b_max_hz or total)
    ls, qs, grid = search_space(scn, n_grid)
    ls = ls[memory_feasible_splits(scn, state).all(axis=1)]  # (37c), the engine's memory model
    if ls.size == 0:
        raise ValueError(
            f"no cut in decision.split_range = {scn.decision.split_range} fits every "
            "device's memory"
        )
    rows = []
    for q in qs:
        rhos = np.unique(np.concatenate([grid, _boundary_roots(acc, a_th, q, grid) if acc else []]))
        for l_ in ls:
            rows.append(np.stack([np.full(rhos.size, l_), np.full(rhos.size, q), rhos], axis=1))
    table = np.concatenate(rows)
    split, q_all, rho = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2]

    def score(split_: NDArray[Any], rho_: Array, q_: NDArray[Any]) -> tuple[Array, Array, Array]:
        a, c = device_coefficients(scn, state, split_, rho_, q_)
        b, _ = bisection_bandwidth_batch(a, c, total, cap)
        obj, ok = np.empty(split_.size), np.empty(split_.size, dtype=bool)
        for lo in range(0, split_.size, CHUNK):
            sl = slice(lo, lo + CHUNK)
            ev = evaluate_batch(
                scn,
                state,
                Decision(
                    split=np.repeat(split_[sl, None], n, axis=1),
                    keep_ratio=rho_[sl],
                    quant_bits=q_[sl],
                    bandwidth_hz=b[sl],
                ),
            )
            obj[sl], ok[sl] = ev.objective, ev.feasible
        return obj, ok, b

    obj, ok, bw = score(split, rho, q_all)
    evaluations = 7 * split.size
    masked = np.where(ok, obj, np.inf)
    best = int(np.argmin(masked)) if ok.any() else int(np.argmin(obj))
    best_val, best_row, best_b = (
        float(obj[best]),
        (int(split[best]), float(rho[best]), int(q_all[best])),
        bw[best],
    )
    # zoom into rho around the best point of the refine_top best feasible (l, q) pairs
    pair = split * 1000 + q_all
    brackets: list[tuple[int, int, float, float]] = []
    for i in np.argsort(masked):
        if len(brackets) >= refine_top or not np.isfinite(masked[i]):
            break
        if any(pair[i] == 1000 * b_[0] + b_[1] for b_ in brackets):
            continue
        same = np.flatnonzero(pair == pair[i])  # sorted by rho (np.unique above)
        pos = int(np.flatnonzero(same == i)[0])
        lo = rho[same[pos - 1]] if pos > 0 and ok[same[pos - 1]] else rho[i]
        hi = rho[same[pos + 1]] if pos + 1 < same.size and ok[same[pos + 1]] else rho[i]
        brackets.append((int(split[i]), int(q_all[i]), float(lo), float(hi)))
    for l_, q_, lo, hi in brackets:
        while hi - lo > xatol:
            pts = np.linspace(lo, hi, zoom_points)
            o, feas, b = score(np.full(zoom_points, l_), pts, np.full(zoom_points, q_))
            evaluations += 7 * zoom_points
            if not feas.any():
                break
            k = int(np.argmin(np.where(feas, o, np.inf)))
            if o[k] < best_val:
                best_val, best_row, best_b = float(o[k]), (l_, float(pts[k]), q_), b[k]
            lo = pts[max(k - 1, 0)] if feas[max(k - 1, 0)] else pts[k]
            hi = pts[min(k + 1, zoom_points - 1)] if feas[min(k + 1, zoom_points - 1)] else pts[k]
    info = {
        "candidates": int(split.size),
        "feasible_found": bool(ok.any()),
        "evaluations": evaluations,
        "objective_s": best_val,
        "accuracy_constraint": acc is not None,
    }
    return SftConfig(*best_row), best_b, info
