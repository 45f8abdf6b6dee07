"""The shipped agents: `splitenv agents`, their sidecars, and bare `ppo` in `splitenv bench`."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("stable_baselines3")

from agents import catalog
from agents.catalog import COLUMNS, agent_rows, shipped_for
from agents.envs import read_metadata
from agents.policy import AgentPolicy, find_model
from agents.safe_load import file_sha256
from baselines.harness.jobs import plan
from baselines.harness.policy import resolve_method
from splitenv.cli import main as cli_main
from splitenv.errors import ConfigError
from splitenv.scenarios import load_scenario


def test_every_shipped_agent_has_a_complete_sidecar():
    for path, meta in catalog.shipped_agents():
        scn = load_scenario(meta["env"]["scenario"], meta["env"]["overrides"])
        assert meta["scenario_version"] == scn.version
        assert meta["config_sha256"] == scn.sha256(), f"{path.name} is stale: retrain or re-score"
        assert isinstance(meta["seed"], int) and meta["num_timesteps"] > 0
        ev = meta["evaluation"]
        assert ev["set"] == "test" and ev["seeds"] == 20
        assert 0 < ev["mean_normalized_cost"] < 1.5 and ev["ci95"] > 0
        assert meta["sha256"] == file_sha256(path)  # the load-time check still holds


def test_splitenv_agents_lists_name_scenario_version_hash_steps_seed_score(capsys):
    assert cli_main(["agents"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == list(COLUMNS)
    row = next(line for line in out if line.startswith("scct_round_ppo"))
    meta = read_metadata(find_model("@scct_round_ppo"))
    for value in ("scct", "round", meta["config_sha256"][:12], "100352", "0.9552 +- 0.0027"):
        assert value in row
    assert cli_main(["agents", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == agent_rows() and set(COLUMNS) <= set(rows[0])


def test_a_changed_config_marks_the_agent_stale(monkeypatch, tmp_path, capsys):
    src = catalog.SHIPPED / "scct_round_ppo"
    for ext in (".zip", ".json"):
        shutil.copy(src.with_suffix(ext), tmp_path / f"scct_round_ppo{ext}")
    meta = json.loads((tmp_path / "scct_round_ppo.json").read_text())
    meta["config_sha256"] = "0" * 64
    (tmp_path / "scct_round_ppo.json").write_text(json.dumps(meta))
    monkeypatch.setattr(catalog, "SHIPPED", tmp_path)
    assert agent_rows()[0]["stale"]
    cli_main(["agents"])
    assert "(stale)" in capsys.readouterr().out


def test_bare_ppo_is_the_scenarios_shipped_agent():
    assert shipped_for("scct", "ppo") == catalog.SHIPPED / "scct_round_ppo.zip"
    policy = resolve_method("ppo", scenario="scct")
    assert isinstance(policy, AgentPolicy) and policy.path.name == "scct_round_ppo.zip"
    jobs = plan(["scct"], ["ppo", "equal"], "0-1")
    assert [j.method for j in jobs] == ["ppo", "ppo", "equal", "equal"]  # reported as `ppo`
    with pytest.raises(ValueError, match="give the scenario"):
        resolve_method("ppo")


def test_bare_ppo_without_a_shipped_agent_names_the_scenario_and_the_shipped_ones(
    monkeypatch, tmp_path
):
    shutil.copy(catalog.SHIPPED / "scct_round_ppo.zip", tmp_path)
    shutil.copy(catalog.SHIPPED / "scct_round_ppo.json", tmp_path)
    monkeypatch.setattr(catalog, "SHIPPED", tmp_path)  # a catalog holding only the SCCT agent
    with pytest.raises(
        ConfigError, match=r"no shipped ppo agent for scenario 'sft'.*@scct_round_ppo"
    ):
        plan(["sft"], ["ppo"], "0")
    with pytest.raises(ConfigError, match="no shipped maskable_ppo agent for scenario 'scct'"):
        plan(["scct"], ["maskable_ppo"], "0")
    with pytest.raises(
        FileNotFoundError, match="no shipped agent @nothing; shipped: @scct_round_ppo"
    ):
        find_model("@nothing")


def test_an_agent_trained_on_a_variant_is_not_the_scenarios_own(monkeypatch, tmp_path):
    """Bare ``ppo`` is the agent trained on the preset itself; one trained with overrides
    (another N, ...) is only reachable by its name, so it never makes ``ppo`` ambiguous."""
    for ext in (".zip", ".json"):
        shutil.copy(catalog.SHIPPED / f"scct_round_ppo{ext}", tmp_path / f"scct_round_ppo{ext}")
        shutil.copy(catalog.SHIPPED / f"scct_round_ppo{ext}", tmp_path / f"scct_n5{ext}")
    meta = json.loads((tmp_path / "scct_n5.json").read_text())
    meta["env"]["overrides"] = {"network.n_devices": 5}
    (tmp_path / "scct_n5.json").write_text(json.dumps(meta))
    monkeypatch.setattr(catalog, "SHIPPED", tmp_path)
    assert shipped_for("scct", "ppo") == tmp_path / "scct_round_ppo.zip"
    (tmp_path / "scct_round_ppo.zip").unlink()
    with pytest.raises(ConfigError, match="no shipped ppo agent for scenario 'scct'"):
        shipped_for("scct", "ppo")


def test_an_agent_decides_on_one_torch_thread_and_restores_the_count():
    """Decisions run on one intra-op thread (agents.policy.one_torch_thread), the same
    decision as with the process's own count, which is restored after every call."""
    import numpy as np
    import torch

    policy = AgentPolicy("@splitllm_round_ppo")
    env = policy.recipe.make()
    obs, _ = env.reset(seed=20000)
    before = torch.get_num_threads()
    seen = []
    original = policy._decide

    def spy(env_, obs_):
        seen.append(torch.get_num_threads())
        return original(env_, obs_)

    policy._decide = spy
    fields = policy(env, obs)
    assert seen == [1] and torch.get_num_threads() == before
    with torch.no_grad():
        mine = original(env, obs)  # on the process's own thread count
    for key, value in fields.items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(mine[key]), err_msg=key)
    env.close()


def test_a_device_set_agent_builds_its_policy_for_an_n_once_per_process():
    """Another N: the rebuilt policy is shared by every AgentPolicy of the same file, so a
    benchmark's episodes (one AgentPolicy each) do not pay the rebuild in their first decision."""
    import numpy as np

    from agents import policy as policy_module
    from splitenv.registration import make

    env = make("splitllm", timescale="round", overrides={"network.n_devices": 5})
    obs, _ = env.reset(seed=20000)
    first, second = (AgentPolicy("@splitllm_device_set_round_ppo") for _ in range(2))
    a, b = first(env, obs), second(env, obs)
    decoder = first.decoder(env)
    assert first._device_set(decoder) is second._device_set(second.decoder(env))
    assert any(key[1] == decoder.observation_space.shape for key in policy_module._TRANSFERS)
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)
    env.close()
