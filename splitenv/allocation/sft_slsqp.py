"""SLSQP on R copies of SFT's P3 (42) at once: a lockstep driver of SciPy's compiled SLSQP.

Zhang et al., "Split Fine-Tuning for Large Language Models in Wireless Networks" (SFT),
Sec. VI-B, Alg. 3. :func:`splitenv.allocation.sft_bandwidth.sqp_bandwidth_batch` scales R
bandwidth problems and hands their epigraph forms P3 (42), a :class:`Program`, to
:func:`solve`; this module runs SLSQP on them.

Why SciPy's private API: SciPy has no batched SLSQP, and ``minimize(method="SLSQP")`` spends
about 1 ms of Python per problem (``ScalarFunction``, the constraint dicts and wrappers)
around a few microseconds of compiled work; the env asks for hundreds of problems per step.
Since SciPy 1.16, ``_minimize_slsqp`` (``scipy/optimize/_slsqp_py.py``) is a short Python
loop around the C routine ``scipy.optimize._slsqplib.slsqp``: the routine keeps its state in
a dict and buffers, and returns with ``state["mode"]`` = 1 (evaluate f and the constraints d
at x) or -1 (evaluate the gradient g and the constraint Jacobian C) until it is done.
:func:`_lockstep` is that loop for R problems: every pass calls the routine once per
unfinished problem (each with its own state dict, buffers, x and multipliers) and then
evaluates what they asked for with one numpy expression over all of them
(:meth:`Program.constraints`, :meth:`Program.jacobian`), with the same floating-point
operations, in the same order, as the one-problem functions given to ``minimize``. So every
problem goes through the very iterates of ``minimize``: x, nit and the exit mode are equal bit
for bit.

Cost: on SFT-v1's rows at K = 256 envs (768 problems of N = 8 per call, 7.1 iterations and
15.9 routine calls per problem on average), about 190 us of CPU per problem against 880 us
by ``minimize``; over 80 % of it is now the compiled routine itself (each QP subproblem 20 to
30 us), the numpy evaluations about 3 %.

Guard: the driver mirrors the protocol of SciPy 1.16-1.17 (the state dict's keys, the buffer
sizes, NaN for an infinite bound, the clip of x0 into the bounds, C in Fortran order). At the
first call of :func:`solve`, :func:`_self_check` runs it and the public ``minimize`` on fixed
problems and compares them bit for bit; if ``_slsqplib`` is missing, the call fails or any
number differs, every later call uses :func:`_per_row` (public ``minimize`` problem by
problem, the same numbers at the old speed) and a warning is logged once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

Array = NDArray[np.float64]
Rows = NDArray[np.intp]

#: Hz per MHz: the solver's bandwidth unit
MHZ = 1e6

#: SLSQP's exit modes, worded as ``_minimize_slsqp`` words them (the self-check compares)
EXIT_MODES = {
    -1: "Gradient evaluation required (g & a)",
    0: "Optimization terminated successfully",
    1: "Function evaluation required (f & c)",
    2: "More equality constraints than independent variables",
    3: "More than 3*n iterations in LSQ subproblem",
    4: "Inequality constraints incompatible",
    5: "Singular matrix E in LSQ subproblem",
    6: "Singular matrix C in LSQ subproblem",
    7: "Rank-deficient equality constraint subproblem HFTI",
    8: "Positive directional derivative for linesearch",
    9: "Iteration limit reached",
}

#: the routine's state at the start (SciPy's struct SLSQP_static_vars), but for the problem's
#: acc, tol, itermax, m, meq and n
_STATE = dict.fromkeys(
    ("alpha", "f0", "gs", "h1", "h2", "h3", "h4", "t", "t0"), 0.0
) | dict.fromkeys(("exact", "inconsistent", "reset", "iter", "line", "mode"), 0)

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Program:
    """P3 (42) of R problems in solver units: x = (b_1 .. b_N in MHz, t / t0).

    ``min x_N  s.t.  sum_n x_n = B / 1e6`` (38c), ``x_N - tau_n(1e6 x_n) / t0 >= 0`` (42d),
    ``lower <= x <= upper`` (38b), with ``tau_n(b) = a_n + c_n / b``.
    """

    a: Array  #: (R, N) bandwidth-free part of tau_n in s
    c: Array  #: (R, N) coefficient of 1 / b_n in s Hz
    t0: Array  #: (R,) scale of t: max_n tau_n at the start, in s
    total_mhz: float  #: B / 1e6
    x0: Array  #: (R, N + 1) start: (b0 / 1e6, 1)
    lower: Array  #: (N + 1,) lower bounds (1e-9 B / N for b_n: tau_n is infinite at 0; 0 for t)
    upper: Array  #: (N + 1,) upper bounds (b_max / 1e6; inf for t)

    @classmethod
    def scaled(cls, a: Array, c: Array, total_hz: float, cap_hz: Array, start: Array) -> Program:
        """P3 of (a, c) (R, N) for B = ``total_hz``, b_max = ``cap_hz`` (N,) and b0 = ``start`` (R, N)."""
        n = a.shape[1]
        t0 = np.max(a + c / start, axis=1)
        x0 = np.concatenate([start / MHZ, np.ones((a.shape[0], 1))], axis=1)
        lower = np.append(np.full(n, 1e-9 * total_hz / n / MHZ), 0.0)
        upper = np.append(cap_hz / MHZ, np.inf)
        return cls(a, c, t0, total_hz / MHZ, x0, lower, upper)

    def constraints(self, x: Array, rows: Rows) -> Array:
        """The constraints d of problems ``rows`` at x (k, N + 1): (38c), then N rows of (42d)."""
        b, t = x[:, :-1], x[:, -1:]
        d = np.empty((x.shape[0], 1 + b.shape[1]))
        d[:, 0] = b.sum(axis=1) - self.total_mhz  # per row numpy's pairwise sum, as b[i].sum()
        d[:, 1:] = t - (self.a[rows] + self.c[rows] / (b * MHZ)) / self.t0[rows, None]
        return d

    def jacobian(self, x: Array, rows: Rows) -> Array:
        """Their Jacobian C at x (k, N + 1, N + 1), with d tau_n / d b_n = -c_n / b_n^2."""
        k, n = x.shape[0], x.shape[1] - 1
        jac = np.zeros((k, 1 + n, n + 1))
        jac[:, 0, :-1] = 1.0
        diag = np.arange(n)
        jac[:, 1 + diag, diag] = self.c[rows] / (x[:, :-1] ** 2 * MHZ * self.t0[rows, None])
        jac[:, 1:, -1] = 1.0
        return jac


@dataclass(frozen=True)
class Solution:
    """SLSQP's end of R problems: ``minimize``'s x, fun, nit, status and message for each."""

    x: Array  #: (R, N + 1) last iterate
    fun: Array  #: (R,) objective at the last evaluation
    nit: NDArray[np.int64]  #: (R,) major iterations
    status: NDArray[np.int64]  #: (R,) exit mode (0: success; :data:`EXIT_MODES`)
    message: tuple[str, ...]  #: (R,) the exit modes' words


def _lockstep(prog: Program, ftol: float, maxiter: int) -> Solution:
    """SLSQP on every problem: the compiled routine driven in lockstep by SciPy's protocol."""
    from scipy.optimize._slsqplib import slsqp  # private: see the module docstring

    r, n = prog.x0.shape  # n: SLSQP's variables (N + 1)
    m, meq = n, 1  # (38c), then the N rows of (42d)
    x = np.clip(prog.x0, prog.lower, prog.upper)  # minimize clips x0 into the bounds
    xl = np.where(np.isfinite(prog.lower), prog.lower, np.nan)  # NaN: no bound; read only
    xu = np.where(np.isfinite(prog.upper), prog.upper, np.nan)
    # the worst-case workspace, as _minimize_slsqp sizes it
    size = n * (n + 1) // 2 + 3 * m * n - (m + 5 * n + 7) * meq + 9 * m + 8 * n * n + 35 * n
    buffer = np.zeros((r, size + meq * meq + 28))
    indices = np.zeros((r, m + 2 * n + 2), dtype=np.int32)
    mult = np.zeros((r, m + 2 * n + 2))
    grad = np.zeros((r, n))
    grad[:, -1] = 1.0  # of the objective x_N, constant
    jac = np.zeros((r, n, m)).transpose(0, 2, 1)  # every problem's C (m, n) in Fortran order
    every = np.arange(r)
    fun = x[:, -1].copy()
    d = prog.constraints(x, every)
    jac[:] = prog.jacobian(x, every)
    states = [
        {
            **_STATE,
            "acc": ftol,
            "tol": 10.0 * ftol,
            "itermax": int(maxiter),
            "m": m,
            "meq": meq,
            "n": n,
        }
        for _ in range(r)
    ]
    active = list(range(r))
    while active:  # a pass: one call per unfinished problem, then their evaluations at once
        ask_f, ask_g = [], []
        for i in active:
            st = states[i]
            slsqp(st, fun[i], grad[i], jac[i], d[i], x[i], mult[i], xl, xu, buffer[i], indices[i])
            if st["mode"] == 1:
                ask_f.append(i)
            elif st["mode"] == -1:
                ask_g.append(i)
        if ask_f:  # mode 1: f and d at x
            rows = np.array(ask_f)
            at = x[rows]
            fun[rows] = at[:, -1]
            d[rows] = prog.constraints(at, rows)
        if ask_g:  # mode -1: g and C at x (g is constant and the routine only reads it)
            rows = np.array(ask_g)
            jac[rows] = prog.jacobian(x[rows], rows)
        active = ask_f + ask_g
    status = np.array([st["mode"] for st in states], dtype=np.int64)
    return Solution(
        x,
        fun,
        np.array([st["iter"] for st in states], dtype=np.int64),
        status,
        tuple(EXIT_MODES[int(s)] for s in status),
    )


def _per_row(prog: Program, ftol: float, maxiter: int) -> Solution:
    """SLSQP on every problem by the public ``minimize``, one problem at a time."""
    n = prog.x0.shape[1]
    bounds = list(zip(prog.lower.tolist(), prog.upper.tolist(), strict=True))
    results = []
    for i in range(prog.x0.shape[0]):
        row = np.array([i])
        cons = [
            {"type": "eq", "fun": lambda v, row=row: prog.constraints(v[None], row)[0, :1],
             "jac": lambda v, row=row: prog.jacobian(v[None], row)[0, :1]},
            {"type": "ineq", "fun": lambda v, row=row: prog.constraints(v[None], row)[0, 1:],
             "jac": lambda v, row=row: prog.jacobian(v[None], row)[0, 1:]},
        ]  # fmt: skip
        results.append(
            minimize(
                lambda v: v[-1],
                prog.x0[i],
                jac=lambda v: np.append(np.zeros(n - 1), 1.0),
                method="SLSQP",
                bounds=bounds,
                constraints=cons,
                options={"ftol": ftol, "maxiter": maxiter},
            )
        )
    return Solution(
        np.array([res.x for res in results]).reshape(-1, n),
        np.array([res.fun for res in results], dtype=float),
        np.array([res.nit for res in results], dtype=np.int64),
        np.array([res.status for res in results], dtype=np.int64),
        tuple(str(res.message) for res in results),
    )


#: whether the lockstep driver passed its self-check (decided at the first :func:`solve`)
_DRIVER_OK: list[bool] = []


def solve(prog: Program, ftol: float, maxiter: int) -> Solution:
    """SLSQP on the R problems of ``prog``, as ``minimize(method="SLSQP")`` solves each.

    The lockstep driver if it passed its self-check, else public ``minimize`` row by row.
    """
    if not _DRIVER_OK:
        ok = _self_check()
        if not ok:
            _LOG.warning(
                "splitenv: the batched SLSQP driver does not match scipy.optimize.minimize "
                "in this SciPy; SFT's SQP runs minimize row by row (slower, same numbers)"
            )
        _DRIVER_OK.append(ok)
    run = _lockstep if _DRIVER_OK[0] else _per_row
    return run(prog, ftol, maxiter)


def _self_check() -> bool:
    """The lockstep driver against public ``minimize`` on fixed problems, bit for bit.

    Sizes N = 1, 2, 9 and 20, rows of every kind: an absent device (a = c = 0), a binding
    cap, rows ending at different iterations, and one stopped by the iteration limit.
    """
    rng = np.random.default_rng(20260421)
    try:
        for n, maxiter in ((1, 500), (2, 500), (9, 500), (20, 500), (9, 3)):
            a = rng.uniform(0.0, 50.0, (3, n))
            c = rng.uniform(1e6, 1e9, (3, n))
            if n > 1:
                a[0, -1] = c[0, -1] = 0.0  # an absent device
            total = 20e6
            cap = np.full(n, total if n == 1 else 1.5 * total / n)
            prog = Program.scaled(a, c, total, cap, np.full((3, n), total / n))
            got, want = _lockstep(prog, 1e-14, maxiter), _per_row(prog, 1e-14, maxiter)
            if not (
                np.array_equal(got.x, want.x, equal_nan=True)
                and np.array_equal(got.fun, want.fun, equal_nan=True)
                and np.array_equal(got.nit, want.nit)
                and np.array_equal(got.status, want.status)
                and got.message == want.message
            ):
                return False
    except Exception:  # no _slsqplib, another signature or protocol: fall back
        return False
    return True
