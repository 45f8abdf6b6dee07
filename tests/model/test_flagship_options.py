"""The engine options the flagship added, by hand-computed values, and the presets unchanged.

* ``devices``: device n is of class n mod K with the class's FLOP/s, memory and compute power;
* ``objective.energy_weight``: objective = T + lambda E at the objective's scope
  (:func:`splitenv.model.objectives.scoped_energy`: E / (J T), E / T, E, E x rounds);
* ``objective.energy_budget_j``: violation ``energy`` = E - budget where it exceeds.
"""

from __future__ import annotations

import numpy as np
import pytest

from splitenv import ConfigError, load_scenario, sample_state
from splitenv.model import Decision, evaluate
from splitenv.scenarios import list_scenarios

PRESETS = ("scct", "sft", "splitllm", "card", "fedsllm")


def test_classes_give_each_device_its_class_figures():
    scn = load_scenario("splitlora", {"network.n_devices": 5})
    st = sample_state(scn, 3)
    # classes phone, jetson, laptop: devices 0..4 are classes 0, 1, 2, 0, 1
    np.testing.assert_array_equal(st.device_flops, [1.0e12, 1.28e12, 9.03e12, 1.0e12, 1.28e12])
    np.testing.assert_array_equal(st.device_memory_bytes, [3e9, 6e9, 8e9, 3e9, 6e9])


def test_device_energy_is_class_power_times_compute_time_plus_transmit():
    scn = load_scenario("splitlora", {"network.n_devices": 3, "network.churn_leave_prob": 0.0})
    st = sample_state(scn, 0)
    power = np.array([0.1, 0.15, 0.2])
    ev = evaluate(scn, st, Decision(split=np.array([2, 3, 4]), power_w=power))
    per = ev.item()["per_device"]
    iters = 10 * 5  # J x T
    compute = np.asarray(per["device_compute_s"])
    # by hand: the device compute time is (1 + 2) x forward FLOPs / class FLOP/s
    assert compute[2] == pytest.approx(compute[1] * 1.28e12 * 4 / (9.03e12 * 3), rel=1e-12)
    device = iters * (np.array([7.5, 15.0, 35.0]) * compute + power * np.asarray(per["uplink_s"]))
    assert ev.terms["device_energy_j"][0] == pytest.approx(device.sum(), rel=1e-12)


@pytest.mark.parametrize(
    ("scope", "factor"),
    [("iteration", 1 / 50), ("epoch", 1 / 5), ("round", 1.0), ("total", None)],
)
def test_energy_weight_adds_lambda_times_the_energy_at_the_objectives_scope(scope, factor):
    scn = load_scenario("splitlora", {"schedule.objective_scope": scope})
    st = sample_state(scn, 1)
    ev = evaluate(scn, st, Decision(rank=np.asarray(4)))
    e_round = float(ev.energy_j[0])
    rounds = 54.0  # E(4) of the preset's rounds_by_rank
    assert ev.terms["rounds"][0] == rounds
    scoped = e_round * (rounds if factor is None else factor)
    assert ev.objective[0] == pytest.approx(ev.latency_s[0] + 0.01 * scoped, rel=1e-12)


def test_energy_weight_zero_is_the_latency_bit_for_bit():
    scn = load_scenario("splitlora", {"objective.energy_weight": 0.0})
    ev = evaluate(scn, sample_state(scn, 0), Decision())
    assert ev.objective[0] == ev.latency_s[0]


def test_energy_budget_reports_the_excess_and_infeasibility():
    scn = load_scenario("splitlora")
    st = sample_state(scn, 0)
    total = float(evaluate(scn, st, Decision()).energy_j[0]) * 50.0  # E(8) = 50 rounds
    tight = load_scenario(
        "splitlora", {"objective.energy_weight": 0.0, "objective.energy_budget_j": total / 2}
    )
    ev = evaluate(tight, st, Decision())
    assert ev.violations["energy"][0] == pytest.approx(total / 2, rel=1e-12)
    assert not ev.feasible[0] and ev.objective[0] == ev.latency_s[0]
    loose = load_scenario("splitlora", {"objective.energy_budget_j": total * 2})
    ev = evaluate(loose, st, Decision())
    assert ev.violations["energy"][0] == 0.0 and ev.feasible[0]
    assert "energy" not in evaluate(scn, st, Decision()).violations  # no budget: no such row


def test_zero_power_is_infeasible_not_nan():
    scn = load_scenario("splitlora", {"network.churn_leave_prob": 0.0})
    ev = evaluate(scn, sample_state(scn, 0), Decision(power_w=np.zeros(scn.n_devices)))
    assert np.isinf(ev.objective[0]) and not ev.feasible[0]


@pytest.mark.parametrize("name", PRESETS)
def test_paper_presets_have_no_classes_and_no_energy_term(name):
    scn = load_scenario(name)
    assert not scn.devices.enabled
    assert scn.objective.energy_weight == 0 and scn.objective.energy_budget_j == float("inf")


def test_bad_class_lists_and_conflicts_name_the_field():
    with pytest.raises(ConfigError, match=r"devices\.memory_bytes has 2 entries.*\(3\)"):
        load_scenario("splitlora", {"devices.memory_bytes": [1e9, 2e9]})
    with pytest.raises(ConfigError, match=r"devices\.names and compute\.device_flops_levels"):
        load_scenario("splitlora", {"compute.device_flops_levels": [1e12]})
    with pytest.raises(ConfigError, match=r"objective\.energy_weight = 0\.5 applies to"):
        load_scenario("card", {"objective.energy_weight": 0.5})
    with pytest.raises(ConfigError, match=r"objective\.energy_weight = -1"):
        load_scenario("splitlora", {"objective.energy_weight": -1})


def test_flagship_is_listed_and_its_default_decision_feasible():
    assert "splitlora" in list_scenarios()
    scn = load_scenario("splitlora")
    for seed in range(5):
        assert evaluate(scn, sample_state(scn, seed), Decision()).feasible[0]
