"""Action masks against the per-split memory feasibility computed here, at every timescale.

A split value s fits device n when the device's training memory at s (the engine's
per-device memory output, at the preset's default rank) is at most the device's memory
M_n (SCCT constraint s_n z <= M_n; SFT (34) M_c(l) < M_max). The native mask is
(N, n_split) per device, or (n_split,) for a shared cut (every device must fit);
MultiDiscreteAction's flat mask puts it in the split's dimensions and True elsewhere.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from splitenv import Decision, evaluate_batch, load_scenario, sample_state
from splitenv.wrappers import MultiDiscreteAction

#: every id; memory tightened where the preset's devices hold every split, so that the mask
#: has False entries to check
CASES = {
    "splitenv/SCCT-v0": {},
    "splitenv/SFT-v1": {"memory__device_memory_bytes": [2.0e9, 4.5e9]},
    "splitenv/SplitLLM-v0": {"memory__device_memory_bytes": [1.0e9, 6.0e9]},
    "splitenv/CARD-v0": {"memory__device_memory_bytes": [1.0e9, 6.0e9]},
    "splitenv/FedsLLM-v0": {"memory__device_memory_bytes": [0.1e9, 0.3e9]},
    "splitenv/SplitLoRA-v0": {},  # the flagship: phones hold at most 12 blocks
    # the generic id with another config
    "splitenv/SplitLoRA-v0+config": {"config": "scct", "network__n_devices": 4},
}
TIMESCALES = ("round", "epoch", "joint")


def make(env_id, timescale, **kwargs):
    return gym.make(
        env_id.split("+")[0],
        timescale=timescale,
        rounds=2,
        epochs_per_round=2,
        **{**CASES[env_id], **kwargs},
    )


def fits(scn, state):
    """(n_split, N) by evaluating every split value for every device."""
    lo, hi = scn.decision.split_range
    values = np.arange(lo, hi + 1)
    ev = evaluate_batch(scn, state, Decision(split=np.repeat(values[:, None], scn.n_devices, 1)))
    return ev.per_device["device_memory_bytes"] <= state.device_memory_bytes[None, :]


@pytest.mark.parametrize("timescale", TIMESCALES)
@pytest.mark.parametrize("env_id", list(CASES))
def test_masks_are_per_split_memory_feasibility(env_id, timescale):
    try:
        env = MultiDiscreteAction(make(env_id, timescale), levels=3)
    except ValueError:
        return  # no decision at this timescale
    base = env.unwrapped
    scn = base.scenario
    _, info = env.reset(seed=4)
    state = base.current_state
    ok = fits(scn, state)
    flat = info["action_mask"]
    native = base.action_mask()
    assert flat.shape == (int(env.action_space.nvec.sum()),)
    if "split" not in base.fields:  # epoch timescale: nothing to mask
        assert native == {}
        assert flat.all()
        return
    shared = scn.decision.shared_split
    expected = ok.all(axis=1) if shared else ok.T
    np.testing.assert_array_equal(native["split"], expected)
    # the flat mask: the split's dimensions first (fields order), True everywhere else
    width = expected.size
    assert base.fields[0] == "split"
    np.testing.assert_array_equal(flat[:width], expected.reshape(-1))
    assert flat[width:].all()
    # memory is fixed over an episode: same mask after steps, in info and from action_masks()
    rng = np.random.default_rng(0)
    for _ in range(3):
        a = np.array([rng.choice(np.flatnonzero(m)) for m in _split_dims(flat, env)])
        _, _, term, trunc, info = env.step(a)
        np.testing.assert_array_equal(info["action_mask"], flat)
        np.testing.assert_array_equal(env.action_masks(), flat)
        assert "device_memory" not in info["violations"]  # a masked-valid split fits
        if term or trunc:
            break


def _split_dims(flat, env):
    """Per action dimension, its slice of the flat mask."""
    out, i = [], 0
    for k in env.action_space.nvec:
        out.append(flat[i : i + k])
        i += k
    return out


@pytest.mark.parametrize("env_id", list(CASES))
def test_the_check_has_false_entries(env_id):
    """The cases above mask something: a mask that is all True would check nothing."""
    env = make(env_id, "joint")
    _, info = env.reset(seed=4)
    assert not info["action_mask"]["split"].all(), env_id
    assert info["action_mask"]["split"].any(axis=-1).all()  # every device fits some split


def test_masked_split_is_a_memory_violation():
    """Stepping a masked-out split: the engine reports device memory, the step is penalized."""
    env = make("splitenv/SCCT-v0", "round")
    _, info = env.reset(seed=4)
    mask = info["action_mask"]["split"]
    dev, idx = np.argwhere(~mask)[0]
    split = np.argmax(mask, axis=1)  # a fitting value for everyone
    split[dev] = idx
    _, reward, _, _, info = env.step({"split": split})  # SCCT has one rank: no action dim
    assert not info["feasible"] and info["violations"]["device_memory"] > 0
    assert reward <= -5.0


def test_mask_from_the_preset_numbers():
    """SCCT by hand: device memory holds s_n z, z = xi (12 d^2 + 4 d) = 402,784,256 bit
    = 50,348,032 bytes per RoBERTa-large layer (SCCT (1), (21)); a device of M bytes fits the
    splits s <= floor(M / 50,348,032)."""
    scn = load_scenario("scct", {"network.n_devices": 3})
    state = sample_state(scn, 0)
    per_layer = 32 * (12 * 1024**2 + 4 * 1024) / 8
    assert per_layer == 50_348_032
    ok = fits(scn, state)
    lo, hi = scn.decision.split_range
    for n, m in enumerate(state.device_memory_bytes):
        top = min(hi, int(m // per_layer))
        expected = np.arange(lo, hi + 1) <= top
        np.testing.assert_array_equal(ok[:, n], expected, err_msg=f"device {n}, M = {m:.4g} B")
    env = gym.make("splitenv/SCCT-v0", timescale="round", network__n_devices=3)
    _, info = env.reset(options={"instance": {"seed": 0}})
    np.testing.assert_array_equal(info["action_mask"]["split"], ok.T)
