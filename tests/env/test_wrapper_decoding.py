"""The action wrappers' decoders against decisions computed by hand (splitenv.spaces docstring).

BoxAction: u = (clip(a, -1, 1) + 1) / 2; index fields ``min(floor(u n), n - 1)`` with n the
number of split values that fit memory (all devices' for a shared cut); resources the
weights ``u + 1e-3`` normalized to shares (subchannel counts by largest remainder, at least
one each when K >= N); powers ``0.01 + 0.99 u`` of P_max, scaled down together into the
total budget; server clock and keep ratio ``u`` of their range.
MultiDiscreteAction: index fields the index; resources the weights ``level + 1``; powers
``(level + 1) / levels``, scaled into the budget; the rest ``level / (levels - 1)``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from splitenv import Decision, evaluate_batch
from splitenv.model.accuracy import sft_cubic
from splitenv.registration import ENV_IDS
from splitenv.wrappers import BoxAction, MultiDiscreteAction

CASES = {
    **{eid: {} for eid in ENV_IDS},  # every registered preset id, new ones included
    # the generic id with another config
    "splitenv/SplitLoRA-v0+config": {"config": "fedsllm", "network__n_devices": 3},
}
TIMESCALES = ("round", "epoch", "joint")
INDEX = ("split", "edge_split", "rank", "quant_bits")
RESOURCE = ("subchannels", "fed_subchannels", "bandwidth_hz", "compute_share")
POWER = ("power_w", "fed_power_w")


def make(env_id, timescale, **kwargs):
    return gym.make(
        env_id.split("+")[0],
        timescale=timescale,
        rounds=2,
        epochs_per_round=2,
        **{**CASES[env_id], **kwargs},
    )


def layout(base):
    """(field, dims, index count or 0) in the wrappers' order: the env's fields, per device."""
    n = base.scenario.n_devices
    out = []
    for name in base.fields:
        sub = base.action_space[name]
        if isinstance(sub, spaces.Discrete):
            out.append((name, 1, int(sub.n)))
        elif isinstance(sub, spaces.MultiDiscrete):
            out.append((name, n, int(sub.nvec[0]) if name in INDEX else 0))
        else:
            out.append((name, int(np.prod(sub.shape)), 0))
    return out


def fits(scn, state):
    """(n_split, N): split value lo + k fits device n's memory, from the engine's memory output."""
    lo, hi = scn.decision.split_range
    values = np.arange(lo, hi + 1)
    ev = evaluate_batch(scn, state, Decision(split=np.repeat(values[:, None], scn.n_devices, 1)))
    return ev.per_device["device_memory_bytes"] <= state.device_memory_bytes[None, :]


def hamilton(weights, total, minimum):
    """Largest remainder by hand, in exact rationals: ``minimum`` each (when possible), the rest
    by remainders, ties to the lower index. Returns the counts and the devices tied at the cut
    (whose extra unit float rounding may move between them)."""
    weights = [Fraction(w) for w in weights]
    n = len(weights)
    if total < minimum * n:
        minimum = 0
    rest = total - minimum * n
    exact = [w / sum(weights) * rest for w in weights]
    counts = [math.floor(x) for x in exact]
    rem = [x - c for x, c in zip(exact, counts, strict=True)]
    order = sorted(range(n), key=lambda i: -rem[i])  # stable: ties by index
    short = rest - sum(counts)
    for i in order[:short]:
        counts[i] += 1
    tied = set()
    if 0 < short < n and rem[order[short - 1]] == rem[order[short]]:
        tied = {i for i in range(n) if rem[i] == rem[order[short]]}
    return Ties([c + minimum for c in counts], tied)


class Ties(list):
    """Counts with the set of devices tied at the largest-remainder cut."""

    def __init__(self, counts, tied):
        super().__init__(counts)
        self.tied = tied


def scale_powers(scn, fractions):
    watts = sum(fractions) * scn.network.device_power_w
    return [f * min(1.0, scn.network.total_power_w / watts) for f in fractions]


def resource(scn, name, weights):
    if name == "subchannels":
        return hamilton(weights, scn.network.n_subchannels, 1)
    if name == "fed_subchannels":
        return hamilton(weights, scn.network.fed_n_subchannels, 1)
    return [w / sum(weights) for w in weights]


def repair_by_hand(scn, out):
    """SFT (36b) on the decoded pair: below A_th, the nearest meeting pair of the 1e-3 grid."""
    if not (scn.accuracy.constrained and {"keep_ratio", "quant_bits"} <= set(out)):
        return out
    (k_lo, k_hi), (q_lo, q_hi) = scn.compression.keep_ratio_range, scn.compression.quant_bits_range

    def meets(frac, qi):
        value = sft_cubic(scn.accuracy.cubic_coeffs, k_lo + frac * (k_hi - k_lo), qi + q_lo)
        return value >= scn.accuracy.threshold

    frac, qi = out["keep_ratio"][0], out["quant_bits"]
    if not meets(frac, qi):
        grid = [(f, q) for q in range(q_hi - q_lo + 1) for f in np.linspace(0, 1, 1001)]
        grid = [(f, q) for f, q in grid if meets(f, q)]
        frac, qi = min(grid, key=lambda p: (p[0] - frac) ** 2 + ((p[1] - qi) / (q_hi - q_lo)) ** 2)
    return {**out, "keep_ratio": [frac], "quant_bits": qi}


def box_by_hand(base, a):
    scn = base.scenario
    u = (np.clip(a, -1, 1) + 1) / 2
    ok = fits(scn, base.current_state)
    out, i = {}, 0
    for name, dims, count in layout(base):
        v = [float(x) for x in u[i : i + dims]]
        i += dims
        if count:
            if name == "split":  # only the values that fit memory
                counts = [int(ok.all(axis=1).sum())] if dims == 1 else list(ok.sum(axis=0))
            else:
                counts = [count] * dims
            idx = [min(math.floor(x * c), c - 1) for x, c in zip(v, counts, strict=True)]
            out[name] = idx if dims > 1 else idx[0]
        elif name in RESOURCE:
            out[name] = resource(scn, name, [x + 1e-3 for x in v])
        elif name in POWER:
            out[name] = scale_powers(scn, [0.01 + 0.99 * x for x in v])
        else:
            out[name] = v
    return repair_by_hand(scn, out)


def multidiscrete_by_hand(base, a, levels):
    scn = base.scenario
    out, i = {}, 0
    for name, dims, count in layout(base):
        v = [int(x) for x in a[i : i + dims]]
        i += dims
        if count:
            out[name] = v if dims > 1 else v[0]
        elif name in RESOURCE:
            out[name] = resource(scn, name, [x + 1.0 for x in v])
        elif name in POWER:
            out[name] = scale_powers(scn, [(x + 1.0) / levels for x in v])
        else:
            out[name] = [x / (levels - 1) for x in v]
    return repair_by_hand(scn, out)


def assert_native_equal(got, expected):
    assert set(got) == set(expected)
    for k, v in expected.items():
        if getattr(v, "tied", None):  # exact ties: float rounding picks who gets the unit
            g = np.asarray(got[k]).tolist()
            assert sum(g) == sum(v), k
            assert all(a == b or i in v.tied for i, (a, b) in enumerate(zip(g, v, strict=True))), k
            continue
        np.testing.assert_allclose(
            np.asarray(got[k], dtype=float).reshape(-1),
            np.asarray(v, dtype=float).reshape(-1),
            rtol=1e-12,
            err_msg=k,
        )


def _wrapped(wrapper, env_id, timescale, **kwargs):
    try:
        return wrapper(make(env_id, timescale), **kwargs)
    except ValueError:
        pytest.skip(f"{env_id} exposes no decision at timescale {timescale!r}")


@pytest.mark.parametrize("timescale", TIMESCALES)
@pytest.mark.parametrize("env_id", list(CASES))
def test_box_corners_decode_by_hand(env_id, timescale):
    env = _wrapped(BoxAction, env_id, timescale)
    env.reset(seed=2)
    base = env.unwrapped
    dims = env.action_space.shape[0]
    alternating = np.where(np.arange(dims) % 2 == 0, -1.0, 1.0)
    for a in (-np.ones(dims), np.ones(dims), alternating, -alternating, 3 * alternating):
        assert_native_equal(env.action(a), box_by_hand(base, a))
    # the top corner takes the last memory-feasible value of every index field
    top = env.action(np.ones(dims))
    ok = fits(base.scenario, base.current_state)
    for name, _, count in layout(base):
        if name == "split":
            last = ok.all(axis=1).sum() - 1 if np.ndim(top[name]) == 0 else ok.sum(axis=0) - 1
            np.testing.assert_array_equal(top[name], last)
            assert np.all(np.asarray(top[name]) > 0)  # the presets fit more than one value
        elif count:
            np.testing.assert_array_equal(top[name], count - 1)
    # stepped: what is applied is the decoded decision in physical units, and feasible
    _, _, _, _, info = env.step(np.ones(dims))
    assert info["feasible"], info["violations"]
    lo = base.scenario.decision.split_range[0]
    if "split" in top:
        np.testing.assert_array_equal(info["decision"]["split"], np.asarray(top["split"]) + lo)
    if "rank" in top:
        assert info["decision"]["rank"] == base.scenario.workload.rank_choices[top["rank"]]


@pytest.mark.parametrize("timescale", ["epoch", "joint"])
@pytest.mark.parametrize("env_id", list(CASES))
def test_applied_decision_is_the_native_action_in_physical_units(env_id, timescale):
    """Native fractions to units (splitenv.spaces): bandwidth v B, power v P_max, server clock
    F_min + v (F_max - F_min), keep ratio lo + v (hi - lo), bits lo + index, split lo + index."""
    env = _wrapped(BoxAction, env_id, timescale)
    env.reset(seed=5)
    scn = env.unwrapped.scenario
    net = scn.network
    dims = env.action_space.shape[0]
    a = np.linspace(-0.9, 0.8, dims)
    native = env.action(a)
    _, _, _, _, info = env.step(a)
    applied = info["decision"]
    f_lo, f_hi = scn.compute.server_freq_hz
    k_lo, k_hi = scn.compression.keep_ratio_range
    units = {
        "bandwidth_hz": lambda v: np.asarray(v) * net.bandwidth_hz,
        "power_w": lambda v: np.asarray(v) * net.device_power_w,
        "fed_power_w": lambda v: np.asarray(v) * net.device_power_w,
        "server_freq_hz": lambda v: f_lo + np.asarray(v) * (f_hi - f_lo),
        "keep_ratio": lambda v: k_lo + np.asarray(v) * (k_hi - k_lo),
        "quant_bits": lambda v: scn.compression.quant_bits_range[0] + np.asarray(v),
        "split": lambda v: scn.decision.split_range[0] + np.asarray(v),
        "rank": lambda v: scn.workload.rank_choices[int(v)],
        "subchannels": np.asarray,
        "fed_subchannels": np.asarray,
        "compute_share": np.asarray,
    }
    for name, value in native.items():
        if name == "edge_split":  # raised to the split where lower (documented repair)
            want = np.maximum(scn.decision.split_range[0] + np.asarray(value), applied["split"])
        else:
            want = units[name](value)
        if name == "split":  # a shared cut applies to every device
            want = np.broadcast_to(want, np.shape(applied["split"]))
        np.testing.assert_allclose(
            np.asarray(applied[name], dtype=float).reshape(-1),
            np.asarray(want, dtype=float).reshape(-1),
            rtol=1e-12,
            err_msg=name,
        )


@pytest.mark.parametrize("timescale", TIMESCALES)
@pytest.mark.parametrize("env_id", list(CASES))
def test_multidiscrete_every_index_decodes_by_hand(env_id, timescale):
    levels = 5
    env = _wrapped(MultiDiscreteAction, env_id, timescale, levels=levels)
    env.reset(seed=1)
    base = env.unwrapped
    nvec = env.action_space.nvec
    expected_nvec = []
    for _, dims, count in layout(base):
        expected_nvec += [count or levels] * dims
    np.testing.assert_array_equal(nvec, expected_nvec)
    for k in range(int(nvec.max())):  # every index of every dimension, once
        a = np.minimum(k, nvec - 1)
        assert_native_equal(env.action(a), multidiscrete_by_hand(base, a, levels))
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.integers(0, nvec)
        assert_native_equal(env.action(a), multidiscrete_by_hand(base, a, levels))


def _scct_small(timescale="epoch", **overrides):
    return gym.make(
        "splitenv/SCCT-v0", timescale=timescale,
        **{"network__n_devices": 3, "network__n_subchannels": 10, **overrides},
    )  # fmt: skip


def test_largest_remainder_by_hand():
    env = MultiDiscreteAction(_scct_small(), levels=4)
    env.reset(seed=0)
    # layout: subchannels (3), compute_share (3)
    # weights 1, 2, 3 -> one each, the 7 others: 7/6, 14/6, 21/6 = 1.17, 2.33, 3.5 -> 1, 2, 3
    # and the one left to the largest remainder (0.5, device 2): 1+1, 1+2, 1+4 = 2, 3, 5
    native = env.action([0, 1, 2, 0, 1, 2])
    assert native["subchannels"].tolist() == [2, 3, 5]
    np.testing.assert_allclose(native["compute_share"], [1 / 6, 2 / 6, 3 / 6], rtol=1e-15)
    # equal weights: 7/3 = 2.33 each, floors 2, one left: a tie, to the first device
    assert env.action([3, 3, 3, 0, 0, 0])["subchannels"].tolist() == [4, 3, 3]
    # weights 4, 1, 1: 7 * 4/6 = 4.67, 1.17, 1.17 -> 4, 1, 1 + one to device 0: 1+5, 1+1, 1+1
    assert env.action([3, 0, 0, 0, 0, 0])["subchannels"].tolist() == [6, 2, 2]
    # fewer subchannels than devices: no minimum; 2 * 1/3 each = 0.67 -> 0, two go by remainder
    env2 = MultiDiscreteAction(_scct_small(network__n_subchannels=2), levels=4)
    env2.reset(seed=0)
    assert env2.action([1, 1, 1, 0, 0, 0])["subchannels"].tolist() == [1, 1, 0]
    # Box: weights (u + 1e-3): a = (1, -1, 0) -> 1.001, 0.001, 0.501; 7 * w / 1.503 =
    # 4.662, 0.00466, 2.333 -> 4, 0, 2 (6) + 1 to device 0 (0.662): 1+5, 1+0, 1+2
    box = BoxAction(_scct_small())
    box.reset(seed=0)
    native = box.action(np.array([1.0, -1.0, 0.0, 1.0, 1.0, 1.0]))
    assert native["subchannels"].tolist() == [6, 1, 3]
    np.testing.assert_allclose(native["compute_share"], [1 / 3] * 3, rtol=1e-15)


def test_powers_meet_the_budget_by_hand():
    """FedsLLM preset: P_max = 23 dBm = 0.19953 W, total 26.99 dBm = 0.50003 W over 5 devices."""
    env = MultiDiscreteAction(gym.make("splitenv/FedsLLM-v0", timescale="epoch"), levels=11)
    env.reset(seed=0)
    scn = env.unwrapped.scenario
    p_max, p_tot = 10 ** (23 / 10) / 1e3, 10 ** (26.99 / 10) / 1e3
    assert scn.network.device_power_w == pytest.approx(p_max, rel=1e-12)
    assert scn.network.total_power_w == pytest.approx(p_tot, rel=1e-12)
    n, k = 5, scn.network.n_subchannels
    sub = [0] * n
    # every device at the top level: fractions 1, 5 * 0.19953 = 0.99763 W > 0.50003 W -> each
    # scaled to 0.50003 / 0.99763 = 0.50122 of P_max; the watts sum to the budget exactly
    native = env.action(sub + [10] * n + sub + [10] * n)
    np.testing.assert_allclose(native["power_w"], [p_tot / (n * p_max)] * n, rtol=1e-12)
    assert p_tot / (n * p_max) == pytest.approx(0.50122, abs=1e-5)
    # the lowest level: 1/11 each, 5/11 * 0.19953 = 0.0907 W within budget: unchanged
    native = env.action(sub + [0] * n + sub + [0] * n)
    np.testing.assert_allclose(native["power_w"], [1 / 11] * n, rtol=1e-15)
    # mixed: levels 10, 4, 0, 0, 0 -> 11/11, 5/11, 1/11, 1/11, 1/11 = 19/11 * P_max = 0.34 W: kept
    native = env.action(sub + [10, 4, 0, 0, 0] + sub + [0] * n)
    np.testing.assert_allclose(native["power_w"], [1, 5 / 11, 1 / 11, 1 / 11, 1 / 11], rtol=1e-15)
    # equal subchannel weights: K / N each
    assert native["subchannels"].tolist() == [k // n] * n
    # stepped: watts applied, the budget met, feasible
    _, _, _, _, info = env.step(sub + [10] * n + sub + [10] * n)
    np.testing.assert_allclose(np.sum(info["decision"]["power_w"]), p_tot, rtol=1e-12)
    assert info["feasible"], info["violations"]
    # Box: a = 1 -> 0.01 + 0.99 = 1 of P_max each, scaled the same way; a = -1 -> 0.01, kept
    box = BoxAction(gym.make("splitenv/FedsLLM-v0", timescale="epoch"))
    box.reset(seed=0)
    ones = np.ones(4 * n)
    np.testing.assert_allclose(box.action(ones)["power_w"], [p_tot / (n * p_max)] * n, rtol=1e-12)
    np.testing.assert_allclose(box.action(-ones)["power_w"], [0.01] * n, rtol=1e-12)


def test_box_split_top_is_the_largest_split_that_fits_memory():
    """SCCT's memory excludes the top splits of some devices: a = 1 picks each one's largest fit."""
    env = BoxAction(gym.make("splitenv/SCCT-v0", timescale="round"))
    env.reset(seed=0)
    base = env.unwrapped
    ok = fits(base.scenario, base.current_state)
    assert not ok.all()  # some devices cannot hold every split
    assert np.all(ok.sum(axis=0) >= 1)
    n = base.scenario.n_devices
    assert env.action_space.shape == (n,)  # SCCT's one rank choice is not an action dimension
    native = env.action(np.ones(n))
    np.testing.assert_array_equal(native["split"], ok.sum(axis=0) - 1)
    assert "rank" not in native
    # memory feasibility is monotone in the split here: the index count is the largest fit
    lo = base.scenario.decision.split_range[0]
    for dev in range(n):
        assert ok[: ok[:, dev].sum(), dev].all()
    _, _, _, _, info = env.step(np.ones(n))
    np.testing.assert_array_equal(info["decision"]["split"], ok.sum(axis=0) - 1 + lo)
    assert info["decision"]["rank"] == base.scenario.workload.rank_choices[-1]
    assert "device_memory" not in info["violations"]


@pytest.mark.parametrize("timescale", ["round", "joint"])
@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_box_default_action_decodes_to_the_reference_decision(env_id, timescale):
    """``BoxAction.default_action()`` plays the reward's reference: reward -1 exactly.

    With equal shares inside (round) the step's decision is the preset's default decision,
    so its cost is the reference's. SCCT's memory masks narrow the split's bins (documented
    in splitenv.wrappers.box_default): there the decoded split is at most the default one.
    """
    env = BoxAction(make(env_id, timescale, inner_allocator="equal"))
    env.reset(seed=3)
    action = env.default_action()
    assert action.dtype == np.float32 and env.action_space.contains(action)
    native = env.action(action)
    scn = env.unwrapped.scenario
    lo = scn.decision.split_range[0]
    _, reward, *_ = env.step(action)
    if env_id == "splitenv/SCCT-v0":
        assert np.all(np.asarray(native["split"]) + lo <= scn.decision.default_split)
        assert np.asarray(native["split"]).max() + lo == scn.decision.default_split
    else:
        assert np.all(np.asarray(native["split"]) + lo == scn.decision.default_split)
        if "rank" in native:
            assert scn.workload.rank_choices[native["rank"]] == scn.decision.default_rank
        assert reward == pytest.approx(-1.0, rel=1e-6)
