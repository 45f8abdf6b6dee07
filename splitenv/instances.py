"""Named, versioned instance sets: fixed seed lists with a content hash per preset.

A benchmark run on ``instance_set("scct", "test")`` sees the same episodes
everywhere; :func:`check` recomputes the hash of the states the seeds produce so
that a change of the sampler or the preset is detected instead of silently
changing the benchmark (bump the set's version then).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from splitenv.config import Scenario
from splitenv.scenarios import StateSampler, list_scenarios, load_scenario

#: stored hashes, written by ``python -m splitenv.instances --write``
HASH_FILE = Path(__file__).with_name("instance_hashes.json")

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


#: significant digits of every float in the hashed JSON. numpy's vectorized exp/log/sin differ
#: in the last bit between CPU families (SIMD kernels chosen at run time), so full precision
#: made the hash a fingerprint of the machine; 10 digits keep every real change of the sampler
#: or the preset visible.
HASH_DIGITS = 10


def _canonical(value: Any) -> Any:
    """``value`` with every float rounded to ``HASH_DIGITS`` significant digits."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.{HASH_DIGITS}g}")
    return value


def content_hash(scenario: str | Scenario, seeds: list[int], epochs: int = 2) -> str:
    """SHA-256 of the first ``epochs`` states of round 0 of each seed (JSON, floats to 10 digits)."""
    scn = load_scenario(scenario)
    h = hashlib.sha256()
    for seed in seeds:
        sampler = StateSampler(scn, seed)
        for t in range(epochs):
            state = _canonical(sampler.state(0, t).to_dict())
            h.update(json.dumps(state, sort_keys=True).encode())
    return h.hexdigest()


def stored_hashes() -> dict[str, dict[str, str]]:
    """The recorded {preset: {split: sha256}} of this version of the sets."""
    return json.loads(HASH_FILE.read_text())["hashes"]


def check(scenario: str, split: str = "test") -> None:
    """Raise if the states of a named set no longer match the recorded hash.

    Raises:
        RuntimeError: the sampler or the preset changed; bump ``VERSION`` and rewrite the file.
    """
    recorded = stored_hashes().get(scenario, {}).get(split)
    now = content_hash(scenario, instance_set(scenario, split))
    if recorded != now:
        raise RuntimeError(
            f"instance set {scenario}/{split} v{VERSION} changed (recorded {recorded}, now {now}): "
            "the sampler or the preset changed; bump splitenv.instances.VERSION and rerun "
            "`python -m splitenv.instances --write`"
        )


def _write() -> None:
    hashes = {
        name: {split: content_hash(name, instance_set(name, split)) for split in ("validation", "test")}
        for name in list_scenarios()
    }
    HASH_FILE.write_text(json.dumps({"version": VERSION, "hashes": hashes}, indent=2) + "\n")


if __name__ == "__main__":
    import sys

    if "--write" in sys.argv:
        _write()
    for name in list_scenarios():
        for split in ("validation", "test"):
            check(name, split)
    print("instance sets match their recorded hashes")
