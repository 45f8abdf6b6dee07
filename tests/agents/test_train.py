"""Training runs end to end, resume, the shipped pretrained agent and its entry point."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

from agents.args import make_args, parse_settings
from agents.envs import EnvRecipe, SeedCycle, read_metadata
from agents.policy import AgentPolicy, find_model, ppo_method
from agents.train import train
from baselines.harness.policy import SolverPolicy, resolve_method, run_episode
from splitenv.cli import main as cli_main
from splitenv.scenarios import load_scenario

PRETRAINED = "agents/pretrained/scct_round_ppo.zip"
# the smallest run that exercises every output: 4 updates of 2 envs x 64 steps, 2 evaluations
TINY = dict(
    timesteps=512, n_envs=2, n_steps=64, batch_size=64, n_epochs=2, eval_freq=256,
    eval_episodes=2, checkpoint_freq=256, inner_allocator="equal",
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return train(make_args("scct", "ppo", out=str(out), **TINY))


def test_tiny_run_writes_model_metadata_logs_and_evaluations(tiny_run):
    assert tiny_run.name.startswith("scct__ppo__0__")
    for name in ("model.zip", "best_model.zip", "evaluations.npz", "progress.csv"):
        assert (tiny_run / name).is_file(), name
    assert list(tiny_run.glob("events.out.tfevents.*")), "no TensorBoard events"
    assert list((tiny_run / "checkpoints").glob("model_*_steps.zip"))
    meta = json.loads((tiny_run / "run.json").read_text())
    assert meta["status"] == "finished" and meta["num_timesteps"] == 512
    assert meta["env"]["wrapper"] == "box" and meta["env"]["timescale"] == "round"
    assert meta["hyperparameters"]["n_steps"] == 64
    assert meta["validation_seeds"] == [10_000, 10_001]
    # what `splitenv agents` lists of a shipped agent (agents.catalog)
    scct = load_scenario("scct")
    assert (meta["scenario_version"], meta["seed"]) == (scct.version, 0)
    assert meta["config_sha256"] == scct.sha256()
    evals = np.load(tiny_run / "evaluations.npz")
    # the untrained policy at step 0 (agents.callbacks.InitialEvaluation), then every 256
    assert list(evals["timesteps"]) == [0, 256, 512] and evals["results"].shape == (3, 2)
    assert np.all(evals["results"] < 0) and meta["best_validation"]["evaluations"] == 3


def test_the_initial_evaluation_does_not_change_the_training(tiny_run, tmp_path, monkeypatch):
    import agents.callbacks

    monkeypatch.setattr(agents.callbacks.InitialEvaluation, "_on_training_start", lambda self: None)
    run = train(make_args("scct", "ppo", out=str(tmp_path), **TINY))
    assert list(np.load(run / "evaluations.npz")["timesteps"]) == [256, 512]
    a = ppo_method(str(tiny_run / "model.zip")).model.policy.state_dict()
    b = ppo_method(str(run / "model.zip")).model.policy.state_dict()
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)  # bit-identical


def test_resume_continues_from_the_latest_checkpoint(tiny_run, tmp_path):
    args = make_args(
        "scct", "ppo", out=str(tmp_path), resume=str(tiny_run), **{**TINY, "timesteps": 768}
    )
    run = train(args)
    meta = json.loads((run / "run.json").read_text())
    assert meta["resumed_from"].endswith("model_512_steps.zip")
    assert meta["num_timesteps"] == 768 and meta["trained_timesteps"] == 256
    evals = np.load(run / "evaluations.npz")
    assert list(evals["timesteps"]) == [768]  # the step count continues


def test_maskable_run_acts_within_the_masks(tmp_path):
    run = train(
        make_args(
            "scct", "maskable_ppo", out=str(tmp_path), vec_env="dummy", **{**TINY, "timesteps": 256}
        )
    )
    policy = AgentPolicy(run / "model.zip")
    assert policy.algo == "maskable_ppo" and policy.recipe.wrapper == "multidiscrete"
    env = policy.recipe.make()
    result = run_episode(env, policy, seed=3)
    assert result.steps == 4 and result.infeasible_steps == 0


def test_pretrained_agent_plays_feasible_episodes_and_beats_equal_allocation():
    policy = AgentPolicy(PRETRAINED)
    meta = read_metadata(find_model(PRETRAINED))
    assert meta["algo"] == "ppo" and "command" in meta
    assert meta["eval_env"]["inner_allocator"] == "paper"
    env = gym.make("splitenv/SCCT-v0", timescale="round")  # the benchmark's env: SCCT Alg. 1 inside
    for seed in (20_000, 20_001):
        ours = run_episode(env, policy, seed=seed)
        equal = run_episode(env, SolverPolicy("equal"), seed=seed)
        assert ours.infeasible_steps == 0 and ours.steps == env.unwrapped.rounds
        # (the references differ: the reference's migration is counted from the policy's split)
        assert ours.latency_s < equal.latency_s


def test_pretrained_model_is_small():
    path = find_model(PRETRAINED)
    assert path.stat().st_size < 5e6


def test_resolve_method_loads_agents_through_the_entry_point():
    policy = resolve_method(f"ppo:{PRETRAINED}")
    assert isinstance(policy, AgentPolicy)
    with pytest.raises(ValueError, match="is a ppo model, not maskable_ppo"):
        resolve_method(f"maskable_ppo:{PRETRAINED}")


def test_agent_rejects_another_timescale_or_size():
    policy = AgentPolicy(PRETRAINED)
    env = gym.make("splitenv/SCCT-v0", timescale="joint")
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="timescale 'round'"):
        policy(env, obs)
    env = gym.make(
        "splitenv/SCCT-v0", timescale="round", inner_allocator="equal", **{"network.n_devices": 4}
    )
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="observation has shape"):
        policy(env, obs)


def test_seed_cycle_replays_the_stored_instances_in_order():
    env = SeedCycle(EnvRecipe(inner_allocator="equal").make_wrapped(), [7, 8])
    assert [env.reset(seed=0)[1]["episode_seed"] for _ in range(3)] == [7, 8, 7]


def test_settings_precedence_coercion_and_errors():
    args = make_args("scct", "ppo")
    # configs/agents/scct.yaml: train and validate with SCCT Alg. 1, 8 envs
    assert (args.inner_allocator, args.eval_inner_allocator, args.gamma) == ("paper", "paper", 0.0)
    assert args.n_envs == 8
    assert args.wrapper == "box" and args.lr_schedule == "linear"
    given = parse_settings(["learning_rate=3e-4", "net_arch=[32,32]", "network.n_devices=6"])
    args = make_args("scct", "ppo", **given)
    assert args.learning_rate == 3e-4 and args.net_arch == [32, 32]
    assert args.recipe().overrides == {"network.n_devices": 6}
    assert make_args("scct", "maskable_ppo").wrapper == "multidiscrete"
    with pytest.raises(ValueError, match="unknown training settings \\['lr'\\]"):
        make_args("scct", "ppo", lr=1e-3)
    with pytest.raises(ValueError, match="wrapper = 'box' with algo 'maskable_ppo'"):
        make_args("scct", "maskable_ppo", wrapper="box")
    with pytest.raises(ValueError, match="n_steps = 'many'"):
        make_args("scct", "ppo", n_steps="many")


def test_cli_train_reports_bad_settings(capsys):
    code = cli_main(
        ["train", "--scenario", "scct", "--timesteps", "8", "--out", "x", "--set", "lr=1"]
    )
    assert code == 2
    assert "unknown training settings ['lr']" in capsys.readouterr().err


def test_action_prior_default_starts_the_policy_at_the_reference_decision(tmp_path):
    """``action_prior=default``: the untrained deterministic policy plays the default decision.

    FedsLLM's default (every device one block, rank 8) is a corner of the action space that a
    policy centred at 0 (split 6, rank 4) is far from; with equal shares inside, the step-0
    policy's rounds cost exactly the reference (reward -1 each).
    """
    from agents.train import _new_model

    args = make_args(
        "fedsllm", "ppo", out=str(tmp_path), action_prior="default", log_std_init=-1.5,
        **{**TINY, "rounds": 3},
    )  # fmt: skip
    env = args.recipe().make_wrapped()
    model = _new_model(args, env, args.sb3_kwargs())
    obs, _ = env.reset(seed=5)
    rewards = []
    for _ in range(3):
        action, _ = model.predict(obs, deterministic=True)
        native = env.action(action)
        assert list(native["split"]) == [0] * 5 and native["rank"] == 4  # split 1, rank 8
        obs, reward, *_ = env.step(action)
        rewards.append(reward)
    assert rewards == pytest.approx([-1.0] * 3, rel=1e-6)
    with pytest.raises(ValueError, match="action_prior = 'default' needs the box wrapper"):
        make_args("fedsllm", "maskable_ppo", action_prior="default")
    with pytest.raises(ValueError, match="action_prior = 'mean'; allowed: none, default"):
        make_args("fedsllm", "ppo", action_prior="mean")
