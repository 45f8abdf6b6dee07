"""The env registry: one id per scenario, its version read from the preset (one place)."""

from __future__ import annotations

import gymnasium as gym
import pytest

import splitenv
from splitenv.registration import ENV_IDS, GENERIC_ID, env_id, make


@pytest.mark.parametrize("name", splitenv.list_scenarios())
def test_every_scenario_has_an_id_whose_version_is_the_presets(name):
    scn = splitenv.load_scenario(name)
    eid = env_id(name)
    assert eid == f"splitenv/{scn.id_name or scn.name}-v{scn.version}"
    assert ENV_IDS[eid] == name
    assert gym.spec(eid).kwargs["config"] == name


def test_paper_ids():
    # SFT's preset is version 1 (v0 had no accuracy coefficients), SplitLoRADynamic too (v0 had
    # the flagship's L4 and no drifting compute): their ids follow them
    assert sorted(ENV_IDS) == [
        "splitenv/CARD-v0", "splitenv/FedsLLM-v0", "splitenv/SCCT-v0",
        "splitenv/SFT-v1", "splitenv/SplitLLM-v0", "splitenv/SplitLoRA-v0",
        "splitenv/SplitLoRADynamic-v1",
    ]  # fmt: skip
    assert GENERIC_ID in gym.registry


def test_generic_id_builds_the_flagship_by_default_and_any_config():
    assert ENV_IDS[GENERIC_ID] == "splitlora"
    assert gym.make(GENERIC_ID).unwrapped.scenario.name == "splitlora"
    assert make("splitlora").unwrapped.scenario.name == "splitlora"
    other = gym.make(GENERIC_ID, config="sft", network__n_devices=3).unwrapped.scenario
    assert (other.name, other.n_devices) == ("sft", 3)


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(splitenv.ConfigError, match=r"unknown scenario 'nope'.*scct"):
        env_id("nope")
