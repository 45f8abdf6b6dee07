"""The train and table accuracy providers behind the env's protocol; lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import splitenv  # noqa: F401  (registers the env ids)
from splitenv.accuracy_providers import (
    SurrogateAccuracy,
    make_provider,
    surrogate_inputs,
    surrogate_rounds,
)
from splitenv.model.types import Decision
from splitenv.scenarios import load_scenario


def test_import_splitenv_does_not_import_torch():
    code = "import sys, splitenv, splitenv.accuracy_providers, splitenv.training; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_torch_names_the_extra(monkeypatch):
    from splitenv.training import _deps

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r'pip install "splitenv\[train\]"'):
        _deps.require_torch()


def test_registry_names():
    assert type(make_provider("surrogate")).__name__ == "SurrogateAccuracy"
    assert type(make_provider("table")).__name__ == "TableAccuracy"
    with pytest.raises(ValueError, match="surrogate, table, train"):
        make_provider("oracle")


@pytest.mark.parametrize("preset", ["fedsllm", "sft"])
def test_surrogate_of_many_rows_equals_the_provider_row_by_row(preset):
    """surrogate_rounds on 3000 rows (the vector env's path) = SurrogateAccuracy per row, bit for bit.

    FedsLLM: E(r) (17) interpolated in its table; SFT: the A(rho, q) (35) ceiling, clipped.
    """
    scn = load_scenario(preset)
    rng = np.random.default_rng(5)
    m, n = 3000, scn.n_devices
    rank = rng.integers(1, 12, m)
    rho, q = rng.uniform(0.0, 1.0, m), rng.integers(1, 17, m)
    progress = np.where(rng.random(m) < 0.2, 0.0, rng.uniform(0.0, 1.0, m))
    batch = Decision(rank=rank, keep_ratio=rho, quant_bits=np.repeat(q[:, None], n, axis=1))
    rows = np.arange(m)[::-1]  # any order of rows
    got = surrogate_rounds(scn, progress[rows], *surrogate_inputs(batch, rows))
    provider = SurrogateAccuracy()
    for j, i in enumerate(rows):
        provider.progress = float(progress[i])
        report = provider.round(scn, batch.take(int(i)))
        assert got[0][j] == provider.progress and got[1][j] == report.accuracy, i
        assert got[2][j] == report.target_reached
        assert got[3][j] == report.extras["rounds_needed"]
    assert got[2].any() and not got[2].all()
    if preset == "fedsllm":  # E(3) between (2, 63) and (4, 54); no ceiling
        one = surrogate_rounds(scn, np.zeros(1), np.array([3.0]), None, None)
        assert one[3][0] == 58.5 and one[1][0] == 1.0 / 58.5
    else:  # schedule.rounds rounds reach the target; accuracy = progress * clip(A, 0, 1)
        one = surrogate_rounds(scn, np.zeros(1), None, np.array([0.5]), np.array([8.0]))
        c = scn.accuracy.cubic_coeffs
        a = (c[0] + c[1] * 0.5 + c[2] * 8 + c[3] * 0.25 + c[4] * 64 + c[5] * 4 + c[6] * 0.125
             + c[7] * 512 + c[8] * 2 + c[9] * 32)  # fmt: skip
        assert one[3][0] == scn.schedule.rounds
        assert one[1][0] == pytest.approx(min(max(a, 0.0), 1.0) / scn.schedule.rounds, rel=1e-12)


def _table(tmp_path):
    runs = []
    for rho in (0.05, 0.2, 1.0):
        for q in (2, 8):
            level = 0.9 - 0.3 * (rho == 0.05) - 0.1 * (q == 2)
            runs.append({"keep_ratio": rho, "quant_bits": q, "rank": 16, "cut": 3, "seed": 0,
                         "curve": [level * t / 4 for t in range(1, 5)]})  # fmt: skip
    path = tmp_path / "sft.json"
    path.write_text(json.dumps({"model_layers": 6, "runs": runs}))
    return path


def test_table_provider_interpolates_measured_curves(tmp_path):
    scn = load_scenario("sft")
    table = make_provider("table")
    table.path = _table(tmp_path)
    table.target_accuracy = 0.8
    table.reset(scn, seed=0)
    # exact grid point, round 2 of 4
    assert table.lookup(2, 16, 3, 0.2, 8) == pytest.approx(0.45)
    # halfway between q = 2 and q = 8 at rho = 1: linear
    assert table.lookup(4, 16, 3, 1.0, 5) == pytest.approx(0.85)
    # beyond the measured rounds: the last value; nearest rank and cut
    assert table.lookup(9, 4, 1, 0.05, 2) == pytest.approx(0.5)
    reports = [
        table.round(scn, Decision(split=[5], keep_ratio=[1.0], quant_bits=[8])) for _ in range(4)
    ]
    assert [r.target_reached for r in reports] == [False, False, False, True]
    assert reports[-1].accuracy == pytest.approx(0.9)


def test_table_provider_without_a_table_says_how_to_make_one(tmp_path):
    table = make_provider("table")
    table.path = tmp_path / "missing.json"
    with pytest.raises(FileNotFoundError, match="splitenv calibrate"):
        table.reset(load_scenario("sft"), seed=0)


def _tiny_provider(target):
    pytest.importorskip("torch")
    from splitenv.training.experiment import ExperimentConfig
    from splitenv.training.federated import TrainSettings
    from splitenv.training.providers import TrainAccuracy

    settings = TrainSettings(local_steps=1, batch_size=8, eval_samples=32, lora_targets=("q", "v"))
    exp = ExperimentConfig(model="tiny", n_samples=200, settings=settings)
    return TrainAccuracy(exp, target_accuracy=target)


def test_train_provider_in_an_sft_episode():
    provider = _tiny_provider(target=2.0)  # never reached: the episode is truncated
    env = gym.make("splitenv/SFT-v1", accuracy=provider, rounds=2, inner_allocator="equal",
                   **{"network.n_devices": 3})  # fmt: skip
    env.reset(seed=3)
    steps, steps_info = [], []
    for _ in range(2):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        steps.append((reward, terminated, truncated, info["accuracy"]))
        steps_info.append(info)
    assert [s[1] for s in steps] == [False, False] and steps[-1][2]
    hist = provider.history
    assert len(hist) == 2 and all(0.0 <= h["accuracy"] <= 1.0 for h in hist)
    # SFT: one shared cut, mapped to the tiny model's 4 layers
    assert hist[0]["cuts"] == [[hist[0]["cuts"][0][0]]] * 3
    assert 0 <= hist[0]["cuts"][0][0] <= 4
    assert hist[0]["rank"] == 16 and hist[0]["wire_bytes_up"] > 0
    assert hist[0]["wire_bits_per_element_up"] <= 32.0
    # the env hands the provider's measurements over in info
    extras = steps_info[-1]["accuracy_extras"]
    assert extras["loss"] == hist[-1]["loss"] and extras["wire_bytes_up"] == hist[-1]["wire_bytes_up"]
    assert extras["wire_modelled_bytes_up"] > 0 and extras["round"] == hist[-1]["round"]
    env.close()


def test_train_provider_terminates_at_the_target():
    provider = _tiny_provider(target=0.0)
    env = gym.make("splitenv/SFT-v1", accuracy=provider, rounds=3, inner_allocator="equal",
                   **{"network.n_devices": 2})  # fmt: skip
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step(env.action_space.sample())
    assert terminated and not truncated
    assert "accuracy" in info and np.isfinite(info["round_latency_s"])
    env.close()


def test_train_provider_weighs_fedavg_by_the_states_data_size():
    provider = _tiny_provider(target=2.0)
    env = gym.make("splitenv/SFT-v1", accuracy=provider, rounds=1, inner_allocator="equal",
                   **{"network.n_devices": 3})  # fmt: skip
    _, _ = env.reset(seed=11)
    state = env.unwrapped._state
    np.testing.assert_array_equal(provider.trainer.weights, state.data_size)
    partition_sizes = [len(p) for p in provider.trainer.parts]
    assert provider.trainer.weights.tolist() != partition_sizes  # a different, real source
    env.close()


def test_train_provider_partition_weights_and_bad_option():
    from splitenv.training.providers import TrainAccuracy

    provider = _tiny_provider(target=2.0)
    provider.fedavg_weights = "partition"
    provider.reset(load_scenario("sft", {"network.n_devices": 2}), seed=0)
    assert provider.trainer.weights.tolist() == [len(p) for p in provider.trainer.parts]
    with pytest.raises(ValueError, match="fedavg_weights = 'size'; allowed: state, partition"):
        TrainAccuracy(fedavg_weights="size")
    provider.fedavg_weights = "state"
    provider.devices = 3  # 3 training devices for a 2-device scenario: no D_n for the third
    with pytest.raises(ValueError, match="3 training devices but the scenario has 2"):
        provider.reset(load_scenario("sft", {"network.n_devices": 2}), seed=0)
