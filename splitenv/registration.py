"""The env registry: one id per scenario, the one way to build an env.

Every preset found by :func:`splitenv.scenarios.list_scenarios` (the core's and those of
installed plug-ins) is registered as ``splitenv/{id_name}-v{version}``, both read from the
preset, so an id's version is the preset's ``version`` and nothing else (bumped when numbers
change). ``splitenv/SplitLoRA-v0`` is the flagship preset ``splitlora`` (every decision at
once, ``configs/splitlora.yaml``) and takes any other scenario with ``config=``.

``gymnasium.make(env_id("scct"), **kwargs)``: kwargs are SplitLoRAEnv's arguments, and any
config field as a dotted override (``**{"network.n_devices": 6}``) or with double
underscores (``network__n_devices=6``). Ids use string entry points (no import cost).
``gymnasium.make_vec(id, num_envs=K, vectorization_mode="vector_entry_point")`` builds the
natively batched :class:`splitenv.vector.SplitLoRAVectorEnv` (its scope in its docstring).
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym

from splitenv.scenarios import list_scenarios, preset_header

#: id -> preset, filled by :func:`register_envs` (every scenario found at import)
ENV_IDS: dict[str, str] = {}
GENERIC_ID = "splitenv/SplitLoRA-v0"
ENTRY_POINT = "splitenv.env:SplitLoRAEnv"
#: ``gym.make_vec(id, num_envs=K, vectorization_mode="vector_entry_point")``: one engine call per step
VECTOR_ENTRY_POINT = "splitenv.vector:SplitLoRAVectorEnv"

#: per-preset env defaults beyond the preset. FedsLLM's objective (17) is the time to reach the
#: target, E(r) rounds: its episodes end there (surrogate accuracy), so the rank's effect on the
#: number of rounds is in the return; `rounds` only bounds the episode.
#: The dynamic flagship plays 10 rounds of its preset's 5 epochs: its fading keeps its memory for
#: ~20 rounds, so a split migration can pay back over later rounds of the same episode.
ENV_KWARGS: dict[str, dict[str, object]] = {
    "fedsllm": {"accuracy": "surrogate", "rounds": 100},
    "splitlora_dynamic": {"rounds": 10, "epochs_per_round": 5},
}


def env_id(scenario: str) -> str:
    """The registered id of a preset: ``env_id("sft") == "splitenv/SFT-v1"``.

    Raises:
        ConfigError: unknown scenario (the message lists the known ones).
    """
    head = preset_header(scenario)
    return f"splitenv/{head['id_name']}-v{head['version']}"


def make(scenario: str | os.PathLike[str], **kwargs: Any) -> gym.Env[Any, Any]:
    """``gym.make`` of a scenario's registered id, so its per-id defaults apply.

    A preset name goes to ``gym.make(env_id(name), **kwargs)``; a YAML path (or a name not
    registered) to ``gym.make("splitenv/SplitLoRA-v0", config=scenario, **kwargs)``. This is
    the one builder every caller uses (benchmark harness, reproduction, agents); ``kwargs``
    win over the id's defaults.
    """
    name = str(scenario)
    for eid, preset in ENV_IDS.items():
        if preset == name:
            return gym.make(eid, **kwargs)
    return gym.make(GENERIC_ID, config=name, **kwargs)


def make_vec(scenario: str | os.PathLike[str], num_envs: int, **kwargs: Any) -> Any:
    """The natively batched vector env of a scenario (:class:`splitenv.vector.SplitLoRAVectorEnv`).

    ``gym.make_vec(id, num_envs, vectorization_mode="vector_entry_point", **kwargs)`` of the
    id :func:`make` would use, so the same per-id defaults apply.
    """
    name = str(scenario)
    mode = "vector_entry_point"
    for eid, preset in ENV_IDS.items():
        if preset == name:
            return gym.make_vec(eid, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    return gym.make_vec(
        GENERIC_ID, num_envs=num_envs, vectorization_mode=mode, config=name, **kwargs
    )


def register_envs() -> None:
    """Register an id for every scenario found now (idempotent; call again after adding one)."""
    for preset in list_scenarios():
        eid = env_id(preset)
        ENV_IDS[eid] = preset
        if eid not in gym.registry:
            kwargs = {"config": preset, **ENV_KWARGS.get(preset, {})}
            gym.register(
                id=eid,
                entry_point=ENTRY_POINT,
                vector_entry_point=VECTOR_ENTRY_POINT,
                kwargs=kwargs,
            )
    # the flagship preset registers GENERIC_ID with config="splitlora"; without it, no default
    if GENERIC_ID not in gym.registry:
        gym.register(id=GENERIC_ID, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT)
