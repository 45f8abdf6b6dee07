"""SplitLLM preset against the paper.

Zhang, Cheng, Li, Wu, "SplitLLM: Hierarchical Split Learning for LLM over Wireless Network".

The paper has no cost formula; Table II (MRPC row) gives per-tier peak memory, reproduced here with
the preset's SFT (29)-(34) memory model. Latency is built from SCCT/SFT terms (SPEC Sec. 6), with
each edge serving its users in turn. Expected numbers are computed by hand (arithmetic in comments).

BERT-base on MRPC: D = 768, N = 128 tokens, B = 16, r = 8, A = 12, L = 12, AdamW
(alpha = 4, alpha_hat = 2 alpha = 8), LoRA on all six linear layers (18 D r).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from splitenv.model import Decision, State, evaluate
from splitenv.scenarios import load_scenario

GIB = 2**30
D, N, B, R, A, L = 768, 128, 16, 8, 12, 12
BND = B * N * D  # 1,572,864
BN2A = B * N * N * A  # 3,145,728

# SFT (33) with the preset's block (biases and two LayerNorms counted, 12 D^2 + 13 D = 7,087,872):
#   (2 alpha + alpha_hat)(block + 18 D r) = 16 * (7,087,872 + 110,592) = 115,175,424
#   34 BND   = 34 * 1,572,864 = 53,477,376
#   5 BN^2A  =  5 * 3,145,728 = 15,728,640
M_T = 184_381_440
# SFT (34) device constant 16 D^2 + BND = 9,437,184 + 1,572,864 = 11,010,048; head 4 BND = 6,291,456
EMB = 11_010_048
HEAD = 6_291_456

# Table II, MRPC, GB (really GiB, digest splitllm.md Sec. 4.1)
T_USER, T_EDGE, T_CLOUD, T_FL, T_SL_SERVER = 1.39, 1.71, 2.25, 5.35, 3.96


def test_hand_constants():
    assert 16 * (12 * D * D + 13 * D + 18 * D * R) + 34 * BND + 5 * BN2A == M_T
    assert 16 * D * D + BND == EMB
    assert 4 * BND == HEAD


def make_state(n: int, *, gain, flops, edge_of) -> State:
    return State(
        channel_gain=np.asarray(gain, dtype=float),
        noise_psd_w_hz=np.full(n, 10 ** (-174 / 10) / 1e3),
        device_flops=np.asarray(flops, dtype=float),
        device_memory_bytes=np.full(n, 8 * GIB),
        distance_m=np.full(n, 100.0),
        data_size=np.full(n, 183.0),
        fed_channel_gain=np.zeros(n),
        edge_of=np.asarray(edge_of, dtype=np.int64),
        prev_split=np.full(n, -1, dtype=np.int64),
    )


def _memory(overrides=None, **decision):
    base = {"network.n_devices": 4, "network.n_edge_servers": 2}
    scn = load_scenario("splitllm", {**base, **(overrides or {})})
    st = make_state(4, gain=[1e-10] * 4, flops=[1e12] * 4, edge_of=[0, 1, 0, 1])
    ev = evaluate(scn, st, Decision(**decision))
    return (
        ev.per_device["device_memory_bytes"][0, 0],
        ev.terms["edge_memory_bytes"][0],
        ev.terms["cloud_memory_bytes"][0],
    )


def test_table_ii_memory_relations():
    """Table II (MRPC) relations with split 3 / 4 / 5 blocks (user / edge / cloud).

    By hand (bytes):
        user  = EMB + 3 M_t = 11,010,048 + 553,144,320       = 564,154,368   (0.5254 GiB)
        edge  = 4 M_t                                          = 737,525,760   (0.6869 GiB)
        cloud = 5 M_t + head = 921,907,200 + 6,291,456         = 928,198,656   (0.8645 GiB)
        SL server (user keeps 3, server 9 blocks + head) = 9 M_t + head = 1,665,724,416
                                                         = edge + cloud
        FL (12 blocks + head on the user) = EMB + 12 M_t + head = 2,229,878,784
                                          = user + edge + cloud
    Shape: user / total = 564,154,368 / 2,229,878,784 = 0.2530 vs the table's 1.39 / 5.35 = 0.2598
    (-2.6 %); reduction vs FL = 1 - 0.2530 = 74.7 % vs the paper's 74 %.

    Absolute values are 40-62 % below Table II (here, MRPC: user 0.525 vs 1.39 GiB, edge 0.687 vs
    1.71, cloud 0.864 vs 2.25, FL 2.077 vs 5.35; about 0.38-0.40 of the table), and the gap is
    explained in digest splitllm.md Sec. 3.4: MRPC needs about 0.43-0.45 GiB per BERT block at
    B = 16, while every SFT-style variant gives 0.09-0.24 GiB at N = 128; the measured memory does
    not scale with B N like any activation model (the ViT/CIFAR fit per block is only 1.2x the BERT
    one although B N is 3.1x larger), pointing at a fixed per-block overhead of about 0.3 GiB
    (allocator reservation or framework overhead) that the paper's unstated measurement method
    includes and SFT (33) does not; SFT's own Table III disagrees with SplitLLM's numbers for the
    same ViT. Only relations and shares are therefore asserted tightly.
    """
    user, edge, cloud = _memory(split=[3] * 4, edge_split=[7] * 4)
    assert user == pytest.approx(564_154_368, rel=1e-12)
    assert edge == pytest.approx(737_525_760, rel=1e-12)
    assert cloud == pytest.approx(928_198_656, rel=1e-12)

    # SL: the user keeps 3 blocks, the server the other 9 and the head (edge_split = L)
    sl_user, sl_server, sl_cloud = _memory(split=[3] * 4, edge_split=[12] * 4)
    assert sl_user == user
    assert sl_cloud == 0.0
    assert sl_server == pytest.approx(9 * M_T + HEAD, rel=1e-12)
    assert sl_server == pytest.approx(edge + cloud, rel=1e-12)

    # FL: every block on the user, plus the head
    fl_dev, fl_edge, _ = _memory(
        {"decision.split_range": [1, 12]}, split=[12] * 4, edge_split=[12] * 4
    )
    assert fl_dev == pytest.approx(EMB + 12 * M_T, rel=1e-12)
    assert fl_edge == pytest.approx(HEAD, rel=1e-12)  # the head has to live on the last tier
    fl = fl_dev + HEAD
    assert fl == pytest.approx(user + edge + cloud, rel=1e-12)

    # shape of Table II
    share = user / fl
    assert share == pytest.approx(T_USER / T_FL, rel=0.05)
    assert abs((1 - share) * 100 - 74.0) < 2.0
    # the explained absolute gap: each tier between 0.3 and 0.5 of the measured value
    pairs = [(user, T_USER), (edge, T_EDGE), (cloud, T_CLOUD), (fl, T_FL), (sl_server, T_SL_SERVER)]
    for ours, table in pairs:
        assert 0.3 < ours / GIB / table < 0.5


# --------------------------------------------------------------------------------------------
# Three-tier latency: edges in parallel, each serves its users in turn
# --------------------------------------------------------------------------------------------


def test_three_tier_sequential_iteration_and_round():
    """4 users, 2 edges (users 0, 2 on edge 0; users 1, 3 on edge 1).

    Per user n, one iteration is the chain
        user fwd + uplink + edge fwd/bwd + edge<->cloud + cloud fwd/bwd + downlink + user bwd,
    and the iteration is max over edges of the SUM of its users' chains (sequential service).
    FLOPs per batch (SCCT (2) at 2 FLOPs/MAC, LoRA counted):
        block   = 16 * 2 * (128 * 12 D^2 + 2 * 128^2 * 768)     = 29,796,335,616
        LoRA    = 16 * 2 * 128 * 8 * 18 D (= 13,824)                  =    452,984,832
        per block f = 30,249,320,448;  head = 16 * 2 * 128 * 768 * 2 = 6,291,456 (on the cloud)
    Times: user fwd s f / C_n, user bwd 2x; edge 3 (e - s) f / 50e12;
    cloud 3 ((L - e) f + head) / 300e12
    plus activations up and gradients down on the 1 Gbit/s edge-cloud link (2 BND 32 / 1e9);
    radio: each served user holds the whole 20 MHz, uplink W log2(1 + g P / (N0 W)),
    downlink with the edge's 43 dBm. Round = 11 iterations + the slowest LoRA upload
    (s 18 D r 32 bits over the uplink).
    """
    # per-user powers are a knob of this hand check: enable them as a decision
    scn = load_scenario(
        "splitllm",
        {"network.n_devices": 4, "network.n_edge_servers": 2, "decision.power_control": True},
    )
    s = np.array([3, 2, 3, 4])
    e = np.array([7, 7, 6, 8])
    power = np.array([0.19, 0.1, 0.15, 0.05])
    gain = np.array([1e-9, 5e-10, 2e-10, 1e-10])
    flops = np.array([1e12, 1.5e12, 2e12, 1.2e12])
    edge_of = np.array([0, 1, 0, 1])
    ev = evaluate(
        scn,
        make_state(4, gain=gain, flops=flops, edge_of=edge_of),
        Decision(split=s, edge_split=e, power_w=power),
    )

    f = 29_796_335_616 + 452_984_832
    assert 16 * 2 * (128 * 12 * D * D + 2 * 128 * 128 * D) == 29_796_335_616
    assert 16 * 2 * 128 * 8 * 18 * D == 452_984_832
    head = 16 * 2 * 128 * 768 * 2
    n0 = 10 ** (-174 / 10) / 1e3
    w = 20e6
    act_bits = BND * 32  # 50,331,648
    r_up = np.array([w * math.log2(1 + g * p / (n0 * w)) for g, p in zip(gain, power, strict=True)])
    r_down = np.array([w * math.log2(1 + g * (10**4.3 / 1e3) / (n0 * w)) for g in gain])

    dev = 3 * s * f / flops
    up = act_bits / r_up
    edge = 3 * (e - s) * f / 50e12
    cloud = 2 * act_bits / 1e9 + 3 * ((L - e) * f + head) / 300e12
    down = act_bits / r_down
    chain = dev + up + edge + cloud + down

    pd = ev.per_device
    np.testing.assert_allclose(pd["device_compute_s"][0], dev, rtol=1e-9)
    np.testing.assert_allclose(pd["uplink_s"][0], up, rtol=1e-9)
    np.testing.assert_allclose(pd["server_compute_s"][0], edge, rtol=1e-9)
    np.testing.assert_allclose(pd["cloud_s"][0], cloud, rtol=1e-9)
    np.testing.assert_allclose(pd["downlink_s"][0], down, rtol=1e-9)
    np.testing.assert_allclose(pd["chain_s"][0], chain, rtol=1e-9)

    iteration = max(chain[0] + chain[2], chain[1] + chain[3])
    assert ev.terms["iteration_s"][0] == pytest.approx(iteration, rel=1e-9)
    # sequential service differs from both "all in parallel" and "everyone in turn"
    assert iteration > 1.01 * chain.max()
    assert iteration < 0.99 * chain.sum()

    lora_up = s * 18 * D * R * 32 / r_up
    assert ev.terms["round_s"][0] == pytest.approx(11 * iteration + lora_up.max(), rel=1e-9)


def test_head_sits_with_the_last_layer_in_latency_and_memory():
    """Issue 14: one head placement for latency and memory. The head (4 BND bytes, 6,291,456 FLOP
    per batch forward) sits with the last layer: on the cloud when the cloud holds layers
    (e < L), on the edge when the edge split is L; then no activation reaches the cloud and the
    cloud costs nothing."""
    scn = load_scenario("splitllm", {"network.n_devices": 2, "network.n_edge_servers": 1})
    state = make_state(2, gain=np.array([1e-9, 1e-9]), flops=np.array([1e12, 1e12]),
                       edge_of=np.array([0, 0]))  # fmt: skip
    f = 29_796_335_616 + 452_984_832  # one block's forward FLOPs per batch (see above)
    head = 16 * 2 * 128 * 768 * 2
    s = np.array([3, 3])
    at_l = evaluate(scn, state, Decision(split=s, edge_split=np.array([L, L])))
    below = evaluate(scn, state, Decision(split=s, edge_split=np.array([L - 1, L - 1])))
    # e = L: the edge runs its L - s blocks and the head (forward + backward = 3x), the cloud nothing
    np.testing.assert_allclose(
        at_l.per_device["server_compute_s"][0], 3 * ((L - 3) * f + head) / 50e12, rtol=1e-12
    )
    np.testing.assert_array_equal(at_l.per_device["cloud_s"][0], [0.0, 0.0])
    assert at_l.terms["cloud_memory_bytes"][0] == 0.0
    # e = L - 1: the head is the cloud's, in time and in memory
    np.testing.assert_allclose(
        below.per_device["server_compute_s"][0], 3 * (L - 1 - 3) * f / 50e12, rtol=1e-12
    )
    cloud = 2 * BND * 32 / 1e9 + 3 * (f + head) / 300e12
    np.testing.assert_allclose(below.per_device["cloud_s"][0], [cloud, cloud], rtol=1e-12)
    assert below.terms["cloud_memory_bytes"][0] > 0
