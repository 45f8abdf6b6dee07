"""Per-device phase times and energy of one iteration, and the per-round extras.

Per device and iteration, the chain of phases is (SCCT (12)-(17), SFT (20)-(24),
CARD (7)-(9), FedsLLM (8)-(13)):

    device forward -> uplink -> edge forward+backward [-> cloud link -> cloud]
    -> downlink -> device backward

A round adds what happens once per round: layer migration when the split changes
(SCCT (18)), model distribution (SFT (19)) and adapter exchange (SFT (25),
CARD (9), FedsLLM (15)). Every array is (B, N): B decisions, N devices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from splitenv.config import Scenario
from splitenv.model import channel, compression
from splitenv.model.decision import Decision
from splitenv.model.records import record
from splitenv.model.state import AnyState, active_count, device_rows
from splitenv.model.workload import BlockCosts, block_costs

Array = NDArray[np.float64]
T = TypeVar("T")
#: the reductions of ndarray.min / ndarray.all, without their Python wrappers
_min, _all = np.minimum.reduce, np.logical_and.reduce


def safe_div(num: Array, den: Array) -> Array:
    """Num / den with 0 / x = 0 and x / 0 = inf for x > 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    if den.size and _all(num, axis=None) and _min(den, axis=None) > 0:
        # every den > 0 (not NaN) and no num = 0: the quotients below, without their masks
        return num / den
    # divides only where den > 0 (so no division by zero to silence): the same quotients
    shape = num.shape if num.shape == den.shape else np.broadcast(num, den).shape
    out = np.empty(shape)
    out.fill(np.inf)  # np.full's values, without its Python wrapper
    np.divide(num, den, out=out, where=den > 0)
    np.copyto(out, 0.0, where=num == 0)
    return out


def per_batch(scn: Scenario, key: str, batch: int, build: Callable[[], T]) -> T:
    """A value of ``scn`` that depends on the batch size only, built once per size (read-only).

    For terms that no decision or state changes (the wire bits of a fixed compression, the
    rounds of a fixed schedule): the engine builds them with the same expressions once, then
    reuses them. Holds the last few sizes (callers use a handful).
    """
    cache: dict[int, T] = scn.memo(key, dict)
    value = cache.get(batch)
    if value is None:
        if len(cache) >= _PER_BATCH_SIZES:
            cache.clear()
        value = cache[batch] = build()
    return value


#: batch sizes :func:`per_batch` keeps per key
_PER_BATCH_SIZES = 16


@dataclass
class Phases:
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
        """One iteration's phases of each device back to back, (B, N)."""
        return self.dev_fwd + self.up + self.server + self.cloud + self.down + self.dev_bwd


@dataclass(frozen=True)
class _Inputs:
    """The decision's layer counts and rank as floats, and the scenario's block constants."""

    costs: BlockCosts
    s: Array  # device layers, (B, N)
    e: Array  # last edge layer, (B, N)
    r: Array  # LoRA rank, (B, 1)
    layer: Array  # forward FLOPs of one block at rank r (BlockCosts.tier_forward_flops), (B, 1)


def phases(scn: Scenario, state: AnyState, d: Decision) -> Phases:
    """Per-device phase times for every decision of the batch."""
    costs = block_costs(scn)
    r = d.rank.astype(np.float64)[:, None]
    x = record(
        _Inputs,
        costs=costs,
        s=d.split.astype(np.float64),
        e=d.edge_split.astype(np.float64),
        r=r,
        layer=costs.block_forward_flops + costs.lora_forward_flops(r),
    )
    dev_fwd, dev_bwd, server, server_flops = _compute(scn, state, d, x)
    up_bits, down_bits = _wire_bits(scn, d, x)
    rate_up, rate_down = _link_rates(scn, state, d)
    pre_first, pre_steady = _pre_round(scn, state, x, rate_up, rate_down)
    adapter_bits = x.costs.lora_bits(x.s, x.r)  # (B, N): the split is
    ph = record(
        Phases, dev_fwd=dev_fwd, dev_bwd=dev_bwd, up=safe_div(up_bits, rate_up), server=server,
        cloud=_cloud(scn, x), down=safe_div(down_bits, rate_down),
        shared=_shared_cloud_link(scn, state, x), pre_first=pre_first, pre_steady=pre_steady,
        post=_adapter_exchange(scn, state, d, adapter_bits, rate_up, rate_down),
        server_flops=server_flops, up_bits=up_bits, down_bits=down_bits,
        adapter_bits=adapter_bits, rate_up=rate_up, rate_down=rate_down,
    )  # fmt: skip
    if not state.active.all():
        _drop_inactive(ph, state.active)
    return ph


def _compute(scn: Scenario, state: AnyState, d: Decision, x: _Inputs) -> tuple[Array, ...]:
    """Device forward and backward, edge time and edge FLOPs, (B, N) each.

    SCCT (12), (16); SFT (20), (22), (24); CARD (7)-(8); FedsLLM (8), (11)-(13).
    """
    ratio = scn.workload.backward_ratio
    # tier_forward_flops(n, r) = n * (block + LoRA FLOPs at r), the bracket computed once
    dev_fwd_flops = x.s * x.layer
    edge_fwd = (x.e - x.s) * x.layer + _head_flops(scn, x, on_cloud=False)
    server_flops = edge_fwd * (1.0 + ratio)
    dev_fwd = safe_div(dev_fwd_flops, state.device_flops)
    dev_bwd = ratio * dev_fwd
    server = safe_div(server_flops, _server_speed(scn, d))
    return dev_fwd, dev_bwd, server, server_flops


def _head_flops(scn: Scenario, x: _Inputs, *, on_cloud: bool) -> Array | float:
    """The head's forward FLOPs charged to the edge (``on_cloud=False``) or to the cloud.

    The head sits with the last layer, as in the memory model (:func:`constraints.tier_memory`):
    with three tiers it is on the cloud when the cloud holds layers (``edge_split < L``) and on
    the edge when the edge split is L; with two tiers it is on the server (edge).
    """
    head = x.costs.head_forward_flops
    if not scn.decision.three_tier:
        return 0.0 if on_cloud else head
    on_edge = x.e >= scn.model.n_layers
    return np.where(on_edge, 0.0, head) if on_cloud else np.where(on_edge, head, 0.0)


def _wire_bits(scn: Scenario, d: Decision, x: _Inputs) -> tuple[Array, Array]:
    """Uplink and downlink bits per iteration, (B, N).

    SCCT (15), SFT (21)/(23) with the compression model, CARD (9) phi.
    """
    if not scn.compression.enabled:  # no decision changes them: built once per batch size
        return per_batch(scn, "wire_bits", x.s.shape[0], lambda: _bits_on_wire(scn, d, x))
    return _bits_on_wire(scn, d, x)


def _bits_on_wire(scn: Scenario, d: Decision, x: _Inputs) -> tuple[Array, Array]:
    """:func:`_wire_bits`, computed."""
    w, costs = scn.workload, x.costs
    act_bits = costs.activation_values * _bits_per_value(scn, d)
    raw_bits = (costs.activation_values + costs.label_values) * w.activation_bits
    up_bits = act_bits + (raw_bits if w.uplink_raw_and_labels else 0.0)
    up_bits = np.broadcast_to(up_bits, x.s.shape)
    down_bits = np.broadcast_to(
        act_bits if w.gradient_downlink else np.zeros_like(act_bits), x.s.shape
    )
    return up_bits, down_bits


def _link(
    scn: Scenario, state: AnyState, width: ArrayLike, power_w: ArrayLike, gain: Array
) -> Array:
    """Rate of a link of ``width`` Hz under the scenario's rate model (channel.link_rate)."""
    (rate,) = _links(scn, state, width, (power_w,), gain)
    return rate


def _links(
    scn: Scenario, state: AnyState, width: ArrayLike, powers: tuple[ArrayLike, ...], gain: Array
) -> tuple[Array, ...]:
    """:func:`_link` of each power of ``powers`` over one band (channel.link_rates)."""
    net = scn.network
    fixed_snr = (  # read by the fixed_snr model only
        scn.memo("fixed_snr", lambda: float(channel.db_to_linear(net.fixed_snr_db)))
        if net.rate_model == "fixed_snr"
        else 0.0
    )
    return channel.link_rates(
        net.rate_model, width, gain=gain, powers=powers, noise_psd_w_hz=state.noise_psd_w_hz,
        fixed_snr=fixed_snr,
    )  # fmt: skip


def _link_rates(scn: Scenario, state: AnyState, d: Decision) -> tuple[Array, Array]:
    """Uplink and downlink rates, (B, N): SCCT (13)-(14), SFT r_n, CARD CQI, FedsLLM (9)."""
    net = scn.network
    width = _bandwidth(scn, d)
    edge_power = (
        net.edge_power_w
        if net.downlink_power == "per_device"
        else net.edge_power_w * width / net.bandwidth_hz
    )
    rate_up, rate_down = _links(scn, state, width, (d.power_w, edge_power), state.channel_gain)
    return rate_up, rate_down


def _cloud(scn: Scenario, x: _Inputs) -> Array:
    """Three tiers: the edge forwards activations to the cloud and gets gradients back."""
    cloud = np.zeros(x.s.shape)
    if not scn.decision.three_tier:
        return cloud
    w, net, comp, costs = scn.workload, scn.network, scn.compute, x.costs
    L = scn.model.n_layers
    cloud_values_bits = np.where(x.e < L, costs.activation_values * w.activation_bits, 0.0)
    cloud = 2 * cloud_values_bits / net.cloud_link_bps
    if comp.cloud_flops > 0:
        cloud_flops = ((L - x.e) * x.layer + _head_flops(scn, x, on_cloud=True)) * (
            1.0 + w.backward_ratio
        )
        cloud = cloud + cloud_flops / comp.cloud_flops
    return cloud


def _shared_cloud_link(scn: Scenario, state: AnyState, x: _Inputs) -> Array:
    """SCCT (17): all devices' outputs, raw data and labels up, N losses down, on R_ce; (B,)."""
    shared = np.zeros(x.s.shape[0])
    if scn.schedule.cloud_link == "scct":
        w = scn.workload
        n = active_count(state)
        payload = n * (x.costs.activation_values * 2 + x.costs.label_values) * w.activation_bits
        shared = shared + (payload + n * w.activation_bits) / scn.network.cloud_link_bps
    return shared


def _pre_round(
    scn: Scenario, state: AnyState, x: _Inputs, rate_up: Array, rate_down: Array
) -> tuple[Array, Array]:
    """Time before the first and before a later round: migration and model distribution."""
    sch, net, w, costs = scn.schedule, scn.network, scn.workload, x.costs
    zeros = np.zeros(x.s.shape)
    pre_first, pre_steady = zeros, zeros
    if sch.migration:  # SCCT (18): incremental layer transfer after a split change
        prev = state.prev_split.astype(np.float64)
        moved = np.where(prev >= 0, np.abs(x.s - prev), 0.0) * costs.block_param_bits()
        # moving layers down to the device uses the downlink, back up the uplink
        migration = safe_div(moved, np.where(x.s > prev, rate_down, rate_up))
        pre_first = pre_steady = migration
    if sch.model_distribution:  # SFT (19): device blocks in round 1, then their LoRA
        full_band = _link(scn, state, net.bandwidth_hz, net.edge_power_w, state.channel_gain)
        lora = costs.lora_bits(x.s, x.r)
        blocks = x.s * costs.block_param_bits()
        if w.embedding_on_device:
            blocks = blocks + costs.embedding_params * w.param_bits
        pre_first = pre_first + safe_div(blocks + lora, full_band)
        pre_steady = pre_steady + safe_div(lora, full_band)
    return pre_first, pre_steady


def _adapter_exchange(
    scn: Scenario, state: AnyState, d: Decision, bits: Array, rate_up: Array, rate_down: Array
) -> Array:
    """Time after a round spent exchanging the LoRA adapters, (B, N)."""
    mode, net = scn.schedule.adapter_exchange, scn.network
    if mode == "upload":  # SFT (25)
        return safe_div(bits, rate_up)
    if mode == "upload_download":  # CARD (9): A/R^D + A/R^S
        return safe_div(bits, rate_up) + safe_div(bits, rate_down)
    if mode == "federated":  # FedsLLM (14)-(15)
        width = d.fed_subchannels * net.fed_subchannel_hz
        return safe_div(bits, _link(scn, state, width, d.fed_power_w, state.fed_channel_gain))
    return np.zeros(bits.shape)


def _drop_inactive(ph: Phases, active: NDArray[np.bool_]) -> None:
    """Churn: an absent device does no work and sends nothing (zeroes its columns in place)."""
    on = device_rows(active)
    for name in (
        "dev_fwd", "dev_bwd", "up", "server", "cloud", "down", "pre_first", "pre_steady",
        "post", "server_flops", "up_bits", "down_bits", "adapter_bits",
    ):  # fmt: skip
        setattr(ph, name, np.where(on, getattr(ph, name), 0.0))


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
    full: Array | float = (
        d.server_freq_hz * comp.server_flops_per_cycle
        if comp.has_frequency_control
        else comp.edge_flops  # the same for every device: the products below are the same
    )
    if scn.schedule.server_mode == "share":
        return d.compute_share * full
    return full if isinstance(full, np.ndarray) else np.full(d.split.shape, full)


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


def server_energy(scn: Scenario, d: Decision, server_flops: Array) -> Array:
    """Server compute energy per iteration, CARD (11): xi f^2 (eta - eta_D(c)) / (delta sigma)."""
    comp = scn.compute
    if not _counts_server_energy(scn):
        return np.zeros(np.shape(server_flops))
    cycles = server_flops / comp.server_flops_per_cycle
    return comp.server_power_coeff * d.server_freq_hz**2 * cycles


def _counts_server_energy(scn: Scenario) -> bool:
    comp = scn.compute
    return comp.has_frequency_control and comp.server_power_coeff != 0


def spends_energy(scn: Scenario) -> bool:
    """Whether :func:`round_energy` can be other than zero (server or device energy counted)."""
    return _counts_server_energy(scn) or scn.objective.device_energy


def round_energy(scn: Scenario, d: Decision, ph: Phases) -> tuple[Array, Array]:
    """Server and device energy of one round per device, (B, N) each.

    Server: CARD (10)-(11) over the round's J T iterations. Device: compute power times
    compute time plus transmit power times uplink time, counted when
    ``objective.device_energy`` (our documented extension); the compute power is the
    device's class's with ``devices`` (:func:`device_compute_power_w`).
    """
    sch = scn.schedule
    iters = sch.iterations_per_epoch * sch.epochs_per_round
    server = server_energy(scn, d, ph.server_flops) * iters
    device = np.zeros(server.shape)
    if scn.objective.device_energy:
        # no link (no power or no band) sends nothing: 0 J, its infinite latency says the rest
        transmit = np.where(ph.rate_up > 0, d.power_w * ph.up, 0.0)
        device = iters * (device_compute_power_w(scn) * (ph.dev_fwd + ph.dev_bwd) + transmit)
    return server, device


def device_compute_power_w(scn: Scenario) -> float | Array:
    """Each device's power while computing: its class's (``devices``), else one value for all.

    Energy = power x time (the device-energy extension of :func:`round_energy`), with the
    class's measured or rated power; (N,) with classes, a scalar without.
    """
    classes = scn.devices
    if not classes.enabled:
        return scn.compute.device_power_compute_w
    return np.asarray(classes.compute_power_w)[list(classes.of_devices(scn.n_devices))]
