"""The main job (`splitenv run`): its blocks and the hook for pretrained agents."""

from __future__ import annotations

from baselines.harness import main_job
from baselines.harness.jobs import plan
from splitenv import cli_util


def test_main_job_methods_and_pretrained_hook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_util, "PROJECT_ROOT", tmp_path)  # no model shipped in this tree
    assert main_job.methods("round") == list(main_job.BLOCKS["round"])
    path = tmp_path / main_job.PRETRAINED["ppo"]
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a real model")
    assert main_job.methods("round")[-1] == "ppo:agents/pretrained/scct_round_ppo.zip"
    assert main_job.methods("joint") == list(main_job.BLOCKS["joint"])  # agents act at round
    assert main_job.methods("round", include_learned=False) == list(main_job.BLOCKS["round"])


def test_main_job_plans_are_valid():
    for timescale, methods in main_job.BLOCKS.items():
        jobs = plan([main_job.SCENARIO], list(methods), "test", timescale=timescale)
        assert len(jobs) == 20 * len(methods) and {j.timescale for j in jobs} == {timescale}
