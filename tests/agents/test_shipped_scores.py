"""Every shipped agent still earns the test-set score its sidecar records (issue 13).

``benchmarks/agent_report.py ship`` writes, per test seed, the normalized cost the agent got in
``splitenv bench``; replaying two of those seeds through the bench's own path
(:func:`agents.catalog.replay_test_seeds`) must give the same numbers, so a sidecar's score is a
measurement of the file it ships with, on the env as it is now.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents.catalog import replay_test_seeds, shipped_agents
from splitenv.instances import instance_set

AGENTS = shipped_agents()


def test_agents_ship():
    assert AGENTS, "agents/pretrained holds no agent"


@pytest.mark.parametrize("path,meta", AGENTS, ids=[p.stem for p, _ in AGENTS])
def test_sidecar_score_is_the_mean_of_its_per_seed_costs_on_the_test_set(path, meta):
    ev = meta["evaluation"]
    per_seed = {int(s): c for s, c in ev["per_seed"].items()}
    assert sorted(per_seed) == instance_set(meta["env"]["scenario"], "test")
    assert ev["set"] == "test" and ev["seeds"] == len(per_seed) == 20
    assert np.mean(list(per_seed.values())) == pytest.approx(ev["mean_normalized_cost"], abs=1e-6)


@pytest.mark.parametrize("path,meta", AGENTS, ids=[p.stem for p, _ in AGENTS])
def test_replaying_two_test_seeds_gives_the_recorded_costs(path, meta):
    replayed = replay_test_seeds(path, meta)
    assert len(replayed) == 2
    for seed, got, recorded in replayed:
        assert got == pytest.approx(recorded, rel=1e-7), (path.name, seed)
