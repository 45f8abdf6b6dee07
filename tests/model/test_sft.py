"""SFT preset against the paper's formulas.

Zhang et al., "Split Fine-Tuning for Large Language Models in Wireless Networks".

Every expected number below is computed by hand from the paper's equations (arithmetic in the
comments), never read back from the engine. Symbols follow the paper: D = 768 hidden size,
N = 197 patches (196 + CLS), B = 64 batch, r = 16 LoRA rank, A = 12 heads, K = 100 classes,
L = 12 blocks, l = cut (blocks on the device).

Reference quantities used throughout:
    D^2    = 589,824
    BND    = 64 * 197 * 768          = 9,682,944
    BN^2A  = 64 * 197^2 * 12         = 29,805,312
    12D^2  = 7,077,888               (block weights, SFT Sec. V-C, no biases / LayerNorm)
    18Dr   = 18 * 768 * 16           = 221,184   (LoRA on Q, K, V, O, FFN-in, FFN-out)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from splitenv.model import Decision, DecisionError, State, evaluate
from splitenv.model.compression import bits_per_element, rice_bits_per_position
from splitenv.scenarios import load_scenario

MIB = 2**20
D, N, B, R, A, K, L = 768, 197, 64, 16, 12, 100, 12
BND = B * N * D  # 9,682,944
BN2A = B * N * N * A  # 29,805,312
TABLE_III_TOTAL_MIB = 4122.92  # SFT Table III, "Proposed" column total ("MB" is really MiB)


def make_state(
    n: int, *, flops, gain=None, round_index: int = 0, memory: float = 8 * 2**30
) -> State:
    """A hand-made state; SFT's fixed-SNR rates do not use the gains."""
    gain = np.full(n, 1e-10) if gain is None else np.asarray(gain, dtype=float)
    return State(
        channel_gain=gain,
        noise_psd_w_hz=np.full(n, 10 ** (-174 / 10) / 1e3),
        device_flops=np.asarray(flops, dtype=float),
        device_memory_bytes=np.full(n, memory),
        distance_m=np.full(n, 100.0),
        data_size=np.full(n, 6250.0),
        fed_channel_gain=np.zeros(n),
        edge_of=np.zeros(n, dtype=np.int64),
        prev_split=np.full(n, -1, dtype=np.int64),
        round_index=round_index,
    )


# --------------------------------------------------------------------------------------------
# Memory, SFT (29)-(34) and Table III
# --------------------------------------------------------------------------------------------


def test_memory_literal_formula_and_its_gap_to_table_iii():
    """M_c(5) from SFT (29)-(34) as printed, and the explained 34 % gap to Table III.

    Literal formula, alpha = 4 (FP32), alpha_hat = alpha (SGD), alpha_1 = 34, alpha_2 = 5:
        (2 alpha + alpha_hat)(12D^2 + 18Dr) = 12 * (7,077,888 + 221,184)  =  87,588,864
        alpha_1 BND   = 34 * 9,682,944                                   = 329,220,096
        alpha_2 BN^2A =  5 * 29,805,312                                  = 149,026,560
        M_t (33)                                                         = 565,835,520
        16 D^2 + BND (34, literally bytes) = 9,437,184 + 9,682,944       =  19,120,128
        M_c(5) = 19,120,128 + 5 * 565,835,520 = 2,848,297,728 B = 2716.35 MiB

    Table III measures 4122.92 "MB" on the device at l = 5; the input-data row
    (36.75 = 64*3*224^2*4 B / 2^20 exactly) shows that its MB are MiB. The literal formula is
    34 % below it (2716.35 / 4122.92 = 0.659). Why (digest sft.md Sec. 3.3):
      * (29)-(31) charge gradient and SGD momentum to the *frozen* 12D^2 weights: the formula's
        parameter part is ~273 MiB too HIGH over 5 blocks (the table has weights + LoRA momentum
        only);
      * (32) uses Megatron's coefficients 34 / 5, which are bytes for 16-bit activations (with
        1-byte dropout masks), while training runs in FP32: eager FP32 ViT keeps ~17 floats per BND
        (68 B) and one float per BN^2A (4 B) per block, so the activation part is ~1661 MiB too LOW;
      * (34)'s device constant omits alpha and the input batch (36.75 MiB) and the embedding
        outputs / cut buffers;
      * units: the table's "MB" are MiB (the literal bytes would read 2848 MB).
    The net is -1406.6 MiB (-34 %), asserted below as a documented, explained gap.
    """
    scn = load_scenario("sft", {"network.n_devices": 2})
    ev = evaluate(scn, make_state(2, flops=[1e12, 1e12]), Decision(split=[5, 5]))
    mem = ev.per_device["device_memory_bytes"][0]

    expected = 2_848_297_728  # bytes, by hand above
    assert mem[0] == pytest.approx(expected, rel=1e-12)
    assert mem[1] == pytest.approx(expected, rel=1e-12)
    assert mem[0] / MIB == pytest.approx(2716.35, abs=0.005)

    # the gap to the measured table, explicitly
    ratio = (mem[0] / MIB) / TABLE_III_TOTAL_MIB  # 2716.35 / 4122.92 = 0.6588
    assert 0.6 < ratio < 0.7
    # and M_c(l) is affine in l with slope M_t: M_c(6) - M_c(5) = 565,835,520
    ev6 = evaluate(scn, make_state(2, flops=[1e12, 1e12]), Decision(split=[6, 6]))
    slope = ev6.per_device["device_memory_bytes"][0, 0] - mem[0]
    assert slope == pytest.approx(565_835_520, rel=1e-12)


def test_memory_calibrated_variant_lands_near_table_iii():
    """A variant built only from config overrides, each justified by digest sft.md Sec. 3.3:

    * workload.trainable = lora: frozen weights cost alpha once; LoRA carries weight, gradient
      and SGD momentum (2 alpha + alpha_hat) (Table III: optimizer row = LoRA momentum only).
    * memory.activation_coeff_bnd = 68: 17 FP32 floats per BND per block (LN1 in/out 2, qkv 3,
      scaled q 1, proj input 1, LN2 in/out 2, GELU input 4, fc2 input 4).
    * memory.activation_coeff_bn2a = 4: one FP32 softmax output per BN^2A.
    * memory.device_fixed_d2 = 4: the FP32 patch-embedding weights, P^2 C x D = 768 x 768 values.
    * memory.device_fixed_bnd = 16: FP32 input batch (64*3*224^2 ~ BND values, 4 B), the embedding
      output 4B(N+1)D ~ 4BND (SFT prose before (34)), the cut-layer output kept for sending and
      its returned gradient (4BND each): 4 x 4 = 16 bytes per BND.

    By hand (bytes):
        per block = 4 * 7,077,888 + 12 * 221,184 + 68 * 9,682,944 + 4 * 29,805,312
                  = 28,311,552 + 2,654,208 + 658,440,192 + 119,221,248 = 808,627,200  (771.17 MiB)
        constant  = 4 * 589,824 + 16 * 9,682,944
                  = 2,359,296 + 154,927,104 = 157,286,400 (150.00 MiB)
        M_c(5)    = 157,286,400 + 5 * 808,627,200 = 4,200,422,400 B = 4005.83 MiB
    which is 2.8 % below Table III's 4122.92 MiB (the digest's table fit: 271.8 + 770.2 l MiB).
    """
    overrides = {
        "network.n_devices": 2,
        "workload.trainable": "lora",
        "memory.activation_coeff_bnd": 68,
        "memory.activation_coeff_bn2a": 4,
        "memory.device_fixed_d2": 4,
        "memory.device_fixed_bnd": 16,
    }
    scn = load_scenario("sft", overrides)
    ev = evaluate(scn, make_state(2, flops=[1e12, 1e12]), Decision(split=[5, 5]))
    mem = ev.per_device["device_memory_bytes"][0, 0]

    assert mem == pytest.approx(4_200_422_400, rel=1e-12)
    assert mem / MIB == pytest.approx(TABLE_III_TOTAL_MIB, rel=0.10)
    # the literal preset misses the same band: the calibration is what closes the gap
    lit_scn = load_scenario("sft", {"network.n_devices": 2})
    lit = evaluate(lit_scn, make_state(2, flops=[1e12, 1e12]))
    assert abs(lit.per_device["device_memory_bytes"][0, 0] / MIB / TABLE_III_TOTAL_MIB - 1) > 0.10


# --------------------------------------------------------------------------------------------
# FLOPs, SFT Sec. V-D
# --------------------------------------------------------------------------------------------


def test_flops_device_and_server_match_sec_vd():
    """Device and server FLOPs of SFT Sec. V-D at l = 5.

    One block forward, 24BND^2 + 4BN^2D:
        24 * 64 * 197 * 589,824 = 178,481,430,528
         4 * 64 * 197^2 * 768   =   7,624,753,152
        sum                     = 186,106,183,680
    Device: Phi_c^F + Phi_c^B = l (24BND^2 + 4BN^2D) + l (48BND^2 + 8BN^2D)
        = 3 * 5 * 186,106,183,680 = 2,791,592,755,200.
    The paper also puts the head's 2BNDK in Phi_c^F and 4BNDK in Phi_s^B although the head
    (classification layer) sits on the server (L347); our preset moves the whole head to the server
    (workload.head_on_server), so the device has no head term.
    Server: (L - l)(72BND^2 + 12BN^2D) + head forward 2BNDK + head backward 4BNDK
        = 7 * 3 * 186,106,183,680 + 6 * 9,682,944 * 100
        = 3,908,229,857,280 + 5,809,766,400 = 3,914,039,623,680.
    LoRA FLOPs are not counted (V-D's Phi omits them).
    """
    scn = load_scenario("sft", {"network.n_devices": 2})
    flops = np.array([0.75e12, 1.3e12])
    dec = Decision(split=[5, 5], bandwidth_hz=[2.5e6, 2.5e6])
    ev = evaluate(scn, make_state(2, flops=flops), dec)

    device_flops = ev.per_device["device_compute_s"][0] * flops
    np.testing.assert_allclose(device_flops, 2_791_592_755_200, rtol=1e-9)

    server_speed = 3e9 * 2048 * 4  # preset: f_s = 3 GHz x 2048 cores x 4 FLOP/cycle = 24.576e12
    server_flops = ev.per_device["server_compute_s"][0] * server_speed
    np.testing.assert_allclose(server_flops, 3_914_039_623_680, rtol=1e-9)

    # forward : backward = 1 : 2 on the device means DC = Phi_c^F / f = 5 * 186,106,183,680 / f
    dc = 5 * 186_106_183_680 / flops
    np.testing.assert_allclose(ev.per_device["device_compute_s"][0], 3 * dc, rtol=1e-9)


# --------------------------------------------------------------------------------------------
# Compression size model (independent check of bits_per_element)
# --------------------------------------------------------------------------------------------


def hand_bits_per_element(rho: float, q: int, n_elements: int) -> float:
    """rho (q + 1) + rho * E[Rice bits per gap] + 64 / n, by hand for rho = 0.2.

    Gaps before a kept entry are geometric with p = rho; Rice(k) spends k + 1 + floor(G / 2^k)
    bits and E[floor(G / 2^k)] = t / (1 - t), t = (1 - p)^(2^k). For p = 0.2 (1 - p = 0.8):
        k = 0: 1 + 0.8/0.2                  = 5.0
        k = 1: 2 + 0.64/0.36                = 3.777778
        k = 2: 3 + 0.4096/0.5904            = 3.693767   <- best
        k = 3: 4 + 0.16777216/0.83222784    = 4.201592
    positions = 0.2 * 3.693767 = 0.738753 bits/element; values + sign = 0.2 * (3 + 1) = 0.8;
    side info = two FP32 floats (s_min, s_max) per message = 64 bits / BND.
    Total ~ 1.53876 bits/element, i.e. 32 / 1.53876 = 20.8x, the paper's "20x with lossless coding".
    """
    assert rho == 0.2
    best = min(k + 1 + 0.8 ** (2**k) / (1 - 0.8 ** (2**k)) for k in range(4))
    assert best == pytest.approx(3 + 0.4096 / 0.5904, rel=1e-15)
    return rho * (q + 1) + rho * best + 64.0 / n_elements


def test_bits_per_element_matches_hand_size_model():
    expected = hand_bits_per_element(0.2, 3, BND)
    assert expected == pytest.approx(1.538760, abs=1e-6)
    got = bits_per_element(0.2, 3, dense_bits=32, lossless=True, n_elements=BND)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert float(rice_bits_per_position(0.2)) == pytest.approx(3.693767, abs=1e-6)
    # the paper's headline: about 20x with lossless coding at 80 % sparsity + 3 bits
    assert 18 < 32 / expected < 23
    # without lossless coding: bitmap of 1 bit/element + rho (q + 1) + side = 1.8 + side
    plain = bits_per_element(0.2, 3, dense_bits=32, lossless=False, n_elements=BND)
    assert float(plain) == pytest.approx(1.8 + 64 / BND, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Delay, SFT (19)-(28)
# --------------------------------------------------------------------------------------------


def test_round_delay_terms_and_total():
    """One round (26)-(27) and the total (28) on a hand-made 2-device state.

    Decision: l = 5, rho = 0.2, q = 3, r = 16, b = (1.5 MHz, 3.5 MHz) of B = 5 MHz.
    State: f = (0.6e12, 1.4e12) FLOP/s. Server 24.576e12 FLOP/s. SNR_n = SNR_s = 17 dB,
    log2(1 + 10^1.7) = log2(51.1187) = 5.675780 bit/s/Hz.

    Sizes (bits, FP32):
      Psi(l): 5 blocks + embedding once + LoRA. The paper's
        Psi(l) = b l (18Dr + 12D^2 + (P^2C+N+3)D) multiplies the embedding by l; the preset
        (documented in configs/sft.yaml) adds it once:
        5 * 7,077,888 + (768 + 197 + 3) * 768 + 5 * 221,184 = 35,389,440 + 743,424 + 1,105,920
        = 37,238,784 params -> x 32 = 1,191,641,088 bits.
      Psi^L(l) = 5 * 221,184 = 1,105,920 params -> 35,389,440 bits (the paper's 2lBDr has unclear
        units; the preset uses l x 18Dr parameters).
      beta Psi^A = beta Psi^G = BND x 1.538760 bits (hand size model above).
    Terms per device n:
      MD  (19) = Psi / (B log2(1 + SNR_s)) in round 1, Psi^L / (B log2(1+SNR_s)) later (whole band)
      DC  (20) = 5 * 186,106,183,680 / f_n
      IAT (21) = beta Psi^A / (b_n log2(1 + SNR_n))
      SC  (22) = 3,914,039,623,680 / 24.576e12 (full server per device)
      GT  (23) = beta Psi^G / (b_n log2(1 + SNR_s))
      DU  (24) = 2 * DC
      LT  (25) = Psi^L / (b_n log2(1 + SNR_n))
    round = max_n sum (27); total (28) = round_1 + (T - 1) round_later with T = 20 (preset).
    (26) has no K factor for the local iterations; the preset follows it (iterations_per_epoch = 1).
    """
    scn = load_scenario("sft", {"network.n_devices": 2})
    f = np.array([0.6e12, 1.4e12])
    bw = np.array([1.5e6, 3.5e6])
    dec = Decision(split=[5, 5], bandwidth_hz=bw, keep_ratio=0.2, quant_bits=3, rank=16)

    se = math.log2(1 + 10**1.7)
    assert se == pytest.approx(5.675780, abs=1e-6)
    bits_act = BND * hand_bits_per_element(0.2, 3, BND)
    psi_bits = 37_238_784 * 32
    assert psi_bits == 1_191_641_088
    lora_bits = 1_105_920 * 32

    md_first = psi_bits / (5e6 * se)
    md_later = lora_bits / (5e6 * se)
    dc = 5 * 186_106_183_680 / f
    iat = bits_act / (bw * se)
    sc = 3_914_039_623_680 / 24.576e12
    gt = bits_act / (bw * se)
    du = 2 * dc
    lt = lora_bits / (bw * se)
    body = dc + iat + sc + gt + du + lt
    tau_first = md_first + body
    tau_later = md_later + body

    ev0 = evaluate(scn, make_state(2, flops=f, round_index=0), dec)
    pd = ev0.per_device
    np.testing.assert_allclose(pd["pre_round_s"][0], md_first, rtol=1e-9)
    np.testing.assert_allclose(pd["device_compute_s"][0], dc + du, rtol=1e-9)
    np.testing.assert_allclose(pd["uplink_s"][0], iat, rtol=1e-9)
    np.testing.assert_allclose(pd["server_compute_s"][0], sc, rtol=1e-9)
    np.testing.assert_allclose(pd["downlink_s"][0], gt, rtol=1e-9)
    np.testing.assert_allclose(pd["adapter_s"][0], lt, rtol=1e-9)
    np.testing.assert_allclose(pd["round_s"][0], tau_first, rtol=1e-9)
    assert ev0.terms["round_s"][0] == pytest.approx(tau_first.max(), rel=1e-9)
    # the slowest device decides the round, and here it is device 0 (slow CPU, narrow band)
    assert tau_first[0] > tau_first[1]

    ev1 = evaluate(scn, make_state(2, flops=f, round_index=1), dec)
    np.testing.assert_allclose(ev1.per_device["pre_round_s"][0], md_later, rtol=1e-9)
    assert ev1.terms["round_s"][0] == pytest.approx(tau_later.max(), rel=1e-9)

    total = tau_first.max() + (20 - 1) * tau_later.max()
    assert ev0.terms["total_s"][0] == pytest.approx(total, rel=1e-9)
    assert ev0.latency_s[0] == pytest.approx(total, rel=1e-9)  # objective_scope: total (28)
    assert ev0.feasible[0]


def test_round_delay_max_is_over_device_sums_not_term_maxima():
    """(27) is max_n of the per-device sum: a state where the slowest device differs per term.

    Device 0 computes very slowly (f = 0.05e12) on a wide band (4.8 MHz), device 1 fast (1.5e12) on
    a narrow band (0.2 MHz): device 0 has the longest iteration chain (DC + IAT + SC + GT + DU,
    ~57 s vs ~28 s), device 1 the longest LoRA upload LT (~31 s vs ~1.3 s). (27) takes the max of
    the per-device sums (MD 42.0 s + ~59 s = ~101.4 s), not MD + max chain + max LT (~130.3 s), nor
    the sum of per-term maxima.
    """
    scn = load_scenario("sft", {"network.n_devices": 2})
    f = np.array([0.05e12, 1.5e12])
    bw = np.array([4.8e6, 0.2e6])
    dec = Decision(split=[5, 5], bandwidth_hz=bw, keep_ratio=0.2, quant_bits=3)
    se = math.log2(1 + 10**1.7)
    bits_act = BND * hand_bits_per_element(0.2, 3, BND)
    lora_bits = 1_105_920 * 32
    comp = 3 * 5 * 186_106_183_680 / f
    act = 2 * bits_act / (bw * se)  # IAT + GT
    lt = lora_bits / (bw * se)
    sc = 3_914_039_623_680 / 24.576e12
    md = 1_191_641_088 / (5e6 * se)
    chain = comp + act + sc
    per_device = md + chain + lt
    ev = evaluate(scn, make_state(2, flops=f), dec)
    assert ev.terms["round_s"][0] == pytest.approx(per_device.max(), rel=1e-9)
    # the state tells the readings apart: different devices are slowest in chain and in LT
    assert np.argmax(chain) != np.argmax(lt)
    assert per_device.max() < 0.9 * (md + chain.max() + lt.max())
    assert per_device.max() < 0.9 * (md + comp.max() + act.max() + sc + lt.max())


# --------------------------------------------------------------------------------------------
# Constraints
# --------------------------------------------------------------------------------------------


def test_bandwidth_above_budget_is_a_violation():
    """(36g) sum b_n = B: an allocation summing to 6 MHz of 5 MHz reports the 1 MHz excess."""
    scn = load_scenario("sft", {"network.n_devices": 2})
    st = make_state(2, flops=[1e12, 1e12])
    over = evaluate(scn, st, Decision(split=[5, 5], bandwidth_hz=[3e6, 3e6]))
    assert over.violations["bandwidth"][0] == pytest.approx(1e6, rel=1e-12)
    assert not over.feasible[0]
    exact = evaluate(scn, st, Decision(split=[5, 5], bandwidth_hz=[2e6, 3e6]))
    assert exact.violations["bandwidth"][0] == 0.0
    assert exact.feasible[0]


def test_shared_cut_rejects_different_splits():
    """SFT uses one cut l for all devices (37f): per-device splits are a malformed decision."""
    scn = load_scenario("sft", {"network.n_devices": 2})
    st = make_state(2, flops=[1e12, 1e12])
    with pytest.raises(DecisionError, match="split"):
        evaluate(scn, st, Decision(split=[5, 6]))
    evaluate(scn, st, Decision(split=[6, 6]))  # equal splits are fine
