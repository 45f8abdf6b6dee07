"""The unified exact reference: dispatch by structure, separable exactness, never beaten."""

import itertools

import numpy as np
import pytest

import splitenv as se
from baselines import applicable_solvers, make_solver
from baselines.methods.exact import exact_method
from splitenv import Decision

#: small instances per preset (N <= 6) where every exact method is fast
SMALL = {
    "scct": {"network.n_devices": 3, "network.n_subchannels": 9, "decision.split_range": [1, 5]},
    "sft": {"network.n_devices": 4},
    "card": {},
    "fedsllm": {"network.n_devices": 3, "network.n_subchannels": 6, "network.fed_n_subchannels": 6},
    "splitllm": {"network.n_devices": 4, "network.n_edge_servers": 2},
}
SLOW = {"scctt", "scctl"}  # ALNS: covered by tests/baselines/test_scct.py
# the general methods: never beating exact is checked in tests/baselines/test_general_methods.py
SLOW |= {"alns", "sqp", "bcd", "de", "random_search"}


def test_dispatch_by_structure():
    expected = {
        "scct": "scct_exact",
        "sft": "sft_exact",
        "card": "card_exact",
        "fedsllm": "fedsllm_exact",
        "splitllm": "separable",
    }
    for name, method in expected.items():
        assert exact_method(se.load_scenario(name)) == method
    # structure, not name: SCCT's problem under another name still gets its method
    renamed = se.load_scenario("scct", {"name": "mine"})
    assert exact_method(renamed) == "scct_exact"


def test_separable_exact_equals_brute_force():
    scn = se.load_scenario(
        "splitllm",
        {
            "network.n_devices": 3, "network.n_edge_servers": 2, "model.n_layers": 5,
            "decision.split_range": [1, 4], "decision.default_split": 2, "decision.default_edge_split": 3,
        },
    )  # fmt: skip
    opts = [(s, e) for s in range(1, 5) for e in range(s, 6)]
    combos = list(itertools.product(opts, repeat=3))
    split = np.array([[c[i][0] for i in range(3)] for c in combos])
    edge = np.array([[c[i][1] for i in range(3)] for c in combos])
    for seed in range(3):
        state = se.sample_state(scn, seed)
        ev = se.evaluate_batch(scn, state, Decision(split=split, edge_split=edge))
        brute = np.where(ev.feasible, ev.objective, np.inf).min()
        sol = make_solver("exact").solve(scn, state, np.random.default_rng(0))
        assert sol.feasible
        assert sol.objective == pytest.approx(brute, rel=1e-12)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_exact_is_never_beaten(name):
    scn = se.load_scenario(name, SMALL[name])
    solvers = [s for s in applicable_solvers(scn) if s not in SLOW and s != "exact"]
    for seed in range(3):
        state = se.sample_state(scn, seed)
        best = make_solver("exact").solve(scn, state, np.random.default_rng(seed))
        assert best.feasible
        for s in solvers:
            sol = make_solver(s).solve(scn, state, np.random.default_rng(seed))
            if sol.feasible:
                assert sol.objective >= best.objective * (1 - 1e-6), (s, seed)


def test_unsupported_structure_is_a_clear_error():
    scn = se.load_scenario("splitllm", {"decision.power_control": True})
    with pytest.raises(ValueError, match="no exact reference"):
        exact_method(scn)
