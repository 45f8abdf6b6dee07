"""`splitenv train` under faults: bad settings, failures, Ctrl-C at a step, SIGKILL, resume.

In process, a signal is sent to this very process from inside the training loop (a real
SIGINT through the trainer's handler, at a chosen step); the subprocess cases (slow) kill a
real trainer with env worker processes at random points and resume it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

pytest.importorskip("stable_baselines3")

import agents.callbacks as callbacks
from agents.args import make_args
from agents.train import train
from splitenv.cli import main
from tests.faults.conftest import alive, descendants, one_error_line, start, stop, wait_for

TINY = dict(
    timesteps=512, n_envs=2, vec_env="dummy", n_steps=64, batch_size=64, n_epochs=2,
    eval_freq=256, eval_episodes=2, checkpoint_freq=10**9, checkpoint_minutes=0.0,
    inner_allocator="equal",
)  # fmt: skip
CLI = ["train", "--scenario", "scct", "--timesteps", "512", "-q",
       *(f"--set={k}={v}" for k, v in TINY.items() if k != "timesteps")]  # fmt: skip


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("learning_rate=.nan", "learning_rate = nan; allowed: a finite number in (0, 10]"),
        ("learning_rate=-1", "learning_rate = -1.0"),
        ("gamma=2", "gamma = 2.0; allowed: a finite number in [0, 1]"),
        ("max_minutes=nan", "max_minutes = nan"),
        ("checkpoint_minutes=-1", "checkpoint_minutes = -1.0"),
        ("n_envs=100000", "n_envs = 100000; allowed: an integer in [1, 4,096]"),
        ("n_steps=1e12", "n_steps = 1000000000000"),
        ("seed=-1", "seed = -1"),
        ("net_arch=[0]", "net_arch = [0]"),
        ("eval_freq=1e400", "eval_freq = inf; expected int"),
        ("n_steps=10000000", "needs an estimated"),
    ],
)
def test_bad_settings_exit_2_before_any_folder(tmp_path, capsys, monkeypatch, setting, message):
    monkeypatch.setenv("SPLITENV_MEMORY_LIMIT", "1e9")
    argv = ["train", "--scenario", "scct", "--timesteps", "64", "--out", str(tmp_path / "runs"),
            "--set", "n_envs=1", "--set", setting, "-q"]  # fmt: skip
    start_s = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - start_s < 5
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("splitenv train: error:") and message in line, line
    assert not (tmp_path / "runs").exists()


def test_garbage_resume_files_exit_2_and_leave_no_run_folder(tmp_path, capsys):
    runs = tmp_path / "runs"
    meta = json.loads(open("agents/pretrained/scct_round_ppo.json").read())
    meta.pop("sha256", None)
    for name, content in [("random.zip", os.urandom(3000)), ("empty.zip", b"")]:
        path = tmp_path / name
        path.write_bytes(content)
        path.with_suffix(".json").write_text(json.dumps(meta))
        argv = ["train", "--scenario", "scct", "--timesteps", "64", "--out", str(runs),
                "--set", "n_envs=1", "-q", "--resume", str(path)]  # fmt: skip
        assert main(argv) == 2
        assert "not a stable-baselines3 model file" in one_error_line(capsys.readouterr().err)
    for target, message in [
        (tmp_path / "nope.zip", "no checkpoint at"),
        (tmp_path, "no checkpoint"),
    ]:
        argv = ["train", "--scenario", "scct", "--timesteps", "64", "--out", str(runs),
                "--set", "n_envs=1", "-q", "--resume", str(target)]  # fmt: skip
        assert main(argv) == 2
        assert message in one_error_line(capsys.readouterr().err)
    assert not runs.exists()


def fail_at(monkeypatch, call: int, exc: BaseException | None = None, sig: int | None = None):
    """Make the training loop raise ``exc`` (or send ``sig`` to this process) at ``call``."""
    original = callbacks.WallClock._on_step
    counter = {"n": 0}

    def on_step(self):
        counter["n"] += 1
        if counter["n"] == call:
            if sig is not None:
                os.kill(os.getpid(), sig)
            elif exc is not None:
                raise exc
        return original(self)

    monkeypatch.setattr(callbacks.WallClock, "_on_step", on_step)


def only_run(out):
    runs = list(out.iterdir())
    assert len(runs) == 1, runs
    return runs[0], json.loads((runs[0] / "run.json").read_text())


def test_a_failure_before_any_model_leaves_no_folder(tmp_path, monkeypatch):
    # without the step-0 evaluation (it saves the untrained policy as best_model.zip)
    monkeypatch.setattr(callbacks.InitialEvaluation, "_on_training_start", lambda self: None)
    fail_at(monkeypatch, 40, RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        train(make_args("scct", "ppo", out=str(tmp_path), **TINY))
    assert list(tmp_path.iterdir()) == []


def test_a_failure_after_a_checkpoint_is_recorded_as_failed(tmp_path, monkeypatch):
    fail_at(monkeypatch, 100, RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        train(make_args("scct", "ppo", out=str(tmp_path), **{**TINY, "checkpoint_freq": 64}))
    run, meta = only_run(tmp_path)
    assert meta["status"] == "failed" and meta["error"] == "RuntimeError: boom"
    assert (run / "checkpoints" / "model_128_steps.zip").is_file()


@pytest.mark.parametrize(
    "how",
    [
        "sigint",
        pytest.param("keyboard_interrupt", marks=pytest.mark.slow),  # a second Ctrl-C
        pytest.param("sigterm", marks=pytest.mark.slow),
    ],
)
def test_interrupt_at_a_step_saves_a_checkpoint_and_resume_finishes(
    tmp_path, capsys, monkeypatch, how
):
    out = tmp_path / "runs"
    if how == "keyboard_interrupt":
        fail_at(monkeypatch, 90, KeyboardInterrupt())
    else:
        fail_at(monkeypatch, 90, sig=signal.SIGINT if how == "sigint" else signal.SIGTERM)
    assert main([*CLI, "--out", str(out)]) == 130
    line = one_error_line(capsys.readouterr().err)
    run, meta = only_run(out)
    steps = meta["num_timesteps"]
    assert 170 <= steps <= 200  # stopped at (or right after) the 90th call of 2 envs
    assert line.startswith("splitenv train: interrupted:") and line.endswith(f"--resume {run}")
    assert f"stopped at {steps:,} of 512 steps" in line
    assert meta["status"] == "interrupted" and meta["checkpoint"].endswith(
        f"model_{steps}_steps.zip"
    )
    monkeypatch.undo()
    resumed = train(make_args("scct", "ppo", out=str(out), resume=str(run), **TINY))
    meta = json.loads((resumed / "run.json").read_text())
    # SB3 trains whole rollouts (2 envs x 64 steps): the run ends within one past the total
    assert meta["status"] == "finished" and 512 <= meta["num_timesteps"] < 512 + 128
    assert meta["resumed_from"].endswith(f"model_{steps}_steps.zip")
    assert (resumed / "best_model.zip").is_file()


def test_checkpoints_by_wall_time(tmp_path):
    args = {**TINY, "timesteps": 128, "checkpoint_minutes": 1e-3}
    run = train(make_args("scct", "ppo", out=str(tmp_path), **args))
    saved = sorted((run / "checkpoints").glob("model_*_steps.zip"))
    assert len(saved) >= 2  # every 60 ms of wall time; by steps there would be none (freq 1e9)
    assert not list((run / "checkpoints").glob("*.tmp"))


def _newest_run(out):
    runs = sorted(out.iterdir()) if out.exists() else []
    return runs[-1] if runs else None


def _checkpoints(run) -> int:
    return len(list((run / "checkpoints").glob("*_steps.zip"))) if run else 0


@pytest.mark.slow
def test_sigint_and_sigkill_at_random_points_then_resume(tmp_path):
    rng = random.Random(14)
    out = tmp_path / "runs"
    argv = ["train", "--scenario", "scct", "--timesteps", "3000", "--out", out,
            "--set", "n_steps=64", "--set", "n_envs=2", "--set", "eval_freq=100000",
            "--set", "checkpoint_minutes=0.01", "--set", "checkpoint_freq=1000000",
            "--set", "vec_env=subproc"]  # fmt: skip  (env worker processes, which must not outlive it)
    # SIGINT: a checkpoint of the last step, exit 130, the env workers gone
    proc = start(*argv)
    wait_for(lambda: _checkpoints(_newest_run(out)) > 0, 180, "a first checkpoint")
    time.sleep(rng.uniform(0, 1.5))
    workers = descendants(proc.pid)
    code, _, err = stop(proc, signal.SIGINT)
    assert code == 130, err
    assert "--resume" in one_error_line(err)
    assert alive(workers) == [] and len(workers) >= 2
    first = _newest_run(out)
    assert json.loads((first / "run.json").read_text())["status"] == "interrupted"
    # SIGKILL of the resumed run: its workers exit with it, its checkpoints stay resumable
    proc = start(*argv, "--resume", first)
    wait_for(lambda: _newest_run(out) != first and _checkpoints(_newest_run(out)) > 0, 180,
             "a checkpoint of the resumed run")  # fmt: skip
    time.sleep(rng.uniform(0, 1.5))
    workers = descendants(proc.pid)
    code, _, _ = stop(proc, signal.SIGKILL)
    assert code == -signal.SIGKILL and alive(workers) == []
    second = _newest_run(out)
    assert json.loads((second / "run.json").read_text())["status"] == "running"
    proc = start(*argv, "--resume", second)
    stdout, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    final = json.loads((_newest_run(out) / "run.json").read_text())
    assert final["status"] == "finished" and final["num_timesteps"] >= 3000
    assert "checkpoints" in final["resumed_from"] and str(second) in final["resumed_from"]
    assert "best evaluation:" in stdout


def test_runs_of_the_same_second_get_their_own_folders(tmp_path):
    """A resume started within the second of the run it continues once hit FileExistsError."""
    from agents.train import _new_run_dir

    base = tmp_path / "runs" / "scct__ppo__0__20261205-084710"
    made = [_new_run_dir(base) for _ in range(3)]
    assert [p.name for p in made] == [base.name, f"{base.name}-2", f"{base.name}-3"]
    assert all(p.is_dir() for p in made)
