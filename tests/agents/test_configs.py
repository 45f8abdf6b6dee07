"""Every preset has a training config (configs/agents/<preset>.yaml) that builds its run."""

from __future__ import annotations

import pytest
import yaml

from agents.args import make_args, tuned_defaults
from splitenv.registration import ENV_KWARGS
from splitenv.scenarios import config_dirs, list_scenarios


def _path(name: str):
    return next(d / "agents" / f"{name}.yaml" for d in config_dirs() if (d / "agents").is_dir())


@pytest.mark.parametrize("name", list_scenarios())
def test_every_preset_has_a_training_config_that_says_its_timescale_and_why(name):
    path = _path(name)
    assert path.is_file(), f"no {path}: every registered id needs an agent config (issue 13)"
    text = path.read_text()
    common = yaml.safe_load(text)["common"]
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert f"Timescale {common['timescale']}" in header and "Why" in header
    assert common["eval_inner_allocator"] == "paper"  # judged with the paper's allocator
    for algo in ("ppo", "maskable_ppo"):
        args = make_args(name, algo)
        assert args.timescale == common["timescale"] and tuned_defaults(name, algo)
        # episodes as the env id's, so the agent trains on what `splitenv bench` plays
        for key, value in ENV_KWARGS.get(name, {}).items():
            if key in ("rounds", "epochs_per_round"):
                assert getattr(args, key) == value, (name, key)
    env = make_args(name, "ppo").recipe().make_wrapped()
    assert env.action_space.shape[0] >= 1
    env.close()
