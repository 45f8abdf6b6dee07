"""``joint_exact``: the exact reference of the flagship's structure (family ``joint``), small instances.

Every discrete decision is enumerated (per-device splits that fit memory, LoRA rank,
subchannel compositions of all K subchannels with at least one per active device, and
quantization bits); for each, the continuous decisions (transmit power, edge compute
shares, server clock per device) are solved exactly as one convex program; best-first
order with a lower bound prunes the enumeration.

The continuous problem, for fixed discrete choices (constants from the engine, per active
device n: compute time D_n, downlink d_n, uplink bits b_n on W_n Hz with SNR per watt
a_n = g_n / (N0 W_n), server cycles c_n, adapter bits A_n, compute power P_n):

    min  S_L (J T t + s) + lambda S_E J T sum_n (P_n D_n + e_n + xi f_n^2 c_n)
    s.t. D_n + tau_n + c_n / (alpha_n f_n) + d_n <= t          SCCT (19), (16); CARD (8)
         tau_n log(1 + a_n e_n / tau_n) >= b_n ln 2 / W_n       Shannon rate, SCCT (13)
         0 <= e_n <= P_max tau_n,  sum_n alpha_n <= 1,  F_min <= f_n <= F_max
         A_n tau_n / b_n + A_n / R_down,n <= s                  CARD (9) adapter exchange
         S_E J T sum_n (...) <= energy budget                   (when one is set)

with e_n = p_n tau_n the uplink energy per iteration (the variable change makes the rate
constraint the perspective of a concave function: exponential-cone representable), S_L the
rounds E(r) (FedsLLM (17); 1 for a round scope) and S_E likewise. 1 / (alpha f) is convex
(``inv_prod``), f^2 convex: the program is convex, so an interior-point solver (cvxpy with
Clarabel) returns its global optimum with a duality-gap certificate; a local SQP (scipy
SLSQP) would not certify it and handles the max and the perspective less robustly. Any
power p maps to a feasible (tau, e) with the same cost, so the program's optimum bounds
the true one from below; the recovered p = e / tau is evaluated by the engine, whose
objective is then optimal up to the solver's tolerance (checked in the tests).

The keep ratio enters only through the bits per element, and every cost grows with them:
for each bit width, rho is the feasible ratio (SFT (36b)) with the fewest bits, found on a
1e-4 grid of the range plus the exact roots of A(rho, q) = A_th (SFT (35)).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from baselines.base import BaseSolver, SolveStats
from splitenv.config import Scenario
from splitenv.errors import MissingExtraError
from splitenv.model import Decision, State, enabled_fields, evaluate_batch
from splitenv.model.compression import bits_per_element
from splitenv.model.constraints import accuracy_shortfall
from splitenv.model.phases import device_compute_power_w
from splitenv.model.workload import block_costs

#: most discrete combinations enumerated before the method refuses (small instances only)
MAX_COMBINATIONS = 50_000
#: engine rows per batch while tabulating the combinations
CHUNK = 4096


def check_structure(scn: Scenario) -> None:
    """Raise ValueError naming every assumption of the convex program the scenario breaks."""
    sch, net, obj = scn.schedule, scn.network, scn.objective
    need = {
        "schedule.sync = 'parallel'": sch.sync == "parallel",
        "schedule.server_mode = 'share'": sch.server_mode == "share",
        "network.allocation = 'subchannels'": net.allocation == "subchannels",
        "network.rate_model = 'shannon'": net.rate_model == "shannon",
        "decision.power_control": scn.decision.power_control,
        "no network.total_power_dbm": net.total_power_dbm is None,
        "no migration, model distribution or cloud link": not (
            sch.migration or sch.model_distribution or sch.cloud_link != "none"
        ),
        "two tiers, no federated pool": not (scn.decision.three_tier or net.fed_n_subchannels),
        "adapter_exchange none, upload or upload_download": sch.adapter_exchange
        in ("none", "upload", "upload_download"),
        "objective.kind = 'latency'": obj.kind == "latency",
        "objective_scope round or total": sch.objective_scope in ("round", "total"),
        "per-device splits": not scn.decision.shared_split,
    }
    broken = [k for k, ok in need.items() if not ok]
    if broken:
        raise ValueError(f"joint_exact needs {'; '.join(broken)} (scenario {scn.name!r})")


def best_keep_ratio(scn: Scenario, quant_bits: int) -> float | None:
    """The feasible keep ratio with the fewest bits per element at ``quant_bits`` (None: none)."""
    comp, acc, w = scn.compression, scn.accuracy, scn.workload
    lo, hi = comp.keep_ratio_range
    grid: list[Any] = [np.linspace(lo, hi, 10_001), [lo, hi]]
    if acc.constrained:  # the exact boundary of SFT (36b): roots of the cubic in rho
        p = np.asarray(acc.cubic_coeffs)
        q = quant_bits or comp.quant_bits_range[1]
        poly = [p[6], p[3] + p[8] * q, p[1] + p[5] * q + p[9] * q * q,
                p[0] + p[2] * q + p[4] * q * q + p[7] * q**3 - acc.threshold]  # fmt: skip
        roots = np.roots(poly)
        real = roots[np.isreal(roots)].real
        grid.append(real[(real >= lo) & (real <= hi)])
    rho: NDArray[np.float64] = np.unique(np.concatenate(grid))
    # the engine's own check: a root a rounding error outside the feasible set is dropped
    ok = accuracy_shortfall(scn, rho, np.full(rho.shape, quant_bits)) <= 0
    if not ok.any():
        return None
    bits = bits_per_element(
        rho[ok], quant_bits, dense_bits=w.activation_bits, lossless=comp.lossless,
        value_coding_gain=comp.value_coding_gain,
        n_elements=block_costs(scn).activation_values,
    )  # fmt: skip
    return float(rho[ok][int(np.argmin(bits))])


def _compression_choices(scn: Scenario) -> list[dict[str, Any]]:
    """(keep ratio, bits) per bit width, the unquantized 0 included."""
    if "keep_ratio" not in enabled_fields(scn):
        return [{}]
    lo, hi = scn.compression.quant_bits_range
    out = []
    for q in (0, *range(lo, hi + 1)):
        rho = best_keep_ratio(scn, q)
        if rho is not None:
            out.append({"keep_ratio": rho, "quant_bits": q})
    return out


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """Every way to write ``total`` as ``parts`` positive integers (stars and bars)."""
    return [
        tuple(b - a for a, b in zip((0, *cuts), (*cuts, total), strict=True))
        for cuts in itertools.combinations(range(1, total), parts - 1)
    ]


def enumerate_combinations(scn: Scenario, state: State) -> list[dict[str, Any]]:
    """Every discrete combination (split, rank, subchannels, compression) as decision fields.

    Raises:
        ValueError: fewer subchannels than active devices, or more than MAX_COMBINATIONS.
    """
    n, k = scn.n_devices, scn.network.n_subchannels
    on = np.flatnonzero(state.active)
    if k < len(on):
        raise ValueError(
            f"{k} subchannels cannot give each of {len(on)} active devices one: every "
            "decision leaves a device without a link (infeasible instance)"
        )
    lo, hi = scn.decision.split_range
    splits = list(itertools.product(range(lo, hi + 1), repeat=len(on)))
    subs, comps = _compositions(k, len(on)), _compression_choices(scn)
    ranks = scn.workload.rank_choices
    size = len(splits) * len(subs) * len(comps) * len(ranks)
    if size > MAX_COMBINATIONS:
        raise ValueError(
            f"joint_exact would enumerate {size} combinations; allowed: at most "
            f"{MAX_COMBINATIONS} (small instances: fewer devices, splits or subchannels)"
        )
    out = []
    for split, sub, comp, rank in itertools.product(splits, subs, comps, ranks):
        s, c = np.full(n, lo), np.zeros(n, dtype=np.int64)
        s[on], c[on] = split, sub
        out.append({"split": s, "subchannels": c, "rank": rank, **comp})
    return out


def _rows(scn: Scenario, combos: list[dict[str, Any]]) -> Decision:
    """The combinations as one batch at full power, whole server and top clock (bounds)."""
    n, net = scn.n_devices, scn.network
    f_hi = scn.compute.server_freq_hz[1]
    fields: dict[str, Any] = {k: np.stack([np.asarray(c[k]) for c in combos]) for k in combos[0]}
    rows = len(combos)
    return Decision(
        **fields,
        power_w=np.where(fields["subchannels"] > 0, net.device_power_w, 0.0),
        compute_share=np.ones((rows, n)),
        server_freq_hz=np.full((rows, n), f_hi),
    )


def tabulate(scn: Scenario, state: State, combos: list[dict[str, Any]]) -> dict[str, Any]:
    """Per combination the engine's constants of the convex program and its lower bound."""
    parts: list[dict[str, Any]] = []
    for start in range(0, len(combos), CHUNK):
        chunk = combos[start : start + CHUNK]
        ev = evaluate_batch(scn, state, _rows(scn, chunk))
        per = ev.per_device
        parts.append({
            "memory_ok": (ev.violations["device_memory"] == 0) & (ev.violations["edge_memory"] == 0),
            "D": per["device_compute_s"], "up_min": per["uplink_s"], "d": per["downlink_s"],
            "server_min": per["server_compute_s"], "post_min": per["adapter_s"],
            "b": per["uplink_bits"], "r_down": per["downlink_rate_bps"],
            "rounds": ev.terms["rounds"],
        })  # fmt: skip
    tab = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    split = np.stack([c["split"] for c in combos])
    rank = np.array([c["rank"] for c in combos], dtype=np.float64)[:, None]
    tab["A"] = np.broadcast_to(block_costs(scn).lora_bits(split, rank), split.shape)
    tab["cycles"] = tab["server_min"] * scn.compute.server_freq_hz[1]
    tab["lower"] = _lower_bound(scn, state, tab)
    return tab


def _scales(scn: Scenario, rounds: Any) -> tuple[Any, float]:
    """(S_L, J T): rounds of the objective's scope and iterations per round."""
    sch = scn.schedule
    s_l = rounds if sch.objective_scope == "total" else np.ones_like(rounds)
    return s_l, float(sch.iterations_per_epoch * sch.epochs_per_round)


def _lower_bound(scn: Scenario, state: State, tab: dict[str, Any]) -> Any:
    """Each combination's objective with every continuous term at its own best (a valid bound).

    Uplink and adapter at full power, the whole server at F_max, transmit energy at its
    p -> 0 limit b N0 ln 2 / g (p tau grows with p), server energy at F_min.
    """
    s_l, iters = _scales(scn, tab["rounds"])
    on = state.active[None, :]
    chain = np.where(on, tab["D"] + tab["up_min"] + tab["server_min"] + tab["d"], 0.0)
    latency = s_l * (iters * chain.max(axis=1) + tab["post_min"].max(axis=1))
    e_tx = tab["b"] * state.noise_psd_w_hz * math.log(2) / state.channel_gain
    f_lo = scn.compute.server_freq_hz[0]
    energy = device_compute_power_w(scn) * tab["D"] + e_tx
    energy = energy + scn.compute.server_power_coeff * f_lo**2 * tab["cycles"]
    energy = s_l * iters * np.where(on, energy, 0.0).sum(axis=1)
    return latency + scn.objective.energy_weight * energy


class _Program:
    """The convex program of the module docstring for m active devices, parametrized (DPP)."""

    def __init__(self, m: int, budget: bool) -> None:
        try:
            import cvxpy as cp
        except ImportError as exc:
            raise MissingExtraError(
                f'joint_exact needs {exc.name}: pip install "splitenv[solvers]"'
            ) from exc
        self.cp = cp
        self.par = {
            k: cp.Parameter(m, nonneg=True)
            for k in ("Dd", "k", "a", "cyc", "post_coef", "post_const", "xi_obj", "xi_budget")
        }
        self.par.update({k: cp.Parameter(nonneg=True) for k in ("pmax", "L", "L2", "E", "B")})
        self.par["rhs"] = cp.Parameter()
        p = self.par
        tau, e = cp.Variable(m, nonneg=True), cp.Variable(m, nonneg=True)
        alpha, phi = cp.Variable(m, pos=True), cp.Variable(m, pos=True)
        t, s = cp.Variable(), cp.Variable()
        server = cp.hstack(
            [p["cyc"][i] * cp.inv_prod(cp.hstack([alpha[i], phi[i]])) for i in range(m)]
        )
        self.bounds = (cp.Parameter(nonneg=True), cp.Parameter(nonneg=True))
        cons = [
            p["Dd"] + tau + server <= t,
            -cp.rel_entr(tau, tau + cp.multiply(p["a"], e)) >= p["k"],
            e <= p["pmax"] * tau,
            cp.sum(alpha) <= 1,
            phi >= self.bounds[0],
            phi <= self.bounds[1],
            cp.multiply(p["post_coef"], tau) + p["post_const"] <= s,
        ]
        if budget:
            spend = p["B"] * cp.sum(e) + cp.sum(cp.multiply(p["xi_budget"], cp.square(phi)))
            cons.append(spend <= p["rhs"])
        objective = p["L"] * t + p["L2"] * s + p["E"] * cp.sum(e)
        objective = objective + cp.sum(cp.multiply(p["xi_obj"], cp.square(phi)))
        self.problem = cp.Problem(cp.Minimize(objective), cons)
        self.vars = (tau, e, alpha, phi)

    def solve(self, values: dict[str, Any], f_ghz: tuple[float, float]) -> tuple[Any, ...] | None:
        """(tau, e, alpha, phi) at the optimum, or None when the program is infeasible."""
        for k, v in values.items():
            if k != "constant":
                self.par[k].value = v
        self.bounds[0].value, self.bounds[1].value = f_ghz
        try:
            self.problem.solve(solver="CLARABEL")
        except self.cp.error.SolverError:
            return None
        if self.problem.status not in ("optimal", "optimal_inaccurate"):
            return None
        return tuple(np.asarray(v.value, dtype=np.float64) for v in self.vars)


def _values(scn: Scenario, state: State, tab: dict[str, Any], i: int, on: Any) -> dict[str, Any]:
    """The program's parameters for combination ``i`` (active devices ``on``)."""
    net, comp = scn.network, scn.compute
    s_l, iters = _scales(scn, tab["rounds"][i])
    width = tab["subchannels"][i][on] * net.subchannel_hz
    b = tab["b"][i][on]
    mode = scn.schedule.adapter_exchange
    a_bits = tab["A"][i][on] if mode != "none" else np.zeros(len(on))
    xi_c = comp.server_power_coeff * 1e18 * tab["cycles"][i][on]  # f in GHz
    weight, spend = scn.objective.energy_weight * s_l * iters, s_l * iters
    const_e = float(np.sum(device_compute_power_w(scn) * tab["D"][i] * state.active))
    return {
        "Dd": tab["D"][i][on] + tab["d"][i][on],
        "k": b * math.log(2) / width,
        "a": state.channel_gain[on] / (state.noise_psd_w_hz[on] * width),
        "cyc": tab["cycles"][i][on] / 1e9,
        "post_coef": a_bits / b,
        "post_const": a_bits / tab["r_down"][i][on] if mode == "upload_download" else 0 * b,
        "xi_obj": weight * xi_c, "xi_budget": spend * xi_c,
        "pmax": net.device_power_w, "L": s_l * iters, "L2": s_l, "E": weight, "B": spend,
        "rhs": scn.objective.energy_budget_j - spend * const_e
        if np.isfinite(scn.objective.energy_budget_j) else 0.0,
        "constant": weight * const_e,  # the objective's term no variable moves
    }  # fmt: skip


def _decision(scn: Scenario, combo: dict[str, Any], x: tuple[Any, ...], on: Any) -> Decision:
    """The combination with the program's continuous solution, in physical units."""
    n, comp = scn.n_devices, scn.compute
    tau, e, alpha, phi = x
    power, share = np.zeros(n), np.zeros(n)
    freq = np.full(n, comp.server_freq_hz[0])
    power[on] = np.clip(e / np.maximum(tau, 1e-300), 0.0, scn.network.device_power_w)
    share[on] = np.clip(alpha, 0.0, None) / max(1.0, float(np.clip(alpha, 0.0, None).sum()))
    freq[on] = np.clip(phi * 1e9, *comp.server_freq_hz)
    return Decision(**combo, power_w=power, compute_share=share, server_freq_hz=freq)


class JointExact(BaseSolver):
    """Enumeration + exact convex inner solve, best first (module docstring); deterministic."""

    name = "joint_exact"
    family = "joint"

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """The best decision over every discrete combination (``rng`` is unused)."""
        scn = scenario
        check_structure(scn)
        combos = enumerate_combinations(scn, state)
        tab = tabulate(scn, state, combos)
        tab["subchannels"] = np.stack([c["subchannels"] for c in combos])
        on = np.flatnonzero(state.active)
        program = _Program(len(on), np.isfinite(scn.objective.energy_budget_j))
        f_ghz = (scn.compute.server_freq_hz[0] / 1e9, scn.compute.server_freq_hz[1] / 1e9)
        order = [i for i in np.argsort(tab["lower"], kind="stable") if tab["memory_ok"][i]]
        best, best_value, solved = None, np.inf, 0
        for i in order:
            if tab["lower"][i] >= best_value:
                break  # every later combination's bound is at least the incumbent
            values = _values(scn, state, tab, i, on)
            x = program.solve(values, f_ghz)
            solved += 1
            if x is None:
                continue
            decision = _decision(scn, combos[i], x, on)
            ev = evaluate_batch(scn, state, decision)
            if ev.feasible[0] and ev.objective[0] < best_value:
                best, best_value = decision, float(ev.objective[0])
                value = float(program.problem.value) + values["constant"]
                stats.extra["program_value"] = value
            stats.trace.append(best_value)
        stats.evaluations = len(combos) + solved
        stats.iterations = solved
        stats.extra.update(method="joint_exact", combinations=len(combos), solved=solved)
        stats.extra["lower_bound"] = float(min(tab["lower"][order], default=np.inf))
        if best is None:
            raise ValueError(f"joint_exact found no feasible decision of {scn.name!r}")
        return best
