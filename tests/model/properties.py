"""Shared pieces of the engine's property tests (``test_properties``, ``test_monotonicity``).

States come from ``splitenv.sample_state``; decisions are drawn inside the valid domain of each
preset (splits in ``decision.split_range``, ranks from ``workload.rank_choices``, subchannel
counts / bandwidths / powers / shares / frequencies within their budgets); the tests perturb
them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import splitenv as se
from splitenv.model import Decision, enabled_fields, evaluate_batch

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
