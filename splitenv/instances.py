"""Named, versioned instance sets: fixed seed lists with a content hash per preset.

A benchmark run on ``instance_set("scct", "test")`` sees the same episodes
everywhere; :func:`check` recomputes the hash of the states the seeds produce so
that a change of the sampler or the preset is detected instead of silently
changing the benchmark (bump the set's version then).
"""

from __future__ import annotations

import hashlib
import json

from splitenv.config import Scenario
from splitenv.scenarios import StateSampler, load_scenario

#: (split name) -> (first seed, count); disjoint ranges, so validation never leaks into test
SPLITS = {"train": (0, 0), "validation": (10_000, 20), "test": (20_000, 20)}
VERSION = 0


def instance_set(scenario: str | Scenario, split: str = "test") -> list[int]:
    """Episode seeds of the named set (``validation`` or ``test``)."""
    if split not in SPLITS or split == "train":
        raise ValueError(
            f"split = {split!r}; allowed: validation, test (training uses any other seed)"
        )
    first, count = SPLITS[split]
    return list(range(first, first + count))


def content_hash(scenario: str | Scenario, seeds: list[int], epochs: int = 2) -> str:
    """SHA-256 of the first ``epochs`` states of round 0 of each seed (JSON, full precision)."""
    scn = load_scenario(scenario)
    h = hashlib.sha256()
    for seed in seeds:
        sampler = StateSampler(scn, seed)
        for t in range(epochs):
            h.update(json.dumps(sampler.state(0, t).to_dict(), sort_keys=True).encode())
    return h.hexdigest()
