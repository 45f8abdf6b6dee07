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

import gymnasium as gym

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


class InstanceReset(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """``reset(seed=s)`` plays the stored instance ``s``; with ``seeds``, the next one cyclically.

    Instance ``s`` is ``reset(seed=s, options={"instance": {"seed": s}})``: the episode
    :func:`content_hash` hashes. Without ``seeds`` the seed given to ``reset`` is the instance
    (the benchmark harness); with ``seeds`` every reset plays the next of them, in order, so any
    ``len(seeds)`` consecutive episodes play each once (a validation env: an EvalCallback with
    ``n_eval_episodes = len(seeds)`` always scores the same instances).

    Args:
        env: a splitenv env (or a wrapper of one).
        seeds: the instances to cycle through; ``None``: the seed of each ``reset``.
    """

    def __init__(self, env: gym.Env, seeds: list[int] | None = None) -> None:
        if seeds is not None and not seeds:
            raise ValueError("seeds must not be empty (None plays the seed given to reset)")
        gym.utils.RecordConstructorArgs.__init__(self, seeds=seeds)
        gym.Wrapper.__init__(self, env)
        self.seeds = None if seeds is None else [int(s) for s in seeds]
        self._next = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self.seeds is not None:
            seed = self.seeds[self._next % len(self.seeds)]
            self._next += 1
        return self.env.reset(seed=seed, options={**(options or {}), "instance": {"seed": seed}})


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
        name: {
            split: content_hash(name, instance_set(name, split)) for split in ("validation", "test")
        }
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
