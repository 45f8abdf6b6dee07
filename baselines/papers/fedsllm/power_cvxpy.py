"""FedsLLM power control (25) as the paper's convex program, in cvxpy (the optional extra).

The exact bisection of the same problem, and everything else of the power control, is the
core's :mod:`splitenv.allocation.fedsllm_power`; cvxpy is ``splitenv[solvers]``, so this
variant stays here and imports it inside the function.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from splitenv.allocation.fedsllm_power import fit_budget, max_delay
from splitenv.errors import MissingExtraError

Array = NDArray[np.float64]
_LN2 = math.log(2.0)


def solve_cvxpy(
    rest: ArrayLike,
    bits: ArrayLike,
    width_hz: ArrayLike,
    snr_coeff: ArrayLike,
    p_max: float,
    p_total: float,
    *,
    solver: str | None = None,
) -> tuple[float, Array]:
    """The same problem as a convex program in cvxpy (FedsLLM (22)-(25), "solved ... using CVX").

    Variables are scaled for the conic solver: powers in units of p_max, spectral
    efficiencies rho_k = R_k / W_k in bit/s/Hz, and t in units of the equal-power delay.

    Args:
        rest: delay before the upload per client, (N,).
        bits: bits to upload per client, (N,).
        width_hz: bandwidth per client, (N,), > 0.
        snr_coeff: a_k = G_k / N0 in Hz / W.
        p_max: per-client power limit (C4), W.
        p_total: network-wide limit of the pool (C5), W (may be inf).
        solver: a cvxpy solver name (default: cvxpy's choice, Clarabel if installed).

    Returns:
        (t, P): the program's optimal value in s and the powers, clipped into the budget.
    """
    try:
        import cvxpy as cp
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            f'power = "cvxpy" needs {exc.name}: pip install "splitenv[solvers]"'
        ) from exc

    rest, bits, width = (np.asarray(x, dtype=np.float64).ravel() for x in (rest, bits, width_hz))
    a = np.broadcast_to(np.asarray(snr_coeff, dtype=np.float64), rest.shape)
    n = rest.size
    t_ref = float(max_delay(rest, bits, width, a, np.full(n, min(p_max, p_total / n))))
    y = cp.Variable(n, nonneg=True)  # P / p_max
    rho = cp.Variable(n)  # auxiliary rates per Hz, (22)-(23)
    t = cp.Variable()
    snr_full = a * p_max / width
    cons = [
        y <= 1.0,  # C4
        rho <= cp.log(1.0 + cp.multiply(snr_full, y)) / _LN2,
        t >= rest / t_ref + cp.multiply(bits / (width * t_ref), cp.inv_pos(rho)),
    ]
    if np.isfinite(p_total):
        cons.append(cp.sum(y) <= p_total / p_max)  # C5
    prob = cp.Problem(cp.Minimize(t), cons)
    prob.solve(solver=solver)
    if prob.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"cvxpy power control ended with status {prob.status!r}")
    assert y.value is not None and t.value is not None  # status optimal
    power = fit_budget(np.maximum(y.value, 0.0) * p_max, p_max, p_total)
    return float(t.value) * t_ref, power
