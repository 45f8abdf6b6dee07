"""The Gymnasium API of SplitLoRAEnv: checkers, documented spaces, arguments, info, replay.

The class docstring of :class:`splitenv.env.SplitLoRAEnv` is the MDP spec; the tests
parse its tables and hold the real spaces and observations against them.
"""

from __future__ import annotations

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import splitenv  # noqa: F401  (registers the ids)
from splitenv import ConfigError, StateSampler
from splitenv.env import SplitLoRAEnv
from splitenv.instances import instance_set
from splitenv.model.types import default_values
from splitenv.observation import DEVICE_FEATURES, GLOBAL_FEATURES, Features
from splitenv.registration import ENV_IDS, GENERIC_ID
from splitenv.wrappers import BoxAction, MultiDiscreteAction

ALL_IDS = [*ENV_IDS, GENERIC_ID]
TIMESCALES = ("round", "epoch", "joint")
#: timescales a preset rejects: SplitLLM has no small-timescale decision
INVALID = {("splitenv/SplitLLM-v0", "epoch")}
VALID = [(i, t) for i in ALL_IDS for t in TIMESCALES if (i, t) not in INVALID]
VALID_IDS = [f"{i.split('/')[1]}-{t}" for i, t in VALID]


def make(env_id: str, **kwargs) -> gym.Env:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return gym.make(env_id, **kwargs)


def default_action(env: gym.Env) -> dict:
    """The native Dict action of the preset's default decision (default split, equal shares)."""
    base = env.unwrapped
    scn = base.scenario
    d = default_values(scn)
    lo = scn.decision.split_range[0]
    out: dict = {}
    for key, sub in base.action_space.spaces.items():
        v = d[key]
        if key in ("split", "edge_split"):
            out[key] = (
                int(v[0]) - lo if isinstance(sub, spaces.Discrete) else (v - lo).astype(np.int64)
            )
        elif key == "rank":
            out[key] = list(scn.workload.rank_choices).index(int(v))
        elif key == "quant_bits":
            out[key] = int(v) - scn.compression.quant_bits_range[0]
        elif key == "keep_ratio":
            k_lo, k_hi = scn.compression.keep_ratio_range
            out[key] = np.array([(float(v) - k_lo) / (k_hi - k_lo)])
        elif key in ("subchannels", "fed_subchannels", "compute_share"):
            out[key] = np.array(v)
        elif key == "bandwidth_hz":
            out[key] = v / scn.network.bandwidth_hz
        elif key in ("power_w", "fed_power_w"):
            out[key] = v / scn.network.device_power_w
        elif key == "server_freq_hz":
            f_lo, f_hi = scn.compute.server_freq_hz
            out[key] = (v - f_lo) / (f_hi - f_lo)
        else:  # pragma: no cover - a new field needs a line here
            raise AssertionError(f"no default action for {key}")
        assert sub.contains(np.asarray(out[key], dtype=sub.dtype)), (key, out[key], sub)
    return out


# --------------------------------------------------------------------------------------
# checkers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_gymnasium_check_env(env_id, timescale):
    env = make(env_id, timescale=timescale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped)


def test_gymnasium_check_env_dict_observation_and_ansi():
    env = make("splitenv/FedsLLM-v0", timescale="joint", observation="dict", render_mode="ansi")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped)


@pytest.mark.parametrize("wrapper", [MultiDiscreteAction, BoxAction])
@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_sb3_check_env(env_id, timescale, wrapper):
    env = wrapper(make(env_id, timescale=timescale))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env, warn=True, skip_render_check=True)


def test_sb3_check_env_dict_observation():
    env = BoxAction(make("splitenv/SCCT-v0", timescale="joint", observation="dict"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # SB3 only recommends flat keys; MultiInputPolicy flattens the (N, 6) key itself
        warnings.filterwarnings("ignore", message=".*devices has an unconventional shape")
        sb3_check_env(env, warn=True, skip_render_check=True)


def test_epoch_timescale_of_splitllm_is_a_clear_error():
    with pytest.raises(ValueError, match=r"timescale = 'epoch'.*splitllm.*split, rank, edge_split"):
        gym.make("splitenv/SplitLLM-v0", timescale="epoch")


# --------------------------------------------------------------------------------------
# the docstring's tables are the real spaces
# --------------------------------------------------------------------------------------


def _table(section: str) -> list[list[str]]:
    """Rows (cells) of the first markdown table under ``## section`` of the env docstring."""
    doc = SplitLoRAEnv.__doc__ or ""
    match = re.search(rf"^\s*## {re.escape(section)}\s*$(.*?)(?=^\s*## |\Z)", doc, re.M | re.S)
    assert match, f"docstring has no '## {section}' section"
    rows = [ln.strip() for ln in match.group(1).splitlines() if ln.strip().startswith("|")]
    assert len(rows) >= 3, f"no table in '## {section}'"
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
    assert set("".join(cells[1])) <= set("- :"), "second row must be the header separator"
    return cells[2:]


#: per-device features (the brief's spec had 6: snr .. distance; "active" (churn) made it 7)
F = len(DEVICE_FEATURES)
G = len(GLOBAL_FEATURES)


def _observation_rows() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(offset, name) of the per-device rows ``F n + k`` and of the global rows ``F N + k``."""
    device, glob = [], []
    for cells in _table("Observation Space"):
        m = re.fullmatch(r"(\d+)([nN]) \+ (\d+)", cells[0])
        assert m, f"unparsed index {cells[0]!r}"
        assert int(m.group(1)) == F, f"index {cells[0]!r}: stride {m.group(1)}, features {F}"
        (device if m.group(2) == "n" else glob).append((int(m.group(3)), cells[1]))
    return device, glob


def test_observation_table_matches_features():
    device, glob = _observation_rows()
    assert [i for i, _ in device] == list(range(F)) and [i for i, _ in glob] == list(range(G))
    assert tuple(name for _, name in device) == DEVICE_FEATURES
    assert tuple(name for _, name in glob) == GLOBAL_FEATURES
    assert DEVICE_FEATURES[:6] == ("snr_db", "compute", "memory", "split", "data_size", "distance")
    assert G == 4
    doc = SplitLoRAEnv.__doc__
    assert f"Box(0, 1, ({F} N + {G},), float32)" in doc
    assert f'{{"devices": Box(0, 1, (N, {F})), "globals": Box(0, 1, ({G},))}}' in doc


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_observation_space_is_fn_plus_4(env_id):
    device, glob = _observation_rows()
    for n in (None, 3):
        over = {} if n is None else {"network.n_devices": n}
        env = make(env_id, **over)
        n_dev = env.unwrapped.scenario.n_devices
        space = env.observation_space
        assert isinstance(space, spaces.Box) and space.dtype == np.float32
        assert space.shape == (len(device) * n_dev + len(glob),) == (F * n_dev + 4,)
        assert np.all(space.low == 0.0) and np.all(space.high == 1.0)
        obs, _ = env.reset(seed=0)
        assert obs.shape == space.shape and space.contains(obs)
        dict_env = make(env_id, observation="dict", **over)
        ds = dict_env.observation_space
        assert isinstance(ds, spaces.Dict) and set(ds.spaces) == {"devices", "globals"}
        assert ds["devices"].shape == (n_dev, F) and ds["globals"].shape == (4,)
        assert ds["devices"].dtype == ds["globals"].dtype == np.float32


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_observation_values_follow_the_table(env_id):
    """At reset the named features hold what the table says (read from the seeded state)."""
    env = make(env_id)
    obs, info = env.reset(seed=11)
    base = env.unwrapped
    scn = base.scenario
    n = scn.n_devices
    feats = Features(scn)
    state = StateSampler(scn, info["episode_seed"], base.epochs_per_round).state(0, 0)
    dev = obs[: F * n].reshape(n, F)
    col = {name: dev[:, i] for i, name in enumerate(DEVICE_FEATURES)}
    glob = dict(zip(GLOBAL_FEATURES, obs[F * n :], strict=True))

    def clip(x):
        return np.clip(x, 0.0, 1.0).astype(np.float32)

    np.testing.assert_allclose(
        col["split"], clip(np.full(n, scn.decision.default_split) / scn.model.n_layers)
    )
    np.testing.assert_allclose(
        col["distance"], clip(state.distance_m / feats.max_distance), rtol=1e-6
    )
    np.testing.assert_allclose(
        col["memory"], clip(state.device_memory_bytes / feats.max_memory), rtol=1e-6
    )
    np.testing.assert_allclose(col["data_size"], clip(state.data_size / feats.max_data), rtol=1e-6)
    np.testing.assert_allclose(
        col["compute"], clip(state.device_flops / feats.max_flops), rtol=1e-6
    )
    if "active" in col:
        np.testing.assert_array_equal(col["active"], state.active.astype(np.float32))
    assert glob["round_progress"] == 0.0 and glob["epoch_progress"] == 0.0
    assert glob["is_round_start"] == 1.0 and glob["last_cost_ratio"] == pytest.approx(0.2)
    # the dict mode holds the same numbers
    dobs, _ = make(env_id, observation="dict").reset(seed=11)
    np.testing.assert_array_equal(dobs["devices"], dev)
    np.testing.assert_array_equal(dobs["globals"], obs[F * n :])


def test_observation_globals_after_steps():
    env = make("splitenv/SCCT-v0", timescale="epoch", rounds=2, epochs_per_round=3)
    env.reset(seed=0)
    a = default_action(env)
    obs, r, *_ = env.step(a)
    n = env.unwrapped.scenario.n_devices
    glob = dict(zip(GLOBAL_FEATURES, obs[F * n :], strict=True))
    assert glob["round_progress"] == 0.0
    assert glob["epoch_progress"] == pytest.approx(1 / 3)
    assert glob["is_round_start"] == 0.0
    assert glob["last_cost_ratio"] == pytest.approx(-r / 5.0)
    for _ in range(2):
        obs, *_ = env.step(a)
    glob = dict(zip(GLOBAL_FEATURES, obs[F * n :], strict=True))
    assert glob["round_progress"] == pytest.approx(0.5) and glob["is_round_start"] == 1.0


def _action_rows() -> dict[str, set[str]]:
    """key -> timescales, from the Action Space table (a cell may list several keys)."""
    out: dict[str, set[str]] = {}
    for cells in _table("Action Space"):
        timescales = {t.strip() for t in cells[3].split(",")}
        assert timescales <= set(TIMESCALES), cells
        for key in cells[0].split(","):
            out[key.strip()] = timescales
    return out


@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_action_table_lists_every_key(env_id, timescale):
    rows = _action_rows()
    env = make(env_id, timescale=timescale)
    assert isinstance(env.action_space, spaces.Dict)
    for key in env.action_space.spaces:
        assert key in rows, f"action key {key!r} of {env_id} is missing from the docstring table"
        assert timescale in rows[key], f"{key!r} is documented for {rows[key]}, not {timescale!r}"


def test_action_table_covers_all_decisions():
    """Every decision any preset exposes at the joint timescale is in the table, and nothing else."""
    rows = _action_rows()
    seen = set()
    for env_id in ENV_IDS:
        seen |= set(make(env_id, timescale="joint").action_space.spaces)
    assert seen == set(rows)


_DOC_BOUND = re.compile(r"Box\((?P<lo>[^,()]+), (?P<hi>[^,()]+), \(N,\)\)")


def test_action_table_box_bounds_match_native_space():
    env = make("splitenv/FedsLLM-v0", timescale="joint")
    scn = env.unwrapped.scenario
    card = make("splitenv/CARD-v0", timescale="joint")
    sft = make("splitenv/SFT-v1", timescale="joint")
    symbols = {
        "0": 0.0,
        "1": 1.0,
        "B": sft.unwrapped.scenario.network.bandwidth_hz,
        "P_max": scn.network.device_power_w,
        "F_min": card.unwrapped.scenario.compute.server_freq_hz[0],
        "F_max": card.unwrapped.scenario.compute.server_freq_hz[1],
    }
    scct = make("splitenv/SCCT-v0", timescale="joint")
    spaces_by_key = {
        **scct.action_space.spaces,
        **card.action_space.spaces,
        **sft.action_space.spaces,
        **env.action_space.spaces,
    }
    for cells in _table("Action Space"):
        m = _DOC_BOUND.search(cells[1])
        if not m:
            continue
        for key in (k.strip() for k in cells[0].split(",")):
            sub = spaces_by_key[key]
            assert np.all(sub.low == symbols[m["lo"].strip()]), (key, cells[1], sub)
            assert np.all(sub.high == symbols[m["hi"].strip()]), (key, cells[1], sub)


# --------------------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_overrides_change_n(env_id):
    for env in (
        make(env_id, **{"network.n_devices": 4}),
        make(env_id, network__n_devices=4),
        make(env_id, overrides={"network.n_devices": 4}),
    ):
        assert env.unwrapped.scenario.n_devices == 4
        assert env.observation_space.shape == (F * 4 + 4,)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (F * 4 + 4,)
        if "split" in env.action_space.spaces and isinstance(
            env.action_space["split"], spaces.MultiDiscrete
        ):
            assert env.action_space["split"].shape == (4,)


def test_generic_id_takes_config():
    env = make(GENERIC_ID, config="sft", network__n_devices=3)
    assert env.unwrapped.scenario.name == "sft" and env.observation_space.shape == (F * 3 + 4,)


@pytest.mark.parametrize(
    "override",
    [
        {"network.no_such_field": 1},
        {"nosection.x": 1},
        {"network__n_devicez": 3},
        {"network.n_devices": 0},
    ],
)
def test_bad_override_is_config_error(override):
    field = next(iter(override)).replace("__", ".")
    with pytest.raises(ConfigError, match=re.escape(field)):
        gym.make("splitenv/SCCT-v0", **override)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"timescale": "bogus"}, "timescale"),
        ({"timescale": "Round"}, "timescale"),
        ({"reward_mode": "bogus"}, "reward_mode"),
        ({"rounds": 0}, "rounds"),
        ({"rounds": -3}, "rounds"),
        ({"rounds": 2.5}, "rounds"),
        ({"epochs_per_round": 0}, "epochs_per_round"),
        ({"observation": "image"}, "observation"),
        ({"energy_weight": -1.0}, "energy_weight"),
        ({"infeasible_penalty": -1.0}, "infeasible_penalty"),
    ],
)
def test_bad_argument_is_value_error_naming_it(kwargs, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        gym.make("splitenv/SCCT-v0", **kwargs)


def test_unknown_allocator_and_provider():
    with pytest.raises(ValueError, match=r"allocator 'nope'.*equal"):
        gym.make("splitenv/SCCT-v0", inner_allocator="nope")
    with pytest.raises(ValueError, match=r"accuracy provider 'nope'.*surrogate"):
        gym.make("splitenv/SCCT-v0", accuracy="nope")


def test_step_before_reset_and_after_end():
    env = SplitLoRAEnv("scct", rounds=1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(default_action(env))
    env.reset(seed=0)
    *_, truncated, _ = env.step(default_action(env))
    assert truncated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(default_action(env))


# --------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_render_ansi_one_row_per_device(env_id):
    env = make(env_id, render_mode="ansi", timescale="joint")
    env.reset(seed=0)
    before = env.render()
    assert isinstance(before, str)
    env.step(default_action(env))
    text = env.render()
    assert isinstance(text, str)
    n = env.unwrapped.scenario.n_devices
    rows = [ln for ln in text.splitlines() if re.match(r"^\s*\d+\s+\d+\s", ln)]
    assert len(rows) == n
    assert [int(r.split()[0]) for r in rows] == list(range(n))
    split = default_values(env.unwrapped.scenario)["split"]
    assert [int(r.split()[1]) for r in rows] == split.tolist()
    assert make(env_id).unwrapped.render() is None  # no render_mode: nothing


# --------------------------------------------------------------------------------------
# instances and replay
# --------------------------------------------------------------------------------------


def _rollout(env, reset_kwargs, actions):
    obs, _ = env.reset(**reset_kwargs)
    out = [(obs.copy(), None)]
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        out.append((obs.copy(), r))
        if term or trunc:
            break
    return out


@pytest.mark.parametrize("env_id", ["splitenv/SCCT-v0", "splitenv/FedsLLM-v0", "splitenv/SFT-v1"])
def test_instance_replays_exactly(env_id):
    env = make(env_id, timescale="joint", rounds=2, epochs_per_round=3)
    env.action_space.seed(5)
    actions = [env.action_space.sample() for _ in range(6)]
    for k in instance_set(env.unwrapped.scenario, "test")[:2]:
        a = _rollout(env, {"options": {"instance": {"seed": k}}}, actions)
        _rollout(env, {"seed": 99}, actions)  # something else in between
        fresh = make(env_id, timescale="joint", rounds=2, epochs_per_round=3)
        b = _rollout(fresh, {"options": {"instance": {"seed": k}}}, actions)
        c = _rollout(env, {"options": {"instance": {"seed": k}}}, actions)
        for x, y, z in zip(a, b, c, strict=True):
            np.testing.assert_array_equal(x[0], y[0])
            np.testing.assert_array_equal(x[0], z[0])
            assert x[1] == y[1] == z[1]
        assert env.unwrapped.instance()["seed"] == k


def test_instance_round_trip():
    env = make("splitenv/SCCT-v0", timescale="joint", rounds=2, epochs_per_round=2)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(4)]
    first = _rollout(env, {"seed": 1234}, actions)
    inst = env.unwrapped.instance()
    assert set(inst) == {"seed", "scenario_sha256"} and re.fullmatch(
        r"[0-9a-f]{64}", inst["scenario_sha256"]
    )
    other = make("splitenv/SCCT-v0", timescale="joint", rounds=2, epochs_per_round=2)
    replay = _rollout(other, {"options": {"instance": inst}}, actions)
    for x, y in zip(first, replay, strict=True):
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1] == y[1]
    assert other.unwrapped.instance() == inst
    # the scenario hash tells scenarios apart
    changed = make("splitenv/SCCT-v0", network__n_devices=4)
    changed.reset(seed=1234)
    assert changed.unwrapped.instance()["scenario_sha256"] != inst["scenario_sha256"]


@pytest.mark.parametrize("bad", [5, {"sed": 1}, "0"])
def test_bad_instance_option(bad):
    env = make("splitenv/SCCT-v0")
    with pytest.raises(ValueError, match="instance"):
        env.reset(options={"instance": bad})


# --------------------------------------------------------------------------------------
# info and rewards
# --------------------------------------------------------------------------------------

INFO_KEYS = {
    "latency_s",
    "energy_j",
    "cost",
    "reference_cost",
    "terms",
    "violations",
    "feasible",
    "decision",
}


@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_info_keys_and_round_latency(env_id, timescale):
    env = make(env_id, timescale=timescale, rounds=2, epochs_per_round=3)
    _, info = env.reset(seed=3)
    assert "episode_seed" in info and "action_mask" in info
    a = default_action(env)
    per_round = 1 if timescale == "round" else 3
    for step in range(1, env.unwrapped.steps_per_episode + 1):
        _, reward, term, trunc, info = env.step(a)
        assert INFO_KEYS <= set(info), INFO_KEYS - set(info)
        for key in ("latency_s", "energy_j", "cost", "reference_cost"):
            assert isinstance(info[key], float) and np.isfinite(info[key]) and info[key] >= 0, key
        assert info["feasible"] is np.True_ and info["violations"] == {}
        assert isinstance(info["terms"], dict) and all(
            isinstance(v, float) for v in info["terms"].values()
        )
        assert isinstance(info["decision"], dict) and "split" in info["decision"]
        at_round_end = step % per_round == 0
        assert ("round_latency_s" in info) == at_round_end, step
        assert isinstance(reward, float)
        assert trunc == (step == env.unwrapped.steps_per_episode) and not term


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_epoch_latencies_compose_the_round(env_id):
    """Epoch costs sum to the round's latency (an upper bound for independent devices)."""
    env = make(env_id, timescale="joint", rounds=2, epochs_per_round=3)
    env.reset(seed=8)
    env.action_space.seed(8)
    independent = env.unwrapped.scenario.schedule.sync == "independent"
    acc = 0.0
    for step in range(6):
        a = default_action(env) if step < 3 else env.action_space.sample()
        *_, info = env.step(a)
        acc += info["latency_s"]
        if "round_latency_s" in info:
            exact = info["round_latency_s"]
            if np.isfinite(exact):
                if independent:
                    assert acc >= exact * (1 - 1e-12)
                else:
                    assert acc == pytest.approx(exact, rel=1e-12)
            acc = 0.0


@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_equal_policy_reward_is_minus_one(env_id, timescale):
    env = make(env_id, timescale=timescale, inner_allocator="equal", rounds=2, epochs_per_round=2)
    env.reset(seed=21)
    a = default_action(env)
    done = False
    while not done:
        _, reward, term, trunc, info = env.step(a)
        assert reward == -1.0
        assert info["cost"] == info["reference_cost"]
        done = term or trunc
    raw = make(
        env_id,
        timescale=timescale,
        inner_allocator="equal",
        reward_mode="raw",
        rounds=1,
        epochs_per_round=2,
    )
    raw.reset(seed=21)
    _, reward, *_, info = raw.step(a)
    assert reward == -info["cost"] and info["cost"] == info["reference_cost"]


def test_infeasible_action_is_penalized():
    env = make("splitenv/SCCT-v0", timescale="epoch", infeasible_penalty=3.0)
    env.reset(seed=0)
    a = default_action(env)
    a["subchannels"] = np.full_like(a["subchannels"], env.unwrapped.scenario.network.n_subchannels)
    _, reward, *_, info = env.step(a)
    assert info["feasible"] is np.False_ and info["violations"]["subchannels"] > 0
    # the (capped) cost ratio of what was played, plus the penalty on top
    assert reward == pytest.approx(-(min(info["cost"] / info["reference_cost"], 100.0) + 3.0))
    assert reward < -3.0


# --------------------------------------------------------------------------------------
# accuracy provider: time to accuracy
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rank_index", [0, 4])
def test_surrogate_accuracy_terminates_fedsllm(rank_index):
    scn_rounds = dict(make("splitenv/FedsLLM-v0").unwrapped.scenario.accuracy.rounds_by_rank)
    env = make(
        "splitenv/FedsLLM-v0",
        accuracy="surrogate",
        rounds=200,
        epochs_per_round=1,
        reward_mode="raw",
    )
    env.reset(seed=4)
    a = default_action(env)
    a["rank"] = rank_index
    rank = env.unwrapped.scenario.workload.rank_choices[rank_index]
    steps, latency, ret, round_sum = 0, 0.0, 0.0, 0.0
    while True:
        _, reward, term, trunc, info = env.step(a)
        steps += 1
        latency += info["latency_s"]
        round_sum += info["round_latency_s"]
        ret += reward
        if term or trunc:
            break
    assert term and not trunc
    assert steps == scn_rounds[rank] < 200
    assert info["accuracy"] == pytest.approx(1.0, abs=1e-9)
    assert latency == pytest.approx(info["simulated_time_s"], rel=1e-12)
    assert round_sum == pytest.approx(latency, rel=1e-12)
    assert ret == pytest.approx(-latency, rel=1e-12)  # the return is minus the time to accuracy


def test_surrogate_accuracy_epoch_timescale():
    env = make(
        "splitenv/FedsLLM-v0",
        timescale="epoch",
        accuracy="surrogate",
        rounds=100,
        epochs_per_round=2,
    )
    env.reset(seed=0)
    a = default_action(env)
    latency, steps = 0.0, 0
    while True:
        _, _, term, trunc, info = env.step(a)
        steps += 1
        latency += info["latency_s"]
        if term or trunc:
            break
    rounds = dict(env.unwrapped.scenario.accuracy.rounds_by_rank)[
        env.unwrapped.scenario.decision.default_rank
    ]
    assert term and not trunc and steps == 2 * rounds
    assert latency == pytest.approx(info["simulated_time_s"], rel=1e-12)


def test_no_accuracy_provider_truncates():
    env = make("splitenv/FedsLLM-v0", rounds=3, accuracy=None)  # the id defaults to surrogate
    env.reset(seed=0)
    for step in range(3):
        _, _, term, trunc, info = env.step(default_action(env))
        assert not term and trunc == (step == 2) and "accuracy" not in info


def test_fedsllm_id_ends_at_the_rounds_to_target():
    """FedsLLM-v0 defaults to the surrogate provider: an episode lasts E(r) rounds (FedsLLM (17))."""
    env = make("splitenv/FedsLLM-v0", timescale="round")
    env.reset(seed=0)
    action = default_action(env)
    rank = env.unwrapped.scenario.workload.rank_choices[int(action["rank"])]
    needed = dict(env.unwrapped.scenario.accuracy.rounds_by_rank)[rank]
    for step in range(needed):
        _, _, term, trunc, _ = env.step(action)
        assert not trunc and term == (step == needed - 1)
