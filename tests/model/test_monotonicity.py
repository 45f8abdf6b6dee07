"""Monotonicity of the cost engine over every preset.

Giving a device more band, power or compute never raises the latency (decisions and states
drawn as in :mod:`tests.model.properties`).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from splitenv.model import enabled_fields, evaluate
from tests.model.properties import (
    _SCN,
    PROPS,
    assert_not_higher,
    decisions,
    pair,
    presets,
    states,
)

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
