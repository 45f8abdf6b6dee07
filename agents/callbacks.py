"""Training callbacks: validation with best-model saving, and a wall-clock budget."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback


class WallClock(BaseCallback):
    """Stops training once ``minutes`` of wall-clock time have passed (0: never).

    Args:
        minutes: the budget, counted from the start of ``learn`` (evaluations included).
    """

    def __init__(self, minutes: float) -> None:
        super().__init__()
        self.minutes = float(minutes)
        self.start = time.monotonic()

    def _on_training_start(self) -> None:
        self.start = time.monotonic()

    def _on_step(self) -> bool:
        return self.minutes <= 0 or time.monotonic() - self.start < 60.0 * self.minutes


def eval_callback(
    algo: str, eval_env: Any, episodes: int, every: int, run_dir: Path
) -> EvalCallback:
    """EvalCallback (MaskableEvalCallback for maskable_ppo) saving ``best_model.zip`` in ``run_dir``.

    Args:
        algo: ``ppo`` or ``maskable_ppo``.
        eval_env: the validation VecEnv (replays its seeds in order).
        episodes: episodes per evaluation (the number of validation seeds).
        every: evaluate every ``every`` calls of the training loop (vectorized steps).
        run_dir: where ``best_model.zip`` and ``evaluations.npz`` go.
    """
    cls: type[EvalCallback] = EvalCallback
    if algo == "maskable_ppo":
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback

        cls = MaskableEvalCallback
    # the validation env is always a DummyVecEnv; a SubprocVecEnv for training is fine
    warnings.filterwarnings("ignore", message="Training and eval env are not of the same type")
    return cls(
        eval_env,
        n_eval_episodes=episodes,
        eval_freq=every,
        log_path=str(run_dir),
        best_model_save_path=str(run_dir),
        deterministic=True,
        verbose=0,
    )


def summary(callback: EvalCallback) -> dict[str, Any]:
    """Best and last validation results of an EvalCallback (mean episode return)."""
    results = [float(np.mean(r)) for r in callback.evaluations_results]
    if not results:
        return {"evaluations": 0}
    best = int(np.argmax(results))
    return {
        "evaluations": len(results),
        "best_mean_reward": results[best],
        "best_at_timesteps": int(callback.evaluations_timesteps[best]),
        "last_mean_reward": results[-1],
    }
