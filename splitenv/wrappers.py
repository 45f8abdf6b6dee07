"""Action wrappers for stable-baselines3: MultiDiscrete (with masks) and Box[-1, 1].

Both decode into the env's native Dict action so that every decision meets every
budget; the decoders are documented in :mod:`splitenv.spaces`. The dimensions are
laid out field by field in the order of ``env.unwrapped.fields``, per device
where the field is per device; with one device the shared resources (subchannels,
bandwidth, compute share) are no dimension: that device gets all of them.

Both record their constructor arguments (``gymnasium.utils.RecordConstructorArgs``),
so ``gymnasium.make(wrapped.spec)`` rebuilds the wrapped env.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.env import SplitLoRAEnv
from splitenv.errors import ActionError
from splitenv.spaces import (
    POWER,
    RESOURCE,
    FieldSpec,
    accuracy_repair,
    field_specs,
    native_index,
    native_resource,
    numeric,
    power_fractions,
    to_fraction,
)

#: the least power a BoxAction asks for, as a fraction of the device maximum: ``u`` in [0, 1]
#: decodes to ``POWER_FLOOR + (1 - POWER_FLOOR) u``
POWER_FLOOR = 0.01


def _base(env: gym.Env) -> SplitLoRAEnv:
    base = env.unwrapped
    if not isinstance(base, SplitLoRAEnv):
        raise TypeError(f"the action wrappers need a SplitLoRAEnv, got {type(base).__name__}")
    return base


#: (field, number of dims) in action order
Layout = list[tuple[FieldSpec, int]]


def _layout(env: gym.Env) -> Layout:
    """(field, number of dims) in action order; a resource of a single device has none."""
    base = _base(env)
    n = base.scenario.n_devices
    return [
        (fs, 0 if n == 1 and fs.name in RESOURCE else n if fs.per_device else 1)
        for fs in field_specs(base.scenario, base.fields)
    ]


class _Decoder(gym.ActionWrapper):
    """Shared decoding from per-field values to the native Dict action."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.layout = _layout(env)
        self.base = _base(env)
        self.scn = self.base.scenario

    def _one(self, rows: dict[str, NDArray[Any]]) -> dict[str, Any]:
        """Row 0 of a decoded batch, as the single env's native action."""
        out: dict[str, Any] = {}
        for fs, _ in self.layout:
            v = rows[fs.name][0]
            out[fs.name] = int(v) if fs.n and not fs.per_device else v
        return out


def native_rows(
    scn: Scenario, layout: Layout, parts: dict[str, NDArray[np.float64]], fractions: bool
) -> dict[str, NDArray[Any]]:
    """Native actions of K rows.

    ``parts`` holds index values for index fields and [0, 1] fractions (or level weights)
    for the rest, each (K, dims).
    """
    out: dict[str, Any] = {}
    for fs, dims in layout:
        v = parts[fs.name]
        if not dims:  # one device: it gets the whole resource
            one = native_resource(scn, fs.name, np.ones(1))
            out[fs.name] = np.broadcast_to(one, (v.shape[0], 1)).copy()
        elif fs.n:
            idx = v.astype(np.int64)
            out[fs.name] = idx if fs.per_device else idx[:, 0]
        elif fs.name in RESOURCE:
            w = v + (1.0 if not fractions else 1e-3)
            out[fs.name] = native_resource(scn, fs.name, w / w.sum(axis=1, keepdims=True))
        elif fs.name in POWER:
            out[fs.name] = power_fractions(scn, v)
        else:  # server clock and keep ratio: fractions of their range
            out[fs.name] = np.asarray(v, dtype=np.float64)
    if scn.accuracy.constrained and {"keep_ratio", "quant_bits"} <= set(out):
        _meet_accuracy(scn, out)
    return out


def _meet_accuracy(scn: Scenario, out: dict[str, Any]) -> None:
    """Rows whose (keep ratio, bits) miss SFT's A_th (36b) move to the nearest pair meeting it.

    In place, row by row as :func:`splitenv.spaces.accuracy_repair` (rows that meet it are
    left as they are).
    """
    keep = np.array(out["keep_ratio"], dtype=np.float64)  # (K, 1) fractions of the range
    bits = np.array(out["quant_bits"], dtype=np.int64)  # (K,) indices
    for k in range(keep.shape[0]):
        keep[k, 0], bits[k] = accuracy_repair(scn, float(keep[k, 0]), int(bits[k]))
    out["keep_ratio"], out["quant_bits"] = keep, bits


def multidiscrete_rows(
    scn: Scenario, layout: Layout, levels: int, a: NDArray[Any]
) -> dict[str, NDArray[Any]]:
    """:class:`MultiDiscreteAction`'s decoder on K checked rows ``a`` (K, D)."""
    parts, i = {}, 0
    for fs, dims in layout:
        v = a[:, i : i + dims].astype(np.float64)
        i += dims
        if not fs.n:  # levels -> weights (resources) or fractions
            v = (
                v
                if fs.name in RESOURCE
                else (v + 1.0) / levels
                if fs.name in POWER
                else v / (levels - 1)
            )
        parts[fs.name] = v
    return native_rows(scn, layout, parts, fractions=False)


def box_rows(
    scn: Scenario, layout: Layout, masks: dict[str, NDArray[np.bool_]], a: NDArray[np.float64]
) -> dict[str, NDArray[Any]]:
    """:class:`BoxAction`'s decoder on K finite rows ``a`` (K, D), ``masks`` the K envs' own."""
    u = (np.clip(a, -1.0, 1.0) + 1.0) / 2.0  # [0, 1]
    parts, i = {}, 0
    for fs, dims in layout:
        v = u[:, i : i + dims]
        i += dims
        if fs.n:
            n: Any = fs.n
            if fs.name == "split" and "split" in masks:  # memory-feasible values only
                m = masks["split"]
                n = (
                    np.maximum(m.sum(axis=-1), 1)
                    if fs.per_device
                    else np.maximum(m.sum(axis=1), 1)[:, None]
                )
            v = np.minimum(np.floor(v * n), np.asarray(n) - 1)
        elif fs.name in POWER:
            v = POWER_FLOOR + (1.0 - POWER_FLOOR) * v
        parts[fs.name] = v
    return native_rows(scn, layout, parts, fractions=True)


def box_default(scn: Scenario, layout: Layout) -> NDArray[np.float64]:
    """The :class:`BoxAction` vector whose decoding is the preset's default decision.

    The reference of the reward (:func:`splitenv.model.decision.default_values`), encoded as
    :func:`box_rows` decodes: index fields at the middle of their default value's bin (exact
    for the split where every split fits in memory: a memory mask narrows the split's bins to
    the feasible values, so the decoded split can be lower than the default), shared resources
    equal (equal shares), the other continuous fields at their default's native fraction
    (:func:`splitenv.spaces.to_fraction`). A policy whose mean starts here (``agents``
    ``action_prior = default``) starts from the reference and learns a residual.
    """
    from splitenv.model.decision import default_values

    d = default_values(scn)
    parts = []
    for fs, dims in layout:
        if not dims:
            continue
        value = np.asarray(d[fs.name]).reshape(-1)
        if fs.n:
            idx = native_index(scn, fs.name, value if fs.per_device else value[:1])
            u = np.broadcast_to((np.clip(idx, 0, fs.n - 1) + 0.5) / fs.n, (dims,))
        elif fs.name in RESOURCE:
            u = np.full(dims, 0.5)
        else:
            frac = min(float(to_fraction(scn, fs.name, np.max(value))), 1.0)
            if fs.name in POWER:  # decoded as a floor plus the rest of u
                frac = (frac - POWER_FLOOR) / (1.0 - POWER_FLOOR)
            u = np.full(dims, frac)
        parts.append(np.clip(u, 0.0, 1.0))
    return 2.0 * np.concatenate(parts) - 1.0


class MultiDiscreteAction(_Decoder, gym.utils.RecordConstructorArgs):
    """Every field as integer levels; ``action_masks()`` for sb3-contrib's MaskablePPO.

    Args:
        env: a SplitLoRAEnv (possibly wrapped).
        levels: levels of each continuous or budgeted field (>= 2).
    """

    def __init__(self, env: gym.Env, levels: int = 11) -> None:
        if not isinstance(levels, int) or levels < 2:
            raise ValueError(f"levels = {levels!r}; allowed: an integer >= 2")
        gym.utils.RecordConstructorArgs.__init__(self, levels=levels)
        _Decoder.__init__(self, env)
        self.levels = levels
        nvec = []
        for fs, dims in self.layout:
            nvec += [fs.n or levels] * dims
        self.nvec = np.array(nvec, dtype=np.int64)
        self.action_space = spaces.MultiDiscrete(self.nvec)

    def action(self, action: Any) -> dict[str, Any]:
        a = numeric(action, "action")
        if a.shape != self.nvec.shape:
            raise ActionError(f"action has shape {a.shape}; expected {self.nvec.shape}")
        if np.any(a < 0) or np.any(a >= self.nvec) or np.any(a != np.round(a)):
            raise ActionError(f"action {a.tolist()} is outside MultiDiscrete({self.nvec.tolist()})")
        return self._one(multidiscrete_rows(self.scn, self.layout, self.levels, a[None]))

    def action_masks(self) -> NDArray[np.bool_]:
        """Flat boolean mask over all choices of all dimensions (False = invalid)."""
        masks = self.base.action_mask()
        out = []
        for fs, dims in self.layout:
            if fs.name == "split" and "split" in masks:
                m = masks["split"]
                out.append(m.reshape(-1) if fs.per_device else m)
            else:
                out.append(np.ones(dims * (fs.n or self.levels), dtype=bool))
        return np.concatenate(out)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = super().step(action)
        info["action_mask"] = self.action_masks()
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any):
        obs, info = super().reset(**kwargs)
        info["action_mask"] = self.action_masks()
        return obs, info


class BoxAction(_Decoder, gym.utils.RecordConstructorArgs):
    """Every field as a value in [-1, 1] (clipped), decoded as documented in splitenv.spaces."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        _Decoder.__init__(self, env)
        dims = sum(d for _, d in self.layout)
        self.action_space = spaces.Box(-1.0, 1.0, (dims,), np.float32)

    def action(self, action: Any) -> dict[str, Any]:
        a = numeric(action, "action").astype(np.float64)
        if a.shape != self.action_space.shape:
            raise ActionError(f"action has shape {a.shape}; expected {self.action_space.shape}")
        masks = {k: v[None] for k, v in self.base.action_mask().items()}
        return self._one(box_rows(self.scn, self.layout, masks, a[None]))

    def default_action(self) -> NDArray[np.float32]:
        """The action that decodes to the preset's default decision (:func:`box_default`)."""
        return box_default(self.scn, self.layout).astype(np.float32)
