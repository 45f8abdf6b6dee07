"""Property tests of the cost engine over every preset.

States come from ``splitenv.sample_state``; decisions are drawn inside the valid
domain of each preset (splits in ``decision.split_range``, ranks from
``workload.rank_choices``, subchannel counts / bandwidths / powers / shares /
frequencies within their budgets) and then perturbed:

* monotonicity: giving a device more band, power or compute never raises the latency;
* signs: every per-device term, scalar term and energy is >= 0 (or +inf, never NaN);
* budgets: over-allocation is reported with its exact excess, never clipped;
* batching: ``evaluate_batch`` over B decisions is bitwise equal to B ``evaluate`` calls.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import splitenv as se
from splitenv.model import Decision, block_costs, enabled_fields, evaluate, evaluate_batch

SCENARIOS = se.list_scenarios()
_SCN = {name: se.load_scenario(name) for name in SCENARIOS}

PROPS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: relative slack for floating-point rounding in monotonicity checks (a real
#: increase of the latency is many orders of magnitude larger)
RTOL = 1e-12


def test_all_five_papers_are_presets():
    assert {"card", "fedsllm", "scct", "sft", "splitllm"} <= set(SCENARIOS)


def presets(*, having: str | None = None, skip: dict[str, str] | None = None) -> list:
    """Preset names, optionally only those exposing decision field ``having``."""
    out = []
    for name in SCENARIOS:
        if having is not None and having not in enabled_fields(_SCN[name]):
            continue
        if skip and name in skip:
            out.append(pytest.param(name, marks=pytest.mark.skip(reason=skip[name])))
        else:
            out.append(name)
    return out


# --------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------


@st.composite
def states(draw, scn: se.Scenario, *, with_prev_split: bool = True) -> se.State:
    """A sampled state; sometimes with a previous split (exercises SCCT (18) migration)."""
    seed = draw(st.integers(0, 2**32 - 1))
    state = se.sample_state(scn, seed, draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    # every device present (the flagship has churn): the monotonicity is an active device's
    state = state.replace(active=np.ones(scn.n_devices, dtype=bool))
    if with_prev_split and draw(st.booleans()):
        lo, hi = scn.decision.split_range
        prev = draw(st.lists(st.integers(lo, hi), min_size=scn.n_devices, max_size=scn.n_devices))
        state = state.replace(prev_split=np.asarray(prev))
    return state


@st.composite
def counts(draw, n: int, budget: int, min_each: int) -> np.ndarray:
    """n integers >= min_each summing to at most ``budget`` (stars and bars)."""
    total = draw(st.integers(n * min_each, budget))
    free = total - n * min_each
    cuts = sorted(draw(st.lists(st.integers(0, free), min_size=n - 1, max_size=n - 1)))
    return min_each + np.diff(np.asarray([0, *cuts, free], dtype=np.int64))


@st.composite
def fractions(draw, n: int, max_total: float, allow_zero: bool) -> np.ndarray:
    """n non-negative floats summing to at most ``max_total``."""
    lo = 0.0 if allow_zero else 0.05
    w = np.asarray(draw(st.lists(st.floats(lo, 1.0), min_size=n, max_size=n)))
    if w.sum() == 0:
        return w
    total = draw(st.floats(0.05, 1.0)) * max_total
    return w / w.sum() * total


@st.composite
def powers(draw, n: int, p_max: float, total: float, allow_zero: bool) -> np.ndarray:
    """Per-device powers in [0, p_max] whose sum is at most ``total``."""
    lo = 0.0 if allow_zero else 0.1
    p = np.asarray(draw(st.lists(st.floats(lo, 1.0), min_size=n, max_size=n))) * p_max
    if np.isfinite(total) and p.sum() > total:
        p = p * (0.999 * total / p.sum())
    return p


@st.composite
def decisions(draw, scn: se.Scenario, *, allow_zero: bool = False, slack: float = 0.0) -> dict:
    """One decision, every exposed field given, inside the valid domain.

    ``allow_zero`` lets allocations (subchannels, band, power) be 0 for a device;
    ``slack`` keeps that fraction of every budget free so that a test can add to it.
    """
    n, L = scn.n_devices, scn.model.n_layers
    dec, net, comp = scn.decision, scn.network, scn.compute
    fields = enabled_fields(scn)
    lo, hi = dec.split_range
    out: dict = {}
    if dec.shared_split:
        out["split"] = np.full(n, draw(st.integers(lo, hi)), dtype=np.int64)
    else:
        out["split"] = np.asarray(draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)))
    if "edge_split" in fields:
        out["edge_split"] = np.asarray([draw(st.integers(int(s), L)) for s in out["split"]])
    out["rank"] = draw(st.sampled_from(scn.workload.rank_choices))
    min_each = 0 if allow_zero else 1
    if "subchannels" in fields:
        budget = math.floor(net.n_subchannels * (1 - slack))
        out["subchannels"] = draw(counts(n, budget, min_each))
    if "fed_subchannels" in fields:
        budget = math.floor(net.fed_n_subchannels * (1 - slack))
        out["fed_subchannels"] = draw(counts(n, budget, min_each))
    if "bandwidth_hz" in fields:
        out["bandwidth_hz"] = draw(fractions(n, 1 - slack, allow_zero)) * net.bandwidth_hz
    p_max = net.device_power_w * (1 - slack)
    total = net.total_power_w * (1 - slack)
    if "power_w" in fields:
        out["power_w"] = draw(powers(n, p_max, total, allow_zero))
    if "fed_power_w" in fields:
        out["fed_power_w"] = draw(powers(n, p_max, total, allow_zero))
    if "compute_share" in fields:
        out["compute_share"] = draw(fractions(n, 1 - slack, allow_zero))
    if "server_freq_hz" in fields:
        f_lo, f_hi = comp.server_freq_hz
        top = f_hi - slack * (f_hi - f_lo)
        out["server_freq_hz"] = np.asarray(
            draw(st.lists(st.floats(f_lo, top), min_size=n, max_size=n))
        )
    if "keep_ratio" in fields:
        out["keep_ratio"] = draw(st.floats(*scn.compression.keep_ratio_range))
        q_lo, q_hi = scn.compression.quant_bits_range
        out["quant_bits"] = draw(st.one_of(st.just(0), st.integers(q_lo, q_hi)))
    assert set(out) == set(fields), (sorted(out), fields)
    return out


def stack(*decs: dict) -> Decision:
    """A batched Decision from unbatched decision dicts."""
    return Decision(**{k: np.stack([np.asarray(d[k]) for d in decs]) for k in decs[0]})


def pair(scn: se.Scenario, state: se.State, a: dict, b: dict) -> se.Evaluation:
    return evaluate_batch(scn, state, stack(a, b))


def assert_not_higher(after: np.ndarray, before: np.ndarray, what: str) -> None:
    """``after <= before`` elementwise (inf <= inf holds; NaN fails)."""
    after, before = np.asarray(after), np.asarray(before)
    ok = (after <= before) | (after <= before * (1 + RTOL))
    assert np.all(ok), f"{what}: latency rose from {before} to {after}"


# --------------------------------------------------------------------------------------
# monotonicity
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", presets(having="subchannels"))
@PROPS
@given(data=st.data())
def test_latency_monotone_in_subchannels(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn, slack=0.25))
    room = scn.network.n_subchannels - int(d["subchannels"].sum())
    k = data.draw(st.integers(0, scn.n_devices - 1))
    more = dict(d, subchannels=d["subchannels"].copy())
    more["subchannels"][k] += data.draw(st.integers(1, room))
    ev = pair(scn, state, d, more)
    assert not ev.violations["subchannels"].any()
    assert_not_higher(ev.latency_s[1], ev.latency_s[0], f"{name}: +subchannels to device {k}")
    assert_not_higher(ev.per_device["chain_s"][1], ev.per_device["chain_s"][0], "per-device chain")
    # the extra band is really used: device k's uplink got faster
    assert ev.per_device["uplink_rate_bps"][1, k] > ev.per_device["uplink_rate_bps"][0, k]


@pytest.mark.parametrize("name", presets(having="fed_subchannels"))
@PROPS
@given(data=st.data())
def test_latency_monotone_in_fed_subchannels(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn, slack=0.25))
    room = scn.network.fed_n_subchannels - int(d["fed_subchannels"].sum())
    k = data.draw(st.integers(0, scn.n_devices - 1))
    more = dict(d, fed_subchannels=d["fed_subchannels"].copy())
    more["fed_subchannels"][k] += data.draw(st.integers(1, room))
    ev = pair(scn, state, d, more)
    assert_not_higher(ev.latency_s[1], ev.latency_s[0], f"{name}: +fed subchannels to device {k}")
    assert ev.per_device["adapter_s"][1, k] < ev.per_device["adapter_s"][0, k]


@pytest.mark.parametrize("name", presets(having="bandwidth_hz"))
@PROPS
@given(data=st.data())
def test_latency_monotone_in_bandwidth_decision(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn, slack=0.25))
    room = scn.network.bandwidth_hz - float(d["bandwidth_hz"].sum())
    k = data.draw(st.integers(0, scn.n_devices - 1))
    more = dict(d, bandwidth_hz=d["bandwidth_hz"].copy())
    more["bandwidth_hz"][k] += data.draw(st.floats(0.01, 1.0)) * room
    ev = pair(scn, state, d, more)
    assert not ev.violations["bandwidth"].any()
    assert_not_higher(ev.latency_s[1], ev.latency_s[0], f"{name}: +Hz to device {k}")
    assert_not_higher(ev.per_device["round_s"][1], ev.per_device["round_s"][0], "per-device round")
    assert ev.per_device["uplink_rate_bps"][1, k] > ev.per_device["uplink_rate_bps"][0, k]


_CQI_NOT_MONOTONE = (
    "not a property of the CQI model: with the power spread over the band, W * se_CQI(G P / "
    "(N0 W)) drops when a few % more Hz push the SNR below a CQI threshold (20 -> 21 MHz); "
    "see splitenv/model/channel.py and test_cqi_rate_not_monotone_in_band"
)


def test_cqi_rate_not_monotone_in_band():
    """The documented exception: a discrete MCS table is not monotone in the band it fills."""
    from splitenv.model import channel

    # SNR 7.55 dB at 20 MHz: log2(1 + 5.69) = 2.742 -> CQI 10 (2.7305), 54.6 Mbit/s;
    # at 21 MHz the SNR is 5.42 -> log2 = 2.682 -> CQI 9 (2.4063), 50.5 Mbit/s
    p, n0 = 0.2, 10 ** (-16.6) / 1e3
    g = 5.69 * n0 * 20e6 / p
    r20 = channel.link_rate("cqi", 20e6, gain=g, power_w=p, noise_psd_w_hz=n0, fixed_snr=0.0)
    r21 = channel.link_rate("cqi", 21e6, gain=g, power_w=p, noise_psd_w_hz=n0, fixed_snr=0.0)
    s20 = channel.link_rate("shannon", 20e6, gain=g, power_w=p, noise_psd_w_hz=n0, fixed_snr=0.0)
    s21 = channel.link_rate("shannon", 21e6, gain=g, power_w=p, noise_psd_w_hz=n0, fixed_snr=0.0)
    assert s21 > s20
    assert r21 < r20


@pytest.mark.parametrize("name", presets(skip={"card": _CQI_NOT_MONOTONE}))
@PROPS
@given(data=st.data())
def test_latency_monotone_in_total_bandwidth(name, data):
    """More Hz in network.bandwidth_hz (every device's band, or every subchannel, widens)."""
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn))
    factors = np.linspace(1.0, 1.5, 6)
    lat, per_dev = [], []
    for f in factors:
        wide = scn.with_overrides({"network.bandwidth_hz": scn.network.bandwidth_hz * f})
        dd = dict(d)
        if "bandwidth_hz" in dd:  # continuous allocation: every device's b_n scales too
            dd["bandwidth_hz"] = d["bandwidth_hz"] * f
        ev = evaluate(wide, state, dd)
        lat.append(ev.latency_s[0])
        per_dev.append(ev.per_device["round_s"][0])
    for i in range(1, len(factors)):
        assert_not_higher(
            per_dev[i], per_dev[i - 1], f"{name}: B x {factors[i - 1]} -> x {factors[i]}"
        )
        assert_not_higher(lat[i], lat[i - 1], f"{name}: B x {factors[i - 1]} -> x {factors[i]}")


@pytest.mark.parametrize("name", presets(having="power_w"))
@PROPS
@given(data=st.data())
def test_latency_monotone_in_transmit_power(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn, slack=0.3))
    net = scn.network
    k = data.draw(st.integers(0, scn.n_devices - 1))
    room = min(net.device_power_w - d["power_w"][k], net.total_power_w - d["power_w"].sum())
    assume(room > 0)
    more = dict(d, power_w=d["power_w"].copy())
    more["power_w"][k] += data.draw(st.floats(0.01, 1.0)) * room
    ev = pair(scn, state, d, more)
    assert not ev.violations["device_power"].any()
    assert not ev.violations["total_power"].any()
    assert_not_higher(ev.latency_s[1], ev.latency_s[0], f"{name}: +power to device {k}")
    assert_not_higher(ev.per_device["round_s"][1], ev.per_device["round_s"][0], "per-device round")
    rates = ev.per_device["uplink_rate_bps"]
    assert rates[1, k] >= rates[0, k]
    if net.rate_model == "shannon":  # every device holds band here (allow_zero=False)
        assert rates[1, k] > rates[0, k]


@pytest.mark.parametrize("name", presets())
@PROPS
@given(data=st.data())
def test_latency_monotone_in_power_limits(name, data):
    """Higher network.device_power_dbm / edge_power_dbm (the default powers where power is not
    a decision; only the limit where it is) never raise the latency."""
    scn = _SCN[name]
    net = scn.network
    state = data.draw(states(scn))
    d = data.draw(decisions(scn))
    key = data.draw(st.sampled_from(["network.device_power_dbm", "network.edge_power_dbm"]))
    base = net.device_power_dbm if key == "network.device_power_dbm" else net.edge_power_dbm
    up = data.draw(st.floats(0.1, min(20.0, 60.0 - base)))
    stronger = scn.with_overrides({key: base + up})
    before = evaluate(scn, state, d)
    after = evaluate(stronger, state, d)
    assert_not_higher(after.latency_s, before.latency_s, f"{name}: {key} + {up} dB")
    assert_not_higher(after.per_device["round_s"], before.per_device["round_s"], "per-device round")
    which = "uplink_rate_bps" if key == "network.device_power_dbm" else "downlink_rate_bps"
    assert np.all(after.per_device[which] >= before.per_device[which])
    if (
        "power_w" not in enabled_fields(scn)
        and key == "network.device_power_dbm"
        and net.rate_model == "shannon"
    ):
        # the default decision transmits at the (raised) limit: every linked device gets faster
        linked = before.per_device[which] > 0
        assert np.all(after.per_device[which][linked] > before.per_device[which][linked])


@pytest.mark.parametrize("name", presets(having="fed_power_w"))
@PROPS
@given(data=st.data())
def test_latency_monotone_in_fed_power(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn, slack=0.3))
    net = scn.network
    k = data.draw(st.integers(0, scn.n_devices - 1))
    room = min(net.device_power_w - d["fed_power_w"][k], net.total_power_w - d["fed_power_w"].sum())
    assume(room > 0)
    more = dict(d, fed_power_w=d["fed_power_w"].copy())
    more["fed_power_w"][k] += data.draw(st.floats(0.01, 1.0)) * room
    ev = pair(scn, state, d, more)
    assert_not_higher(ev.latency_s[1], ev.latency_s[0], f"{name}: +fed power to device {k}")
    assert ev.per_device["adapter_s"][1, k] < ev.per_device["adapter_s"][0, k]


@pytest.mark.parametrize("name", presets())
@PROPS
@given(data=st.data())
def test_latency_monotone_in_device_flops(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn))
    k = data.draw(st.integers(0, scn.n_devices - 1))
    flops = state.device_flops.copy()
    flops[k] *= data.draw(st.floats(1.01, 100.0))
    faster = state.replace(device_flops=flops)
    before = evaluate(scn, state, d)
    after = evaluate(scn, faster, d)
    assert_not_higher(after.latency_s, before.latency_s, f"{name}: faster device {k}")
    assert_not_higher(after.per_device["round_s"], before.per_device["round_s"], "per-device round")
    dc = before.per_device["device_compute_s"][0, k]
    assert after.per_device["device_compute_s"][0, k] < dc or dc == 0


@pytest.mark.parametrize("name", presets())
@PROPS
@given(data=st.data())
def test_latency_monotone_in_edge_flops(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn))
    factor = data.draw(st.floats(1.01, 100.0))
    faster = scn.with_overrides({"compute.edge_flops": scn.compute.edge_flops * factor})
    before = evaluate(scn, state, d)
    after = evaluate(faster, state, d)
    assert_not_higher(after.latency_s, before.latency_s, f"{name}: edge x {factor}")
    assert_not_higher(after.per_device["round_s"], before.per_device["round_s"], "per-device round")
    if not scn.compute.has_frequency_control:  # CARD's server speed is f_s delta sigma instead
        srv = before.per_device["server_compute_s"]
        assert np.all((after.per_device["server_compute_s"] < srv) | (srv == 0) | np.isinf(srv))


@pytest.mark.parametrize("name", presets(having="compute_share"))
@PROPS
@given(data=st.data())
def test_latency_monotone_in_compute_share(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn, slack=0.25))
    room = 1.0 - float(d["compute_share"].sum())
    k = data.draw(st.integers(0, scn.n_devices - 1))
    more = dict(d, compute_share=d["compute_share"].copy())
    more["compute_share"][k] += data.draw(st.floats(0.01, 1.0)) * room
    ev = pair(scn, state, d, more)
    assert not ev.violations["compute_share"].any()
    assert_not_higher(ev.latency_s[1], ev.latency_s[0], f"{name}: +share to device {k}")
    srv = ev.per_device["server_compute_s"]
    assert srv[1, k] < srv[0, k]


@pytest.mark.parametrize("name", presets(having="server_freq_hz"))
@PROPS
@given(data=st.data())
def test_latency_monotone_in_server_frequency(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn, slack=0.25))
    f_hi = scn.compute.server_freq_hz[1]
    k = data.draw(st.integers(0, scn.n_devices - 1))
    more = dict(d, server_freq_hz=d["server_freq_hz"].copy())
    more["server_freq_hz"][k] += data.draw(st.floats(0.01, 1.0)) * (f_hi - d["server_freq_hz"][k])
    ev = pair(scn, state, d, more)
    assert_not_higher(ev.latency_s[1], ev.latency_s[0], f"{name}: faster server for device {k}")
    srv = ev.per_device["server_compute_s"]
    assert srv[1, k] < srv[0, k]


# --------------------------------------------------------------------------------------
# signs
# --------------------------------------------------------------------------------------


def _no_link(scn: se.Scenario, state: se.State, d: dict, k: int) -> tuple[se.State, dict]:
    """State and decision with device k's link cut: zero channel gain, and zero power / band
    where those are decisions (the fixed-SNR model of SFT ignores the gain, not the band)."""
    gain = state.channel_gain.copy()
    gain[k] = 0.0
    out = dict(d)
    for name in ("power_w", "subchannels", "bandwidth_hz"):
        if name in out:
            out[name] = out[name].copy()
            out[name][k] = 0
    return state.replace(channel_gain=gain), out


def _with_no_link(scn: se.Scenario, state: se.State, d: dict, k: int):
    """Evaluations of ``d`` and of its no-link variant (in that order)."""
    a = evaluate(scn, state, d)
    b = evaluate(scn, *_no_link(scn, state, d, k))
    return a, b


def _check_signs(arrays: dict[str, np.ndarray], where: str) -> None:
    for key, v in arrays.items():
        v = np.asarray(v, dtype=np.float64)
        assert not np.isnan(v).any(), f"{where}[{key!r}] has NaN: {v}"
        assert (v >= 0).all(), f"{where}[{key!r}] is negative: {v}"


@pytest.mark.parametrize("name", presets())
@PROPS
@given(data=st.data())
def test_per_device_terms_and_energy_nonnegative(name, data):
    """Every per-device term, latency, objective and energy is >= 0 or +inf, never NaN.

    Each example evaluates a decision (allocations may be 0) and the same decision with
    one device's link cut, which must make that device's uplink, and the latency, +inf.
    """
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn, allow_zero=True))
    k = data.draw(st.integers(0, scn.n_devices - 1))
    for ev in _with_no_link(scn, state, d, k):
        _check_signs(ev.per_device, "per_device")
        _check_signs(
            {"latency_s": ev.latency_s, "objective": ev.objective, "energy_j": ev.energy_j},
            "evaluation",
        )
        assert np.isfinite(ev.energy_j).all()
    assert np.isinf(ev.per_device["uplink_s"][0, k])
    assert ev.per_device["uplink_rate_bps"][0, k] == 0
    assert np.isinf(ev.latency_s[0])
    assert not ev.feasible[0]


@pytest.mark.parametrize("name", presets())
@PROPS
@given(data=st.data())
def test_scalar_terms_nonnegative(name, data):
    """Every scalar term and violation is >= 0 or +inf, never NaN (also without a link)."""
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn, allow_zero=True))
    k = data.draw(st.integers(0, scn.n_devices - 1))
    for ev in _with_no_link(scn, state, d, k):
        _check_signs(ev.violations, "violations")
        for key in ev.violations:
            assert np.isfinite(ev.violations[key]).all(), key
        _check_signs(ev.terms, "terms")
        assert (ev.terms["rounds"] >= 1).all()
    assert np.isinf(ev.terms["total_s"][0]) and np.isinf(ev.terms["round_s"][0])


@pytest.mark.parametrize("name", presets())
@PROPS
@given(data=st.data())
def test_feasible_means_no_violation_and_finite(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    d = data.draw(decisions(scn, allow_zero=True))
    ev = evaluate(scn, state, d)
    expect = np.isfinite(ev.latency_s) & np.all([v == 0 for v in ev.violations.values()], axis=0)
    assert (ev.feasible == expect).all()
    # inside every budget, only memory (and accuracy) constraints can be violated
    budget_keys = set(ev.violations) - {"device_memory", "edge_memory", "accuracy"}
    for key in budget_keys:
        assert (ev.violations[key] == 0).all(), (key, ev.violations[key])


# --------------------------------------------------------------------------------------
# budgets: reported with the exact excess, never clipped
# --------------------------------------------------------------------------------------


def _independent_rate(
    scn: se.Scenario, width: float, gain: float, power: float, n0: float
) -> float:
    """The uplink rate formula of SPEC Sec. 3 written out again (Shannon or fixed SNR)."""
    net = scn.network
    if width == 0:
        return 0.0
    if net.rate_model == "fixed_snr":
        return width * math.log2(1 + 10 ** (net.fixed_snr_db / 10))
    assert net.rate_model == "shannon"
    return width * math.log2(1 + gain * power / (n0 * width))


def _overrun_kinds(scn: se.Scenario) -> list[str]:
    fields = enabled_fields(scn)
    kinds = ["device_power"] if "power_w" in fields else []
    if "subchannels" in fields:
        kinds.append("subchannels")
    if "fed_subchannels" in fields:
        kinds.append("fed_subchannels")
    if "bandwidth_hz" in fields:
        kinds.append("bandwidth")
    if "compute_share" in fields:
        kinds.append("compute_share")
    if "power_w" in fields and math.isfinite(scn.network.total_power_w):
        kinds.append("total_power")
    return kinds


def _dbm(watt: float) -> float:
    return 10 * math.log10(watt * 1e3)


@pytest.mark.parametrize("name", [n for n in SCENARIOS if _overrun_kinds(_SCN[n])])
@PROPS
@given(data=st.data())
def test_over_allocation_reported_exactly_and_not_clipped(name, data):
    scn = _SCN[name]
    net, n = scn.network, scn.n_devices
    state = data.draw(states(scn, with_prev_split=False))
    d = data.draw(decisions(scn))
    kind = data.draw(st.sampled_from(_overrun_kinds(scn)))
    k = data.draw(st.integers(0, n - 1))
    over = {key: (v.copy() if isinstance(v, np.ndarray) else v) for key, v in d.items()}
    relaxed = None  # a scenario whose budget covers the over-allocation, same numbers otherwise

    if kind == "subchannels":
        K = net.n_subchannels
        over["subchannels"][k] += K - int(d["subchannels"].sum()) + data.draw(st.integers(1, 2 * K))
        used = int(over["subchannels"].sum())
        expected = float(used - K)
        relaxed = scn.with_overrides(
            {"network.n_subchannels": used, "network.bandwidth_hz": net.subchannel_hz * used}
        )
    elif kind == "fed_subchannels":
        K = net.fed_n_subchannels
        over["fed_subchannels"][k] += (
            K - int(d["fed_subchannels"].sum()) + data.draw(st.integers(1, 2 * K))
        )
        used = int(over["fed_subchannels"].sum())
        expected = float(used - K)
        relaxed = scn.with_overrides(
            {
                "network.fed_n_subchannels": used,
                "network.fed_bandwidth_hz": net.fed_subchannel_hz * used,
            }
        )
    elif kind == "bandwidth":
        B = net.bandwidth_hz
        over["bandwidth_hz"][k] += B - d["bandwidth_hz"].sum() + data.draw(st.floats(1e-6, 2.0)) * B
        expected = over["bandwidth_hz"].sum() - B
    elif kind == "compute_share":
        w = np.asarray(data.draw(st.lists(st.floats(0.5, 1.0), min_size=n, max_size=n)))
        t = data.draw(st.floats(1.0 + 1e-6, 2.0))
        over["compute_share"] = w / w.sum() * t
        assert over["compute_share"].max() <= 1.0
        expected = over["compute_share"].sum() - 1.0
    elif kind == "device_power":
        over["power_w"][k] = net.device_power_w * (1 + data.draw(st.floats(1e-6, 10.0)))
        expected = over["power_w"][k] - net.device_power_w
        relaxed = scn.with_overrides({"network.device_power_dbm": _dbm(over["power_w"][k]) + 1e-9})
    else:  # total_power: every device within its own limit, the sum above the budget
        lo = net.total_power_w / n * (1 + 1e-6)
        fr = data.draw(st.lists(st.floats(lo / net.device_power_w, 1.0), min_size=n, max_size=n))
        over["power_w"] = np.asarray(fr) * net.device_power_w
        assert over["power_w"].max() <= net.device_power_w
        expected = over["power_w"].sum() - net.total_power_w
        relaxed = scn.with_overrides(
            {"network.total_power_dbm": _dbm(over["power_w"].sum()) + 1e-9}
        )

    assert expected > 0
    ev = pair(scn, state, d, over)
    got = ev.violations[kind]
    assert got[0] == 0
    assert got[1] == pytest.approx(expected, rel=1e-12, abs=0), (
        f"{kind}: reported {got[1]}, excess {expected}"
    )
    assert not ev.feasible[1]

    # not clipped: the rates and server times use the over-allocated numbers
    rate = ev.per_device["uplink_rate_bps"][1]
    # where power is not a decision, every device transmits at min(P_max, P_total / N)
    power = over.get("power_w", np.full(n, min(net.device_power_w, net.total_power_w / n)))
    if (
        kind in ("subchannels", "bandwidth", "device_power", "total_power")
        and net.rate_model != "cqi"
    ):
        for j in range(n):
            if net.allocation == "subchannels":
                width = over["subchannels"][j] * net.subchannel_hz
            elif net.allocation == "continuous":
                width = over["bandwidth_hz"][j]
            else:
                width = net.bandwidth_hz
            want = _independent_rate(
                scn, width, state.channel_gain[j], power[j], state.noise_psd_w_hz[j]
            )
            assert rate[j] == pytest.approx(want, rel=1e-12), f"device {j}"
    if kind in ("subchannels", "bandwidth"):
        assert rate[k] > ev.per_device["uplink_rate_bps"][0, k]
    if kind == "compute_share":
        srv = ev.per_device["server_compute_s"]
        # alpha_n C_e with the given alpha_n: time x share is the same work for both decisions
        np.testing.assert_allclose(
            srv[1] * over["compute_share"], srv[0] * d["compute_share"], rtol=1e-12
        )
    if relaxed is not None:
        ok = evaluate(relaxed, state, over)
        assert ok.violations[kind][0] == 0
        assert ok.latency_s[0] == pytest.approx(ev.latency_s[1], rel=1e-12)
        np.testing.assert_allclose(
            ok.per_device["chain_s"][0], ev.per_device["chain_s"][1], rtol=1e-12
        )


# --------------------------------------------------------------------------------------
# batch consistency
# --------------------------------------------------------------------------------------


def _bitwise_equal(a, b, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, b.dtype, a.shape, b.shape)
    assert a.tobytes() == b.tobytes(), f"{what}: batched {a} != single {b}"


@pytest.mark.parametrize("name", presets())
@PROPS
@given(data=st.data())
def test_batch_equals_separate_calls_bitwise(name, data):
    scn = _SCN[name]
    state = data.draw(states(scn))
    B = data.draw(st.integers(2, 4))
    decs = [data.draw(decisions(scn, allow_zero=data.draw(st.booleans()))) for _ in range(B)]
    batch = evaluate_batch(scn, state, stack(*decs))
    assert batch.batch_size == B
    for i, d in enumerate(decs):
        one = evaluate(scn, state, d)
        assert one.batch_size == 1
        for attr in ("latency_s", "energy_j", "objective", "feasible"):
            _bitwise_equal(getattr(batch, attr)[i : i + 1], getattr(one, attr), attr)
        for group in ("violations", "terms", "per_device"):
            many, single = getattr(batch, group), getattr(one, group)
            assert set(many) == set(single), group
            for key in single:
                _bitwise_equal(many[key][i : i + 1], single[key], f"{group}[{key!r}]")
        for field_name in (
            "split",
            "edge_split",
            "rank",
            "subchannels",
            "bandwidth_hz",
            "power_w",
            "fed_subchannels",
            "fed_power_w",
            "compute_share",
            "server_freq_hz",
            "keep_ratio",
            "quant_bits",
        ):
            many, single = getattr(batch.decision, field_name), getattr(one.decision, field_name)
            assert (many is None) == (single is None), field_name
            if single is not None:
                _bitwise_equal(many[i : i + 1], single, f"decision.{field_name}")


def test_block_costs_cached_per_scenario():
    """Sanity for the override-based tests: a changed scenario gets its own constants."""
    scn = _SCN["scct"]
    other = scn.with_overrides({"workload.batch_size": scn.workload.batch_size * 2})
    assert block_costs(other).activation_values == 2 * block_costs(scn).activation_values
