"""The long-running commands in reduced form, run in-process through splitenv.cli.main.

`splitenv run` on one seed, `splitenv throughput` for about a second, `splitenv train` for a
few hundred steps; `splitenv reproduce fedsllm` is in tests/benchmark/test_reproduce.py.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict

import gymnasium as gym
import numpy as np
import pytest

from splitenv import instances
from splitenv.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_run_main_job_on_one_seed(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the shipped agent comes from the package, not the cwd
    out = run(capsys, "run", "--seeds", 1, "--out", tmp_path / "run", "-q", "--workers", 1)
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"results.csv", "summary.md"} <= files
    # one bar chart per timescale block, and the scenario's anytime figure (its solvers)
    assert sum(f.endswith(".png") for f in files) == 3
    assert sum(f.startswith("anytime_scct_") for f in files) == 1
    with open(tmp_path / "run" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    # one episode per method and block, all on the first seed of the test set
    by_block = defaultdict(dict)
    for r in rows:
        by_block[r["timescale"]][r["method"]] = r
    assert set(by_block) == {"joint", "round"}
    assert set(by_block["joint"]) == {"equal", "scct_alg1", "sccts", "scctl", "scctt"}
    assert set(by_block["round"]) == {"equal", "sccts", "scctl", "scctt", "ppo:@scct_round_ppo"}
    assert {r["seed"] for r in rows} == {str(instances.instance_set("scct")[0])}
    for block in by_block.values():
        for r in block.values():
            assert r["feasible"].lower() in ("true", "1")
    # normalized = the episode's cost over the default decision's cost on the same states
    # (the env's reference), printed in the summary's "normalized" column
    for block in by_block.values():
        for r in block.values():
            ratio = float(r["objective"]) / float(r["reference_cost"])
            assert float(r["normalized_cost"]) == pytest.approx(ratio, rel=1e-12)
    joint = by_block["joint"]
    assert float(joint["equal"]["normalized_cost"]) == 1.0  # equal allocation is the default
    section = out.split("timescale joint")[1].split("###")[0]
    for method, r in joint.items():
        line = next(x for x in section.splitlines() if x.startswith(f"| {method} |"))
        assert f"| {float(r['normalized_cost']):.4f} |" in line, (method, line)
        assert f"| {float(r['objective']):.1f} |" in line, (method, line)


def test_throughput_for_about_a_second(capsys):
    out = run(capsys, "throughput", "--seconds", 0.5, "--devices", 4, 12, "--batch", 128)
    lines = out.strip().splitlines()
    assert len(lines) == 2
    for n, line in zip((4, 12), lines, strict=True):
        m = re.fullmatch(
            rf"scct N={n}\s+batch=128: ([\d,]+) device-evaluations/s \(([\d.]+) ms per batched call, single thread\)",
            line,
        )
        assert m, line
        rate, per_call_ms = float(m.group(1).replace(",", "")), float(m.group(2))
        # device-evaluations per second = N * batch / time per batched call
        assert rate == pytest.approx(n * 128 / (per_call_ms / 1e3), rel=0.01)


def test_train_a_few_hundred_steps(capsys, tmp_path):
    pytest.importorskip("stable_baselines3")
    out = run(
        capsys, "train", "--scenario", "scct", "--timesteps", 256, "--out", tmp_path,
        "--set", "n_envs=1", "--set", "n_steps=128", "--set", "batch_size=64",
    )  # fmt: skip
    folder = tmp_path / out.strip().splitlines()[-1].rsplit("/", 1)[-1]
    assert folder.is_dir() and folder.name.startswith("scct__ppo__0__")
    record = json.loads((folder / "run.json").read_text())
    assert record["num_timesteps"] == 256 and record["algo"] == "ppo"
    assert record["hyperparameters"]["n_steps"] == 128
    with open(folder / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    # the untrained policy at step 0, and a run shorter than eval_freq is evaluated at its end
    assert [int(p["time/total_timesteps"]) for p in rows if p["eval/mean_reward"]] == [0, 256]
    assert (folder / "best_model.zip").is_file() and record["status"] == "finished"
    assert f"saved as {folder / 'best_model.zip'}" in out
    progress = [p for p in rows if p["rollout/ep_len_mean"]]
    # two rollouts of 128 steps; SCCT episodes at the round timescale last `rounds` = 4 steps
    assert [int(p["time/total_timesteps"]) for p in progress] == [128, 256]
    assert all(float(p["rollout/ep_len_mean"]) == 4.0 for p in progress)
    assert all(-100 - 5 <= float(p["rollout/ep_rew_mean"]) / 4 < 0 for p in progress)
    # the saved model acts in the env it was trained on
    from stable_baselines3 import PPO

    from splitenv.wrappers import BoxAction

    model = PPO.load(folder / "model.zip", device="cpu")
    env = BoxAction(gym.make("splitenv/SCCT-v0", timescale="round"))
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action.astype(np.float32))
    _, reward, *_ = env.step(action)
    assert np.isfinite(reward)
