"""SCCT Algorithm 2 (ALNS over split vectors) and the paper's baselines SCCTL and SCCTS.

Paper: SCCT Sec. IV-B, Algorithm 2, (26)-(29); baselines Sec. V-A.

* ``scctt`` -- ALNS over the split vector s (the `alns` package). Objective (29): the
  mean over Q sampled states of the engine's per-state objective (round scope:
  max migration from ``state.prev_split`` + T J (d4 + max chain)) with the state's
  optimal allocation. Then Algorithm 1 allocates subcarriers and shares on the actual
  state. Fixes of the printed algorithm: operator weights are refreshed
  every tau iterations (``SegmentedRouletteWheel``: segment score sums, decayed);
  scores follow the standard outcomes (new best, better than current, accepted,
  rejected), so sigma2 is reachable; the SA temperature is on the objective's scale.
* ``scctl`` -- the same ALNS, every state allocated equally (beta = K/N, remainder to
  the first devices; alpha = 1/N), and that equal allocation deployed.
* ``sccts`` -- one split for all devices, fixed: the largest memory-feasible one (the
  paper does not give the value), then Algorithm 1.

Inner allocation of the ALNS objective (``inner``): the paper obtains (alpha_q*, beta_q*)
"by using Algorithm 1"; by default we use the exact optimum of that same subproblem
(:mod:`baselines.papers.scct.opt`: never worse than Alg. 1, equal to it in most states, and
about 10x faster warm-started: ~0.5 ms against ~7 ms CPU at N = 30, K = 200), with the
chain term optimised and the migration time of the resulting allocation added, as in
(29) (Alg. 1 minimises the epoch latency D; d0 enters (29) separately). ``inner="alg1"``
runs the greedy instead (Q x 227 greedy runs: ~8 s at N = 30; Alg. 1 then also sees
migration). The allocation deployed on the actual state is always Algorithm 1's.

Defaults (the paper gives none): sigma = (33, 20, 9, 0), decay 0.8,
tau = 20, rho = 0.97, delta_e / delta_s = 1e-3 (227 iterations, the paper's "about 200"),
delta_s = 0.05 x the split-dependent part of the initial objective (the objective minus
the constant T J d4 no split can change), Q = 5, destroy size ceil(gamma N) with
gamma ~ U[0.1, 0.3], initial split = the best on the sampled states of ``prev_split`` and
the constant splits clipped to each device's memory (:func:`initial_split`).

History (the paper's "historical records" of (C, G)): ``options["history"]`` (a list of
States) if given; else Q states from ``StateSampler(scn, seed)`` with seeds drawn from
``rng``, keeping the actual devices (memory, distance, previous split): the compute C_n
is the sampled one and the channel is the actual gain times the sampled fading draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from baselines.base import BaseSolver, SolveStats
from baselines.papers.scct.ops import OPERATORS, SplitSolution, fit_edge_memory
from baselines.papers.scct.opt import Problem, chain_level
from baselines.papers.scct.opt import solve as solve_exact
from splitenv.allocation.scct_alg1 import alg1, greedy_subcarriers
from splitenv.errors import MissingExtraError

try:
    from alns import ALNS
    from alns.accept import SimulatedAnnealing
    from alns.select import SegmentedRouletteWheel
    from alns.stop import MaxIterations
except ModuleNotFoundError as exc:  # the optional extra: the solvers are listed as unavailable
    raise MissingExtraError(
        f'the SCCT ALNS solvers need {exc.name}: pip install "splitenv[solvers]"'
    ) from exc
from splitenv.allocation.scct_tables import Tables, build_tables
from splitenv.config import Scenario
from splitenv.model import Decision, State
from splitenv.model.types import equal_counts
from splitenv.scenarios import StateSampler

DEFAULTS: dict[str, Any] = {
    "q": 5,
    "sigma": (33.0, 20.0, 9.0, 0.0),
    "decay": 0.8,
    "tau": 20,
    "rho": 0.97,
    "temperature_ratio": 1e-3,
    "start_temperature": 0.05,
    "max_iterations": 1000,
    "inner": "optimal",
}


def history_states(scn: Scenario, state: State, rng: np.random.Generator, q: int) -> list[State]:
    """Q sampled epochs for the actual devices (module docstring, "History")."""
    flat = scn.with_overrides({"network.fading": "none"}) if scn.network.fading != "none" else scn
    out = []
    for seed in rng.integers(0, 2**31 - 1, size=q):
        faded = StateSampler(scn, int(seed)).state(state.round_index, state.epoch_index)
        base = StateSampler(flat, int(seed)).state(state.round_index, state.epoch_index)
        fading = faded.channel_gain / base.channel_gain
        out.append(
            state.replace(channel_gain=state.channel_gain * fading, device_flops=faded.device_flops)
        )
    return out


class SplitObjective:
    """P1-6 (29) for split vectors: mean over Q states of the per-state objective, cached.

    Args:
        tables: one :class:`Tables` per sampled state (all splits of the range).
        mode: ``optimal`` (exact allocation), ``alg1`` (greedy) or ``equal``.
    """

    def __init__(self, tables: list[Tables], mode: str) -> None:
        self.tables = tables
        self.mode = mode
        self.lo = int(tables[0].split[0, 0])
        self.cache: dict[tuple[int, ...], SplitSolution] = {}
        self.evaluations = 0
        n, k = tables[0].split.shape[1], tables[0].n_subchannels
        self.equal_beta = equal_counts(k, n)

    def stacked(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], Any]:
        """Tables of all states: edge, device (Q, S, N), link, migration (Q, S, K + 1, N) or None."""
        if not hasattr(self, "_stacked"):
            t = self.tables
            mig = np.stack([x.migration_s for x in t]) if any(x.has_migration for x in t) else None
            self._stacked = (
                np.stack([x.edge_s for x in t]), np.stack([x.device_s for x in t]),
                np.stack([x.link_s for x in t]), mig,
            )  # fmt: skip
        return self._stacked

    def __call__(
        self, split: NDArray[np.int64], warm: SplitSolution | None = None
    ) -> SplitSolution:
        """The (cached) solution object of ``split``."""
        key = tuple(int(x) for x in split)
        if key in self.cache:
            return self.cache[key]
        self.evaluations += 1
        option = np.asarray(split, dtype=np.int64) - self.lo
        objs, betas, shares, levels = [], [], [], []
        for i, tab in enumerate(self.tables):
            start = None if warm is None else warm.betas[i]
            obj, beta, alpha, chain = self._allocate(tab, option, start)
            objs.append(obj)
            betas.append(beta)
            shares.append(alpha)
            levels.append(chain)
        sol = SplitSolution(
            np.asarray(split).copy(),
            float(np.mean(objs)),
            betas,
            np.mean(shares, axis=0),
            np.asarray(levels),
        )
        self.cache[key] = sol
        return sol

    def _allocate(self, tab: Tables, option: NDArray[np.int64], start: NDArray[np.int64] | None):
        n = option.shape[0]
        cols = np.arange(n)
        a, base = tab.edge(option), tab.chain_base(option)
        mig = tab.migration(option) if tab.has_migration else None
        if self.mode == "equal":
            beta = self.equal_beta
            c = base[beta, cols]
            chain = float(np.max(c + a * n))
            alpha = np.full(n, 1.0 / n)
        else:
            if self.mode == "alg1":
                beta, _ = greedy_subcarriers(a, base, mig, tab.weights)
            else:
                p = Problem(a[None], base[None], None, np.ones((1, n), dtype=bool), tab.weights)
                warm = None if start is None else (np.zeros(n, dtype=np.int64), start)
                best = solve_exact(p, start=warm, tol=None, shares=False)
                if best is None:
                    raise ValueError("no feasible allocation: K < N or a device cannot transmit")
                beta, chain = best.beta, best.chain
            c = base[beta, cols]
            if self.mode == "alg1":
                chain = float(chain_level(a, c))
            alpha = np.where(a > 0, a / np.maximum(chain - c, 1e-300), 0.0)
        m = float(mig[beta, cols].max()) if mig is not None else 0.0
        return float(tab.weights.combine(m, chain)), beta, alpha, chain


class _Alns(BaseSolver):
    """Shared driver of SCCTT and SCCTL: ALNS (SCCT Alg. 2) with the `alns` package."""

    mode = "optimal"
    family = "scct"

    def __init__(self, **settings: Any) -> None:
        unknown = sorted(set(settings) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"unknown ALNS setting {unknown[0]!r}; known: {', '.join(DEFAULTS)}")
        self.settings = {**DEFAULTS, **settings}
        if self.settings["inner"] not in ("optimal", "alg1"):
            raise ValueError(f"inner = {self.settings['inner']!r}; allowed: 'optimal', 'alg1'")

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Split vector by ALNS on Q sampled states, then the allocation on ``state``.

        With ``options["split"]`` the split is imposed (a later epoch of a round): only the
        small-timescale part runs, the allocation of ``_deploy`` for that split.
        """
        cfg = {**self.settings, **{k: v for k, v in options.items() if k in DEFAULTS}}
        mode = "equal" if self.mode == "equal" else cfg["inner"]
        if options.get("split") is not None:
            objective = SplitObjective([build_tables(scenario, state)], mode)
            return self._deploy(scenario, state, np.asarray(options["split"]), objective)
        history = self._history(scenario, state, rng, cfg, options.get("history"))
        tables = [build_tables(scenario, h) for h in history]
        objective = SplitObjective(tables, mode)
        mean_flops = np.mean([h.device_flops for h in history], axis=0)
        best, trace, iters = run_alns(scenario, state, tables[0], objective, rng, cfg, mean_flops)
        stats.iterations, stats.evaluations, stats.trace = iters, objective.evaluations, trace
        stats.trace_of = (
            "(29): the split's mean objective over Q sampled states with the search's inner "
            "allocation, not the actual state's objective with Alg. 1's"
        )
        stats.extra.update(split_objective=best.obj, q=len(tables), settings=cfg)
        return self._deploy(scenario, state, best.split, objective)

    @staticmethod
    def _history(
        scn: Scenario, state: State, rng: np.random.Generator, cfg: dict[str, Any], given: Any
    ) -> list[State]:
        """The sampled states of (29): ``given`` with the actual devices, or drawn."""
        if given:  # the actual devices' previous split and memory (SCCT (29): d0 vs round r-1)
            return [
                h.replace(prev_split=state.prev_split, device_memory_bytes=state.device_memory_bytes)
                for h in given
            ]
        return history_states(scn, state, rng, int(cfg["q"]))

    def _deploy(
        self, scn: Scenario, state: State, split: NDArray[np.int64], objective: SplitObjective
    ):
        tab = build_tables(scn, state, split[None, :])
        beta, alpha, _ = alg1(tab, np.zeros(scn.n_devices, dtype=np.int64))
        return Decision(split=split, subchannels=beta, compute_share=alpha)


def initial_split(
    state: State,
    tab: Tables,
    objective: SplitObjective | None = None,
    fit: Callable[[NDArray[np.int64]], NDArray[np.int64]] | None = None,
) -> NDArray[np.int64]:
    """s_0 of Alg. 2 (not given by the paper).

    Candidates: ``prev_split`` (where set and feasible) and, for every split value v,
    ``min(v, largest memory-feasible split of device n)``, each passed through ``fit``
    (the edge-memory repair); with an ``objective`` the best of them on the sampled
    states, else each device's largest feasible split.
    """
    ok = tab.device_memory_ok
    values = tab.split[:, 0]
    largest = values[np.where(ok.any(axis=0), ok.shape[0] - 1 - np.argmax(ok[::-1], axis=0), 0)]
    if objective is None:
        return largest.astype(np.int64)
    prev = state.prev_split
    use_prev = (prev >= values[0]) & (prev <= values[-1])
    use_prev &= ok[np.clip(prev - values[0], 0, len(values) - 1), np.arange(prev.shape[0])]
    cands = [np.minimum(v, largest) for v in values]
    if use_prev.any():
        cands.append(np.where(use_prev, prev, largest))
    cands = [np.asarray(x, dtype=np.int64) for x in cands]
    sols = [objective(x if fit is None else fit(x)) for x in cands]
    return sols[int(np.argmin([x.obj for x in sols]))].split


def run_alns(
    scn: Scenario, state: State, tab: Tables, objective: SplitObjective,
    rng: np.random.Generator, cfg: dict[str, Any], mean_flops: NDArray[np.float64],
) -> tuple[SplitSolution, list[float], int]:  # fmt: skip
    """SCCT Alg. 2 with the `alns` package: (best solution, best-so-far trace, iterations)."""
    feasible = tab.device_memory_ok  # memory is static: the same in every sampled state
    edge_mem = tab.edge_memory_bytes[:, 0]
    edge_cap = scn.memory.edge_memory_bytes
    context = {
        "objective": objective, "feasible": feasible, "edge_mem": edge_mem, "edge_cap": edge_cap,
        "split_values": tab.split[:, 0], "mean_flops": mean_flops,
    }  # fmt: skip
    s0 = objective(initial_split(state, tab, objective, lambda x: fit_edge_memory(x, context)))
    const = tab.weights.const
    t_start = max(float(cfg["start_temperature"]) * (s0.obj - const), 1e-12)
    t_end = t_start * float(cfg["temperature_ratio"])
    n_iter = math.ceil(math.log(cfg["temperature_ratio"]) / math.log(cfg["rho"]))
    n_iter = min(n_iter, int(cfg["max_iterations"]))
    alns = ALNS(rng)
    for name, op in OPERATORS["destroy"].items():
        alns.add_destroy_operator(op, name)
    for name, op in OPERATORS["repair"].items():
        alns.add_repair_operator(op, name)
    select = SegmentedRouletteWheel(
        list(cfg["sigma"]), float(cfg["decay"]), int(cfg["tau"]),
        len(OPERATORS["destroy"]), len(OPERATORS["repair"]),
    )  # fmt: skip
    accept = SimulatedAnnealing(t_start, t_end, float(cfg["rho"]), method="exponential")
    result = alns.iterate(s0, select, accept, MaxIterations(n_iter), **context)
    trace = np.minimum.accumulate(result.statistics.objectives).tolist()
    return result.best_state, trace, n_iter


class Scctt(_Alns):
    """SCCTT: ALNS splits (SCCT Alg. 2) + Algorithm 1 allocation. Settings: see ``DEFAULTS``."""

    name = "scctt"

    kind = "paper's method"

    reference = "SCCT Alg. 2 + Alg. 1, (26)-(29)"
    mode = "optimal"


class Scctl(_Alns):
    """SCCTL: ALNS splits with equal subcarriers and shares (SCCT Sec. V-A)."""

    name = "scctl"

    kind = "baseline"

    reference = "SCCT Sec. V-A (SCCTL)"
    mode = "equal"

    def _deploy(
        self, scn: Scenario, state: State, split: NDArray[np.int64], objective: SplitObjective
    ):
        n = scn.n_devices
        return Decision(
            split=split, subchannels=objective.equal_beta, compute_share=np.full(n, 1.0 / n)
        )


class Sccts(BaseSolver):
    """SCCTS: one fixed split for all devices (the largest memory-feasible one) + Algorithm 1."""

    name = "sccts"

    kind = "baseline"

    reference = "SCCT Sec. V-A (SCCTS)"
    family = "scct"

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Common split, then Alg. 1 on ``state``."""
        tab = build_tables(scenario, state)
        ok = tab.device_memory_ok.all(axis=1)
        edge_ok = (
            tab.edge_memory_bytes[:, 0] * scenario.n_devices <= scenario.memory.edge_memory_bytes
        )
        # the largest split every device holds that also fits the edge; failing that,
        # the largest every device holds (least edge memory), reported infeasible
        usable = np.flatnonzero(ok & edge_ok)
        fallback = np.flatnonzero(ok)
        row = int(usable[-1]) if usable.size else int(fallback[-1]) if fallback.size else 0
        split = tab.split[row].copy()
        beta, alpha, _ = alg1(tab, np.full(scenario.n_devices, row, dtype=np.int64))
        return Decision(split=split, subchannels=beta, compute_share=alpha)
