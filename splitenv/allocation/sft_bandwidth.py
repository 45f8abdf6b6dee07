"""SFT bandwidth allocation: engine-read coefficients, Alg. 3 (SQP), the exact min-max (bisection).

Zhang et al., "Split Fine-Tuning for Large Language Models in Wireless Networks" (SFT),
Sec. VI-B. For a fixed configuration (cut l, keep ratio rho, bits q), P2 (38) is

    min_b  max_n tau_n(b_n)   s.t.  0 <= b_n <= b_max (38b),  sum_n b_n = B (38c),

and Alg. 3 solves its epigraph form P3 (42): ``min t  s.t.  t >= tau_n(b_n)``. Every
rate in SFT is ``b_n log2(1 + SNR)`` (Sec. V-A), so every bandwidth-dependent term of
tau_n is a size over ``b_n`` and, over the engine's whole objective (all rounds, round 0
with the model distribution (19)), ``tau_n(b_n) = a_n + c_n / b_n``. We never write a_n
and c_n down: :func:`device_coefficients` reads them from the cost engine (two
bandwidths per device), checks the fit against a third engine evaluation and raises if
it fails, so the formulas stay in :mod:`splitenv.model.engine`.

On (a, c) the min-max has an exact solution (ours): the optimal t solves
``sum_n min(b_max, c_n / (t - a_n)) = B``, found by bisection (:func:`bisection_bandwidth`).
Alg. 3 is run with SciPy's SLSQP (:func:`sqp_bandwidth`; R problems at once, each as the
one-problem call: :func:`sqp_bandwidth_batch`, driver in :mod:`.sft_slsqp`), a true SQP with a
quasi-Newton Hessian; the paper's linearized P4 (44) has no Hessian or trust region (it is an
LP whose steps jump between vertices), so we do not copy its inner step.

The solvers built on these (``sft_sqp``, ``sft_bisection``, ``sft_equal_bw``,
``sft_random_bw``, ``sft_nocompress``) are registered in :mod:`baselines.papers.sft.solvers`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeResult

from splitenv.allocation.sft_slsqp import MHZ, Program, Solution, solve
from splitenv.config import Scenario
from splitenv.errors import FitError
from splitenv.model import Decision, State, StateBatch, evaluate_batch

Array = NDArray[np.float64]

#: Relative tolerance of the fit tau_n(b) = a_n + c_n / b against the engine.
FIT_RTOL = 1e-9
#: Engine rows per batched call (bounds the memory of large enumerations).
CHUNK = 20_000


@dataclass(frozen=True)
class SftConfig:
    """The slow-timescale decision of SFT P1 (37): cut l, keep ratio rho, quantization bits q."""

    split: int
    keep_ratio: float
    quant_bits: int

    @classmethod
    def default(cls, scn: Scenario, **override: Any) -> SftConfig:
        """The preset's default (SFT Table II: l = 5, rho = 0.2, q = 3), with overrides."""
        dec = scn.decision
        base = {
            "split": dec.default_split,
            "keep_ratio": dec.default_keep_ratio,
            "quant_bits": dec.default_quant_bits,
        }
        base.update({k: v for k, v in override.items() if v is not None})
        return cls(int(base["split"]), float(base["keep_ratio"]), int(base["quant_bits"]))

    def decision(self, n: int, bandwidth_hz: ArrayLike) -> Decision:
        """The full decision with per-device bandwidth ``bandwidth_hz``."""
        return Decision(
            split=np.full(n, self.split),
            keep_ratio=self.keep_ratio,
            quant_bits=self.quant_bits,
            bandwidth_hz=np.asarray(bandwidth_hz, float),
        )


def _check_scope(scn: Scenario) -> None:
    if scn.network.allocation != "continuous":
        raise ValueError(
            "SFT bandwidth solvers need network.allocation = continuous, "
            f"not {scn.network.allocation!r}"
        )
    if scn.schedule.sync != "independent" or scn.objective.kind != "latency":
        raise ValueError(
            "SFT bandwidth solvers need schedule.sync = independent and objective.kind = latency "
            "(the objective must be a max over devices, SFT (27))"
        )


def _at_round(state: State | StateBatch, index: int) -> State | StateBatch:
    """``state`` (every row of a batch) in round ``index``."""
    if isinstance(state, StateBatch):
        rounds = np.full(state.batch_size, index, dtype=np.int64)
        return dataclasses.replace(state, round_index=rounds)
    return state.replace(round_index=index)


def device_latency(
    scn: Scenario, state: State | StateBatch, decision: Decision
) -> tuple[Array, Array]:
    """Per-device share tau_n of the engine's objective, and the objective, for a batch.

    For ``objective_scope = total`` (SFT (28)), tau_n = round-0 time + (R - 1) x later-round
    time of device n, both read from the engine (``per_device["round_s"]`` in a round-0 and
    a round-1 state); the objective must then equal max_n tau_n, which holds because the
    model distribution (19) is a broadcast common to all devices. Other scopes use the
    per-device time of that scope.

    Returns:
        (tau (B, N), objective (B,)).
    """
    _check_scope(scn)
    scope = scn.schedule.objective_scope
    if scope == "total":
        ev0 = evaluate_batch(scn, _at_round(state, 0), decision)
        ev1 = evaluate_batch(scn, _at_round(state, 1), decision)
        rounds = ev0.terms["rounds"][:, None]
        tau = ev0.per_device["round_s"] + (rounds - 1.0) * ev1.per_device["round_s"]
        return tau, ev0.objective
    ev = evaluate_batch(scn, state, decision)
    if scope == "round":
        return ev.per_device["round_s"], ev.objective
    tau = ev.per_device["chain_s"] + ev.terms["shared_iteration_s"][:, None]
    if scope == "epoch":
        tau = scn.schedule.iterations_per_epoch * tau
    return tau, ev.objective


def _relative(value: Array, reference: Array) -> Array:
    """|value - reference| / |reference|, and 0 where both are 0."""
    diff = np.abs(value - reference)
    scale = np.abs(reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, diff / scale, np.where(diff > 0, np.inf, 0.0))


def device_coefficients(
    scn: Scenario,
    state: State | StateBatch,
    split: ArrayLike,
    keep_ratio: ArrayLike,
    quant_bits: ArrayLike,
) -> tuple[Array, Array]:
    """(a_n, c_n) with tau_n(b) = a_n + c_n / b for K configurations, read from the engine.

    Each configuration is evaluated at b = B/N and b = B/(2N) for every device (exact
    solve for a and c) and at a third, unequal vector summing to B; the fit must
    reproduce the engine's tau_n there and the engine's objective must equal
    max_n (a_n + c_n / b_n), both to :data:`FIT_RTOL` relative.

    Args:
        scn: the scenario.
        state: the state, or K states (a :class:`StateBatch`: configuration k in row k).
        split: (K,) cuts l.
        keep_ratio: (K,) keep ratios rho.
        quant_bits: (K,) quantization bits q.

    Returns:
        a, c of shape (K, N).

    Raises:
        FitError: the engine's objective does not have this form.
    """
    split = np.atleast_1d(np.asarray(split, dtype=np.int64))
    keep = np.broadcast_to(np.asarray(keep_ratio, dtype=float), split.shape)
    bits = np.broadcast_to(np.asarray(quant_bits, dtype=np.int64), split.shape)
    n, total = scn.n_devices, scn.network.bandwidth_hz
    probe = np.stack(
        [
            np.full(n, total / n),
            np.full(n, total / (2 * n)),
            total * np.arange(1, n + 1) / (n * (n + 1) / 2),
        ]
    )
    a_out, c_out = [], []
    per = max(1, CHUNK // 3)
    for lo in range(0, split.size, per):
        sl = slice(lo, lo + per)
        k = split[sl].size
        dec = Decision(
            split=np.repeat(np.repeat(split[sl], 3)[:, None], n, axis=1),
            keep_ratio=np.repeat(keep[sl], 3),
            quant_bits=np.repeat(bits[sl], 3),
            bandwidth_hz=np.tile(probe, (k, 1)),
        )
        rows = state
        if isinstance(state, StateBatch):  # configuration i in state row i
            rows = state.take(np.repeat(np.arange(lo, lo + k), 3))
        tau, obj = device_latency(scn, rows, dec)
        tau, obj = tau.reshape(k, 3, n), obj.reshape(k, 3)
        c = (tau[:, 0] - tau[:, 1]) / (1.0 / probe[0] - 1.0 / probe[1])
        a = tau[:, 0] - c / probe[0]
        fit = a + c / probe[2]
        # relative errors; a device absent this epoch (churn) has tau = 0 at every probe
        err = _relative(fit, tau[:, 2])
        err_obj = _relative(tau.max(axis=2), obj)
        if not (np.all(err <= FIT_RTOL) and np.all(err_obj <= FIT_RTOL) and np.all(c >= 0)):
            raise FitError(
                f"engine objective is not max_n (a_n + c_n / b_n): fit error {np.nanmax(err):.3g}, "
                f"max-structure error {np.nanmax(err_obj):.3g}, min c {c.min():.3g} "
                f"(tolerance {FIT_RTOL})"
            )
        a_out.append(a)
        c_out.append(c)
    return np.concatenate(a_out), np.concatenate(c_out)


def bisection_bandwidth_batch(
    a: Array, c: Array, total_hz: float, b_max: ArrayLike
) -> tuple[Array, Array]:
    """Exact min-max bandwidth of K problems at once, (K, N); see :func:`bisection_bandwidth`."""
    a, c = np.atleast_2d(a).astype(float), np.atleast_2d(c).astype(float)
    cap = np.broadcast_to(np.asarray(b_max, dtype=float), a.shape[-1:])
    n = a.shape[1]
    if cap.sum() < total_hz * (1 - 1e-12):
        raise ValueError(
            f"sum of b_max = {cap.sum():g} Hz < B = {total_hz:g} Hz: (38c) cannot hold"
        )

    has_c = c > 0

    def demand(t: Array) -> Array:
        need = np.divide(c, t[:, None] - a, out=np.zeros_like(c), where=has_c)
        return np.minimum(need, cap, out=need)

    lo = (a + c / cap).max(axis=1)  # every device needs at least this with b_n <= b_max
    hi = np.maximum(
        (a + c / np.minimum(cap, total_hz / n)).max(axis=1), lo
    )  # equal split is feasible
    stop = 4 * np.finfo(float).eps
    # a row stops when its own bracket is below 4 ulp, so its result does not depend on the
    # other rows of the batch (an env's row is the same alone or among K envs)
    done = hi - lo <= stop * np.abs(hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(200):
            if done.all():
                break
            mid = 0.5 * (lo + hi)
            over = demand(mid).sum(axis=1) > total_hz
            lo, hi = np.where(over & ~done, mid, lo), np.where(over | done, hi, mid)
            done = hi - lo <= stop * np.abs(hi)
    b = demand(hi)
    room = cap - b
    left = np.maximum(total_hz - b.sum(axis=1), 0.0)[:, None]
    # leftover (round-off, or slack when t* = max_n (a_n + c_n / b_max)) goes where there is room
    b = b + np.where(
        room.sum(axis=1, keepdims=True) > 0,
        left * room / np.maximum(room.sum(axis=1, keepdims=True), 1e-300),
        0.0,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(c > 0, a + c / b, a).max(axis=1)
    return b, t


def bisection_bandwidth(
    a: ArrayLike, c: ArrayLike, B: float, b_max: ArrayLike
) -> tuple[Array, float]:
    """Exact solution of P2 (38) for tau_n(b) = a_n + c_n / b_n (ours).

    The optimal value t* is the smallest t with ``sum_n min(b_max, c_n / (t - a_n)) <= B``
    (the left side falls in t); it lies between max_n (a_n + c_n / b_max) and the
    equal-split value, and is found by bisection to machine precision. Then
    ``b_n = min(b_max, c_n / (t* - a_n))``, and any bandwidth left over (only when the caps
    bind or through round-off) is spread over devices below their cap.

    Args:
        a: (N,) bandwidth-free part of tau_n in s.
        c: (N,) coefficient of 1 / b_n in s Hz (>= 0).
        B: total bandwidth in Hz (38c).
        b_max: per-device cap in Hz (38b), scalar or (N,).

    Returns:
        (b, t): the allocation (N,) in Hz and the min-max value max_n tau_n(b_n) in s.
    """
    b, t = bisection_bandwidth_batch(
        np.asarray(a, float)[None], np.asarray(c, float)[None], B, b_max
    )
    return b[0], float(t[0])


def sqp_bandwidth_batch(
    a: ArrayLike,
    c: ArrayLike,
    B: float,
    b_max: ArrayLike,
    b0: ArrayLike | None = None,
    *,
    ftol: float = 1e-14,
    maxiter: int = 500,
) -> tuple[Array, Array, Solution]:
    """SFT Alg. 3 on R problems at once: P3 (42) by SLSQP, each row as :func:`sqp_bandwidth`.

    Row r is bit for bit the one-row solve of (a[r], c[r]): SciPy's SLSQP on every row, driven
    in lockstep (:mod:`.sft_slsqp`), then the same clean-up: the solver's b clipped into its
    bounds, rescaled to sum to B (38c), capped at b_max (38b), and the start returned
    instead whenever it is better.

    Args:
        a: (R, N) bandwidth-free part of tau_n in s.
        c: (R, N) coefficient of 1 / b_n in s Hz (>= 0).
        B: total bandwidth in Hz (38c).
        b_max: per-device cap in Hz (38b), scalar or (N,).
        b0: (R, N) or (N,) start in Hz; equal bandwidth B / N by default.
        ftol: SLSQP's tolerance.
        maxiter: SLSQP's iteration limit.

    Returns:
        (b in Hz (R, N), t = max_n tau_n(b) in s (R,), SLSQP's end of every row).

    Raises:
        ValueError: a and c differ in shape, B <= 0, or b_max below the solver's floor
            1e-9 B / N.
    """
    a, c = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(c, float))
    if a.shape != c.shape:
        raise ValueError(f"a and c must have the same shape (R, N), not {a.shape} and {c.shape}")
    if not B > 0:
        raise ValueError(f"B must be > 0 Hz, not {B!r}")
    r, n = a.shape
    cap = np.broadcast_to(np.asarray(b_max, dtype=float), (n,))
    start = np.full((r, n), B / n) if b0 is None else np.broadcast_to(np.asarray(b0, float), (r, n))
    prog = Program.scaled(a, c, B, cap, start)
    floor, top = prog.lower[:-1], prog.upper[:-1]  # (38b) in MHz
    if np.any(floor > top):
        raise ValueError(
            f"b_max must be >= 1e-9 B / N = {floor[0] * MHZ:g} Hz, not {cap.min():g} Hz"
        )
    sol = solve(prog, ftol, maxiter)
    b = np.clip(sol.x[:, :-1], floor, top) * MHZ
    b *= (B / b.sum(axis=1))[:, None]  # remove the solver's round-off on (38c)
    b = np.minimum(b, top * MHZ)  # rescaling can only push over a cap by round-off
    t = np.max(a + c / b, axis=1)
    worse = t > prog.t0  # never return worse than the feasible start
    b[worse], t[worse] = start[worse], prog.t0[worse]
    return b, t, sol


def sqp_bandwidth(
    a: ArrayLike,
    c: ArrayLike,
    B: float,
    b_max: ArrayLike,
    b0: ArrayLike | None = None,
    *,
    ftol: float = 1e-14,
    maxiter: int = 500,
) -> tuple[Array, float, OptimizeResult]:
    """SFT Alg. 3: P3 (42) ``min t s.t. t >= tau_n(b_n), 0 <= b_n <= b_max, sum b_n = B`` by SLSQP.

    Units are scaled for the solver: bandwidth in MHz, and t divided by t0 = max_n tau_n(b0)
    at the start (equal bandwidth by default), so all variables are O(1). Gradients are
    analytic: d tau_n / d b_n = -c_n / b_n^2. ``b_n >= 0`` becomes ``b_n >= 1e-9 B / N``
    (tau_n is infinite at 0 for c_n > 0). The one-row :func:`sqp_bandwidth_batch`.

    Returns:
        (b in Hz (N,), t = max_n tau_n(b) in s, SLSQP's end as a SciPy OptimizeResult: x, fun,
        nit, status, message, success).
    """
    b, t, sol = sqp_bandwidth_batch(
        np.asarray(a, float)[None],
        np.asarray(c, float)[None],
        B,
        b_max,
        b0,
        ftol=ftol,
        maxiter=maxiter,
    )
    status = int(sol.status[0])
    res = OptimizeResult(
        x=sol.x[0],
        fun=float(sol.fun[0]),
        nit=int(sol.nit[0]),
        status=status,
        message=sol.message[0],
        success=status == 0,
    )
    return b[0], float(t[0]), res
