"""Registered environment ids, one per preset, with string entry points (no import cost).

``gymnasium.make("splitenv/SCCT-v0", **kwargs)``: kwargs are SplitLoRAEnv's
arguments, and any config field as a dotted override (``**{"network.n_devices": 6}``)
or with double underscores (``network__n_devices=6``).
"""

from __future__ import annotations

import gymnasium as gym

#: id -> preset; the id's version is the preset's ``version`` (bumped when numbers change)
ENV_IDS = {
    "splitenv/SCCT-v0": "scct",
    "splitenv/SFT-v0": "sft",
    "splitenv/SplitLLM-v0": "splitllm",
    "splitenv/CARD-v0": "card",
    "splitenv/FedsLLM-v0": "fedsllm",
}
GENERIC_ID = "splitenv/SplitLoRA-v0"


#: per-id defaults beyond the preset. FedsLLM's objective (17) is the time to reach the target,
#: E(r) rounds: its episodes end there (surrogate accuracy), so the rank's effect on the number
#: of rounds is in the return; `rounds` only bounds the episode.
EXTRA_KWARGS = {"splitenv/FedsLLM-v0": {"accuracy": "surrogate", "rounds": 100}}


def register_envs() -> None:
    """Register every id (idempotent)."""
    for env_id, preset in ENV_IDS.items():
        if env_id not in gym.registry:
            kwargs = {"config": preset, **EXTRA_KWARGS.get(env_id, {})}
            gym.register(id=env_id, entry_point="splitenv.env:SplitLoRAEnv", kwargs=kwargs)
    if GENERIC_ID not in gym.registry:
        gym.register(id=GENERIC_ID, entry_point="splitenv.env:SplitLoRAEnv")
