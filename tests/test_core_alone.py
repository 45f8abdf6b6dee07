"""The core stands alone: with baselines, agents and every optional extra unimportable,
every registered env builds, resets and steps at its defaults, and the core CLI runs.

A subprocess installs an import blocker first, so the check does not depend on what the test
process has imported. The slow test does the same in a real fresh venv holding only the core
dependencies (numpy, scipy, gymnasium, pyyaml, numba).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = ("baselines", "agents", "torch", "matplotlib", "stable_baselines3", "sb3_contrib",
           "alns", "cvxpy", "tensorboard", "transformers", "datasets", "ray", "tqdm", "rich")  # fmt: skip

BLOCKER = f"""
import importlib.abc, sys
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"blocked: {{name}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""

ENVS = """
import gymnasium as gym
import numpy as np
import splitenv
for env_id in sorted(splitenv.ENV_IDS):
    for timescale in ("round", "epoch", "joint"):
        try:
            env = gym.make(env_id, timescale=timescale)
        except ValueError as exc:  # documented: SplitLLM allocates nothing per epoch
            assert "exposes no decision" in str(exc), exc
            continue
        env.reset(seed=0)
        _, reward, *_ = env.step(env.action_space.sample())
        assert np.isfinite(reward), (env_id, timescale, reward)
print("envs ok", len(splitenv.ENV_IDS))
"""

CLI = """
import sys
from splitenv.cli import main
assert main(["scenarios"]) == 0
assert main(["evaluate", "--scenario", "scct", "--seed", "0", "--decision", "default"]) == 0
print("cli ok")
"""


def _run(python: str, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600
    )


@pytest.mark.parametrize(("name", "code"), [("envs", ENVS), ("cli", CLI)])
def test_core_runs_with_upper_layers_and_extras_blocked(name, code):
    run = _run(sys.executable, BLOCKER + textwrap.dedent(code))
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"{name} ok" in run.stdout


@pytest.mark.slow
def test_fresh_venv_with_core_dependencies_only(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "numpy", "scipy", "gymnasium", "pyyaml", "numba"], check=True, timeout=900)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True, timeout=900)
    python = str(venv / "bin" / "python")
    for name, code in (("envs", ENVS), ("cli", CLI)):
        run = _run(python, BLOCKER + textwrap.dedent(code))
        assert run.returncode == 0, run.stderr[-3000:]
        assert f"{name} ok" in run.stdout
