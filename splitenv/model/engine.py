"""The cost engine: one vectorized function from (scenario, state, decisions) to costs.

Every number splitenv reports (env rewards, solver objectives, benchmarks) comes
from :func:`evaluate_batch`. The five papers differ only in scenario data; the
code path is the same. Arrays are (B, N): B decisions, N devices.

Per device and iteration, the chain of phases is (SCCT (12)-(17), SFT (20)-(24),
CARD (7)-(9), FedsLLM (8)-(13)):

    device forward -> uplink -> edge forward+backward [-> cloud link -> cloud]
    -> downlink -> device backward

Devices combine into an iteration according to ``schedule.sync``:

* ``parallel``   ``J [d4 + max_n chain_n]`` (SCCT (19)),
* ``phased``     ``max_n (fwd + up) + sum_n server_n + max_n (down + bwd)`` (FedsLLM (16)),
* ``sequential`` ``max_edges sum_{n in edge} chain_n`` (SplitLLM: each edge serves its
  devices in turn, the edges in parallel),
* ``independent`` each device's round runs on its own and the round is the slowest
  device's, ``max_n (pre_n + I chain_n + post_n)`` (SFT (26)-(27), CARD (10)).

A round adds what happens once per round: layer migration when the split changes
(SCCT (18)), model distribution (SFT (19)) and adapter exchange (SFT (25),
CARD (9), FedsLLM (15)). The total multiplies by the rounds needed (``rounds``,
or E(r) of FedsLLM (17)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.model import accuracy, channel, compression
from splitenv.model.types import Decision, State, complete
from splitenv.model.workload import BlockCosts

Array = NDArray[np.float64]


def block_costs(scn: Scenario) -> BlockCosts:
    """Per-block constants of a scenario (memoized on the frozen scenario)."""
    return scn.memo("block_costs", lambda: BlockCosts(scn.model, scn.workload))


@dataclass(frozen=True)
class Evaluation:
    """Costs of a batch of B decisions in one state.

    Attributes:
        latency_s: the preset's objective latency (``schedule.objective_scope``), (B,).
        energy_j: energy of one round, summed over devices, (B,).
        objective: what solvers minimize: latency_s, or CARD's sum of U (12), (B,).
        feasible: no violation and a finite latency, (B,).
        violations: constraint name -> amount by which it is exceeded (0 = met), (B,).
        terms: named scalar terms per decision (iteration_s, round_s, total_s, ...), (B,).
        per_device: named per-device terms, (B, N).
        decision: the completed decision that was evaluated.
    """

    latency_s: Array
    energy_j: Array
    objective: Array
    feasible: NDArray[np.bool_]
    violations: dict[str, Array]
    terms: dict[str, Array]
    per_device: dict[str, Array]
    decision: Decision = field(repr=False)

    @property
    def batch_size(self) -> int:
        """Number of decisions B."""
        return int(self.latency_s.shape[0])

    def item(self, index: int = 0) -> dict[str, Any]:
        """A JSON-ready dict for decision ``index``."""

        def scalar(x: Any) -> Any:
            v = x.item() if hasattr(x, "item") else x
            return v if not isinstance(v, float) or np.isfinite(v) else str(v)

        viol = {k: scalar(v[index]) for k, v in self.violations.items()}
        return {
            "latency_s": scalar(self.latency_s[index]),
            "energy_j": scalar(self.energy_j[index]),
            "objective": scalar(self.objective[index]),
            "feasible": bool(self.feasible[index]),
            "violations": {k: v for k, v in viol.items() if v},
            "terms": {k: scalar(v[index]) for k, v in self.terms.items()},
            "per_device": {k: [scalar(x) for x in v[index]] for k, v in self.per_device.items()},
            "decision": self.decision.take(index).to_dict(),
        }


def evaluate(
    scn: Scenario, state: State, decision: Decision | dict[str, Any] | None = None
) -> Evaluation:
    """Evaluate one decision: the batched engine with B = 1 (``None`` = the preset default)."""
    ev = evaluate_batch(scn, state, decision)
    if ev.batch_size != 1:
        raise ValueError(
            f"evaluate() takes one decision; got a batch of {ev.batch_size}: use evaluate_batch"
        )
    return ev


def _div(num: Array, den: Array) -> Array:
    """Num / den with 0 / x = 0 and x / 0 = inf for x > 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(num == 0, 0.0, np.where(den > 0, out, np.inf))


@dataclass
class _Phases:
    """Per-device times of one iteration and per-round extras, all (B, N)."""

    dev_fwd: Array
    dev_bwd: Array
    up: Array
    server: Array
    cloud: Array
    down: Array
    shared: Array  # (B,) per-iteration term common to all devices (SCCT d4)
    pre_first: Array  # start of round 0 (model distribution) or of this round
    pre_steady: Array  # start of a later round
    post: Array  # end of round (adapter exchange)
    server_flops: Array
    up_bits: Array
    down_bits: Array
    adapter_bits: Array
    rate_up: Array
    rate_down: Array

    @property
    def chain(self) -> Array:
        return self.dev_fwd + self.up + self.server + self.cloud + self.down + self.dev_bwd


def evaluate_batch(
    scn: Scenario, state: State, decision: Decision | dict[str, Any] | None = None
) -> Evaluation:
    """Evaluate a batch of decisions in one state with one vectorized pass.

    Args:
        scn: the scenario.
        state: the epoch's state (channel, compute, memory, previous split).
        decision: a Decision whose fields are (N,) / scalars or batched (B, N) / (B,);
            missing fields take the preset default.

    Returns:
        An :class:`Evaluation` with arrays over the batch.
    """
    state.check(scn)
    d = complete(scn, decision)
    # an unserved device (no band, no share) makes a latency infinite: a valid, infeasible result
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ev = _evaluate(scn, state, d)
    if np.isnan(ev.objective).any() or np.isnan(ev.latency_s).any():
        raise FloatingPointError(f"NaN in the evaluation of {scn.name!r}: terms {ev.terms}")
    return ev


def _evaluate(scn: Scenario, state: State, d: Decision) -> Evaluation:
    ph = _phases(scn, state, d)
    sch = scn.schedule
    iters = sch.iterations_per_epoch * sch.epochs_per_round
    chain = ph.chain

    # --- iteration and round latency (SCCT (19)-(20), FedsLLM (16)-(17), SFT (26)-(27)) --------
    iteration = _iteration(scn, state, ph)
    pre_now = ph.pre_first if state.round_index == 0 else ph.pre_steady
    epoch = EpochPart(
        chain=chain, iteration=iteration, shared=ph.shared, epochs=sch.epochs_per_round
    )
    round_s, device_round = compose_round(scn, pre_now, [epoch], ph.post)
    first, _ = compose_round(scn, ph.pre_first, [epoch], ph.post)
    steady, _ = compose_round(scn, ph.pre_steady, [epoch], ph.post)

    rank = d.rank.astype(np.float64)
    if scn.accuracy.rounds_by_rank:
        n_rounds = accuracy.rounds_for_rank(scn.accuracy.rounds_by_rank, rank)
    else:
        n_rounds = np.full(rank.shape, float(sch.rounds))
    # rounds after the first; written so that one round with an unserved device is inf, not 0 * inf
    total = first + np.where(n_rounds > 1.0, (n_rounds - 1.0) * steady, 0.0)

    scope = {
        "iteration": iteration,
        "epoch": sch.iterations_per_epoch * iteration,
        "round": round_s,
        "total": total,
    }
    latency = scope[sch.objective_scope]

    # --- energy (CARD (10)-(11); device terms are our documented extension) ---------------------
    server_energy = _server_energy(scn, d, ph.server_flops) * iters
    device_energy = np.zeros_like(server_energy)
    if scn.objective.device_energy:
        device_energy = iters * (
            scn.compute.device_power_compute_w * (ph.dev_fwd + ph.dev_bwd) + d.power_w * ph.up
        )
    energy_dev = server_energy + device_energy
    energy = energy_dev.sum(axis=1)

    # --- memory and feasibility ----------------------------------------------------------------
    mem = _memory(scn, state, d)
    violations = _violations(scn, state, d, mem)
    finite = np.isfinite(latency)
    feasible = finite & np.all([v == 0 for v in violations.values()], axis=0)

    objective = latency
    per_device_cost = None
    if scn.objective.kind == "card_cost":
        per_device_cost = _card_cost(scn, state, d, device_round, energy_dev)
        objective = per_device_cost.sum(axis=1)

    comm = iters * (ph.up_bits + ph.down_bits).sum(axis=1) + 2 * ph.adapter_bits.sum(axis=1)
    terms = {
        "iteration_s": iteration,
        "epoch_s": scope["epoch"],
        "round_s": round_s,
        "total_s": total,
        "rounds": n_rounds,
        "shared_iteration_s": ph.shared,
        "pre_round_s": pre_now.max(axis=1),
        "adapter_s": ph.post.max(axis=1),
        "server_energy_j": server_energy.sum(axis=1),
        "device_energy_j": device_energy.sum(axis=1),
        "comm_bits": comm,
        "edge_memory_bytes": mem["edge"],
        "cloud_memory_bytes": mem["cloud"],
    }
    per_device = {
        "device_compute_s": ph.dev_fwd + ph.dev_bwd,
        "uplink_s": ph.up,
        "server_compute_s": ph.server,
        "cloud_s": ph.cloud,
        "downlink_s": ph.down,
        "chain_s": chain,
        "pre_round_s": pre_now,
        "adapter_s": ph.post,
        "round_s": device_round,
        "energy_j": energy_dev,
        "device_memory_bytes": mem["device"],
        "uplink_rate_bps": ph.rate_up,
        "downlink_rate_bps": ph.rate_down,
        "uplink_bits": ph.up_bits,
    }
    if per_device_cost is not None:
        per_device["card_cost"] = per_device_cost
    return Evaluation(
        latency_s=latency,
        energy_j=energy,
        objective=objective,
        feasible=feasible,
        violations=violations,
        terms=terms,
        per_device=per_device,
        decision=d,
    )


@dataclass(frozen=True)
class EpochPart:
    """One epoch's share of a round: per-device chains (B, N), iteration and shared terms (B,).

    ``epochs`` says how many identical epochs it stands for (the engine's single-state round
    uses one part standing for all T epochs; the env passes one part per simulated epoch).
    """

    chain: Array
    iteration: Array
    shared: Array
    epochs: float = 1.0


def compose_round(
    scn: Scenario, pre: Array, epochs: list[EpochPart], post: Array
) -> tuple[Array, Array]:
    """Round latency (B,) and per-device round latency (B, N) from its parts.

    Barrier modes (SCCT (20), FedsLLM (17)): ``max_n pre_n + sum_t J iteration_t + max_n post_n``.
    Independent devices (SFT (26)-(27), CARD (10)):
    ``max_n (pre_n + sum_t J (chain_{n,t} + shared_t) + post_n)``.
    """
    j = scn.schedule.iterations_per_epoch
    if scn.schedule.sync == "independent":
        device = pre + post
        for part in epochs:
            device = device + part.epochs * j * (part.chain + part.shared[:, None])
        return device.max(axis=1), device
    body = sum(part.epochs * j * part.iteration for part in epochs)
    device = pre + post + sum(part.epochs * j * part.chain for part in epochs)
    return pre.max(axis=1) + body + post.max(axis=1), device


def _iteration(scn: Scenario, state: State, ph: _Phases) -> Array:
    """Latency of one iteration, (B,), by ``schedule.sync`` (see the module docstring)."""
    sync = scn.schedule.sync
    chain = ph.chain
    if sync == "phased":  # FedsLLM (16)
        return (
            (ph.dev_fwd + ph.up).max(axis=1)
            + (ph.server + ph.cloud).sum(axis=1)
            + (ph.down + ph.dev_bwd).max(axis=1)
            + ph.shared
        )
    if sync == "sequential":  # each edge serves its devices in turn, edges in parallel
        per_edge = np.zeros((chain.shape[0], int(state.edge_of.max()) + 1))
        np.add.at(per_edge.T, state.edge_of, chain.T)
        return per_edge.max(axis=1) + ph.shared
    return chain.max(axis=1) + ph.shared  # parallel (SCCT (19)) and independent


def feasible_splits(scn: Scenario, state: State) -> NDArray[np.bool_]:
    """(n_split_values, N) mask: split value ``lo + k`` fits device n's memory (this engine's model)."""
    lo, hi = scn.decision.split_range
    values = np.arange(lo, hi + 1)
    split = np.repeat(values[:, None], scn.n_devices, axis=1)
    ev = evaluate_batch(scn, state, Decision(split=split))
    return ev.per_device["device_memory_bytes"] <= state.device_memory_bytes[None, :]


def _phases(scn: Scenario, state: State, d: Decision) -> _Phases:
    """Per-device phase times for every decision of the batch."""
    costs = block_costs(scn)
    w, net, comp, sch = scn.workload, scn.network, scn.compute, scn.schedule
    L = scn.model.n_layers
    s = d.split.astype(np.float64)
    e = d.edge_split.astype(np.float64)
    r = d.rank.astype(np.float64)[:, None]
    ratio = w.backward_ratio

    # compute: SCCT (12), (16); SFT (20), (22), (24); CARD (7)-(8); FedsLLM (8), (11)-(13)
    dev_fwd_flops = costs.tier_forward_flops(s, r)
    three_tier = scn.decision.three_tier
    head_on_cloud = three_tier and comp.cloud_flops > 0
    edge_fwd = costs.tier_forward_flops(e - s, r) + (
        0.0 if head_on_cloud else costs.head_forward_flops
    )
    server_flops = edge_fwd * (1.0 + ratio)
    dev_fwd = _div(dev_fwd_flops, state.device_flops)
    dev_bwd = ratio * dev_fwd
    server_speed = _server_speed(scn, d)
    server = _div(server_flops, server_speed)

    # wire sizes: SCCT (15), SFT (21)/(23) with the compression model, CARD (9) phi
    bits_per_value = _bits_per_value(scn, d)
    act_bits = costs.activation_values * bits_per_value
    raw_bits = (costs.activation_values + costs.label_values) * w.activation_bits
    up_bits = act_bits + (raw_bits if w.uplink_raw_and_labels else 0.0)
    up_bits = np.broadcast_to(up_bits, s.shape)
    down_bits = np.broadcast_to(
        act_bits if w.gradient_downlink else np.zeros_like(act_bits), s.shape
    )

    # rates: SCCT (13)-(14), SFT r_n, CARD CQI, FedsLLM (9)
    width = _bandwidth(scn, d)
    snr = float(channel.db_to_linear(net.fixed_snr_db))
    rate_up = channel.link_rate(
        net.rate_model, width, gain=state.channel_gain, power_w=d.power_w,
        noise_psd_w_hz=state.noise_psd_w_hz, fixed_snr=snr,
    )  # fmt: skip
    edge_power = (
        net.edge_power_w
        if net.downlink_power == "per_device"
        else net.edge_power_w * width / net.bandwidth_hz
    )
    rate_down = channel.link_rate(
        net.rate_model, width, gain=state.channel_gain, power_w=edge_power,
        noise_psd_w_hz=state.noise_psd_w_hz, fixed_snr=snr,
    )  # fmt: skip
    up = _div(up_bits, rate_up)
    down = _div(down_bits, rate_down)

    # three tiers: the edge forwards activations to the cloud and gets gradients back
    cloud = np.zeros_like(s)
    if three_tier:
        cloud_values_bits = np.where(e < L, costs.activation_values * w.activation_bits, 0.0)
        cloud = 2 * cloud_values_bits / net.cloud_link_bps
        if comp.cloud_flops > 0:
            cloud_flops = (costs.tier_forward_flops(L - e, r) + costs.head_forward_flops) * (
                1.0 + ratio
            )
            cloud = cloud + cloud_flops / comp.cloud_flops

    # SCCT (17): all devices' outputs, raw data and labels up, N losses down, on R_ce
    shared = np.zeros(s.shape[0])
    if sch.cloud_link == "scct":
        n = int(state.active.sum())
        payload = n * (costs.activation_values * 2 + costs.label_values) * w.activation_bits
        shared = shared + (payload + n * w.activation_bits) / net.cloud_link_bps

    # round extras
    zeros = np.zeros_like(s)
    pre_first, pre_steady = zeros, zeros
    if sch.migration:  # SCCT (18): incremental layer transfer after a split change
        prev = state.prev_split.astype(np.float64)
        moved = np.where(prev >= 0, np.abs(s - prev), 0.0) * costs.block_param_bits()
        migration = np.where(s > prev, _div(moved, rate_down), _div(moved, rate_up))
        pre_first = pre_steady = migration
    if sch.model_distribution:  # SFT (19): device blocks in round 1, then their LoRA
        full_band = channel.link_rate(
            net.rate_model, net.bandwidth_hz, gain=state.channel_gain, power_w=net.edge_power_w,
            noise_psd_w_hz=state.noise_psd_w_hz, fixed_snr=snr,
        )  # fmt: skip
        lora = costs.lora_bits(s, r)
        blocks = s * costs.block_param_bits()
        if w.embedding_on_device:
            blocks = blocks + costs.embedding_params * w.param_bits
        pre_first = pre_first + _div(blocks + lora, full_band)
        pre_steady = pre_steady + _div(lora, full_band)

    adapter_bits = np.broadcast_to(costs.lora_bits(s, r), s.shape)
    post = zeros
    if sch.adapter_exchange == "upload":  # SFT (25)
        post = _div(adapter_bits, rate_up)
    elif sch.adapter_exchange == "upload_download":  # CARD (9): A/R^D + A/R^S
        post = _div(adapter_bits, rate_up) + _div(adapter_bits, rate_down)
    elif sch.adapter_exchange == "federated":  # FedsLLM (14)-(15)
        rate_fed = channel.link_rate(
            net.rate_model, d.fed_subchannels * net.fed_subchannel_hz, gain=state.fed_channel_gain,
            power_w=d.fed_power_w, noise_psd_w_hz=state.noise_psd_w_hz, fixed_snr=snr,
        )  # fmt: skip
        post = _div(adapter_bits, rate_fed)

    if not state.active.all():  # churn: an absent device does no work and sends nothing
        on = state.active[None, :]

        def off(x: Array) -> Array:
            return np.where(on, x, 0.0)

        dev_fwd, dev_bwd, up, server, cloud, down = map(off, (dev_fwd, dev_bwd, up, server, cloud, down))
        pre_first, pre_steady, post, server_flops = map(off, (pre_first, pre_steady, post, server_flops))
        up_bits, down_bits, adapter_bits = map(off, (up_bits, down_bits, adapter_bits))
    return _Phases(
        dev_fwd=dev_fwd, dev_bwd=dev_bwd, up=up, server=server, cloud=cloud, down=down,
        shared=shared, pre_first=pre_first, pre_steady=pre_steady, post=post,
        server_flops=server_flops, up_bits=up_bits, down_bits=down_bits,
        adapter_bits=adapter_bits, rate_up=rate_up, rate_down=rate_down,
    )  # fmt: skip


def _bandwidth(scn: Scenario, d: Decision) -> Array:
    """Band each device holds: beta_n B_s (SCCT), b_n (SFT), or all of B (CARD)."""
    net = scn.network
    if net.allocation == "subchannels":
        return d.subchannels * net.subchannel_hz
    if net.allocation == "continuous":
        return np.asarray(d.bandwidth_hz, dtype=np.float64)
    return np.full(d.split.shape, net.bandwidth_hz)


def _server_speed(scn: Scenario, d: Decision) -> Array:
    """FLOP/s the edge spends on each device: alpha_n C_e (SCCT 16), C_e, or f_s delta sigma (CARD 8)."""
    comp = scn.compute
    if comp.has_frequency_control:
        full: Array = d.server_freq_hz * comp.server_flops_per_cycle
    else:
        full = np.full(d.split.shape, comp.edge_flops)
    if scn.schedule.server_mode == "share":
        return d.compute_share * full
    return full


def _bits_per_value(scn: Scenario, d: Decision) -> Array:
    """Bits per activation / gradient value on the wire, shape (B, 1)."""
    comp, w = scn.compression, scn.workload
    if not comp.enabled:
        return np.full((d.split.shape[0], 1), w.activation_bits * comp.fixed_ratio)
    per_message = block_costs(scn).activation_values
    bits = compression.bits_per_element(
        d.keep_ratio, d.quant_bits, dense_bits=w.activation_bits, lossless=comp.lossless,
        value_coding_gain=comp.value_coding_gain, n_elements=per_message,
    )  # fmt: skip
    return bits[:, None]


def _server_energy(scn: Scenario, d: Decision, server_flops: Array) -> Array:
    """Server compute energy per iteration, CARD (11): xi f^2 (eta - eta_D(c)) / (delta sigma)."""
    comp = scn.compute
    if not comp.has_frequency_control or comp.server_power_coeff == 0:
        return np.zeros_like(server_flops)
    cycles = server_flops / comp.server_flops_per_cycle
    return comp.server_power_coeff * d.server_freq_hz**2 * cycles


def _memory(scn: Scenario, state: State, d: Decision) -> dict[str, Array]:
    """Memory per tier: parameters only (SCCT 21-6/7) or training memory (SFT (29)-(34))."""
    costs = block_costs(scn)
    mem, w, m = scn.memory, scn.workload, scn.model
    L = m.n_layers
    s = d.split.astype(np.float64)
    e = d.edge_split.astype(np.float64)
    r = d.rank.astype(np.float64)[:, None]
    per_block: float | Array
    if mem.model == "params":
        per_block = costs.block_params * w.param_bits / 8.0
        device = s * per_block
        if w.embedding_on_device:
            device = device + costs.embedding_params * w.param_bits / 8.0
        edge_dev = (e - s) * per_block
        cloud_dev = (L - e) * per_block
    else:
        per_block = costs.block_training_bytes(mem, r)
        device = costs.device_fixed_bytes(mem) + s * per_block
        head = mem.head_bnd * w.batch_size * m.seq_len * m.hidden_dim
        edge_dev = (e - s) * per_block + np.where(e >= L, head, 0.0)
        cloud_dev = (L - e) * per_block + np.where(e < L, head, 0.0)
    on = state.active[None, :]
    device, edge_dev, cloud_dev = (np.where(on, x, 0.0) for x in (device, edge_dev, cloud_dev))
    # edge servers keep one server-side model per device they serve at once (SCCT 21-7);
    # serving in turn (SplitLLM, sequential) needs only the largest.
    if scn.schedule.sync == "sequential":
        edge = edge_dev.max(axis=1)
        cloud = cloud_dev.max(axis=1)
    else:
        edge = edge_dev.sum(axis=1)
        cloud = cloud_dev.sum(axis=1)
    return {"device": device, "edge": edge, "cloud": cloud}


#: relative tolerance of continuous budgets: rounding in a sum of shares is not a violation
BUDGET_RTOL = 1e-9


def _excess(value: Array, budget: float | Array) -> Array:
    """``value - budget`` where it exceeds the budget by more than BUDGET_RTOL, else 0."""
    over = np.asarray(value, dtype=np.float64) - budget
    return np.where(over > BUDGET_RTOL * np.abs(budget), over, 0.0)


def _violations(
    scn: Scenario, state: State, d: Decision, mem: dict[str, Array]
) -> dict[str, Array]:
    """Amount by which each constraint is exceeded (0 where met); never clipped."""
    net, dec = scn.network, scn.decision
    out: dict[str, Array] = {}
    out["device_memory"] = _excess(mem["device"], state.device_memory_bytes).sum(axis=1)
    out["edge_memory"] = _excess(mem["edge"], scn.memory.edge_memory_bytes)
    if net.allocation == "subchannels":
        out["subchannels"] = np.maximum(d.subchannels.sum(axis=1) - net.n_subchannels, 0).astype(
            float
        )
    elif net.allocation == "continuous":
        out["bandwidth"] = _excess(d.bandwidth_hz.sum(axis=1), net.bandwidth_hz)
    out["device_power"] = _excess(d.power_w, net.device_power_w).sum(axis=1)
    out["total_power"] = _excess(d.power_w.sum(axis=1), net.total_power_w)
    if net.fed_n_subchannels:
        out["fed_subchannels"] = np.maximum(
            d.fed_subchannels.sum(axis=1) - net.fed_n_subchannels, 0
        ).astype(float)
        out["fed_device_power"] = _excess(d.fed_power_w, net.device_power_w).sum(axis=1)
        out["fed_total_power"] = _excess(d.fed_power_w.sum(axis=1), net.total_power_w)
    if scn.schedule.server_mode == "share" and dec.compute_share:
        out["compute_share"] = _excess(d.compute_share.sum(axis=1), 1.0)
    acc = scn.accuracy
    if acc.constrained and scn.compression.enabled:
        # SFT (35) is fitted over quantized settings: q = 0 (unquantized) is read at the finest
        # fitted q, and uncompressed activations (rho = 1, q = 0) meet the threshold by definition
        q_fine = scn.compression.quant_bits_range[1]
        q = np.where(d.quant_bits == 0, q_fine, d.quant_bits)
        value = accuracy.sft_cubic(acc.cubic_coeffs, d.keep_ratio, q)
        uncompressed = (d.keep_ratio >= 1.0) & (d.quant_bits == 0)
        out["accuracy"] = np.where(uncompressed, 0.0, np.maximum(acc.threshold - value, 0.0))
    return out


def _card_cost(scn: Scenario, state: State, d: Decision, delay: Array, energy: Array) -> Array:
    """CARD (12): w (D - D_min)/(D_max - D_min) + (1 - w)(E - E_min)/(E_max - E_min) per device.

    The extremes are over the device's feasible (cut, frequency) box in this round: D is
    decreasing and E increasing in f for any cut, so they lie at f in {F_min, F_max}, and
    all cuts are enumerated (a batch through this same engine).
    """
    bounds = card_bounds(scn, state)
    w = scn.objective.delay_weight
    d_min, d_max, e_min, e_max = bounds
    nd = _div(delay - d_min, d_max - d_min)
    ne = _div(energy - e_min, e_max - e_min)
    return w * nd + (1.0 - w) * ne


def card_bounds(scn: Scenario, state: State) -> tuple[Array, Array, Array, Array]:
    """(D_min, D_max, E_min, E_max) per device over all cuts and f in {F_min, F_max} (CARD (12))."""
    lo, hi = scn.decision.split_range
    cuts = np.arange(lo, hi + 1)
    f_lo, f_hi = scn.compute.server_freq_hz
    n = scn.n_devices
    split = np.repeat(cuts, 2)[:, None] * np.ones((1, n), dtype=np.int64)
    freq = np.tile([f_lo, f_hi], len(cuts))[:, None] * np.ones((1, n))
    grid = complete(scn, Decision(split=split, server_freq_hz=freq))
    ph = _phases(scn, state, grid)
    sch = scn.schedule
    part = EpochPart(ph.chain, _iteration(scn, state, ph), ph.shared, sch.epochs_per_round)
    pre = ph.pre_first if state.round_index == 0 else ph.pre_steady
    _, delay = compose_round(scn, pre, [part], ph.post)
    energy = (
        _server_energy(scn, grid, ph.server_flops) * sch.iterations_per_epoch * sch.epochs_per_round
    )
    return delay.min(axis=0), delay.max(axis=0), energy.min(axis=0), energy.max(axis=0)
