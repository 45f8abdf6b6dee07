"""Seeded state sampling and the JSON round trips of State and Decision."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import splitenv as se
from splitenv.model import Decision, State, complete, enabled_fields
from splitenv.model.types import DECISION_FIELDS

SCENARIOS = se.list_scenarios()
_SCN = {name: se.load_scenario(name) for name in SCENARIOS}
ROOT = Path(__file__).resolve().parents[1]

STATIC_FIELDS = ("device_memory_bytes", "distance_m", "data_size", "edge_of")
ARRAY_FIELDS = tuple(
    f.name for f in dataclasses.fields(State) if f.name not in ("round_index", "epoch_index")
)


def state_digest(state: State) -> str:
    """SHA-256 of the state's JSON (floats are written with repr: bit-exact)."""
    return hashlib.sha256(json.dumps(state.to_dict(), sort_keys=True).encode()).hexdigest()


def assert_states_identical(a: State, b: State) -> None:
    for name in ARRAY_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), f"state.{name}: {x} != {y}"
    assert (a.round_index, a.epoch_index) == (b.round_index, b.epoch_index)


def differing_fields(a: State, b: State) -> set[str]:
    return {n for n in ARRAY_FIELDS if getattr(a, n).tobytes() != getattr(b, n).tobytes()}


# --------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_same_seed_same_state_in_process(name):
    scn = _SCN[name]
    for seed in (0, 1, 12345, 2**31 + 7):
        for r, t in ((0, 0), (2, 3)):
            a = se.StateSampler(scn, seed).state(r, t)
            b = se.StateSampler(scn, seed).state(r, t)
            c = se.sample_state(scn, seed, r, t)
            d = se.sample_state(se.load_scenario(name), seed, r, t)  # a separately loaded scenario
            for other in (b, c, d):
                assert_states_identical(a, other)
            assert state_digest(a) == state_digest(c)
            assert a.n_devices == scn.n_devices
            assert a.round_index == r and a.epoch_index == t


_CHILD = textwrap.dedent(
    """
    import hashlib, json, sys
    import splitenv as se
    out = {}
    for name in sys.argv[1].split(","):
        scn = se.load_scenario(name)
        for seed, r, t in ((0, 0, 0), (7, 2, 3)):
            st = se.sample_state(scn, seed, r, t)
            text = json.dumps(st.to_dict(), sort_keys=True)
            out[f"{name}/{seed}/{r}/{t}"] = hashlib.sha256(text.encode()).hexdigest()
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def child_digests() -> dict[str, str]:
    """Digests computed by a fresh interpreter (different hash seed, different cwd)."""
    env = dict(os.environ, PYTHONHASHSEED="12345")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, ",".join(SCENARIOS)],
        capture_output=True, text=True, env=env, cwd=ROOT / "tests", timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", SCENARIOS)
def test_same_seed_same_state_across_processes(name, child_digests):
    scn = _SCN[name]
    for seed, r, t in ((0, 0, 0), (7, 2, 3)):
        here = state_digest(se.sample_state(scn, seed, r, t))
        assert child_digests[f"{name}/{seed}/{r}/{t}"] == here


@pytest.mark.parametrize("name", SCENARIOS)
def test_different_seeds_differ(name):
    scn = _SCN[name]
    states = [se.sample_state(scn, seed) for seed in range(6)]
    digests = {state_digest(s) for s in states}
    assert len(digests) == len(states)
    for a, b in itertools.pairwise(states):
        assert differing_fields(a, b), "two seeds gave the same state"


@pytest.mark.parametrize("name", SCENARIOS)
def test_state_independent_of_call_order(name):
    scn = _SCN[name]
    keys = [(0, 0), (0, 1), (1, 0), (3, 2), (0, 0), (5, 9)]
    forward = se.StateSampler(scn, 99)
    first = {k: forward.state(*k) for k in keys}
    backward = se.StateSampler(scn, 99)
    second = {k: backward.state(*k) for k in reversed(keys)}
    for k in keys:
        assert_states_identical(first[k], second[k])
        assert_states_identical(
            first[k], se.StateSampler(scn, 99).state(*k)
        )  # fresh, nothing before
    # a trace is the same states again
    trace = se.StateSampler(scn, 99).trace(2, 3)
    assert len(trace) == 2 and all(len(row) == 3 for row in trace)
    assert_states_identical(trace[1][2], forward.state(1, 2))
    assert_states_identical(trace[0][1], first[(0, 1)])


# --------------------------------------------------------------------------------------
# what changes when
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_statics_fixed_over_an_episode(name):
    scn = _SCN[name]
    sampler = se.StateSampler(scn, 4)
    ref = sampler.state(0, 0)
    for r, t in ((0, 1), (1, 0), (4, 7)):
        s = sampler.state(r, t)
        for field in STATIC_FIELDS:
            assert getattr(s, field).tobytes() == getattr(ref, field).tobytes(), field
    # without fading, the gains depend on the statics only
    if scn.network.fading == "none":
        assert_gain_fixed = sampler.state(3, 5)
        assert assert_gain_fixed.channel_gain.tobytes() == ref.channel_gain.tobytes()
        assert assert_gain_fixed.fed_channel_gain.tobytes() == ref.fed_channel_gain.tobytes()
    # fixed per-device compute levels (CARD Table I) never change
    if scn.compute.device_flops_levels:
        assert sampler.state(2, 1).device_flops.tobytes() == ref.device_flops.tobytes()


@pytest.mark.parametrize("name", [n for n in SCENARIOS if _SCN[n].network.fading == "rayleigh"])
def test_fading_changes_every_epoch(name):
    sampler = se.StateSampler(_SCN[name], 4)
    a, b, c = sampler.state(0, 0), sampler.state(0, 1), sampler.state(1, 0)
    for x, y in ((a, b), (a, c), (b, c)):
        assert np.all(x.channel_gain != y.channel_gain)  # every device's fading is redrawn
    # the path loss and shadowing part is the same: the mean over many epochs is stable
    # and the ratio of gains between two epochs is a ratio of Exp(1) draws only
    ratio = a.channel_gain / b.channel_gain
    assert np.all(np.isfinite(ratio)) and np.all(ratio > 0)


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in SCENARIOS
        if not _SCN[n].compute.device_flops_levels
        and _SCN[n].compute.device_flops[0] < _SCN[n].compute.device_flops[1]
    ],
)
def test_device_compute_changes_every_epoch_within_range(name):
    scn = _SCN[name]
    lo, hi = scn.compute.device_flops
    sampler = se.StateSampler(scn, 4)
    states = [sampler.state(r, t) for r in range(2) for t in range(3)]
    for s in states:
        assert np.all((s.device_flops >= lo) & (s.device_flops <= hi))
    for x, y in itertools.pairwise(states):
        assert np.all(x.device_flops != y.device_flops)


@pytest.mark.parametrize("name", [n for n in SCENARIOS if _SCN[n].network.noise_states_dbm_hz])
def test_channel_state_changes_per_round_not_per_epoch(name):
    """CARD: the good / normal / poor noise state is drawn per round."""
    scn = _SCN[name]
    allowed = {10 ** (x / 10) / 1e3 for x in scn.network.noise_states_dbm_hz}
    sampler = se.StateSampler(scn, 4)
    rounds = []
    for r in range(6):
        epochs = [sampler.state(r, t).noise_psd_w_hz for t in range(3)]
        assert all(e.tobytes() == epochs[0].tobytes() for e in epochs)
        for x in epochs[0]:
            assert any(np.isclose(x, a, rtol=1e-12, atol=0) for a in allowed), x
        rounds.append(epochs[0].tobytes())
    assert len(set(rounds)) > 1


@pytest.mark.parametrize("name", SCENARIOS)
def test_sampled_state_fits_its_scenario(name):
    scn = _SCN[name]
    s = se.sample_state(scn, 3, 1, 2)
    s.check(scn)
    assert s.n_devices == scn.n_devices
    assert np.all(s.prev_split == -1)
    assert np.all(s.edge_of == np.arange(scn.n_devices) % scn.network.n_edge_servers)
    m_lo, m_hi = scn.memory.device_memory_bytes
    if scn.devices.enabled:  # classes replace the range: device n has class n mod K's memory
        want = np.asarray(scn.devices.memory_bytes)[np.arange(scn.n_devices) % len(scn.devices.names)]
        np.testing.assert_array_equal(s.device_memory_bytes, want)
    else:
        assert np.all((s.device_memory_bytes >= m_lo) & (s.device_memory_bytes <= m_hi))
    d_lo, d_hi = scn.workload.samples_per_device
    assert np.all((s.data_size >= max(np.floor(d_lo), 1)) & (s.data_size <= d_hi + 1))
    assert np.all(s.channel_gain > 0)
    se.evaluate(scn, s)  # usable as is


# --------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_state_json_round_trip_exact(name):
    scn = _SCN[name]
    hi = scn.decision.split_range[1]
    for s in (
        se.sample_state(scn, 0),
        se.sample_state(scn, 2**32 - 1, 3, 4),
        se.sample_state(scn, 5).replace(prev_split=np.full(scn.n_devices, hi)),
        se.sample_state(scn, 6).replace(
            device_flops=np.full(scn.n_devices, 1 / 3), channel_gain=np.full(scn.n_devices, 5e-324)
        ),
    ):
        text = json.dumps(s.to_dict())
        back = State.from_dict(json.loads(text))
        assert_states_identical(s, back)
        assert back.edge_of.dtype == np.int64 and back.prev_split.dtype == np.int64
        assert json.dumps(back.to_dict()) == text
        # the round-tripped state evaluates identically
        a, b = se.evaluate(scn, s), se.evaluate(scn, back)
        assert a.latency_s.tobytes() == b.latency_s.tobytes()


def test_state_is_read_only():
    s = se.sample_state(_SCN["scct"], 0)
    with pytest.raises(ValueError):
        s.channel_gain[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.round_index = 3  # type: ignore[misc]


def test_state_does_not_alias_its_input():
    gains = np.ones(10)
    view = gains[:]
    s = se.sample_state(_SCN["scct"], 0).replace(channel_gain=gains)
    assert gains.flags.writeable, "State made the caller's array read-only"
    view[0] = 7.0
    assert s.channel_gain[0] == 1.0, "writing the caller's array changed the state"


@st.composite
def raw_decisions(draw, scn: se.Scenario) -> dict:
    """A valid decision with a random subset of the exposed fields, as plain numpy values."""
    c = complete(scn, None).to_dict()  # every exposed field at its default (valid) value
    fields = [f for f in enabled_fields(scn) if f in c]
    keep = draw(st.lists(st.sampled_from(fields), unique=True)) if fields else []
    out = {}
    lo, hi = scn.decision.split_range
    for f in keep:
        v = np.asarray(c[f])
        if f == "split":
            if scn.decision.shared_split:
                v = np.full(v.shape, draw(st.integers(lo, hi)))
            else:
                v = np.asarray(
                    draw(st.lists(st.integers(lo, hi), min_size=v.size, max_size=v.size))
                )
            if "edge_split" in fields:
                keep_edge = np.asarray(c["edge_split"])
                if np.any(keep_edge < v):
                    v = np.minimum(v, keep_edge)
        elif v.dtype.kind == "f" and v.ndim == 1:
            v = v * np.asarray(
                draw(st.lists(st.floats(0.0, 1.0), min_size=v.size, max_size=v.size))
            )
            if f == "server_freq_hz":
                f_lo, f_hi = scn.compute.server_freq_hz
                v = np.clip(v, f_lo, f_hi)
        out[f] = v
    return out


def _decision_arrays(d: Decision) -> dict:
    return {
        f: None if getattr(d, f) is None else np.asarray(getattr(d, f)) for f in DECISION_FIELDS
    }


def _assert_decisions_identical(a: Decision, b: Decision) -> None:
    assert a.batch_size == b.batch_size
    for f, x in _decision_arrays(a).items():
        y = getattr(b, f)
        assert (x is None) == (y is None), f
        if x is not None:
            y = np.asarray(y)
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), f


@pytest.mark.parametrize("name", SCENARIOS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_decision_json_round_trip(name, data):
    """A user's decision -> to_dict -> JSON -> from_dict is the same decision."""
    scn = _SCN[name]
    raw = data.draw(raw_decisions(scn))
    d = Decision(**raw)
    text = json.dumps(d.to_dict())
    back = Decision.from_dict(json.loads(text))
    assert set(back.to_dict()) == set(raw)
    assert json.dumps(back.to_dict()) == text
    _assert_decisions_identical(complete(scn, d), complete(scn, back))
    state = se.sample_state(scn, 0)
    assert (
        se.evaluate(scn, state, d).latency_s.tobytes()
        == se.evaluate(scn, state, back).latency_s.tobytes()
    )


@pytest.mark.parametrize("name", SCENARIOS)
def test_batched_decision_json_round_trip(name):
    scn = _SCN[name]
    lo, hi = scn.decision.split_range
    split = np.repeat(np.arange(lo, min(hi, lo + 2) + 1)[:, None], scn.n_devices, axis=1)
    d = Decision(split=split, batch_size=split.shape[0])
    back = Decision.from_dict(json.loads(json.dumps(d.to_dict())))
    assert np.asarray(back.split).shape == split.shape
    assert np.array_equal(back.split, split)
    state = se.sample_state(scn, 1)
    a, b = se.evaluate_batch(scn, state, d), se.evaluate_batch(scn, state, back)
    assert a.batch_size == b.batch_size == split.shape[0]
    assert a.latency_s.tobytes() == b.latency_s.tobytes()


@pytest.mark.parametrize("name", SCENARIOS)
def test_completed_decision_round_trip(name):
    """What an evaluation reports as its decision can be saved and evaluated again."""
    scn = _SCN[name]
    state = se.sample_state(scn, 0)
    ev = se.evaluate(scn, state)
    saved = json.loads(json.dumps(ev.item()["decision"]))
    again = se.evaluate(scn, state, Decision.from_dict(saved))
    assert again.latency_s.tobytes() == ev.latency_s.tobytes()
    _assert_decisions_identical(again.decision, ev.decision)
    back = Decision.from_dict(json.loads(json.dumps(ev.decision.to_dict())))
    _assert_decisions_identical(complete(scn, back), ev.decision)


def test_decision_from_dict_rejects_unknown_field():
    with pytest.raises(se.DecisionError, match=r"unknown decision field 'splitt'"):
        Decision.from_dict({"splitt": [1]})


def test_sft_preset_carries_the_shipped_calibration_fit():
    """configs/sft.yaml's A(rho, q) is the fit of configs/calibration/sft.json, refit from its runs."""
    pytest.importorskip("torch")  # splitenv.training.calibrate imports the trainer
    from splitenv.model.accuracy import sft_cubic
    from splitenv.training.calibrate import fit_sft
    from splitenv.training.providers import calibration_file

    record = json.loads(calibration_file("sft").read_text())
    scn = se.load_scenario("sft")
    assert list(scn.accuracy.cubic_coeffs) == record["fit"]["coeffs"]  # bit for bit
    assert scn.accuracy.threshold == 0.0 and scn.version == 1
    refit = fit_sft(record["runs"], record["default_cut"])
    np.testing.assert_allclose(refit["coeffs"], record["fit"]["coeffs"], rtol=1e-9, atol=1e-12)
    assert refit["mse"] == pytest.approx(record["fit"]["mse"], rel=1e-9)
    assert record["seeds"] == [0, 1, 2] and len(record["runs"]) == 3 * 33
    # inside the preset's decision range the fit is an accuracy (0.23 .. 0.85)
    rho = np.linspace(*scn.compression.keep_ratio_range, 96)[:, None]
    q = np.arange(scn.compression.quant_bits_range[0], scn.compression.quant_bits_range[1] + 1)
    values = sft_cubic(scn.accuracy.cubic_coeffs, rho, q[None, :])
    assert 0.2 < values.min() and values.max() < 0.86
    # no constraint: the engine reports no accuracy violation at any compression
    state = se.StateSampler(scn, 0).state()
    for keep, bits in ((0.05, 1), (0.2, 3), (1.0, 8)):
        ev = se.evaluate(scn, state, se.Decision(keep_ratio=[keep], quant_bits=[bits]))
        assert bool(ev.feasible[0]), (keep, bits)
