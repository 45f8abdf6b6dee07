"""A plug-in package extends splitenv end to end through entry points, as the core does.

`tests/plugins/splitenv_example/` (a scenario `tiny_scct`, a solver `example_common_split`, an
inner allocator `example_by_gain`) is installed by this test into a temporary folder with pip;
subprocesses with that folder on PYTHONPATH see its entry points and use them through
`splitenv scenarios`, `splitenv solvers`, `splitenv bench --methods` and `gym.make`. The
test's own venv is left untouched (the plug-in's scenario would otherwise join every
listing).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tests" / "plugins" / "splitenv_example"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PACKAGE)],
        capture_output=True, text=True, timeout=600, cwd=build,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return target


def _run(site, *args, code=None):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "splitenv.cli", *args]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return run.stdout


def test_scenario_is_listed_and_registered(site):
    assert "tiny_scct" in _run(site, "scenarios")
    out = _run(site, code=(
        "import gymnasium as gym, splitenv\n"
        "assert splitenv.env_id('tiny_scct') == 'splitenv/TinySCCT-v0'\n"
        "env = gym.make('splitenv/TinySCCT-v0')\n"
        "scn = env.unwrapped.scenario\n"
        "print(scn.n_devices, scn.network.n_subchannels, scn.model.n_layers)\n"
    ))  # fmt: skip
    # the plug-in's YAML overrides 4 devices and 40 subcarriers; the rest is SCCT's (24 layers)
    assert out.split() == ["4", "40", "24"]


def test_allocator_is_used_by_the_env(site):
    out = _run(site, code=(
        "import json, gymnasium as gym, numpy as np, splitenv\n"
        "from splitenv.spaces import largest_remainder\n"
        "env = gym.make('splitenv/TinySCCT-v0', timescale='round', inner_allocator='example_by_gain', epochs_per_round=1)\n"
        "env.reset(seed=3)\n"
        "gain = np.asarray(env.unwrapped.current_state.channel_gain, float).reshape(-1)\n"
        "env.action_space.seed(0)\n"
        "*_, info = env.step(env.action_space.sample())\n"
        "want = largest_remainder(gain / gain.sum(), 40, 1)\n"
        "print(json.dumps([np.asarray(info['decision']['subchannels']).tolist(), want.tolist()]))\n"
    ))  # fmt: skip
    got, want = json.loads(out.strip().splitlines()[-1])
    # the round's (one) epoch got the plug-in's subcarriers: proportional to gain, 40 in all
    assert got == want and sum(got) == 40


def test_solver_is_listed_and_benchmarked(site, tmp_path):
    assert "example_common_split" in _run(site, "solvers")
    out = tmp_path / "bench"
    _run(site, "bench", "--scenario", "tiny_scct", "--methods", "equal,example_common_split",
         "--seeds", "0-1", "--timescale", "joint", "--rounds", "1", "--no-figures", "-q",
         "--out", str(out))  # fmt: skip
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("equal", "0"), ("equal", "1"), ("example_common_split", "0"), ("example_common_split", "1"),
    ]  # fmt: skip
    by = {(r["method"], r["seed"]): float(r["objective"]) for r in rows}
    for seed in ("0", "1"):
        # the best shared split is at least as good as the preset's default split with equal shares
        assert by[("example_common_split", seed)] <= by[("equal", seed)] * (1 + 1e-12)
