"""Objectives: every ``objective.kind`` the config accepts names one objective of the engine."""

from __future__ import annotations

import dataclasses

import numpy as np

from splitenv.config import ObjectiveSpec
from splitenv.model import evaluate_batch
from splitenv.model.objectives import OBJECTIVES
from splitenv.scenarios import list_scenarios, load_scenario, sample_state


def test_objective_kinds_and_objectives_agree():
    kind = {f.name: f for f in dataclasses.fields(ObjectiveSpec)}["kind"]
    assert set(kind.metadata["choices"]) == set(OBJECTIVES)


def test_latency_objective_is_the_scoped_latency_and_card_cost_the_sum_of_u():
    for name in list_scenarios():
        scn = load_scenario(name)
        ev = evaluate_batch(scn, sample_state(scn, 0))
        if scn.objective.kind == "card_cost":
            np.testing.assert_array_equal(ev.objective, ev.per_device["card_cost"].sum(axis=1))
        elif scn.objective.energy_weight:  # the flagship: T + lambda E (test_flagship_options)
            assert np.all(ev.objective > ev.latency_s)
        else:
            assert ev.objective is ev.latency_s
            assert "card_cost" not in ev.per_device
