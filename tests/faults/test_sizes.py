"""Huge sizes fail fast: each request beyond the machine is one line and exit 2 within a second.

The sizes are checked from the request (devices, batch, seeds, rollout) before anything is
allocated; ``SPLITENV_MEMORY_LIMIT`` pins the memory cap so the cases do not depend on the
machine.
"""

from __future__ import annotations

import time

import pytest

from splitenv.cli import main
from tests.faults.conftest import one_error_line

CASES = [
    (["evaluate", "--scenario", "scct", "--seed", "0", "--decision", "default",
      "--set", "network.n_devices=10000000"], "network.n_devices = 10000000"),
    (["state", "--scenario", "card", "--seed", "0", "--set", "network.n_devices=1e9"],
     "network.n_devices"),
    (["throughput", "--devices", "100000", "--batch", "100000"], "needs an estimated"),
    (["throughput", "--devices", "10", "--seconds", "1e9"], "seconds = 1000000000.0"),
    (["bench", "--scenario", "scct", "--methods", "equal", "--seeds", "0-100000000", "-q"],
     "100,000,001 seeds"),
    (["bench", "--scenario", "scct", "--methods", "equal", "--seeds", "0", "-q",
      "--set", "network.n_devices=10000000"], "network.n_devices"),
    (["run", "--seeds", "100000000"], "--seeds 100000000; allowed: 1..20"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_huge_requests_fail_fast_with_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("SPLITENV_MEMORY_LIMIT", "2e9")
    if argv[0] in ("bench", "run"):
        argv = [*argv, "--out", str(tmp_path / "out")]
    main(argv)  # imports (solvers, plug-ins) warm: the second call is the request's own cost
    capsys.readouterr()
    start = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - start < 1.0
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"splitenv {argv[0]}: error:") and message in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(pytest.importorskip("stable_baselines3") is None, reason="rl extra")
def test_a_rollout_beyond_memory_fails_fast(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPLITENV_MEMORY_LIMIT", "1e8")
    argv = ["train", "--scenario", "scct", "--timesteps", "64", "--out", str(tmp_path),
            "--set", "n_steps=1000000", "--set", "n_envs=8", "--set", "vec_env=dummy", "-q"]  # fmt: skip
    start = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - start < 5.0  # the scenario's env is built once to size the buffer
    assert "n_steps x n_envs = 1,000,000 x 8 needs an estimated" in one_error_line(
        capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []
