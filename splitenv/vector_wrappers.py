"""The action encodings of :mod:`splitenv.wrappers` on the native vector env, decoded for K envs at once.

``VectorMultiDiscreteAction(gym.make_vec(id, K, vectorization_mode="vector_entry_point"))``
equals ``SyncVectorEnv`` over K ``MultiDiscreteAction(gym.make(id))`` bit for bit (and
``VectorBoxAction`` K ``BoxAction``): the same decoders (:func:`splitenv.wrappers.multidiscrete_rows`,
:func:`~splitenv.wrappers.box_rows`) run on the K rows. ``action_masks()`` is (K, D): the
flat masks of the K envs, also in ``info["action_mask"]``. An env that resets this step
(next-step autoreset) ignores its action, unchecked, as ``SyncVectorEnv`` does; a bad row
of the others raises the single wrapper's ``ActionError`` prefixed with the env index,
before any env moves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import VectorWrapper
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from splitenv.errors import ActionError
from splitenv.spaces import numeric
from splitenv.vector import SplitLoRAVectorEnv
from splitenv.wrappers import BoxAction, MultiDiscreteAction, box_rows, multidiscrete_rows


class _VectorDecoder(VectorWrapper):
    """Shared: the single wrapper on the template env, batched decoding of the playing rows."""

    def __init__(self, env: Any, single: Any) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, SplitLoRAVectorEnv):
            raise TypeError(f"needs a SplitLoRAVectorEnv, got {type(base).__name__}")
        self.base, self.single = base, single
        self.single_action_space = single.action_space
        self.action_space = batch_space(single.action_space, base.num_envs)

    def _rows(self, actions: Any) -> tuple[NDArray[Any], NDArray[np.int64]]:
        """The batch as an array with K rows, and the rows that play (not resetting)."""
        a = np.asarray(actions)
        k = self.base.num_envs
        if a.ndim == 0 or a.shape[0] != k:
            raise ActionError(
                f"actions has leading size {a.shape[:1] or '()'}; allowed: num_envs = {k}"
            )
        return a, np.flatnonzero(~self.base._autoreset)

    def _refuse(self, a: NDArray[Any], rows: NDArray[np.int64]) -> None:
        """Raise the single wrapper's error of the first bad row, with its env index."""
        for i in rows:
            try:
                self._check_one(a[i])
            except ActionError as err:
                raise ActionError(f"env {int(i)}: {err}") from None

    def _check_one(self, action: Any) -> None:
        raise NotImplementedError

    def _play(self, decoded: dict[str, NDArray[Any]], rows: NDArray[np.int64]) -> Any:
        """Step with the decoded rows of the playing envs.

        Into the native env unchecked when it is the next env
        (:meth:`SplitLoRAVectorEnv.step_decoded`: the decoders build actions inside the
        native space from checked actions), else as a native batch through the wrappers between.
        """
        if self.env is self.base:
            native = self.base.template.native_space.spaces
            return self.base.step_decoded(
                rows, {k: np.asarray(v, dtype=native[k].dtype) for k, v in decoded.items()}
            )
        return self.env.step(self._native(decoded, rows))

    def _native(self, decoded: dict[str, NDArray[Any]], rows: NDArray[np.int64]) -> dict[str, Any]:
        """The native batch: decoded rows where envs play, zeros (ignored) where they reset."""
        out = {}
        for name, sub in self.base.template.native_space.spaces.items():
            full = np.zeros((self.base.num_envs, *(sub.shape or ())), dtype=sub.dtype)
            if rows.size:
                full[rows] = decoded[name]
            out[name] = full
        return out


class VectorMultiDiscreteAction(_VectorDecoder):
    """:class:`~splitenv.wrappers.MultiDiscreteAction` on K envs, with (K, D) ``action_masks()``.

    Args:
        env: a :class:`~splitenv.vector.SplitLoRAVectorEnv`.
        levels: levels of each continuous or budgeted field (>= 2).
    """

    def __init__(self, env: Any, levels: int = 11) -> None:
        super().__init__(env, MultiDiscreteAction(env.unwrapped.template, levels))
        self.levels, self.nvec = levels, self.single.nvec

    def _check_one(self, action: Any) -> None:
        self.single.action(action)

    def step(self, actions: Any):
        a, rows = self._rows(actions)
        play = a[rows]
        ok = play.dtype.kind in "iuf" and play.shape[1:] == self.nvec.shape
        if ok and play.dtype.kind == "f":
            ok = bool(np.isfinite(play).all() and (play == np.round(play)).all())
        if not (ok and ((play >= 0) & (play < self.nvec)).all()):
            self._refuse(a, rows)
        scn, layout = self.base.scenario, self.single.layout
        decoded = multidiscrete_rows(scn, layout, self.levels, play) if rows.size else {}
        before = self.action_masks()  # an episode that ends reports its own masks
        obs, reward, terminated, truncated, info = self._play(decoded, rows)
        if "final_info" in info:  # same-step autoreset
            ended = info["_final_info"]
            info["final_info"]["action_mask"] = np.where(ended[:, None], before, False)
            info["final_info"]["_action_mask"] = ended.copy()
        return obs, reward, terminated, truncated, self._with_masks(info)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        return obs, self._with_masks(info)

    def action_masks(self) -> NDArray[np.bool_]:
        """(K, D): each env's flat mask over all choices of all dimensions (False = invalid)."""
        masks = self.base.action_mask()
        k, out = self.base.num_envs, []
        for fs, dims in self.single.layout:
            if fs.name == "split" and "split" in masks:
                out.append(masks["split"].reshape(k, -1))
            else:
                out.append(np.ones((k, dims * (fs.n or self.levels)), dtype=bool))
        return np.concatenate(out, axis=1)

    def _with_masks(self, info: dict[str, Any]) -> dict[str, Any]:
        info["action_mask"] = self.action_masks()
        info["_action_mask"] = np.ones(self.base.num_envs, dtype=bool)
        return info


class VectorBoxAction(_VectorDecoder):
    """:class:`~splitenv.wrappers.BoxAction` on K envs (values clipped into [-1, 1])."""

    def __init__(self, env: Any) -> None:
        super().__init__(env, BoxAction(env.unwrapped.template))

    def _check_one(self, action: Any) -> None:
        self.single.action(action)

    def step(self, actions: Any):
        a, rows = self._rows(actions)
        play = a[rows]
        shape = self.single.action_space.shape
        if not (play.dtype.kind in "iuf" and play.shape[1:] == shape and np.isfinite(play).all()):
            self._refuse(a, rows)
        play = numeric(play, "actions").astype(np.float64)
        masks = {k: v[rows] for k, v in self.base.action_mask().items()}
        scn, layout = self.base.scenario, self.single.layout
        decoded = box_rows(scn, layout, masks, play) if rows.size else {}
        return self._play(decoded, rows)
