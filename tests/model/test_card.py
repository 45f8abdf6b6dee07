"""CARD preset against the paper (CARD (7)-(12), (16), Fig. 3 and Fig. 4), computed by hand.

Paper: /work/shared/papers/card.txt; digest with the worked arithmetic: /tmp/digests/card.md.
Run with ``-s`` to see the Fig. 4 percentages next to the paper's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from splitenv import Decision, evaluate, load_scenario, sample_state
from splitenv.model import card_bounds, evaluate_batch

SEEDS = (0, 1, 2, 3)
CUTS = np.arange(1, 32)  # (13): c in {1, ..., I-1}, I = 32
F_MIN, F_MAX = 0.5e9, 2.46e9  # preset: F_min ours, F_max from Table I
N_DEV = 5
W = 0.2  # Table II
XI = 1e-25  # Table II, W / (cycle/s)^3
DS = 2 * 3072  # delta^S sigma^S: 2 FLOPs/cycle x 3072 cores (Tables I-II)
T = 5  # Table II: local epochs per round


@pytest.fixture(scope="module")
def scn():
    return load_scenario("card")


def _grid(scn, state, freqs):
    """Every (cut, f) of CUTS x freqs for all devices at once (devices are decoupled in CARD)."""
    c, f = np.meshgrid(CUTS, freqs, indexing="ij")
    split = np.repeat(c.reshape(-1, 1), N_DEV, axis=1)
    freq = np.repeat(f.reshape(-1, 1), N_DEV, axis=1)
    ev = evaluate_batch(scn, state, Decision(split=split, server_freq_hz=freq))
    shape = (len(CUTS), len(freqs), N_DEV)
    return (
        ev.per_device["card_cost"].reshape(shape),
        ev.per_device["round_s"].reshape(shape),
        ev.per_device["energy_j"].reshape(shape),
    )


def _q_clipped(bounds):
    """(16): Q = cbrt(w (E_max - E_min) / (2 xi (1 - w)(D_max - D_min))), clipped to the box."""
    d_min, d_max, e_min, e_max = (np.asarray(b, dtype=float) for b in bounds)
    q = np.cbrt(W * (e_max - e_min) / (2 * XI * (1 - W) * (d_max - d_min)))
    return np.clip(q, F_MIN, F_MAX), q


# ---------------------------------------------------------------------------------------------
# Fig. 3(a): every device's best cut is 1 or 31; U affine in c
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_best_cut_is_an_endpoint_and_u_affine_in_cut(scn, seed):
    state = sample_state(scn, seed)
    freqs = np.linspace(F_MIN, F_MAX, 197)
    u, _, _ = _grid(scn, state, freqs)
    best = []
    for m in range(N_DEV):
        i, _ = np.unravel_index(np.argmin(u[:, :, m]), u.shape[:2])
        best.append(int(CUTS[i]))
    assert set(best) <= {1, 31}, f"best cuts {best}"
    # Fig. 3(a): "from Device 1 to 5, its optimal cut layer moves from 31 to 1"
    assert best == sorted(best, reverse=True)
    assert best[0] == 31 and best[-1] == 1
    # U(c) affine in c for every fixed f (digest Sec. 1.8): second differences vanish
    second = np.diff(u, n=2, axis=0)
    assert np.max(np.abs(second)) <= 1e-9 * np.max(np.abs(u))
    # and it is not trivially constant in c
    assert np.min(np.abs(u[-1] - u[0])) > 1e-6


# ---------------------------------------------------------------------------------------------
# (12) extremes and (16) closed form
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_card_bounds_are_the_box_corners(scn, seed):
    """D_min, D_max, E_min, E_max over c in 1..31, f in [F_min, F_max] lie at the four corners."""
    state = sample_state(scn, seed)
    corners = Decision(
        split=np.repeat(np.array([1, 1, 31, 31])[:, None], N_DEV, axis=1),
        server_freq_hz=np.repeat(np.array([F_MIN, F_MAX, F_MIN, F_MAX])[:, None], N_DEV, axis=1),
    )
    ev = evaluate_batch(scn, state, corners)
    d, e = ev.per_device["round_s"], ev.per_device["energy_j"]
    d_min, d_max, e_min, e_max = card_bounds(scn, state)
    np.testing.assert_allclose(d_min, d.min(axis=0), rtol=1e-12)
    np.testing.assert_allclose(d_max, d.max(axis=0), rtol=1e-12)
    np.testing.assert_allclose(e_min, e.min(axis=0), rtol=1e-12)
    np.testing.assert_allclose(e_max, e.max(axis=0), rtol=1e-12)
    # E is decreasing in c and increasing in f (11): E_max = E(1, F_max), E_min = E(31, F_min)
    np.testing.assert_allclose(e_max, e[1], rtol=1e-12)
    np.testing.assert_allclose(e_min, e[2], rtol=1e-12)
    # D is decreasing in f: D_min at F_max (cut 1 or 31), D_max at F_min
    np.testing.assert_allclose(d_min, np.minimum(d[1], d[3]), rtol=1e-12)
    np.testing.assert_allclose(d_max, np.maximum(d[0], d[2]), rtol=1e-12)
    # no interior point of a fine grid leaves the box
    _, dg, eg = _grid(scn, state, np.linspace(F_MIN, F_MAX, 61))
    assert np.all(dg >= d_min * (1 - 1e-12)) and np.all(dg <= d_max * (1 + 1e-12))
    assert np.all(eg >= e_min * (1 - 1e-12)) and np.all(eg <= e_max * (1 + 1e-12))
    # U is then in [0, 1] on the whole box
    u = ev.per_device["card_cost"]
    assert np.all(u >= -1e-12) and np.all(u <= 1 + 1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_closed_form_frequency_minimizes_u(scn, seed):
    state = sample_state(scn, seed)
    f_star, q = _q_clipped(card_bounds(scn, state))
    # the preset's device 5 is slow enough that Q < F_min (digest Sec. 4.3): the clip matters
    assert q[-1] < F_MIN and np.all(q[:-1] > F_MIN) and np.all(q < F_MAX)
    freqs = np.linspace(F_MIN, F_MAX, 4001)  # step 0.49 MHz
    step = freqs[1] - freqs[0]
    for cut in (1, 16, 31):
        split = np.full((len(freqs), N_DEV), cut)
        grid = evaluate_batch(
            scn, state, Decision(split=split, server_freq_hz=np.repeat(freqs[:, None], N_DEV, 1))
        )
        u = grid.per_device["card_cost"]
        at_star = evaluate(scn, state, Decision(split=[cut] * N_DEV, server_freq_hz=f_star))
        u_star = at_star.per_device["card_cost"][0]
        # f* is no worse than any grid point (to rounding) ...
        assert np.all(u_star <= u.min(axis=0) + 1e-12)
        # ... and the grid's argmin sits within one step of f* (Q does not depend on the cut)
        arg = freqs[np.argmin(u, axis=0)]
        assert np.all(np.abs(arg - f_star) <= step)


# ---------------------------------------------------------------------------------------------
# Fig. 4: CARD vs server-only (c = 1) and device-only (c = 31)
# ---------------------------------------------------------------------------------------------


def test_fig4_bracket_and_percentages(scn):
    d_card, e_card, d_dev, e_srv, d_dev_fmax, e_srv_fmax = [], [], [], [], [], []
    freqs = np.linspace(F_MIN, F_MAX, 197)
    for seed in SEEDS:
        state = sample_state(scn, seed)
        f_star, _ = _q_clipped(card_bounds(scn, state))
        u, _, _ = _grid(scn, state, freqs)
        # Alg. 1: f* from (16), then brute force over the cut (ties to the smaller cut)
        at_f_star = Decision(
            split=np.repeat(CUTS[:, None], N_DEV, 1), server_freq_hz=np.tile(f_star, (31, 1))
        )
        u_c = evaluate_batch(scn, state, at_f_star).per_device["card_cost"]
        cuts = [int(CUTS[np.argmin(u_c[:, m])]) for m in range(N_DEV)]
        # the brute force at f* agrees with the best endpoint over the full (c, f) grid
        assert all(c in (1, 31) for c in cuts)
        grid_best = [
            int(CUTS[np.unravel_index(np.argmin(u[:, :, m]), u.shape[:2])[0]]) for m in range(N_DEV)
        ]
        assert cuts == grid_best
        card = evaluate(scn, state, Decision(split=cuts, server_freq_hz=f_star))
        dev_only = evaluate(scn, state, Decision(split=[31] * N_DEV, server_freq_hz=f_star))
        srv_only = evaluate(scn, state, Decision(split=[1] * N_DEV, server_freq_hz=f_star))
        dev_fmax = evaluate(
            scn, state, Decision(split=[31] * N_DEV, server_freq_hz=[F_MAX] * N_DEV)
        )
        srv_fmax = evaluate(scn, state, Decision(split=[1] * N_DEV, server_freq_hz=[F_MAX] * N_DEV))
        dc, ec = card.per_device["round_s"][0], card.per_device["energy_j"][0]
        dd, es = dev_only.per_device["round_s"][0], srv_only.per_device["energy_j"][0]
        # bracket: CARD's delay <= device-only, its energy <= server-only, per device
        assert np.all(dc <= dd * (1 + 1e-12))
        assert np.all(ec <= es * (1 + 1e-12))
        # and strictly better on the aggregate of the round
        assert dc.sum() < dd.sum() and ec.sum() < es.sum()
        d_card.append(dc)
        e_card.append(ec)
        d_dev.append(dd)
        e_srv.append(es)
        d_dev_fmax.append(dev_fmax.per_device["round_s"][0])
        e_srv_fmax.append(srv_fmax.per_device["energy_j"][0])
    mean = lambda xs: float(np.mean(np.concatenate(xs)))  # noqa: E731
    delay_vs_dev = 100 * (mean(d_card) / mean(d_dev) - 1)
    energy_vs_srv = 100 * (mean(e_card) / mean(e_srv) - 1)
    delay_vs_dev_fmax = 100 * (mean(d_card) / mean(d_dev_fmax) - 1)
    energy_vs_srv_fmax = 100 * (mean(e_card) / mean(e_srv_fmax) - 1)
    print(
        f"\nCARD Fig. 4 (mean over {N_DEV} devices x seeds {SEEDS}):"
        f"\n  delay  vs device-only @ f*   : {delay_vs_dev:+.1f} %   (paper -70.8 %)"
        f"\n  energy vs server-only @ f*   : {energy_vs_srv:+.1f} %   (paper -53.1 %)"
        f"\n  delay  vs device-only @ F_max: {delay_vs_dev_fmax:+.1f} %"
        f"\n  energy vs server-only @ F_max: {energy_vs_srv_fmax:+.1f} %"
    )
    assert delay_vs_dev < 0 and energy_vs_srv < 0


# ---------------------------------------------------------------------------------------------
# (7)-(11) by hand for one device at cut 1 and F_max
# ---------------------------------------------------------------------------------------------

# TS 38.214 Table 5.2.2.1-2 (CQI table 1): spectral efficiency of CQI 0..15, bit/s/Hz
CQI_SE = [0.0, 0.1523, 0.2344, 0.3770, 0.6016, 0.8770, 1.1758, 1.4766, 1.9141, 2.4063,
          2.7305, 3.3223, 3.9023, 4.5234, 5.1152, 5.5547]  # fmt: skip


def _cqi_se(snr):
    bound = math.log2(1 + snr)
    return max(se for se in CQI_SE if se <= bound)


# (seed, device): one device in each channel state (Poor, Good, Normal) plus the slowest device
@pytest.mark.parametrize(("seed", "m"), [(0, 0), (0, 2), (1, 0), (3, 4)])
def test_delay_and_energy_by_hand_cut1_fmax(scn, seed, m):
    """CARD (7)-(11) for device m at c = 1, f = F_max, from the Llama-3.2-1B layer dims.

    Layer (configs/card.yaml): d = 2048, 32 heads / 8 KV heads -> kv width 2048*8/32 = 512,
    SwiGLU FFN 8192 with 3 matrices, n_tok = 512, b = 4.
      weights W = 2*2048^2 (q, o) + 2*2048*512 (k, v) + 3*2048*8192
                = 8,388,608 + 2,097,152 + 50,331,648 = 60,817,408
      forward per sample = 2 (n W + 2 n^2 d) = 2*512*60,817,408 + 4*512^2*2048
                         = 62,277,025,792 + 2,147,483,648 = 64,424,509,440 FLOP
      LoRA r = 8 on q (2048+2048) and v (2048+512): 6,656 per rank; forward 2 n r 6,656
                         = 2*512*8*6,656 = 54,525,952 FLOP per sample
      per block per batch (x4): 257,698,037,760 + 218,103,808 = 257,916,141,568 FLOP forward
      head (server) 2 b n d V = 2*4*512*2048*128,256 = 1,075,889,307,648 FLOP forward
      backward = 2 x forward, so training = 3 x forward:
      eta_D(1) = 3 * 257,916,141,568 = 773,748,424,704
      eta = 3 (32 * 257,916,141,568 + 1,075,889,307,648)
          = 3 (8,253,316,530,176 + 1,075,889,307,648) = 3 * 9,329,205,837,824 = 27,987,617,513,472
    Wire: S = S~ = b n d * 16 bit = 67,108,864 bit, times phi = 0.1;
      A(1) = 1 * 6,656 * 8 * 32 bit = 1,703,936 bit, both ways (9).
    Channel: PL = 128.1 + 37.6 log10(0.3) = 108.44 dB at 300 m, no antenna gain, no fading;
      P_dev = 23 dBm, P_AP = 30 dBm, B = 20 MHz, SE = highest CQI SE <= log2(1 + SNR).
    """
    state = sample_state(scn, seed)
    b, n, d, vocab, r, L = 4, 512, 2048, 128256, 8, 32
    kv = d * 8 // 32
    weights = 2 * d * d + 2 * d * kv + 3 * d * 8192
    assert weights == 60_817_408
    fwd_block = b * 2 * (n * weights + 2 * n * n * d)
    lora_per_rank = (d + d) + (d + kv)
    fwd_lora = b * 2 * n * r * lora_per_rank
    assert fwd_block + fwd_lora == 257_916_141_568
    head = 2 * b * n * d * vocab
    eta_dev = 3 * 1 * (fwd_block + fwd_lora)
    eta = 3 * (L * (fwd_block + fwd_lora) + head)
    assert eta == 27_987_617_513_472

    gain = 10 ** (-(128.1 + 37.6 * math.log10(0.3)) / 10)
    assert state.channel_gain[m] == pytest.approx(gain, rel=1e-12)
    n0 = float(state.noise_psd_w_hz[m])
    assert min(abs(n0 / (10 ** (x / 10) / 1e3) - 1) for x in (-166, -163, -160)) < 1e-12
    bw = 20e6
    r_up = bw * _cqi_se(gain * (10**2.3 / 1e3) / (n0 * bw))
    r_dn = bw * _cqi_se(gain * 1.0 / (n0 * bw))
    # digest Sec. 4.1: SNR_up = 23 - 108.44 - (N0 + 73.01) dB, SNR_dn = SNR_up + 7 dB
    #   Good (-166): 7.55 dB -> log2(1+5.69) = 2.742 -> CQI 10 (2.7305): 54.610 Mb/s;
    #                14.55 dB -> 4.883 -> CQI 13 (4.5234): 90.468 Mb/s
    #   Normal (-163): CQI 8 (1.9141) 38.282 Mb/s; CQI 12 (3.9023) 78.046 Mb/s
    #   Poor (-160):   CQI 6 (1.1758) 23.516 Mb/s; CQI 10 (2.7305) 54.610 Mb/s
    state_db = round(10 * math.log10(n0 * 1e3))
    expected = {-166: (54.610e6, 90.468e6), -163: (38.282e6, 78.046e6), -160: (23.516e6, 54.610e6)}
    assert (r_up, r_dn) == pytest.approx(expected[state_db], rel=1e-4)
    f_dev = [5.3248e12, 4.096e12, 2.5088e12, 1.4336e12, 0.512e12][m]  # Table I: f x cores x 2

    s_bits = b * n * d * 16
    adapter = 1 * lora_per_rank * r * 32
    assert adapter == 1_703_936
    d_dev = eta_dev / f_dev  # (7)
    d_srv = (eta - eta_dev) / (F_MAX * DS)  # (8)
    comm = 0.1 * s_bits / r_up + 0.1 * s_bits / r_dn
    delay = T * (d_dev + d_srv) + T * comm + adapter / r_up + adapter / r_dn  # (9)-(10)
    energy = T * XI * F_MAX**2 * (eta - eta_dev) / DS  # (11)

    split = [1] * N_DEV
    ev = evaluate(scn, state, Decision(split=split, server_freq_hz=[F_MAX] * N_DEV))
    assert ev.per_device["uplink_rate_bps"][0, m] == pytest.approx(r_up, rel=1e-12)
    assert ev.per_device["downlink_rate_bps"][0, m] == pytest.approx(r_dn, rel=1e-12)
    assert ev.per_device["round_s"][0, m] == pytest.approx(delay, rel=1e-9)
    assert ev.per_device["energy_j"][0, m] == pytest.approx(energy, rel=1e-9)
    # E(1, F_max) = 5e-25 * 2.46e9^2 * (eta - eta_D(1)) / 6144 is E_max of (12) for every device
    assert card_bounds(scn, state)[3][m] == pytest.approx(energy, rel=1e-9)
