"""Destroy and repair operators of SCCT's ALNS over split vectors (SCCT Alg. 2).

The paper names the operator sets Psi^- and Psi^+ but defines none; these are ours.
A destroy operator removes k = ceil(gamma N) devices (gamma ~ U[0.1, 0.3]); a repair
operator gives each removed device a new memory-feasible split:

* destroy: ``random`` (uniform), ``worst`` (drawn with probability proportional to the
  device's mean edge share, i.e. its weight in the min-max), ``related`` (a random
  device and the devices closest to it in (split, mean compute)).
* repair: ``random`` (uniform over the device's feasible splits), ``greedy`` (devices
  in random order take the split minimising the sampled objective with the others'
  splits and subcarriers fixed and the shares re-optimised), ``local`` (one step up
  or down from the old split).

Every repaired vector then meets the edge memory (SCCT 21-7): while it is exceeded, the
device holding most edge memory takes one more layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from baselines.papers.scct.opt import chain_level


@dataclass
class SplitSolution:
    """An evaluated split vector (ALNS state).

    Attributes:
        split: the split vector.
        obj: the sampled objective (29).
        betas: subcarriers of the allocation in each sampled state.
        shares: mean edge share of each device over the states.
        levels: max chain of each state (warm start of the greedy repair's roots).
    """

    split: NDArray[np.int64]
    obj: float
    betas: list[NDArray[np.int64]] = field(repr=False)
    shares: NDArray[np.float64] = field(repr=False)
    levels: NDArray[np.float64] = field(repr=False)

    def objective(self) -> float:
        """The sampled objective (29)."""
        return self.obj


@dataclass
class Destroyed:
    """A split vector with some devices removed, and the solution it came from."""

    split: NDArray[np.int64]
    removed: NDArray[np.int64]
    parent: SplitSolution


def _count(n: int, rng: np.random.Generator) -> int:
    return max(1, min(n, int(np.ceil(rng.uniform(0.1, 0.3) * n))))


def destroy_random(sol: SplitSolution, rng: np.random.Generator, **ctx: Any) -> Destroyed:
    """Remove k uniformly chosen devices."""
    n = sol.split.shape[0]
    return Destroyed(sol.split.copy(), rng.choice(n, _count(n, rng), replace=False), sol)


def destroy_worst(sol: SplitSolution, rng: np.random.Generator, **ctx: Any) -> Destroyed:
    """Remove k devices drawn with probability proportional to their mean edge share."""
    n = sol.split.shape[0]
    weight = np.maximum(sol.shares, 0.0) + 1e-12
    picked = rng.choice(n, _count(n, rng), replace=False, p=weight / weight.sum())
    return Destroyed(sol.split.copy(), picked, sol)


def destroy_related(sol: SplitSolution, rng: np.random.Generator, **ctx: Any) -> Destroyed:
    """Remove a random device and the k - 1 devices most similar in split and mean compute."""
    n = sol.split.shape[0]
    flops = np.log(ctx["mean_flops"])
    spread = max(float(np.ptp(flops)), 1e-12)
    span = max(float(np.ptp(ctx["split_values"])), 1.0)
    seed = int(rng.integers(n))
    dist = np.abs(sol.split - sol.split[seed]) / span + np.abs(flops - flops[seed]) / spread
    dist[seed] = -1.0
    return Destroyed(sol.split.copy(), np.argsort(dist, kind="stable")[: _count(n, rng)], sol)


def _finish(split: NDArray[np.int64], d: Destroyed, ctx: dict[str, Any]) -> SplitSolution:
    split = fit_edge_memory(split, ctx)
    return ctx["objective"](split, warm=d.parent)


def fit_edge_memory(split: NDArray[np.int64], ctx: dict[str, Any]) -> NDArray[np.int64]:
    """Raise splits (less edge memory) until SCCT 21-7 holds or no device can take more."""
    lo = int(ctx["split_values"][0])
    mem, feasible, cap = ctx["edge_mem"], ctx["feasible"], ctx["edge_cap"]
    split = split.copy()
    cols = np.arange(split.shape[0])
    while mem[split - lo].sum() > cap:
        can = (split - lo + 1 < feasible.shape[0]) & feasible[
            np.minimum(split - lo + 1, feasible.shape[0] - 1), cols
        ]
        if not can.any():
            break
        load = np.where(can, mem[split - lo], -np.inf)
        split[int(np.argmax(load))] += 1
    return split


def repair_random(d: Destroyed, rng: np.random.Generator, **ctx: Any) -> SplitSolution:
    """Each removed device takes a uniform memory-feasible split."""
    split, values, feasible = d.split.copy(), ctx["split_values"], ctx["feasible"]
    for n in d.removed:
        split[n] = rng.choice(values[feasible[:, n]])
    return _finish(split, d, ctx)


def repair_local(d: Destroyed, rng: np.random.Generator, **ctx: Any) -> SplitSolution:
    """Each removed device moves its split one layer up or down (if feasible)."""
    split, values, feasible = d.split.copy(), ctx["split_values"], ctx["feasible"]
    lo = int(values[0])
    for n in d.removed:
        new = split[n] + (1 if rng.random() < 0.5 else -1)
        if values[0] <= new <= values[-1] and feasible[new - lo, n]:
            split[n] = new
    return _finish(split, d, ctx)


def repair_greedy(d: Destroyed, rng: np.random.Generator, **ctx: Any) -> SplitSolution:
    """Removed devices, in random order, take the best split with everything else fixed.

    The score of a split is the sampled objective with each state's subcarriers fixed
    at the parent solution's and the edge shares re-optimised (one batched KKT root
    over all states and candidate splits; SCCTL keeps its equal shares).
    """
    split, values, feasible = d.split.copy(), ctx["split_values"], ctx["feasible"]
    lo = int(values[0])
    obj = ctx["objective"]
    edge, device, link, mig = obj.stacked()
    weights = obj.tables[0].weights
    beta = np.stack(d.parent.betas)  # (Q, N)
    q_idx = np.arange(beta.shape[0])[:, None]
    cols = np.arange(split.shape[0])[None, :]
    opt = (split - lo)[None, :]
    a = edge[q_idx, opt, cols]
    c = device[q_idx, opt, cols] + link[q_idx, opt, beta, cols]
    m = mig[q_idx, opt, beta, cols] if mig is not None else None
    level = d.parent.levels.copy()
    for n in rng.permutation(d.removed):
        ci = values[feasible[:, n]] - lo
        bq = beta[:, n][:, None]
        aa = np.repeat(a[:, None, :], ci.shape[0], axis=1)
        cc = np.repeat(c[:, None, :], ci.shape[0], axis=1)
        aa[:, :, n] = edge[:, ci, n]
        cc[:, :, n] = device[:, ci, n] + link[q_idx, ci[None, :], bq, n]
        if obj.mode == "equal":  # SCCTL: equal shares, no re-optimisation
            chain = np.max(cc + aa * aa.shape[2], axis=2)
        else:  # (Q, candidates), warm-started at each state's current level
            chain = chain_level(aa, cc, start=np.repeat(level[:, None], ci.shape[0], axis=1))
        worst_mig = 0.0
        if m is not None:
            mm = np.repeat(m[:, None, :], ci.shape[0], axis=1)
            mm[:, :, n] = mig[q_idx, ci[None, :], bq, n]
            worst_mig = mm.max(axis=2)
        best = int(np.argmin(weights.combine(worst_mig, chain).sum(axis=0)))
        split[n] = values[ci[best]]
        a[:, n], c[:, n], level = aa[:, best, n], cc[:, best, n], chain[:, best]
        if m is not None:
            m[:, n] = mm[:, best, n]
    return _finish(split, d, ctx)


#: ALNS operators by kind and name (registered in this order).
OPERATORS: dict[str, dict[str, Callable[..., Any]]] = {
    "destroy": {"random": destroy_random, "worst": destroy_worst, "related": destroy_related},
    "repair": {"random": repair_random, "greedy": repair_greedy, "local": repair_local},
}
