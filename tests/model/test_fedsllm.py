"""FedsLLM preset against the paper.

Zhao, Yang et al., "Efficient Federated Split Learning for LLMs over Communication Networks".

The text copy lost the formulas; SPEC Sec. 10 restores them from the prose. Expected numbers are
computed by hand (arithmetic in comments), never read back from the engine.

GPT2-S: d = 768, n = 1024 (Table III's length, not the 512 the text trains at), b = 16,
V = 50,257, L = 12, d^2 = 589,824, n^2 = 1,048,576, d_ffn = 3072. LoRA on Q and V.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from splitenv.model import Decision, State, block_costs, evaluate
from splitenv.scenarios import load_scenario

d, n, b, V, L = 768, 1024, 16, 50257, 12

# ---- Table III of FedsLLM (digest fedsllm.md Sec. 2.1), per mini-batch of 16 at n = 1024 ----
TABLE_III_PARAMS = {
    "token_embedding": 38.6e6,
    "position_encoding": 0.786e6,
    "layernorm": 1.5e3,
    "attention": 2.36e6,
    "lora_per_rank": 1.5e3,
    "ffn": 4.72e6,
    "final_layernorm": 1.5e3,
}
TABLE_III_GFLOPS = {
    "layernorm": 0.025,
    "attention": 257.7,
    "lora_per_rank": 0.050,
    "ffn": 309.2,
    "final_layernorm": 0.025,
    "lm_head": 1264.1,
}

# ---- hand derivation (SPEC Sec. 10): attention / FFN at 4 FLOPs per multiply-add;
# LN, LoRA and head at 2.
# attention MACs per sample: QKV + out projections 4 n d^2 = 2,415,919,104;
#   QK^T and AV 2 n^2 d = 1,610,612,736
#   -> 4,026,531,840 MACs x 4 FLOPs x 16 samples = 257,698,037,760 FLOPs (257.698 G)
ATTN = 4 * b * (4 * n * d * d + 2 * n * n * d)
# FFN MACs per sample: 2 n d (4d) = 8 n d^2 = 4,831,838,208
#   -> x 4 x 16 = 309,237,645,312 (309.238 G)
FFN = 4 * b * 8 * n * d * d
# LayerNorm: scale and shift, 2 FLOPs per element: 2 x 16 x 1024 x 768 = 25,165,824 (0.0252 G)
LN = 2 * b * n * d
# LoRA, one matrix, per rank: x A (d x 1) then (1 x d) B = 2d MACs per token, 2 FLOPs each:
#   2 x 1536 x 1024 x 16 = 50,331,648 (0.0503 G)
LORA_ROW = 2 * b * n * 2 * d
# LM head: 2 FLOPs x d x V per token: 2 x 768 x 50,257 x 16,384 = 1,264,758,816,768 (1264.76 G)
HEAD = 2 * b * n * d * V
# one block forward (attention + FFN + 2 LayerNorms) = 566,986,014,720
BLOCK = ATTN + FFN + 2 * LN


def test_hand_constants():
    assert ATTN == 257_698_037_760
    assert FFN == 309_237_645_312
    assert LN == 25_165_824
    assert LORA_ROW == 50_331_648
    assert HEAD == 1_264_758_816_768
    assert BLOCK == 566_986_014_720


def make_state(*, gain, fed_gain, flops) -> State:
    k = len(gain)
    return State(
        channel_gain=np.asarray(gain, dtype=float),
        noise_psd_w_hz=np.full(k, 10 ** (-174 / 10) / 1e3),
        device_flops=np.asarray(flops, dtype=float),
        device_memory_bytes=np.full(k, 1e12),
        distance_m=np.full(k, 200.0),
        data_size=np.full(k, 8400.0),
        fed_channel_gain=np.asarray(fed_gain, dtype=float),
        edge_of=np.zeros(k, dtype=np.int64),
        prev_split=np.full(k, -1, dtype=np.int64),
    )


# --------------------------------------------------------------------------------------------
# Table III
# --------------------------------------------------------------------------------------------


def test_table_iii_parameters_exact():
    """Parameter rows of Table III from the preset's BlockCosts.

    block = attention (4d^2 + 4d = 2,362,368) + FFN (8d^2 + 5d = 4,722,432) + 2 LN (2 x 2d = 3,072)
          = 7,087,872
    embedding = token V d (50,257 x 768 = 38,597,376) + positions 1024 d (786,432) = 39,383,808
    LoRA per rank per block = 2 matrices (Q, V) x (d + d) = 2 x 1,536 = 3,072
    12 blocks + embeddings + final LN (1,536) = 124,439,808 = GPT2-S's "124M".
    """
    c = block_costs(load_scenario("fedsllm"))
    assert 4 * d * d + 4 * d == 2_362_368
    assert 8 * d * d + 5 * d == 4_722_432
    assert c.block_params == 2_362_368 + 4_722_432 + 2 * 1_536 == 7_087_872
    assert c.embedding_params == 38_597_376 + 786_432
    assert c.lora_params_per_rank == 2 * 1_536
    assert 12 * c.block_params + c.embedding_params + 1_536 == 124_439_808
    # the hand counts round to the printed rows (value, unit, printed digits after the point)
    for value, row, unit, places in [
        (50_257 * 768, "token_embedding", 1e6, 1),  # 38.597 M -> "38.6M"
        (1024 * 768, "position_encoding", 1e6, 3),  # 0.786 M -> "0.786M"
        (2 * d, "layernorm", 1e3, 1),  # 1.536 K -> "1.5K"
        (2_362_368, "attention", 1e6, 2),  # "2.36M"
        (2 * d, "lora_per_rank", 1e3, 1),  # "1.5K"
        (4_722_432, "ffn", 1e6, 2),  # "4.72M"
        (2 * d, "final_layernorm", 1e3, 1),  # "1.5K"
    ]:
        printed = TABLE_III_PARAMS[row] / unit
        assert round(value / unit, places) == pytest.approx(printed, abs=1e-12), row


def test_table_iii_gflops_derivation():
    """Hand derivation (attention, FFN at 4 FLOPs/MAC; LN, LoRA, head at 2) reproduces Table III."""
    g = TABLE_III_GFLOPS
    assert ATTN / 1e9 == pytest.approx(g["attention"], rel=0.01)
    assert FFN / 1e9 == pytest.approx(g["ffn"], rel=0.01)
    assert round(LN / 1e9, 3) == g["layernorm"] == g["final_layernorm"]
    assert round(LORA_ROW / 1e9, 3) == g["lora_per_rank"]
    assert HEAD / 1e9 == pytest.approx(g["lm_head"], rel=0.001)  # 1264.76 vs 1264.1: +0.052 %
    # n = 512 (the text's training length) cannot give the attention/FFN ratio of the table
    ratio_512 = (4 * 512 * d * d + 2 * 512 * 512 * d) / (8 * 512 * d * d)
    assert abs(ratio_512 - g["attention"] / g["ffn"]) > 0.1


def test_block_forward_flops_is_attention_ffn_and_two_layernorms():
    c = block_costs(load_scenario("fedsllm"))
    assert c.block_forward_flops == pytest.approx(ATTN + FFN + 2 * LN, rel=1e-12)
    # without the LN FLOPs the block is exactly the two matmul rows
    c0 = block_costs(load_scenario("fedsllm", {"model.norm_flops_per_dim": 0.0}))
    assert c0.block_forward_flops == pytest.approx(ATTN + FFN, rel=1e-12)


def test_lora_forward_flops_is_two_table_rows_per_rank():
    """LoRA on Q and V: a block carries two adapters, i.e. 2 x the per-rank row per unit of rank."""
    c = block_costs(load_scenario("fedsllm"))
    assert float(c.lora_forward_flops(1)) == pytest.approx(2 * LORA_ROW, rel=1e-12)
    assert float(c.lora_forward_flops(8)) == pytest.approx(16 * LORA_ROW, rel=1e-12)


def test_head_forward_flops_is_lm_head_row():
    c = block_costs(load_scenario("fedsllm"))
    # the head carries the Final LayerNorm row too (2 FLOPs per element)
    assert c.head_forward_flops == pytest.approx(HEAD + LN, rel=1e-12)
    assert c.head_forward_flops / 1e9 == pytest.approx(TABLE_III_GFLOPS["lm_head"], rel=0.001)


# --------------------------------------------------------------------------------------------
# (8)-(17) on a hand-made state
# --------------------------------------------------------------------------------------------

N0 = 10 ** (-174 / 10) / 1e3  # -174 dBm/Hz in W/Hz
SPLIT = np.array([1, 2, 3])
SUB = np.array([8, 7, 5])  # of 20 subchannels of 1 MHz (main-server pool)
# W; per-client limit 23 dBm = 0.1995 W, total 26.99 dBm = 0.5 W
POWER = np.array([0.15, 0.10, 0.19])
FED_SUB = np.array([6, 6, 8])  # of 20 subchannels of 1 MHz (federated pool)
FED_POWER = np.array([0.10, 0.12, 0.18])
GAIN = np.array([1e-13, 6e-12, 1.5e-12])
FED_GAIN = np.array([1e-11, 4e-12, 2e-12])
FLOPS = np.array([16e9, 20e9, 25.6e9])  # f_k / kappa_c in FLOP/s
RANK = 4


def rate_sum_over_subchannels(
    count: int, power_w: float, gain: float, width_hz: float = 1e6
) -> float:
    """(9)/(14): sum_i B_i log2(1 + p_i G_c G_s g / N0); PSD p_i = P / (count B_i), G_c G_s = 1."""
    psd = power_w / (count * width_hz)
    return sum(width_hz * math.log2(1 + psd * gain / N0) for _ in range(count))


def hand_fedsllm(rank: int):
    """Per-client terms of (8)-(17) for the module's decision, Table III FLOPs per batch of 16.

    client forward  t_F  = s_k (block + r 2 LoRA) / f_k         (8)
    upload          t_up = b n d 32 / R_s_k = 402,653,184 / R_s_k (10), 32-bit activations
    server          t_sF = sum_k [(L - s_k)(block + r 2 LoRA) + head] / f_s, t_sB = 2 t_sF (11)-(12)
    client backward t_B  = 2 t_F                                  (13)
    LoRA upload     t_fed = r s_k (2 x 1536 x 32 bits) / R_f_k    (15)
    """
    per_block = BLOCK + rank * 2 * LORA_ROW
    t_f = SPLIT * per_block / FLOPS
    r_s = np.array(
        [rate_sum_over_subchannels(c, p, g) for c, p, g in zip(SUB, POWER, GAIN, strict=True)]
    )
    act_bits = b * n * d * 32
    assert act_bits == 402_653_184
    t_up = act_bits / r_s
    server_fwd_flops = ((L - SPLIT) * per_block + LN + HEAD).sum()
    t_sf = server_fwd_flops / 100e12
    t_sb = 2 * t_sf
    t_b = 2 * t_f
    r_f = np.array(
        [
            rate_sum_over_subchannels(c, p, g)
            for c, p, g in zip(FED_SUB, FED_POWER, FED_GAIN, strict=True)
        ]
    )
    t_fed = rank * SPLIT * (2 * 1536 * 32) / r_f
    return dict(t_f=t_f, t_up=t_up, t_sf=t_sf, t_sb=t_sb, t_b=t_b, t_fed=t_fed, r_s=r_s, r_f=r_f)


def _evaluate(scn, rank=RANK, **changes):
    dec = Decision(
        split=SPLIT, subchannels=SUB, power_w=POWER, fed_subchannels=FED_SUB,
        fed_power_w=FED_POWER, rank=rank,
    )  # fmt: skip
    if changes:
        dec = dec.replace(**changes)
    return evaluate(scn, make_state(gain=GAIN, fed_gain=FED_GAIN, flops=FLOPS), dec)


def test_local_iteration_16_and_total_17():
    """(16) t_loc = max_k(t_F + t_up) + t_sF + t_sB + max_k t_B; (17) T = E(r)(I t_loc + max t_fed).

    The main server sums ALL clients' work (11)-(12); no gradient downlink (neglected by the paper).
    I = 12 (preset), E(4) = 54 from the preset's rounds_by_rank table.
    The state is chosen so that the slowest client of the forward+upload phase (client 0: weak
    channel) differs from the slowest of the backward phase (client 2: three blocks), so (16)
    differs from max_k of the per-client chain.
    """
    scn = load_scenario("fedsllm", {"network.n_devices": 3})
    h = hand_fedsllm(RANK)
    ev = _evaluate(scn)
    pd = ev.per_device

    np.testing.assert_allclose(pd["uplink_rate_bps"][0], h["r_s"], rtol=1e-9)
    np.testing.assert_allclose(pd["device_compute_s"][0], h["t_f"] + h["t_b"], rtol=1e-9)
    np.testing.assert_allclose(pd["uplink_s"][0], h["t_up"], rtol=1e-9)
    np.testing.assert_allclose(pd["downlink_s"][0], 0.0)
    np.testing.assert_allclose(pd["server_compute_s"][0].sum(), h["t_sf"] + h["t_sb"], rtol=1e-9)
    np.testing.assert_allclose(pd["adapter_s"][0], h["t_fed"], rtol=1e-9)

    t_loc = (h["t_f"] + h["t_up"]).max() + h["t_sf"] + h["t_sb"] + h["t_b"].max()
    assert ev.terms["iteration_s"][0] == pytest.approx(t_loc, rel=1e-9)
    # the hand state separates (16) from max over per-client chains
    chain_max = (h["t_f"] + h["t_up"] + h["t_b"]).max() + h["t_sf"] + h["t_sb"]
    assert abs(t_loc - chain_max) > 1e-3 * t_loc

    assert ev.terms["rounds"][0] == 54
    total = 54 * (12 * t_loc + h["t_fed"].max())
    assert ev.terms["total_s"][0] == pytest.approx(total, rel=1e-9)
    assert ev.latency_s[0] == pytest.approx(total, rel=1e-9)  # objective_scope: total (17)
    assert ev.feasible[0]


def test_total_17_depends_on_rank_through_rounds_table():
    """E(r) from the preset table (1: 81, 2: 63, 4: 54, 6: 53, 8: 50) multiplies the round time."""
    scn = load_scenario("fedsllm", {"network.n_devices": 3})
    for rank, rounds in [(1, 81), (8, 50)]:
        h = hand_fedsllm(rank)
        t_loc = (h["t_f"] + h["t_up"]).max() + h["t_sf"] + h["t_sb"] + h["t_b"].max()
        ev = _evaluate(scn, rank=rank)
        assert ev.terms["rounds"][0] == rounds
        total = rounds * (12 * t_loc + h["t_fed"].max())
        assert ev.terms["total_s"][0] == pytest.approx(total, rel=1e-9)


def test_server_includes_final_layernorm():
    """Server forward per client: (L - s_k)(block + 2 r LoRA) + final LN + LM head (Table III)."""
    scn = load_scenario("fedsllm", {"network.n_devices": 3})
    ev = _evaluate(scn)
    per_block = BLOCK + RANK * 2 * LORA_ROW
    server = 3 * ((L - SPLIT) * per_block + LN + HEAD) / 100e12
    np.testing.assert_allclose(ev.per_device["server_compute_s"][0], server, rtol=1e-9)


# --------------------------------------------------------------------------------------------
# Power budget, problem (18) C4-C5 (per pool)
# --------------------------------------------------------------------------------------------


def test_power_limits_are_reported_as_violations():
    """C4 per-client max 23 dBm = 10^2.3 mW = 0.199526 W; C5 total 26.99 dBm = 0.500035 W.

    Both limits hold per pool (main-server and federated uplinks).
    """
    scn = load_scenario("fedsllm", {"network.n_devices": 3})
    p_max = 10**2.3 / 1e3
    p_tot = 10**2.699 / 1e3
    assert p_max == pytest.approx(0.199526, abs=1e-6)
    assert p_tot == pytest.approx(0.500035, abs=1e-6)

    ok = _evaluate(scn)
    for key in ("device_power", "total_power", "fed_device_power", "fed_total_power"):
        assert ok.violations[key][0] == 0.0

    over_client = _evaluate(scn, power_w=np.array([0.25, 0.10, 0.10]))
    assert over_client.violations["device_power"][0] == pytest.approx(0.25 - p_max, rel=1e-9)
    assert over_client.violations["total_power"][0] == 0.0  # 0.45 W <= 0.5 W
    assert not over_client.feasible[0]

    over_total = _evaluate(scn, power_w=np.array([0.19, 0.19, 0.19]))
    assert over_total.violations["device_power"][0] == 0.0
    assert over_total.violations["total_power"][0] == pytest.approx(0.57 - p_tot, rel=1e-9)
    assert not over_total.feasible[0]

    over_fed = _evaluate(scn, fed_power_w=np.array([0.3, 0.19, 0.19]))
    assert over_fed.violations["fed_device_power"][0] == pytest.approx(0.3 - p_max, rel=1e-9)
    assert over_fed.violations["fed_total_power"][0] == pytest.approx(0.68 - p_tot, rel=1e-9)
    assert over_fed.violations["device_power"][0] == 0.0  # the pools are separate
    assert not over_fed.feasible[0]
