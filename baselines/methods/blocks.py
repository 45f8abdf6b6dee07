"""Block moves shared by the general methods, each a batched search scored by the engine.

Every function takes a point and returns ``(point, score)``: the better of the given point
and the block's answer (a block never makes the incumbent worse), scoring candidates
through the budgeted :class:`~baselines.methods.evaluator.Evaluator`.

| block | fields | how |
| --- | --- | --- |
| :func:`device_choice` | per-device split / edge split | every device's values with the others fixed (one batch), then the improving devices combined best-first |
| :func:`global_choice` | rank, bits, shared split | enumeration, each value also re-allocated (bits with their best keep ratio, :func:`best_ratios`) |
| :func:`box_grid` | server clock, keep ratio, powers | a 9-point grid per coordinate, then a zoomed one (others fixed; the keep ratio's also re-allocated) |
| :func:`waterfill` | subchannels, bandwidth, compute shares, powers | min-max water-filling of the devices' round times (below) |
| :func:`transfer` | subchannel counts | single-subchannel moves towards the slowest devices |
| :func:`allocate` | every small-timescale field | the scenario's allocator (``splitenv.allocation`` ``paper``) |
| :func:`uniform_splits` | per-device split | every device at one value, re-allocated |

Water-filling: the engine gives each device's round time t_n(x) for a grid of amounts x
of the resource (every device at the same grid value in one row, which the engine scores
as over budget but still times). Each t_n is non-increasing in x, so the smallest level T
with sum_n x_n(T) <= pool, x_n(T) = the least amount with t_n <= T, minimizes the slowest
device (exact over the grid; integer counts enumerate every count). Shares are
interpolated on the grid and refined on a zoomed grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from baselines.methods.evaluator import Evaluator
from baselines.methods.search_space import (
    COUNTS,
    POWERS,
    SHARES,
    Point,
    Space,
    copy_point,
    point_of,
)
from splitenv.allocation.papers import paper
from splitenv.model import Decision

Scored = tuple[Point, float]
#: grid points of a water-filling
GRID = 32


def with_value(point: Point, name: str, index: int | None, value: Any) -> Point:
    """A copy of ``point`` with ``name`` (device ``index``, or all) set; edge split kept >= split."""
    out = copy_point(point)
    if index is None:
        out[name] = np.asarray(value) if np.ndim(out[name]) == 0 else np.full_like(out[name], value)
    else:
        out[name][index] = value
    if name == "split" and "edge_split" in out:
        out["edge_split"] = np.maximum(out["edge_split"], out["split"])
    return out


def combine(
    ev: Evaluator, point: Point, value: float, moves: list[tuple[float, Point, int, str, Any]]
) -> Scored:
    """Apply improving single-device moves best-first in prefixes (all, half, ..., one)."""
    moves = sorted((m for m in moves if m[0] < value), key=lambda m: m[0])
    if not moves:
        return point, value
    sizes = sorted({max(1, len(moves) >> k) for k in range(len(moves).bit_length())}, reverse=True)
    cands = []
    for size in sizes:
        p = copy_point(point)
        for _, _, n, name, v in moves[:size]:
            p = with_value(p, name, n, v)
        cands.append(p)
    scores = ev.scores(cands)
    i = int(np.argmin(scores))
    return (cands[i], float(scores[i])) if scores[i] < value else (point, value)


def device_choice(
    space: Space, ev: Evaluator, point: Point, value: float, name: str, realloc: int = 0
) -> Scored:
    """Best response of every device for a per-device discrete field, combined best-first.

    With ``realloc`` > 0, the ``realloc`` single-device moves that shorten their device's
    round time most are also scored with the small fields re-allocated (:func:`reallocated`):
    at a min-max allocation no single move shortens the slowest device until the resources
    it frees are handed on.
    """
    cands, keys = [], []
    for n in np.flatnonzero(space.active):
        for v in space.device_values(name, int(n), point):
            if v != point[name][n]:
                cands.append(with_value(point, name, int(n), v))
                keys.append((int(n), v))
    if not cands:
        return point, value
    scores, terms = ev.evaluate([point, *cands])
    now, times, scores = terms["round_s"][0], terms["round_s"][1:], scores[1:]
    best: dict[int, tuple[float, int]] = {}
    for s, (dev, v) in zip(scores, keys, strict=True):
        if dev not in best or s < best[dev][0]:
            best[dev] = (float(s), v)
    moves = [(s, point, dev, name, v) for dev, (s, v) in best.items()]
    point, value = combine(ev, point, value, moves)
    if realloc:  # moves that shorten their device most, with the resources re-allocated
        ratio = np.array([times[i, n] / max(now[n], 1e-300) for i, (n, _) in enumerate(keys)])
        top = np.argsort(ratio, kind="stable")[:realloc]
        point, value = reallocated(space, ev, [cands[i] for i in top], point, value)
    return point, value


def global_choice(space: Space, ev: Evaluator, point: Point, value: float, name: str) -> Scored:
    """Enumerate a global choice (rank, bits, the shared split), each value re-allocated."""
    current = np.asarray(point[name]).reshape(-1)[0]
    cands = [with_value(point, name, None, v) for v in space.global_values(name) if v != current]
    if name == "quant_bits" and "keep_ratio" in space.fields and cands:
        cands = best_ratios(space, ev, cands)
    point, value = _pick(cands, ev.scores(cands), point, value) if cands else (point, value)
    if cands and space.has(*COUNTS, *SHARES, *POWERS):
        point, value = reallocated(space, ev, cands, point, value)
    return point, value


def best_ratios(space: Space, ev: Evaluator, cands: list[Point]) -> list[Point]:
    """Each candidate with its best keep ratio, by zoomed grids.

    A 9-point grid, zoomed (x 1/4) twice for every candidate, then four times more for the
    two best (to 1e-4 of the range).
    Bits and keep ratio meet at the accuracy threshold (SFT (36b)): a bit width is only
    worth its best ratio (the feasible one with the fewest bits, just above the threshold),
    and the ratio the point holds may be infeasible at another width.
    """
    lo, hi = space.box("keep_ratio")
    centers = [float(c["keep_ratio"]) for c in cands]
    steps = [(hi - lo) / 8] * len(cands)
    scores = np.full(len(cands), np.inf)

    def zoom(which: list[int], first: bool) -> None:
        grids = [
            np.linspace(lo, hi, 9) if first
            else np.clip(centers[i] + steps[i] * np.arange(-4, 5), lo, hi)
            for i in which
        ]  # fmt: skip
        rows = [with_value(cands[i], "keep_ratio", None, v)
                for i, g in zip(which, grids, strict=True) for v in g]  # fmt: skip
        got = ev.scores(rows).reshape(len(which), 9)
        for i, g, s in zip(which, grids, got, strict=True):
            centers[i], scores[i] = float(g[np.argmin(s)]), float(s.min())
            steps[i] /= 4

    every = list(range(len(cands)))
    for r in range(3):
        zoom(every, r == 0)
    top = [int(i) for i in np.argsort(scores, kind="stable")[:2]]
    for _ in range(4):
        zoom(top, False)
    return [with_value(p, "keep_ratio", None, c) for p, c in zip(cands, centers, strict=True)]


def box_grid(space: Space, ev: Evaluator, point: Point, value: float, name: str) -> Scored:
    """Per-coordinate grid search of a box field (9 points, then a zoom of 9), others fixed."""
    lo, hi = space.box(name)
    scalar = np.ndim(point[name]) == 0
    devices = [None] if scalar else [int(n) for n in np.flatnonzero(space.active)]
    step = (hi - lo) / 8
    centers = {n: float(point[name] if n is None else point[name][n]) for n in devices}
    for zoom in (False, True):
        cands, keys = [], []
        for n in devices:
            grid = (
                np.clip(centers[n] + step * np.arange(-4, 5), lo, hi)
                if zoom
                else np.linspace(lo, hi, 9)
            )
            for v in np.unique(grid):
                cands.append(_set_box(space, point, name, n, v))
                keys.append((n, v))
        scores = ev.scores(cands)
        best: dict[Any, tuple[float, float]] = {}
        for s, (n, v) in zip(scores, keys, strict=True):
            if n not in best or s < best[n][0]:
                best[n] = (float(s), v)
        moves = [(s, point, n, name, v) for n, (s, v) in best.items()]
        if scalar:
            point, value = _pick(cands, scores, point, value)
            if space.has(*COUNTS, *SHARES, *POWERS):  # a global setting moves every device's need
                point, value = reallocated(space, ev, cands, point, value)
        else:
            point, value = combine(ev, point, value, moves)
        centers = {n: best[n][1] for n in devices}
        step /= 4
    return point, value


def _set_box(space: Space, point: Point, name: str, n: int | None, v: float) -> Point:
    out = with_value(point, name, n, v)
    if name in POWERS:
        out[name] = space.scale_power(out[name])
    return out


def _pick(cands: list[Point], scores: NDArray[np.float64], point: Point, value: float) -> Scored:
    i = int(np.argmin(scores))
    return (cands[i], float(scores[i])) if scores[i] < value else (point, value)


def _amounts(
    grid: NDArray[np.float64], times: NDArray[np.float64], level: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Least amount per device reaching ``level`` (log-linear between grid points), inf if none.

    ``times`` (devices, grid) is non-increasing along the grid; ``level`` broadcasts over devices.
    """
    ok = times <= level[:, None] if np.ndim(level) else times <= level
    first = np.argmax(ok, axis=1)
    none = ~ok.any(axis=1)
    prev = np.maximum(first - 1, 0)
    rows = np.arange(times.shape[0])
    t0, t1 = times[rows, prev], times[rows, first]
    g0, g1 = np.log(grid[prev]), np.log(grid[first])
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(np.isfinite(t0) & (t0 > t1), (t0 - level) / (t0 - t1), 1.0)
    out = np.exp(g0 + np.clip(w, 0.0, 1.0) * (g1 - g0))
    out = np.where(first == 0, grid[0], out)
    return np.where(none, np.inf, out)


def fill(space: Space, ev: Evaluator, points: list[Point], name: str) -> list[Point]:
    """Min-max water-filling of one pooled resource for each point (module docstring)."""
    on = np.flatnonzero(space.active)
    pool = space.pool(name)
    if name in COUNTS:
        top = max(int(pool) - len(on) + 1, 1)
        grid = np.unique(np.geomspace(1, top, min(top, GRID)).round())
    else:
        cap = space.box(name)[1] if name in POWERS else pool
        grid = cap * np.geomspace(1e-3 / len(on), 1.0, GRID)
    rows = [_uniform(p, name, on, g) for p in points for g in grid]
    _, terms = ev.evaluate(rows)
    all_times = terms["round_s"][:, on].reshape(len(points), len(grid), len(on))
    out = []
    for point, times in zip(points, all_times, strict=True):
        times = np.minimum.accumulate(times.T[:, ::-1], axis=1)[:, ::-1]  # non-increasing
        lo, hi = float(times[:, -1].max()), float(times[:, 0].max())
        if not np.isfinite(lo):
            out.append(point)
            continue
        hi = hi if np.isfinite(hi) else lo * 1e6
        if _amounts(grid, times, np.full(len(on), lo)).sum() > pool:  # the pool does not go round
            out.append(point)
            continue
        for _ in range(60):  # smallest level whose amounts fit the pool
            mid = 0.5 * (lo + hi)
            if _amounts(grid, times, np.full(len(on), mid)).sum() <= pool:
                hi = mid
            else:
                lo = mid
        amounts = np.zeros(space.n)
        amounts[on] = _amounts(grid, times, np.full(len(on), hi))
        cand = copy_point(point)
        if name in COUNTS:
            cand[name] = space.counts(name, amounts)
        elif name in POWERS:
            cand[name] = space.scale_power(amounts)
        else:
            cand[name] = amounts / amounts.sum() * pool
        out.append(cand)
    return out


def rebalance(space: Space, ev: Evaluator, points: list[Point], rounds: int = 2) -> list[Point]:
    """Water-filling of every pooled field in turn, ``rounds`` times, for each point."""
    names = space.has(*COUNTS, *SHARES, *POWERS)
    for _ in range(rounds if names else 0):
        for name in names:
            points = fill(space, ev, points, name)
    return points


def waterfill(space: Space, ev: Evaluator, point: Point, value: float, name: str) -> Scored:
    """Min-max water-filling of a pooled resource over the active devices, kept if better."""
    cand = fill(space, ev, [point], name)[0]
    score = float(ev.scores([cand])[0])
    return (cand, score) if score < value else (point, value)


def _uniform(point: Point, name: str, on: NDArray[np.int64], amount: float) -> Point:
    out = copy_point(point)
    vals = np.zeros_like(out[name], dtype=float)
    vals[on] = amount
    out[name] = vals.astype(out[name].dtype)
    return out


def transfer(
    space: Space, ev: Evaluator, point: Point, value: float, name: str, rounds: int = 4
) -> Scored:
    """Move single subchannels from any device to one of the four slowest, while it improves."""
    on = np.flatnonzero(space.active)
    for _ in range(rounds):
        _, terms = ev.evaluate([point])
        slow = on[np.argsort(-terms["round_s"][0, on])[:4]]
        cands = []
        for j in slow:
            for i in on:
                if i != j and point[name][i] > 1:
                    p = copy_point(point)
                    p[name][i] -= 1
                    p[name][j] += 1
                    cands.append(p)
        if not cands:
            break
        scores = ev.scores(cands)
        k = int(np.argmin(scores))
        if scores[k] >= value:
            break
        point, value = cands[k], float(scores[k])
    return point, value


LARGE_FIELDS = ("split", "edge_split", "rank", "keep_ratio", "quant_bits")


def allocated(space: Space, point: Point) -> Point | None:
    """The scenario's own allocator for the small-timescale fields, given the point's large ones.

    ``paper`` (:mod:`splitenv.allocation.papers`) picks SCCT Alg. 1, FedsLLM's comm block,
    SFT's bandwidth SQP or CARD's clock by the scenario's structure, and returns the point
    unchanged where none fits; ``None`` when it cannot handle the scenario (an error). Its
    own engine calls are not counted: the general methods count an allocation as the one
    evaluation of its result.
    """
    if not space.allocator or not any(f not in LARGE_FIELDS for f in space.fields):
        return None
    fields: dict[str, Any] = {k: v for k, v in point.items() if k in LARGE_FIELDS}
    large = Decision(**fields)
    try:
        cand = point_of(space.scn, space.state, paper(space.scn, space.state, large))
    except (ValueError, RuntimeError, ArithmeticError):  # not this allocator's structure
        return None
    return {k: v for k, v in cand.items() if k in point}


def allocate(space: Space, ev: Evaluator, point: Point, value: float) -> Scored:
    """The point with the allocator's small-timescale fields (:func:`allocated`), if better."""
    cand = allocated(space, point)
    if cand is None:
        return point, value
    score = float(ev.scores([cand])[0])
    return (cand, score) if score < value else (point, value)


def reallocated(
    space: Space, ev: Evaluator, cands: list[Point], point: Point, value: float
) -> Scored:
    """The best of ``cands``, each re-allocated.

    By the allocator (:func:`allocated`) where the space allows it, else by water-filling
    the pooled resources again (:func:`rebalance`).
    """
    if not cands:
        return point, value
    by_allocator = [allocated(space, c) for c in cands]
    if all(c is not None for c in by_allocator):
        moved = [c for c in by_allocator if c is not None]
    else:
        moved = rebalance(space, ev, cands, rounds=1)
    if not moved:
        return point, value
    return _pick(moved, ev.scores(moved), point, value)


def uniform_splits(space: Space, ev: Evaluator, point: Point, value: float) -> Scored:
    """Every device at one split value (its nearest feasible one), re-allocated: a global move."""
    values = np.unique(np.concatenate(space.splits))
    cands = []
    for v in values:
        split = np.array([s[np.argmin(np.abs(s - v))] for s in space.splits])
        cands.append(with_value(point, "split", None, 0) | {"split": split})
        if "edge_split" in point:
            cands[-1]["edge_split"] = np.maximum(point["edge_split"], split)
    return reallocated(space, ev, cands, point, value)
