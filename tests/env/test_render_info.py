"""Rendering (``rgb_array`` Gantt chart, ``ansi``) and the documented numpy dtypes of ``info``."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest

import splitenv  # noqa: F401  (registers the ids)
from splitenv import StateSampler, render
from splitenv.env import SplitLoRAEnv
from splitenv.model import Decision, State, evaluate_batch
from splitenv.registration import ENV_IDS
from splitenv.scenarios import load_scenario
from splitenv.wrappers import BoxAction

IDS = list(ENV_IDS)
TIMESCALES = ("round", "epoch", "joint")
VALID = [(i, t) for i in IDS for t in TIMESCALES if (i, t) != ("splitenv/SplitLLM-v0", "epoch")]
VALID_IDS = [f"{i.split('/')[1]}-{t}" for i, t in VALID]


# --------------------------------------------------------------------------------------
# rgb_array: the Gantt chart
# --------------------------------------------------------------------------------------


def test_render_modes_metadata():
    assert SplitLoRAEnv.metadata["render_modes"] == ["ansi", "rgb_array"]
    assert SplitLoRAEnv.metadata["render_fps"] > 0


def _hand_made_state() -> State:
    """Three devices with distinct channels and compute (numbers chosen by hand)."""
    return State(
        channel_gain=np.array([2e-9, 4e-10, 5e-11]),
        noise_psd_w_hz=np.full(3, 10 ** (-174 / 10) / 1000),
        device_flops=np.array([2e12, 6e11, 1.5e11]),
        device_memory_bytes=np.full(3, 64e9),
        distance_m=np.array([50.0, 120.0, 300.0]),
        data_size=np.array([500.0, 800.0, 1200.0]),
        fed_channel_gain=np.zeros(3),
        edge_of=np.zeros(3, dtype=np.int64),
        prev_split=np.full(3, -1),
    )


def _row_runs(img: np.ndarray, device: int) -> dict[str, int]:
    """Pixels of each phase colour in the middle line of ``device``'s row."""
    y = render.MARGIN + device * (render.ROW + render.GAP) + render.ROW // 2
    line = img[y]
    return {p: int(np.all(line == c, axis=1).sum()) for p, c in render.COLOURS.items()}


def test_gantt_bars_are_proportional_to_the_engine_times():
    scn = load_scenario("scct", {"network.n_devices": 3})
    state = _hand_made_state()
    ev = evaluate_batch(scn, state, Decision(split=np.array([2, 5, 9])))
    img = render.gantt(3, [ev])
    assert img.dtype == np.uint8 and img.shape == render.image_shape(3)
    per = ev.per_device
    span = float(ev.terms["iteration_s"][0])  # one epoch: the axis spans its iteration
    plot = render.WIDTH - 2 * render.MARGIN
    px_per_s = plot / span
    for n in range(3):
        runs = _row_runs(img, n)
        for phase in render.PHASES:
            expected = float(per[phase][0, n]) * px_per_s
            assert abs(runs[phase] - expected) <= 1.0, (n, phase, runs[phase], expected)
        drawn = sum(runs.values())
        assert abs(drawn - float(per["chain_s"][0, n]) * px_per_s) <= 1.0
    # the devices differ, so the rows do: a proportional chart, not a constant one
    assert len({sum(_row_runs(img, n).values()) for n in range(3)}) == 3
    # phases lie in chain order along each row
    for n in range(3):
        y = render.MARGIN + n * (render.ROW + render.GAP) + render.ROW // 2
        order = []
        for x in range(render.WIDTH):
            for phase, colour in render.COLOURS.items():
                if np.all(img[y, x] == colour) and (not order or order[-1] != phase):
                    order.append(phase)
        assert order == [p for p in render.PHASES if p in order]


def test_gantt_epochs_start_at_the_earlier_iterations():
    scn = load_scenario("scct", {"network.n_devices": 3})
    state = _hand_made_state()
    evs = [evaluate_batch(scn, state, Decision(split=np.array([s, s, s]))) for s in (3, 8)]
    bars = render.gantt_bars(evs)
    first_iteration = float(evs[0].terms["iteration_s"][0])
    assert min(b.start_s for b in bars if b.epoch == 1) == pytest.approx(first_iteration)
    for b in bars:
        assert b.end_s - b.start_s == pytest.approx(
            float(evs[b.epoch].per_device[b.phase][0, b.device])
        )


def test_env_render_draws_the_engine_evaluation_of_the_round():
    env = gym.make(
        "splitenv/SCCT-v0", render_mode="rgb_array", inner_allocator="equal", epochs_per_round=1
    )
    _, info = env.reset(seed=5)
    empty = env.render()
    n = env.unwrapped.scenario.n_devices
    assert empty.shape == render.image_shape(n) and empty.dtype == np.uint8
    *_, info = env.step(env.action_space.sample())
    scn = env.unwrapped.scenario
    state = StateSampler(scn, int(env.unwrapped.episode_seed), 1).state(0, 0)
    played = Decision(**{k: np.asarray(v) for k, v in info["decision"].items()})
    expected = render.gantt(n, [evaluate_batch(scn, state, played)])
    np.testing.assert_array_equal(env.render(), expected)
    assert not np.array_equal(expected, empty)


@pytest.mark.parametrize("env_id", IDS)
def test_rgb_array_frames_have_one_shape(env_id):
    env = gym.wrappers.RenderCollection(
        BoxAction(gym.make(env_id, render_mode="rgb_array", timescale="joint", rounds=2))
    )
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(3):
        env.step(env.action_space.sample())
    frames = env.render()
    n = env.unwrapped.scenario.n_devices
    assert len(frames) == 4 and {f.shape for f in frames} == {render.image_shape(n)}
    assert all(f.dtype == np.uint8 for f in frames)


def test_record_video(tmp_path):
    pytest.importorskip("moviepy")  # gymnasium's RecordVideo writes with moviepy
    env = gym.wrappers.RecordVideo(
        gym.make("splitenv/SCCT-v0", render_mode="rgb_array", rounds=2, inner_allocator="equal"),
        str(tmp_path),
        episode_trigger=lambda e: True,
    )
    env.reset(seed=0)
    done = False
    while not done:
        *_, term, trunc, _ = env.step(env.action_space.sample())
        done = term or trunc
    env.close()
    assert list(tmp_path.glob("*.mp4"))


def test_ansi_still_renders():
    env = gym.make("splitenv/SCCT-v0", render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "splitenv: no step yet\n"
    env.step(env.action_space.sample())
    assert "round 1 epoch 0" in env.render()


# --------------------------------------------------------------------------------------
# info: documented keys, numpy dtypes and shapes
# --------------------------------------------------------------------------------------


def _table(section: str) -> list[list[str]]:
    doc = SplitLoRAEnv.__doc__ or ""
    match = re.search(rf"^\s*## {re.escape(section)}\s*$(.*?)(?=^\s*## |\Z)", doc, re.M | re.S)
    assert match, section
    rows = [ln.strip() for ln in match.group(1).splitlines() if ln.strip().startswith("|")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]


def _documented() -> dict[str, tuple[set[str], str, str]]:
    """key (or ``prefix.<...>``) -> (dtypes, shape text, when)."""
    out = {}
    for key_cell, dtype, shape, _unit, when in _table("Info"):
        dtypes = set(re.findall(r"float64|int64|bool", dtype))
        assert dtypes, dtype
        for key in key_cell.split(","):
            out[key.strip()] = (dtypes, shape, when)
    return out


def _flatten(info: dict) -> dict:
    flat = {}
    for key, value in info.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def _row(doc: dict, key: str):
    if key in doc:
        return doc[key]
    prefix = key.split(".")[0]
    matches = [v for k, v in doc.items() if k.startswith(prefix + ".<")]
    assert matches, f"info key {key!r} is not documented in the env docstring's Info table"
    return matches[0]


def _check_value(key, value, row, scn):
    dtypes, shape, _ = row
    assert isinstance(value, (np.generic, np.ndarray)), (key, type(value))
    assert value.dtype.name in dtypes, (key, value.dtype, dtypes)
    n = scn.n_devices
    lo, hi = scn.decision.split_range
    shapes = {"()": [()], "(N,)": [(n,)]}
    if "n_split" in shape:
        shapes[shape] = [(hi - lo + 1,), (n, hi - lo + 1)]
    if shape in shapes:
        assert value.shape in shapes[shape], (key, value.shape, shape)
    else:
        assert shape == "provider's", (key, shape)


def test_terms_table_lists_every_term():
    documented = {row[0] for row in _table("Info Terms")}
    for env_id in IDS:
        env = gym.make(env_id, rounds=1)
        env.reset(seed=0)
        *_, info = env.step(env.action_space.sample())
        assert set(info["terms"]) == documented, env_id
    for name, unit, scope in _table("Info Terms"):
        assert unit and re.fullmatch(r"per (iteration|epoch|round|training)|peak", scope), name


@pytest.mark.parametrize(("env_id", "timescale"), VALID, ids=VALID_IDS)
def test_info_values_have_the_documented_dtypes(env_id, timescale):
    doc = _documented()
    env = gym.make(env_id, timescale=timescale, rounds=2, epochs_per_round=2)
    scn = env.unwrapped.scenario
    env.action_space.seed(1)
    _, info = env.reset(seed=1)
    seen: dict[str, tuple] = {}

    def check(info):
        for key, value in _flatten(info).items():
            _check_value(key, value, _row(doc, key), scn)
            kind = (value.dtype, np.shape(value))
            assert seen.setdefault(key, kind) == kind, f"{key}: {kind} after {seen[key]}"

    check(info)
    every_step = {k for k, (_, _, when) in doc.items() if "every step" in when and "." not in k}
    done = False
    while not done:
        *_, term, trunc, info = env.step(env.action_space.sample())
        assert every_step <= set(info), every_step - set(info)
        check(info)
        done = term or trunc
    if env_id == "splitenv/FedsLLM-v0":  # the id's surrogate provider reports at round ends
        assert "accuracy" in info and "accuracy_extras.rounds_needed" in _flatten(info)
