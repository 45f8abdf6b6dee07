"""Property tests of the cost engine over every preset.

Decisions and states are drawn as in :mod:`tests.model.properties`; monotonicity is in
``test_monotonicity``.

* signs: every per-device term, scalar term and energy is >= 0 (or +inf, never NaN);
* budgets: over-allocation is reported with its exact excess, never clipped;
* batching: ``evaluate_batch`` over B decisions is bitwise equal to B ``evaluate`` calls.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import splitenv as se
from splitenv.model import block_costs, enabled_fields, evaluate, evaluate_batch
from tests.model.properties import (
    _SCN,
    PROPS,
    SCENARIOS,
    decisions,
    pair,
    presets,
    stack,
    states,
)


def test_all_five_papers_are_presets():
    assert {"card", "fedsllm", "scct", "sft", "splitllm"} <= set(SCENARIOS)


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
