"""``sqp``: SLSQP over the continuous decisions, an outer loop over the discrete ones.

Continuous step (:func:`slsqp_step`): scipy's SLSQP over every continuous field of the
space in normalized units z in [0, 1]:

| field | z | explicit constraint |
| --- | --- | --- |
| subchannel counts (relaxed) | count / K | sum z <= 1 |
| bandwidth, compute shares | value / pool | sum z <= 1 |
| powers | watts / P_max | sum z <= P_total / P_max |
| server clock, keep ratio | position in the range | bounds |

Subchannel counts are relaxed exactly: the candidates are scored in the same scenario with
each pool split into M times more subchannels of 1/M the width (the engine's band of a
device is count x B / K, so count / M subchannels of the original pool become an integer),
M = min(1000, 10^6 // K). The optimum is then rounded to K by largest remainder (at least
one per active device) and polished by single-subchannel transfers. Gradients are forward
differences (step 1e-3 in z; downwards for pooled fields, whose budgets bind) computed in
one batched engine call of D + 1 rows. SLSQP's iterates may overrun a budget by rounding:
they are scaled back into it before scoring.

Outer loop over the discrete decisions (rank, bits, splits, edge splits): starting from the
preset default, water-filling of the pooled resources gives the first continuous point; each outer
iteration enumerates the discrete blocks with the continuous fields fixed (as ``bcd``'s
blocks 1-2: global choices; every device at one split, re-allocated; per-device best
responses, the 8 moves that shorten their device most also re-allocated; and the keep
ratio by a zoomed grid, since its cost jumps where an accuracy threshold binds), then runs the
continuous step (after the scenario's allocator where the space allows it); it stops when an iteration does not improve
the score or after 4 iterations. Bits are enumerated each with its best keep ratio
(:func:`baselines.methods.blocks.best_ratios`).

Simplex polish (:func:`simplex_step`), with the budget left: the objective is a max over
devices (a round waits for the slowest), so where two devices' round times tie it has a
kink, SLSQP's finite-difference gradient is one-sided there and it stops short of the
optimum (on the flagship's small instances 1-3 % above ``joint_exact``, with every
discrete choice right). From SLSQP's point, scipy's Nelder-Mead (adaptive coefficients,
bounds [0, 1], first simplex of edge 0.05) moves every continuous field at once, counts
rounded by largest remainder and scored in the scenario itself, which crosses such ties.
It runs up to 48 variables (N of about 12 on the flagship): its cost per step grows with
the dimension and it scores one point per engine call.

Default budget: 3000 evaluations, or 120 per device for N from 25 to 100 (12000 beyond).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from baselines.methods import blocks
from baselines.methods.evaluator import BudgetExhausted, Evaluator
from baselines.methods.general import PER_DEVICE, GeneralMethod
from baselines.methods.search_space import (
    BOXES,
    COUNTS,
    POWERS,
    SHARES,
    Point,
    Space,
    copy_point,
)
from splitenv.config import Scenario

#: finite-difference step in normalized units
STEP = 1e-3
#: outer iterations
OUTER = 4
#: single-device moves scored re-allocated per discrete block (blocks.device_choice)
REALLOC = 8
#: largest number of continuous variables the Nelder-Mead polish runs on (N of about 15)
SIMPLEX_DIM = 48
#: edge of Nelder-Mead's first simplex in normalized units
SIMPLEX_EDGE = 0.05


class Relaxation:
    """The continuous variables of a point and their scoring (module docstring).

    Args:
        space: the decision space.
        ev: the evaluator.
        point: the point whose discrete fields stay fixed.
        relaxed: whether the subchannel counts are relaxed (scored in the finer pool);
            without (the simplex polish) they are rounded by largest remainder and scored in
            the scenario itself, so every point can become the incumbent, and the keep ratio
            is left out (the discrete step sets it).
    """

    def __init__(self, space: Space, ev: Evaluator, point: Point, relaxed: bool = True) -> None:
        self.space, self.ev, self.base = space, ev, point
        self.on = np.flatnonzero(space.active)
        boxes = BOXES if relaxed else tuple(b for b in BOXES if b != "keep_ratio")
        self.fields = space.has(*COUNTS, *SHARES, *POWERS, *boxes)
        self.fine: Scenario | None = None
        self.m: dict[str, int] = {}
        if relaxed and space.has(*COUNTS):
            for name in space.has(*COUNTS):
                self.m[name] = max(1, min(1000, 1_000_000 // int(space.pool(name))))
            key = {
                "subchannels": "network.n_subchannels",
                "fed_subchannels": "network.fed_n_subchannels",
            }
            self.fine = space.scn.with_overrides(
                {key[k]: int(space.pool(k)) * m for k, m in self.m.items()}
            )
        self.sizes = [1 if np.ndim(point[f]) == 0 else len(self.on) for f in self.fields]
        self.pooled = np.concatenate(
            [np.full(s, f not in BOXES) for f, s in zip(self.fields, self.sizes, strict=True)]
            or [np.zeros(0, dtype=bool)]
        )
        self.cache: dict[bytes, float] = {}
        self.scale = 1.0

    def encode(self, point: Point) -> NDArray[np.float64]:
        """Z of a point."""
        parts = []
        for f in self.fields:
            v = np.asarray(point[f], dtype=float).reshape(-1)
            v = v if v.size == 1 else v[self.on]
            if f in COUNTS or f in SHARES:
                parts.append(v / self.space.pool(f))
            else:
                lo, hi = self.space.box(f)
                parts.append((v - lo) / (hi - lo) if hi > lo else v * 0.0)
        return np.clip(np.concatenate(parts), 0.0, 1.0)

    def decode(self, z: NDArray[np.float64], relaxed: bool) -> Point:
        """The point of z; relaxed counts in units of the fine pool, else rounded to K."""
        point = copy_point(self.base)
        at = 0
        for f, size in zip(self.fields, self.sizes, strict=True):
            x = np.clip(z[at : at + size], 0.0, 1.0)
            at += size
            if f in BOXES and size == 1:
                lo, hi = self.space.box(f)
                point[f] = np.asarray(lo + x[0] * (hi - lo))
                continue
            full = np.zeros(self.space.n)
            full[self.on] = x
            if f in COUNTS or f in SHARES:  # SLSQP's iterates may overrun sum z <= 1 slightly
                full /= max(1.0, full.sum())
            if f in COUNTS:
                if relaxed:
                    k = self.space.pool(f)
                    point[f] = np.floor(full * k * self.m[f]).astype(np.int64)
                else:
                    point[f] = self.space.counts(f, full)
            elif f in SHARES:
                point[f] = full * self.space.pool(f)
            else:
                lo, hi = self.space.box(f)
                point[f] = (
                    lo + full * (hi - lo) if f in BOXES else self.space.scale_power(full * hi)
                )
        return point

    def score(self, zs: list[NDArray[np.float64]]) -> NDArray[np.float64]:
        """Scores of z's (relaxed scenario when counts are relaxed), divided by ``scale``."""
        relaxed = self.fine is not None
        points = [self.decode(z, relaxed) for z in zs]
        return self.ev.scores(points, scenario=self.fine) / self.scale

    def fun(self, z: NDArray[np.float64]) -> float:
        key = z.tobytes()
        if key not in self.cache:
            self.cache[key] = float(self.score([z])[0])
        return self.cache[key]

    def jac(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        # pooled fields step down (a step up would overrun a budget that binds), boxes up
        down = np.where(self.pooled, z - STEP >= 0.0, z + STEP > 1.0)
        steps = np.where(down, -STEP, STEP)
        rows = [z] + [z + np.eye(len(z))[i] * steps[i] for i in range(len(z))]
        values = self.score(rows)
        self.cache[z.tobytes()] = float(values[0])
        return (values[1:] - values[0]) / steps

    def constraints(self) -> list[dict[str, Any]]:
        """Budgets as linear inequalities c(z) >= 0."""
        out, at = [], 0
        for f, size in zip(self.fields, self.sizes, strict=True):
            mask = np.zeros(sum(self.sizes))
            mask[at : at + size] = 1.0
            at += size
            if f in COUNTS or f in SHARES:
                cap = 1.0
            elif f in POWERS:
                cap = self.space.pool(f) / self.space.box(f)[1]
                if not cap < size:  # no total budget (or one that cannot bind)
                    continue
            else:
                continue
            out.append(
                {
                    "type": "ineq",
                    "fun": lambda z, m=mask, c=cap: c - m @ z,
                    "jac": lambda z, m=mask: -m,
                }
            )
        return out


def slsqp_step(
    space: Space, ev: Evaluator, point: Point, value: float, maxiter: int = 30
) -> tuple[Point, float]:
    """SLSQP from ``point`` over its continuous fields; counts rounded and polished after."""
    rel = Relaxation(space, ev, point)
    if not rel.fields:
        return point, value
    z0 = rel.encode(point)
    rel.scale = max(rel.fun(z0), 1e-300)
    rel.cache.clear()
    lower = np.concatenate(
        [
            np.full(s, 1e-4 if f in COUNTS or f in SHARES else 0.0)
            for f, s in zip(rel.fields, rel.sizes, strict=True)
        ]
    )
    try:
        res = minimize(rel.fun, z0, jac=rel.jac, method="SLSQP", bounds=list(zip(lower, np.ones_like(lower), strict=True)),
                       constraints=rel.constraints(), options={"maxiter": maxiter, "ftol": 1e-10})  # fmt: skip
        z = res.x
    except BudgetExhausted:
        z = min(rel.cache, key=rel.cache.__getitem__, default=None)
        z = np.frombuffer(z) if z is not None else z0
    cand = rel.decode(z, relaxed=False)
    if any(f in POWERS for f in rel.fields):
        for f in space.has(*POWERS):
            cand[f] = space.scale_power(cand[f])
    score = float(ev.scores([cand])[0])
    if score < value:
        point, value = cand, score
    for name in space.has(*COUNTS):
        point, value = blocks.transfer(space, ev, point, value, name)
    return point, value


def simplex_step(
    space: Space, ev: Evaluator, point: Point, value: float, maxfev: int
) -> tuple[Point, float]:
    """Nelder-Mead from ``point`` over the continuous fields, counts rounded (module docstring)."""
    rel = Relaxation(space, ev, point, relaxed=False)
    dim = sum(rel.sizes)
    if not rel.fields or dim > SIMPLEX_DIM or maxfev < 2 * (dim + 1):
        return point, value
    z0 = rel.encode(point)
    rel.scale = max(value, 1e-300)
    # the first simplex: 0.05 along each axis, towards the interior of [0, 1]
    simplex = np.vstack([z0, z0 + np.diag(np.where(z0 > 0.5, -SIMPLEX_EDGE, SIMPLEX_EDGE))])
    try:
        minimize(rel.fun, z0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * dim,
                 options={"adaptive": True, "initial_simplex": simplex, "maxfev": maxfev,
                          "xatol": 1e-7, "fatol": 1e-10})  # fmt: skip
    except BudgetExhausted:
        pass
    if not rel.cache:
        return point, value
    z = np.frombuffer(min(rel.cache, key=rel.cache.__getitem__))
    score = rel.cache[z.tobytes()] * rel.scale
    return (rel.decode(z, relaxed=False), score) if score < value else (point, value)


def discrete_step(space: Space, ev: Evaluator, point: Point, value: float) -> tuple[Point, float]:
    """Enumeration of the discrete blocks with the continuous fields fixed."""
    for name in space.fields:
        if name in ("rank", "quant_bits") or (name == "split" and space.shared_split):
            point, value = blocks.global_choice(space, ev, point, value, name)
    if "split" in space.fields and not space.shared_split:
        point, value = blocks.uniform_splits(space, ev, point, value)
    for name in space.has("split", "edge_split"):
        if not (name == "split" and space.shared_split):
            point, value = blocks.device_choice(space, ev, point, value, name, realloc=REALLOC)
    for name in space.has("keep_ratio"):  # its cost jumps where the accuracy threshold binds
        point, value = blocks.box_grid(space, ev, point, value, name)
    return point, value


class Sqp(GeneralMethod):
    """SLSQP over the continuous decisions inside a discrete outer loop (module docstring)."""

    name = "sqp"
    default_budget: ClassVar[int] = 3000
    budget_per_device: ClassVar[int] = PER_DEVICE

    def run(self, space: Space, ev: Evaluator, rng: np.random.Generator) -> None:
        point = space.start
        value = float(ev.scores([point])[0])
        point, value = blocks.reallocated(space, ev, [point], point, value)
        for _ in range(OUTER):
            before = value
            point, value = discrete_step(space, ev, point, value)
            point, value = blocks.allocate(space, ev, point, value)
            point, value = slsqp_step(space, ev, point, value)
            if not value < before * (1 - 1e-9):
                break
        simplex_step(space, ev, point, value, ev.remaining)
