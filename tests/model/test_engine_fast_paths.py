"""The engine's cheap paths for few-row batches equal the paths they stand for, bit for bit.

Each shortcut of the engine's calling convention is compared with what it replaces:

* ``safe_div``, ``link_rate`` and the budget excess skip their masked operations when no entry
  needs masking (every denominator > 0, every band > 0, no budget exceeded): compared with the
  masked formulation on random arrays holding zeros, negatives, -0.0, NaN and inf;
* the whole engine takes those paths batch by batch, so a batch whose rows mix both kinds
  (a device without band, an unchanged split, a broken budget) is compared row by row with
  one-row calls of the rows (each taking its own path), on random states and decisions of
  every preset;
* terms that no decision changes (fixed wire bits, rounds, zero energy) are built once per batch
  size (``per_batch``): compared with a fresh scenario's first evaluation, and read-only;
* ``link_rates`` (a device's up- and downlink over one band) and ``round_latency`` (the round
  without the per-device round) equal ``link_rate`` per power and ``compose_round``'s round;
* records built without their frozen dataclass ``__init__`` (``record``, ``Decision.replace``,
  ``Decision.take``, ``State.trusted``) equal the constructed ones.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import splitenv as se
from splitenv.model import Decision, State, StateBatch, evaluate_batch
from splitenv.model.channel import link_rate, link_rates
from splitenv.model.constraints import BUDGET_RTOL, _excess
from splitenv.model.decision import DECISION_FIELDS
from splitenv.model.engine import Evaluation, split_grid
from splitenv.model.phases import per_batch, safe_div
from splitenv.model.records import record
from splitenv.model.schedule import EpochPart, compose_round, round_latency
from splitenv.model.validation import assemble
from splitenv.scenarios import StateSampler, load_scenario

SCENARIOS = se.list_scenarios()


def _same(a, b, where=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (where, a.dtype, b.dtype, a.shape, b.shape)
    np.testing.assert_array_equal(a, b, err_msg=where)
    if a.dtype.kind == "f":  # the sign of zero too
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b), err_msg=where)


def _nasty(rng, shape, p_special=0.3):
    """Random floats with zeros, -0.0, negatives, NaN and inf mixed in (with probability)."""
    x = rng.uniform(0.01, 10.0, shape)
    specials = np.array([0.0, -0.0, -1.5, np.nan, np.inf, -np.inf, 1e-320])
    mask = rng.random(shape) < p_special
    x[mask] = rng.choice(specials, size=int(mask.sum()))
    return x


def _masked_div(num, den):
    """safe_div's masked formulation: inf where den <= 0 (or NaN), 0 where num == 0."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.inf)
    np.divide(num, den, out=out, where=den > 0)
    np.copyto(out, 0.0, where=num == 0)
    return out


@pytest.mark.parametrize("model", ["shannon", "cqi", "fixed_snr"])
def test_link_rates_are_link_rate_per_power(model):
    """One band, several powers (a device's up- and downlink): each rate link_rate's, its own."""
    rng = np.random.default_rng(2)
    for trial in range(100):
        shape = (2, 6) if trial % 2 else (6,)
        width = np.abs(_nasty(rng, shape, 0.2 if trial % 3 else 0.0)) * 1e6
        width[np.isnan(width)] = 0.0
        gain = rng.uniform(1e-12, 1e-8, 6)
        powers = (rng.uniform(0.0, 0.2, shape), 10.0, rng.uniform(0.0, 0.2, 6))
        kwargs = dict(gain=gain, noise_psd_w_hz=4e-21, fixed_snr=50.0)
        got = link_rates(model, width, powers=powers, **kwargs)
        for rate, power in zip(got, powers, strict=True):
            _same(rate, link_rate(model, width, power_w=power, **kwargs), f"{model} {width}")
        assert not np.shares_memory(got[0], got[1])
    scalars = dict(gain=1e-9, noise_psd_w_hz=4e-21, fixed_snr=50.0)
    powers = (0.1, np.ones(3))  # a scalar band: a scalar rate, then an array's
    for rate, power in zip(
        link_rates("shannon", 0.0, powers=powers, **scalars), powers, strict=True
    ):
        _same(rate, link_rate("shannon", 0.0, power_w=power, **scalars))


@pytest.mark.parametrize("name", se.list_scenarios())
def test_round_latency_is_compose_rounds_round(name):
    """round_latency (no per-device round where the round does not read it) = compose_round's."""
    scn = se.load_scenario(name)
    rng = np.random.default_rng(3)
    b, n = 3, scn.n_devices
    parts = [
        EpochPart(rng.uniform(0, 2, (b, n)), rng.uniform(0, 2, b), rng.uniform(0, 1, b), epochs)
        for epochs in (1.0, 2.0, 1.0)
    ]
    pre, post = rng.uniform(0, 3, (b, n)), rng.uniform(0, 3, (b, n))
    pre[0, 0] = np.inf  # an unserved device
    for some in (parts[:1], parts):
        _same(round_latency(scn, pre, some, post), compose_round(scn, pre, some, post)[0], name)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf / inf, overflow: as numpy says
@pytest.mark.parametrize("p_special", [0.0, 0.05, 0.5])
def test_safe_div_is_the_masked_division(p_special):
    rng = np.random.default_rng(0)
    for trial in range(300):
        shape = [(2, 10), (1, 3), (5, 1), (7,), ()][trial % 5]
        num = _nasty(rng, shape, p_special)
        for den in (_nasty(rng, shape, p_special), _nasty(rng, shape[-1:], p_special)):
            _same(safe_div(num, den), _masked_div(num, den), f"{num} / {den}")
    _same(safe_div(np.zeros((0, 3)), np.ones(3)), np.zeros((0, 3)))
    _same(safe_div(np.ones((2, 0)), np.zeros((2, 0))), np.ones((2, 0)))


@pytest.mark.parametrize("model", ["shannon", "cqi", "fixed_snr"])
def test_link_rate_zeroes_bandless_links_as_np_where(model):
    rng = np.random.default_rng(1)
    for trial in range(200):
        shape = (2, 6) if trial % 2 else (6,)
        width = np.abs(_nasty(rng, shape, 0.2 if trial % 3 else 0.0)) * 1e6
        width[np.isnan(width)] = 0.0
        gain, power = rng.uniform(1e-12, 1e-8, 6), rng.uniform(0.0, 0.2, shape)
        kwargs = dict(gain=gain, power_w=power, noise_psd_w_hz=4e-21, fixed_snr=50.0)
        got = link_rate(model, width, **kwargs)
        if model == "fixed_snr":
            want = width * np.log2(1.0 + 50.0)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                snr = gain * power / (4e-21 * width)
                bound = np.log2(1.0 + snr)
                if model == "cqi":
                    from splitenv.model.channel import cqi_spectral_efficiency

                    bound = cqi_spectral_efficiency(snr)
                want = np.where(width > 0, width * bound, 0.0)
        _same(got, want, f"{model} {width}")
    scalars = dict(gain=1e-9, power_w=0.1, noise_psd_w_hz=4e-21, fixed_snr=50.0)
    _same(link_rate("shannon", 0.0, **scalars), np.where(False, 0.0, 0.0))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_budget_excess_is_np_where():
    rng = np.random.default_rng(2)
    for trial in range(300):
        shape = [(2,), (3, 4), (1,)][trial % 3]
        value = _nasty(rng, shape, 0.2)
        for budget in (float(rng.choice([0.0, 1.0, 5.0, np.inf])), rng.uniform(0, 6, shape[-1:])):
            over = value - budget
            want = np.where(over > BUDGET_RTOL * np.abs(budget), over, 0.0)
            _same(_excess(value, budget), want, f"{value} - {budget}")
    _same(_excess(np.float64(3.0), 1.0), np.where(2.0 > 1e-9, 2.0, 0.0))


def _random_rows(scn, rng, b):
    """B random decisions (assembled, in range), some with a device left without band,
    share or compute, and B states (random previous splits, some unchanged)."""
    sampler = StateSampler(scn, int(rng.integers(1000)), 3)
    lo, hi = scn.decision.split_range
    n = scn.n_devices
    states = []
    split = rng.integers(lo, hi + 1, (b, n))
    if scn.decision.shared_split:
        split[:] = split[:, :1]
    for i in range(b):
        prev = None if i % 3 == 0 else (split[i] if i % 3 == 1 else rng.integers(lo, hi + 1, n))
        states.append(sampler.state(i % 2, i % 3, prev_split=prev))
    values = {"split": split}
    fields = se.model.enabled_fields(scn)
    net = scn.network
    if "subchannels" in fields:
        values["subchannels"] = rng.integers(0, max(1, 2 * net.n_subchannels // n), (b, n))
    if "bandwidth_hz" in fields:
        values["bandwidth_hz"] = rng.uniform(0, 2 * net.bandwidth_hz / n, (b, n))
    if "compute_share" in fields:
        values["compute_share"] = rng.uniform(0, 2.0 / n, (b, n))
    if "power_w" in fields:
        values["power_w"] = rng.uniform(0, net.device_power_w, (b, n))
    for name in ("subchannels", "bandwidth_hz", "compute_share", "power_w"):
        if name in values and b > 1:
            values[name][::2, rng.integers(n)] = 0  # every other row: a device without it
    if scn.decision.three_tier:
        values["edge_split"] = np.maximum(split, rng.integers(lo, scn.model.n_layers + 1, (b, n)))
    return StateBatch.stack(states), assemble(scn, values)


def _flat(ev: Evaluation):
    out = {"latency_s": ev.latency_s, "energy_j": ev.energy_j, "objective": ev.objective,
           "feasible": ev.feasible}  # fmt: skip
    out.update({f"violations.{k}": v for k, v in ev.violations.items()})
    out.update({f"terms.{k}": v for k, v in ev.terms.items()})
    out.update({f"per_device.{k}": v for k, v in ev.per_device.items()})
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_batches_mixing_both_paths_equal_their_rows(name):
    scn = load_scenario(name)
    rng = np.random.default_rng(3)
    for _ in range(3):
        states, decision = _random_rows(scn, rng, 6)
        batch = _flat(evaluate_batch(scn, states, decision))
        for i in range(6):
            one = _flat(evaluate_batch(scn, states.row(i), decision.take(i)))
            for key, value in one.items():
                _same(batch[key][i : i + 1], value, f"{name} row {i} {key}")


@pytest.mark.parametrize("name", SCENARIOS)
def test_per_batch_terms_equal_a_fresh_scenario_and_are_read_only(name):
    rng = np.random.default_rng(4)
    warm = load_scenario(name)
    for b in (1, 2, 5, 2, 1):  # the cache filled at other sizes, then hit
        states, decision = _random_rows(warm, rng, b)
        fresh = load_scenario(name)  # nothing cached yet
        got = _flat(evaluate_batch(warm, states, decision))
        want = _flat(evaluate_batch(fresh, states, assemble(fresh, _fields(decision, fresh))))
        assert got.keys() == want.keys()
        for key in got:
            _same(got[key], want[key], f"{name} B={b} {key}")
    cached = [v for key, cache in warm.__dict__["_memo"].items() if isinstance(cache, dict)
              and key in ("wire_bits", "rounds_needed", "no_energy") for v in cache.values()]  # fmt: skip
    for value in cached:
        for arr in value if isinstance(value, tuple) else (value,):
            assert not arr.flags.writeable


def _fields(decision, scn):
    return {f: getattr(decision, f) for f in se.model.enabled_fields(scn)}


def test_per_batch_keeps_a_few_sizes():
    scn = load_scenario("scct")
    built = []
    for b in range(40):
        per_batch(scn, "test_key", b, lambda b=b: built.append(b) or b)
    assert per_batch(scn, "test_key", 39, lambda: -1) == 39  # the latest sizes stay
    assert len(scn.__dict__["_memo"]["test_key"]) <= 16 and built == list(range(40))


def test_records_equal_their_constructed_dataclasses():
    scn = load_scenario("sft")
    d = assemble(scn, {"split": np.full((2, scn.n_devices), 3)})
    built = Decision(**{f: getattr(d, f) for f in DECISION_FIELDS}, batch_size=2)
    object.__setattr__(built, "_completed_for", scn)
    _same_vars(d, built)
    rank = np.array([8, 8])
    changed = d.replace(rank=rank)
    _same_vars(changed, dataclasses.replace(d, rank=rank))
    assert changed._completed_for is None and changed.rank is rank
    with pytest.raises(TypeError):
        d.replace(colour=1)
    took = d.take(1)
    assert took.batch_size == 1 and took._completed_for is scn
    _same_vars(took, record(Decision, **vars(took)))
    state = se.sample_state(scn, 5)
    arrays = {f: getattr(state, f) for f in
              ("channel_gain", "noise_psd_w_hz", "device_flops", "device_memory_bytes",
               "distance_m", "data_size", "fed_channel_gain", "edge_of", "prev_split", "active")}  # fmt: skip
    trusted = State.trusted(round_index=2, epoch_index=1, **arrays)
    _same_vars(trusted, State(**arrays, round_index=2, epoch_index=1))
    assert all(not getattr(trusted, f).flags.writeable for f in arrays)
    with pytest.raises(TypeError, match="does more than store"):
        record(State, **arrays)


def _same_vars(a, b):
    """Every dataclass field (``init=False`` ones too) reads the same on both."""
    assert type(a) is type(b)
    for key in (f.name for f in dataclasses.fields(a)):
        x, y = getattr(a, key), getattr(b, key)
        if isinstance(x, np.ndarray):
            _same(x, y, key)
        else:
            assert x is y or x == y, key


def test_split_grid_is_built_once_and_read_only():
    scn = load_scenario("scct")
    grid = split_grid(scn)
    assert split_grid(scn) is grid and not grid.split.flags.writeable
    lo, hi = scn.decision.split_range
    _same(grid.split[:, 0], np.arange(lo, hi + 1))
