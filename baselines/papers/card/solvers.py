"""CARD (Li, Wu, Li, Zhang, IEEE Netw. Lett. 2025): closed-form server frequency + brute-force cut.

CARD decouples per device and round (problem P2, (14)): for device m the server picks a
cut c in {1, ..., I-1} and a GPU frequency f in [F_min, F_max] minimizing

    U(f, c) = w (D - D_min)/(D_max - D_min) + (1 - w)(E - E_min)/(E_max - E_min)   (12)

with the extremes over the device's feasible (c, f) box (the engine's
:func:`splitenv.model.card_bounds`). Alg. 1 takes f* from (16) (the core's
:func:`splitenv.allocation.card.card_frequency`, also the env's inner allocator), which does
not depend on c (the server cycles K(c) cancel), then tries every c.

Solvers here:

* ``card``             Alg. 1: f* by (16), then every cut in one batched engine call.
* ``card_server_only`` the paper's baseline (i): cut 1 (one layer on the device).
* ``card_device_only`` baseline (ii): cut I-1 = 31 (one layer on the server).
* ``card_exact``       reference: cuts x a fine frequency grid, then a bounded scalar
  minimization per promising cut; the continuous optimum of P2.

Baseline frequency. The paper never says at which f_s the baselines run. Fig. 4's
"CARD's delay is closer to the server-only method" holds only if the baselines use
CARD's own f* (at F_max server-only is about 3x faster than CARD), so ``freq="card"`` (f* of (16)) is the default and ``freq="fmax"`` the option.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar

from baselines.base import BaseSolver, SolveStats
from baselines.methods.common import split_values
from splitenv.allocation.card import card_frequency
from splitenv.allocation.card import require_card as _require_card
from splitenv.config import Scenario
from splitenv.model import Decision, State, evaluate_batch

Array = NDArray[np.float64]


def _cut_table(
    scn: Scenario, state: State, cuts: NDArray[np.int64], freq: Array
) -> tuple[Array, Any]:
    """U (12) of every cut (rows) for every device at its frequency ``freq``: (n_cuts, N)."""
    n = scn.n_devices
    split = np.repeat(np.asarray(cuts)[:, None], n, axis=1)
    ev = evaluate_batch(
        scn, state, Decision(split=split, server_freq_hz=np.broadcast_to(freq, split.shape))
    )
    return ev.per_device["card_cost"], ev


class Card(BaseSolver):
    """CARD Alg. 1: f* from (16), then the brute force over every cut c (per device).

    Ties go to the smallest cut (Alg. 1's strict "<"). Under CARD's uniform layers
    U is affine in c, so the chosen cut is always 1 or I-1; the
    brute force stays general.
    """

    name = "card"

    kind = "paper's method"

    reference = "CARD Alg. 1, f* (16), P2 (14)"
    family = "card"

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Return the CARD decision (cut and frequency per device)."""
        freq = card_frequency(scenario, state)
        cuts = split_values(scenario)
        u, _ = _cut_table(scenario, state, cuts, freq)
        best = np.argmin(u, axis=0)  # first minimum: the smallest cut on ties
        stats.iterations, stats.evaluations = 1, len(cuts)
        stats.extra["f_star_hz"] = freq.tolist()
        return Decision(split=cuts[best], server_freq_hz=freq)


class _FixedCut(BaseSolver):
    """A baseline with one cut for every device, at CARD's f* (default) or at F_max.

    Args:
        freq: ``"card"`` (f* of (16), the reading Fig. 4 implies) or ``"fmax"``.
    """

    family = "card"
    cut_end: str = "low"

    def __init__(self, freq: str = "card") -> None:
        if freq not in ("card", "fmax"):
            raise ValueError(f"freq = {freq!r}; allowed: 'card' (f* of CARD (16)) or 'fmax'")
        self.freq = freq

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Return the fixed-cut decision."""
        _require_card(scenario)
        lo, hi = scenario.decision.split_range
        cut = lo if self.cut_end == "low" else hi
        if self.freq == "card":
            freq = card_frequency(scenario, state)
        else:
            freq = np.full(scenario.n_devices, scenario.compute.server_freq_hz[1])
        return Decision(split=np.full(scenario.n_devices, cut), server_freq_hz=freq)


class CardServerOnly(_FixedCut):
    """CARD baseline (i) "Server-only": the device fine-tunes the first layer (cut 1)."""

    name = "card_server_only"

    kind = "baseline"

    reference = "CARD Fig. 4 (i)"
    cut_end = "low"


class CardDeviceOnly(_FixedCut):
    """CARD baseline (ii) "Device-only": the device fine-tunes the first I-1 = 31 layers."""

    name = "card_device_only"

    kind = "baseline"

    reference = "CARD Fig. 4 (ii)"
    cut_end = "high"


def _grid_lower_bound(x: Array, y: Array) -> Array:
    """Lower bound on min over [x_0, x_-1] of a convex function sampled as y (axis 0) at x.

    The minimum lies in the two cells next to the grid argmin i. On a cell [x_j, x_j+1]
    a convex function lies above the secant of the cell to its left extended to the right
    and above the secant of the cell to its right extended to the left; the bound is the
    minimum over the cell of the larger of the two lines (at an end or at the crossing).
    """
    g = len(x)
    out = np.full(y.shape[1:], np.inf)
    i = np.argmin(y, axis=0)
    slope = np.diff(y, axis=0) / np.diff(x)[(slice(None),) + (None,) * (y.ndim - 1)]
    cols = np.indices(i.shape)
    for j in (i - 1, i):  # the two candidate cells
        ok = (j >= 0) & (j <= g - 2)
        jj = np.clip(j, 0, g - 2)
        x0, x1 = x[jj], x[jj + 1]
        y0, y1 = y[(jj, *cols)], y[(jj + 1, *cols)]
        left = np.where(jj >= 1, slope[(np.clip(jj - 1, 0, g - 2), *cols)], -np.inf)
        right = np.where(jj + 1 <= g - 2, slope[(np.clip(jj + 1, 0, g - 2), *cols)], np.inf)

        def upper_env(z: Array, x0=x0, x1=x1, y0=y0, y1=y1, left=left, right=right) -> Array:
            with np.errstate(invalid="ignore"):
                a = np.where(np.isfinite(left), y0 + left * (z - x0), -np.inf)
                b = np.where(np.isfinite(right), y1 + right * (z - x1), -np.inf)
            return np.maximum(a, b)

        with np.errstate(divide="ignore", invalid="ignore"):
            cross = (y1 - y0 + left * x0 - right * x1) / (left - right)
        cross = np.where(np.isfinite(cross), np.clip(cross, x0, x1), x0)
        cell = np.minimum(np.minimum(upper_env(x0), upper_env(x1)), upper_env(cross))
        cell = np.where(np.isfinite(left) | np.isfinite(right), cell, -np.inf)
        out = np.where(ok, np.minimum(out, cell), out)
    return out


class CardExact(BaseSolver):
    """The continuous optimum of CARD's P2 (14) per device, by enumeration and refinement.

    For every device: U (12) on all cuts x ``n_grid`` frequencies (one batched engine
    call); U is strictly convex in f for a fixed cut, so a rigorous
    lower bound per cut follows from the grid (:func:`_grid_lower_bound`), and every cut
    whose bound is not above the best grid value is refined by
    ``scipy.optimize.minimize_scalar`` (bounded Brent) on the bracket around its grid
    minimum, each evaluation a fresh engine call. Tolerance: bounded Brent stops at
    ``sqrt(machine eps) |x| + xatol / 3``, i.e. the frequency to about 1.5e-8 relative;
    U is flat to second order at its minimum, so U is within about 1e-14 of the
    continuous optimum (measured: card and card_exact agree to < 1e-12).

    Args:
        n_grid: frequencies in the grid (F_min and F_max included).
        xatol: absolute tolerance of the refinement, in units of F_max.
    """

    name = "card_exact"

    kind = "exact"

    reference = "CARD P2 (14)"
    family = "card"

    def __init__(self, n_grid: int = 401, xatol: float = 1e-10) -> None:
        if n_grid < 4:
            raise ValueError(f"n_grid = {n_grid} must be >= 4")
        self.n_grid = n_grid
        self.xatol = xatol

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Return the exact (cut, frequency) of every device."""
        _require_card(scenario)
        decision, evals, refined = self._solve(scenario, state)
        stats.iterations, stats.evaluations = refined, evals
        stats.extra.update(refined_cuts=refined, n_grid=self.n_grid)
        return decision

    def _solve(self, scn: Scenario, state: State) -> tuple[Decision, int, int]:
        n = scn.n_devices
        f_lo, f_hi = scn.compute.server_freq_hz
        cuts = split_values(scn)
        grid = np.linspace(f_lo, f_hi, self.n_grid)
        c, f = np.meshgrid(cuts, grid, indexing="ij")
        split = np.repeat(c.reshape(-1, 1), n, axis=1)
        freq = np.repeat(f.reshape(-1, 1), n, axis=1)
        ev = evaluate_batch(scn, state, Decision(split=split, server_freq_hz=freq))
        u = ev.per_device["card_cost"].reshape(len(cuts), self.n_grid, n)
        evals = u.shape[0] * u.shape[1]
        if f_hi <= f_lo:  # a single frequency: the enumeration is exact
            k = np.argmin(u[:, 0, :], axis=0)
            return Decision(split=cuts[k], server_freq_hz=np.full(n, f_lo)), evals, 0
        scale = f_hi
        x = grid / scale
        lower = _grid_lower_bound(x, np.moveaxis(u, 1, 0))  # (n_cuts, N)
        flat = u.reshape(len(cuts) * self.n_grid, n)
        best_val = flat.min(axis=0)
        best_idx = np.argmin(flat, axis=0)
        best_cut = cuts[best_idx // self.n_grid]
        best_f = grid[best_idx % self.n_grid]
        refined = 0
        for m in range(n):
            for ci in np.flatnonzero(lower[:, m] <= best_val[m]):
                gi = int(np.argmin(u[ci, :, m]))
                a, b = x[max(gi - 1, 0)], x[min(gi + 1, self.n_grid - 1)]
                res = minimize_scalar(
                    lambda z, ci=ci, m=m: self._u(scn, state, cuts[ci], z * scale, m, best_f),
                    bounds=(a, b), method="bounded", options={"xatol": self.xatol},
                )  # fmt: skip
                evals += int(res.nfev)
                refined += 1
                if res.fun < best_val[m]:
                    best_val[m], best_cut[m] = res.fun, cuts[ci]
                    best_f[m] = min(max(res.x * scale, f_lo), f_hi)
        return Decision(split=best_cut, server_freq_hz=best_f), evals, refined

    @staticmethod
    def _u(scn: Scenario, state: State, cut: Any, f: float, m: int, others: Array) -> float:
        """U (12) of device m at (cut, f) from a fresh engine call (devices are decoupled)."""
        lo, hi = scn.compute.server_freq_hz
        freq = np.clip(np.array(others, dtype=np.float64), lo, hi)
        freq[m] = min(max(f, lo), hi)
        split = np.full(scn.n_devices, cut)
        ev = evaluate_batch(scn, state, Decision(split=split, server_freq_hz=freq))
        return float(ev.per_device["card_cost"][0, m])
