"""SCCT preset against the paper's own formulas (SCCT (1)-(2), (12)-(21)), computed by hand.

Every expected number below is computed here with plain Python ``math`` from the
paper's equations; the engine's helpers are only used for the values under test.
Paper: /work/shared/papers/scct.txt; digest with the worked arithmetic: /tmp/digests/scct.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from splitenv import Decision, State, evaluate, load_scenario
from splitenv.model import block_costs, evaluate_batch

REL = 1e-9

# ---------------------------------------------------------------------------------------------
# (1) and (2) for RoBERTa-large, the preset's own dimensions (d = 1024, d_in = 384, xi = 32)
# ---------------------------------------------------------------------------------------------


def test_layer_params_bits_and_flops_roberta_large():
    scn = load_scenario("scct")
    costs = block_costs(scn)
    d, d_in = 1024, 384
    # (1): 12 d^2 + 4 d = 12 * 1,048,576 + 4,096 = 12,582,912 + 4,096 = 12,587,008 params / layer
    assert 12 * d * d + 4 * d == 12_587_008
    assert costs.block_params == 12_587_008
    # z = xi (12 d^2 + 4 d) = 32 * 12,587,008 = 402,784,256 bit
    assert costs.block_param_bits() == 402_784_256
    # (2): h = 24 d_in d^2 + 4 d_in^2 d
    #   24 * 384 * 1,048,576 = 9,216 * 1,048,576 = 9,663,676,416
    #   4 * 384^2 * 1024 = 4 * 147,456 * 1024 = 603,979,776
    #   h = 10,267,656,192 FLOP per layer per sample (forward)
    assert 24 * d_in * d * d + 4 * d_in * d_in * d == 10_267_656_192
    assert costs.block_forward_flops / scn.workload.batch_size == 10_267_656_192
    # the batch multiplies it: b = 16 in the preset
    assert costs.block_forward_flops == 16 * 10_267_656_192


# ---------------------------------------------------------------------------------------------
# A hand-made two-device world
# ---------------------------------------------------------------------------------------------

# Readable sizes: d_in = 128, b = 4, and J != T so that swapping them is caught.
OVERRIDES = {
    "network.n_devices": 2,
    "model.seq_len": 128,
    "workload.batch_size": 4,
    "schedule.iterations_per_epoch": 3,  # J
    "schedule.epochs_per_round": 5,  # T
}

GAIN = [2e-9, 5e-10]  # G_n, linear (antenna gains folded in)
NOISE = [4e-21, 8e-21]  # N0 per device, W/Hz
C_DEV = [4e12, 2e12]  # C_n, FLOP/s
SPLIT = [3, 6]  # s_n
BETA = [120, 80]  # subcarriers beta_n (K = 200)
ALPHA = [0.6, 0.4]  # edge compute shares alpha_n

# constants of the preset (Table III and our documented choices)
L = 24
D_HID = 1024
D_IN = 128
B = 4
EPS = 2.0  # backward / forward
XI = 32  # bits per parameter and per value on the wire
D_L = 2  # label vectors per sample
B_S = 400e6 / 200  # B_s = 2 MHz
P_DEV = 10 ** (23 / 10) / 1e3  # 23 dBm = 0.199526... W
P_EDGE = 10 ** (50 / 10) / 1e3  # 50 dBm = 100 W
C_E = 312e12
R_CE = 1e9
J, T = 3, 5
Z_LAYER = XI * (12 * D_HID**2 + 4 * D_HID)  # 402,784,256 bit


def _scenario():
    return load_scenario("scct", OVERRIDES)


def _state(prev_split=(-1, -1), memory=(1e9, 1e9), gain=GAIN):
    return State(
        channel_gain=np.array(gain, dtype=float),
        noise_psd_w_hz=np.array(NOISE),
        device_flops=np.array(C_DEV),
        device_memory_bytes=np.array(memory, dtype=float),
        distance_m=np.array([100.0, 150.0]),
        data_size=np.array([1000.0, 1000.0]),
        fed_channel_gain=np.zeros(2),
        edge_of=np.zeros(2, dtype=np.int64),
        prev_split=np.array(prev_split, dtype=np.int64),
    )


def _decision(split=SPLIT, beta=BETA, alpha=ALPHA):
    return Decision(split=list(split), subchannels=list(beta), compute_share=list(alpha))


def _hand(n, split=SPLIT, beta=BETA, alpha=ALPHA, gain=GAIN):
    """Per-device terms of one iteration, SCCT (12)-(16), by hand.

    Values for the module's default world (device 0 | device 1):
      h = 24*128*1024^2 + 4*128^2*1024 = 3,221,225,472 + 67,108,864 = 3,288,334,336 FLOP
      (12) d1 = (1+eps) s h b / C_n = 3*3*h*4/4e12 = 0.029595009024 | 3*6*h*4/2e12 = 0.118380036096
      W = beta B_s = 240 MHz | 160 MHz
      (13) SNR_up = G P_n / (N0 W) = 2e-9*0.19953/(4e-21*2.4e8) = 415.68 | 77.94
           R_up = W log2(1+SNR) = 2.08867e9 | 1.00843e9 bit/s
      (14) SNR_dn = G P_e / (N0 W) = 2e-9*100/(9.6e-13) = 208,333.3 | 39,062.5
           R_dn = 4.24045e9 | 2.44057e9 bit/s
      z^s = z^g = xi b d_in d = 32*4*128*1024 = 16,777,216 bit
      (15) d2 = z^s/R_up + z^g/R_dn = 0.0080325 + 0.0039565 = 0.0119890
                                    | 0.0166370 + 0.0068743 = 0.0235113
      (16) d3 = (1+eps)(L-s) h b / (alpha C_e) = 3*21*h*4/(0.6*312e12) = 0.0044266
                                               | 3*18*h*4/(0.4*312e12) = 0.0056913
      d1+d2+d3 = 0.0460106 | 0.1475827  -> device 1 is the bottleneck
    """
    h = 24 * D_IN * D_HID**2 + 4 * D_IN**2 * D_HID
    w = beta[n] * B_S
    r_up = w * math.log2(1 + gain[n] * P_DEV / (NOISE[n] * w))
    r_dn = w * math.log2(1 + gain[n] * P_EDGE / (NOISE[n] * w))
    z_s = XI * B * D_IN * D_HID
    d1 = (1 + EPS) * split[n] * h * B / C_DEV[n]
    up, down = z_s / r_up, z_s / r_dn
    d3 = (1 + EPS) * (L - split[n]) * h * B / (alpha[n] * C_E)
    return {"d1": d1, "up": up, "down": down, "d2": up + down, "d3": d3, "r_up": r_up, "r_dn": r_dn}


def _d4(n_dev=2):
    """(17): [N (m_n + x_n + y_n) xi + N xi] / R_ce.

    m_n and x_n are b d_in d values, y_n is b d_l d values:
      per device (2*4*128*1024 + 4*2*1024) * 32 = (1,048,576 + 8,192) * 32 = 33,816,576 bit
      N = 2: 67,633,152 + 2*32 (losses) = 67,633,216 bit -> d4 = 0.067633216 s
    """
    return (n_dev * (2 * B * D_IN * D_HID + B * D_L * D_HID) * XI + n_dev * XI) / R_CE


def test_iteration_epoch_round_latency_by_hand():
    scn = _scenario()
    ev = evaluate(scn, _state(), _decision())
    hand = [_hand(0), _hand(1)]
    for n in range(2):
        assert ev.per_device["device_compute_s"][0, n] == pytest.approx(hand[n]["d1"], rel=REL)
        assert ev.per_device["uplink_s"][0, n] == pytest.approx(hand[n]["up"], rel=REL)
        assert ev.per_device["downlink_s"][0, n] == pytest.approx(hand[n]["down"], rel=REL)
        assert ev.per_device["server_compute_s"][0, n] == pytest.approx(hand[n]["d3"], rel=REL)
        assert ev.per_device["uplink_rate_bps"][0, n] == pytest.approx(hand[n]["r_up"], rel=REL)
        assert ev.per_device["downlink_rate_bps"][0, n] == pytest.approx(hand[n]["r_dn"], rel=REL)
        chain = hand[n]["d1"] + hand[n]["d2"] + hand[n]["d3"]
        assert ev.per_device["chain_s"][0, n] == pytest.approx(chain, rel=REL)
    # cloud compute is neglected (Sec. III-B 5)
    assert np.all(ev.per_device["cloud_s"] == 0)

    d4 = _d4()
    assert d4 == pytest.approx(0.067633216, rel=1e-15)  # the docstring's arithmetic
    assert ev.terms["shared_iteration_s"][0] == pytest.approx(d4, rel=REL)
    # (19) with J: iteration = d4 + max_n (d1+d2+d3) = 0.067633216 + 0.1475827 = 0.2152159 s
    iteration = d4 + max(h["d1"] + h["d2"] + h["d3"] for h in hand)
    assert iteration == pytest.approx(0.2152159, rel=1e-6)
    assert ev.terms["iteration_s"][0] == pytest.approx(iteration, rel=REL)
    # epoch D^{r,t} = J * iteration = 3 * 0.2152159 = 0.6456477 s
    assert ev.terms["epoch_s"][0] == pytest.approx(J * iteration, rel=REL)
    # (20) with no previous split (no migration): D^r = sum over T epochs = T J iteration = 15 it.
    assert ev.terms["round_s"][0] == pytest.approx(T * J * iteration, rel=REL)
    assert ev.latency_s[0] == pytest.approx(T * J * iteration, rel=REL)  # objective_scope: round
    assert ev.feasible[0]


# ---------------------------------------------------------------------------------------------
# (18) migration
# ---------------------------------------------------------------------------------------------


def test_migration_direction_and_size():
    """(18): split up -> layers over the downlink (14); down -> over the uplink (13); equal -> 0.

    prev = (5, 5), new = (3, 6):
      device 0 goes 5 -> 3: it uploads 2 layers, 2 z / R_up = 2*402,784,256/2.08867e9 = 0.385687 s
      device 1 goes 5 -> 6: the edge sends 1 layer, z / R_dn = 402,784,256/2.44057e9 = 0.165037 s
    D^r = max_n d0_n + T J iteration.
    """
    scn = _scenario()
    ev = evaluate(scn, _state(prev_split=(5, 5)), _decision())
    h0, h1 = _hand(0), _hand(1)
    mig0 = 2 * Z_LAYER / h0["r_up"]
    mig1 = 1 * Z_LAYER / h1["r_dn"]
    assert mig0 == pytest.approx(0.385687, rel=1e-5)
    assert mig1 == pytest.approx(0.165037, rel=1e-5)
    assert ev.per_device["pre_round_s"][0, 0] == pytest.approx(mig0, rel=REL)
    assert ev.per_device["pre_round_s"][0, 1] == pytest.approx(mig1, rel=REL)
    iteration = _d4() + max(h["d1"] + h["d2"] + h["d3"] for h in (h0, h1))
    assert ev.terms["pre_round_s"][0] == pytest.approx(max(mig0, mig1), rel=REL)
    assert ev.terms["round_s"][0] == pytest.approx(max(mig0, mig1) + T * J * iteration, rel=REL)
    # migration happens once per round: the iteration and epoch are unchanged
    assert ev.terms["iteration_s"][0] == pytest.approx(iteration, rel=REL)


def test_migration_reversed_directions():
    """prev = (4, 2), new = (3, 6): device 0 uploads 1 layer, device 1 receives 4 (downlink)."""
    scn = _scenario()
    ev = evaluate(scn, _state(prev_split=(4, 2)), _decision())
    h0, h1 = _hand(0), _hand(1)
    assert ev.per_device["pre_round_s"][0, 0] == pytest.approx(Z_LAYER / h0["r_up"], rel=REL)
    assert ev.per_device["pre_round_s"][0, 1] == pytest.approx(4 * Z_LAYER / h1["r_dn"], rel=REL)
    # the two directions differ, so a swap would be caught
    assert Z_LAYER / h0["r_up"] != pytest.approx(Z_LAYER / h0["r_dn"], rel=1e-3)


def test_migration_zero_when_split_unchanged():
    scn = _scenario()
    ev = evaluate(scn, _state(prev_split=SPLIT), _decision())
    assert np.all(ev.per_device["pre_round_s"] == 0.0)
    h0, h1 = _hand(0), _hand(1)
    iteration = _d4() + max(h["d1"] + h["d2"] + h["d3"] for h in (h0, h1))
    assert ev.terms["round_s"][0] == pytest.approx(T * J * iteration, rel=REL)


# ---------------------------------------------------------------------------------------------
# constraints (21-2), (21-4), (21-6), (21-7)
# ---------------------------------------------------------------------------------------------

LAYER_BYTES = 12_587_008 * 32 / 8  # z / 8 = 50,348,032 B


def test_device_memory_violation_exact_excess():
    """(21-6) s_n z <= M_n, in bytes: device 0 holds 3 layers = 3*50,348,032 = 151,044,096 B.

    With M_0 = 100e6 B the excess is 51,044,096 B; device 1 (6 layers = 302,088,192 B) fits in 1e9.
    """
    scn = _scenario()
    ev = evaluate(scn, _state(memory=(100e6, 1e9)), _decision())
    assert LAYER_BYTES == 50_348_032
    assert ev.per_device["device_memory_bytes"][0, 0] == 3 * LAYER_BYTES
    assert ev.per_device["device_memory_bytes"][0, 1] == 6 * LAYER_BYTES
    assert ev.violations["device_memory"][0] == pytest.approx(151_044_096 - 100e6, rel=1e-12)
    assert not ev.feasible[0]
    # latency is still evaluated (never clipped): same as the feasible world
    ok = evaluate(scn, _state(), _decision())
    assert ev.latency_s[0] == ok.latency_s[0]
    assert ok.violations["device_memory"][0] == 0.0


def test_device_memory_exactly_at_capacity_is_feasible_and_excess_adds_over_devices():
    scn = _scenario()
    # exactly s z bytes: feasible (<=)
    ev = evaluate(scn, _state(memory=(3 * LAYER_BYTES, 6 * LAYER_BYTES)), _decision())
    assert ev.violations["device_memory"][0] == 0.0
    assert ev.feasible[0]
    # one byte short on both devices: excess 1 + 1 = 2 B
    ev = evaluate(scn, _state(memory=(3 * LAYER_BYTES - 1, 6 * LAYER_BYTES - 1)), _decision())
    assert ev.violations["device_memory"][0] == pytest.approx(2.0, abs=1e-6)
    assert not ev.feasible[0]


def test_edge_memory_violation():
    """(21-7) sum_n (L - s_n) z <= M_e: (21 + 18) layers = 39 * 50,348,032 = 1,963,573,248 B."""
    scn = load_scenario("scct", {**OVERRIDES, "memory.edge_memory_bytes": 1.9e9})
    ev = evaluate(scn, _state(), _decision())
    assert ev.terms["edge_memory_bytes"][0] == 39 * LAYER_BYTES
    assert ev.violations["edge_memory"][0] == pytest.approx(1_963_573_248 - 1.9e9, rel=1e-12)
    assert not ev.feasible[0]


def test_subchannel_overrun_reported():
    """(21-4) sum beta_n <= K = 200: 150 + 80 = 230 -> excess 30."""
    scn = _scenario()
    ev = evaluate(scn, _state(), _decision(beta=(150, 80)))
    assert ev.violations["subchannels"][0] == 30.0
    assert not ev.feasible[0]
    # exactly K is fine
    ev = evaluate(scn, _state(), _decision(beta=(120, 80)))
    assert ev.violations["subchannels"][0] == 0.0
    assert ev.feasible[0]


def test_compute_share_overrun_reported():
    """(21-2) sum alpha_n <= 1: 0.7 + 0.5 = 1.2 -> excess 0.2."""
    scn = _scenario()
    ev = evaluate(scn, _state(), _decision(alpha=(0.7, 0.5)))
    assert ev.violations["compute_share"][0] == pytest.approx(0.2, rel=1e-12)
    assert not ev.feasible[0]
    # the d3 terms use the given shares, unclipped: (16) with alpha = 0.7, 0.5
    for n in range(2):
        d3 = _hand(n, alpha=(0.7, 0.5))["d3"]
        assert ev.per_device["server_compute_s"][0, n] == pytest.approx(d3, rel=REL)


# ---------------------------------------------------------------------------------------------
# monotonicity
# ---------------------------------------------------------------------------------------------


def test_more_subcarriers_to_bottleneck_lowers_iteration_latency():
    """Device 1 is the bottleneck (chain 0.148 s vs 0.046 s); giving it more of the free
    subcarriers (device 0 keeps 60) lowers the iteration latency while it stays the bottleneck,
    and never raises it."""
    scn = _scenario()
    betas = np.arange(20, 141, 10)
    batch = Decision(
        split=np.tile(SPLIT, (len(betas), 1)),
        subchannels=np.stack([np.full(len(betas), 60), betas], axis=1),
        compute_share=np.tile(ALPHA, (len(betas), 1)),
    )
    ev = evaluate_batch(scn, _state(), batch)
    it = ev.terms["iteration_s"]
    chain = ev.per_device["chain_s"]
    assert np.all(chain[:, 1] > chain[:, 0])  # device 1 remains the bottleneck over the sweep
    assert np.all(np.diff(it) < 0)
    # the rate (13) grows with beta but with diminishing returns (concave in beta)
    rate = ev.per_device["uplink_rate_bps"][:, 1]
    assert np.all(np.diff(rate) > 0)
    assert np.all(np.diff(rate, 2) < 0)
    # and a non-bottleneck device's extra subcarriers do not change the iteration latency
    pair = Decision(
        split=[SPLIT, SPLIT], subchannels=[[60, 80], [100, 80]], compute_share=[ALPHA, ALPHA]
    )
    other = evaluate_batch(scn, _state(), pair)
    assert other.terms["iteration_s"][0] == other.terms["iteration_s"][1]


def test_device_energy_extension_counts_compute_and_transmit_energy():
    """Our documented extension (objective.device_energy): P_comp t_compute + P_tx t_up per iteration.

    In the hand-made world, over J T = 15 iterations a round, device n spends
    E_n = J T (P_comp d1_n + P_n z^s / R_up,n), d1 from SCCT (12), R_up from (13):
      P_comp = 10 W, P_n = 23 dBm = 0.19953 W (the preset's default power)
      E_0 = 15 (10 * 0.029595009 + 0.19953 * 0.0080325) = 15 * 0.2975528 = 4.46329 J
      E_1 = 15 (10 * 0.118380036 + 0.19953 * 0.0166370) = 15 * 1.1871199 = 17.80680 J
    """
    extension = {"objective.device_energy": True, "compute.device_power_compute_w": 10.0}
    scn = load_scenario("scct", {**OVERRIDES, **extension})
    ev, ev_off = evaluate(scn, _state(), _decision()), evaluate(_scenario(), _state(), _decision())
    assert ev_off.energy_j[0] == 0.0  # SCCT models no energy
    expected = [J * T * (10.0 * _hand(n)["d1"] + P_DEV * _hand(n)["up"]) for n in range(2)]
    assert expected == pytest.approx([4.46329, 17.80680], abs=1e-5)  # the docstring's arithmetic
    np.testing.assert_allclose(ev.per_device["energy_j"][0], expected, rtol=REL)
    assert ev.energy_j[0] == pytest.approx(sum(expected), rel=REL)
    assert ev.latency_s[0] == ev_off.latency_s[0]  # energy does not change latency
