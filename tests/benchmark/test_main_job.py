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
