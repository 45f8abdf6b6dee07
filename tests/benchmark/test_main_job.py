"""The main job (`splitenv run`): its blocks and the hook for pretrained agents."""

from __future__ import annotations

from baselines.harness import main_job
from baselines.harness.jobs import plan
from splitenv.errors import PluginError


def test_main_job_methods_and_pretrained_hook(tmp_path, monkeypatch):
    # the shipped agent joins the round block when the methods plug-in is importable ...
    assert main_job.methods("round") == [*main_job.BLOCKS["round"], "ppo:@scct_round_ppo"]
    assert main_job.methods("joint") == list(main_job.BLOCKS["joint"])  # agents act at round
    assert main_job.methods("round", include_learned=False) == list(main_job.BLOCKS["round"])
    # ... a file planted in the working directory is never picked up (only the package's own)
    monkeypatch.chdir(tmp_path)
    planted = tmp_path / "agents" / "pretrained" / "scct_round_ppo.zip"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"not a real model")
    assert main_job.methods("round")[-1] == "ppo:@scct_round_ppo"
    # ... and without the plug-in the block runs without it
    monkeypatch.setattr(main_job.plugins, "load", _unavailable)
    assert main_job.methods("round") == list(main_job.BLOCKS["round"])


def _unavailable(kind, name):
    raise PluginError(f"{kind} {name}: not installed")


def test_main_job_plans_are_valid():
    for timescale, methods in main_job.BLOCKS.items():
        jobs = plan([main_job.SCENARIO], list(methods), "test", timescale=timescale)
        assert len(jobs) == 20 * len(methods) and {j.timescale for j in jobs} == {timescale}


def test_the_arena_puts_every_method_on_every_scenario():
    from splitenv.scenarios import list_scenarios

    jobs = main_job.arena_jobs(n_seeds=2)
    scenarios = list_scenarios()
    assert {j.scenario for j in jobs} == set(scenarios) and {j.timescale for j in jobs} == {"joint"}
    for name in scenarios:
        methods = {j.method for j in jobs if j.scenario == name}
        paper = {main_job.PAPER_METHODS[name]} if name in main_job.PAPER_METHODS else set()
        assert methods == set(main_job.ARENA_METHODS) | paper, name
        seeds = sorted({j.seed for j in jobs if j.scenario == name})
        assert seeds == main_job.instance_set(name, "test")[:2]  # identical seeds for every method
    assert {"alns", "sqp", "bcd"} <= set(main_job.ARENA_METHODS)


def test_the_arena_refuses_a_bad_seed_count(tmp_path):
    import pytest

    from splitenv.errors import ConfigError

    with pytest.raises(ConfigError, match="--seeds 0"):
        main_job.run_arena(tmp_path / "a", n_seeds=0)
