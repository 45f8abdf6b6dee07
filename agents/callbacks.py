"""Training callbacks: validation with best-model saving, checkpoints, budgets, stop requests, progress.

* :func:`eval_callback`: validation on the preset's fixed seeds, saving ``best_model.zip``;
  :class:`InitialEvaluation` evaluates the untrained policy first (the curve starts at step
  0); :func:`final_evaluation` evaluates once more at the end, so a run shorter than
  ``eval_freq`` has a best model too;
* :class:`Checkpoints`: ``checkpoints/model_<steps>_steps.zip`` every ``checkpoint_freq``
  steps *and* every ``checkpoint_minutes`` of wall time, each written to a temporary name and
  renamed (a kill mid-save never leaves a torn checkpoint to resume from);
* :class:`WallClock`: stops after ``max_minutes``;
* :class:`StopRequest`: the first Ctrl-C / SIGTERM asks training to stop at the next step
  (the run then saves a checkpoint and says how to resume); a second one interrupts at once;
* :class:`Progress`: a tqdm bar of the steps and one line per evaluation, on stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
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


def final_evaluation(callback: EvalCallback) -> None:
    """Evaluate now unless the last evaluation was at the model's current step count.

    Saves ``best_model.zip`` when it is the best so far, like the periodic evaluations; call
    it after ``learn`` has run at least once (the callback is initialized then).
    """
    done = callback.evaluations_timesteps
    if done and done[-1] == callback.model.num_timesteps:
        return
    _evaluate_now(callback)


def _evaluate_now(callback: EvalCallback) -> None:
    """One evaluation of ``callback`` now, whatever its schedule (``eval_freq`` is restored)."""
    every = callback.eval_freq
    callback.eval_freq = 1  # the next call evaluates
    try:
        callback.on_step()
    finally:
        callback.eval_freq = every


class InitialEvaluation(BaseCallback):
    """Evaluates ``evaluator`` once before a fresh run's first step: its curve starts at step 0.

    The validation is what the untrained policy scores (a resumed run has it already). It plays
    only the validation env with the deterministic policy, so the training (its envs, its
    random numbers, the weights it ends with) is the same as without it; the evaluator's call
    count is restored, so its periodic evaluations fall where they would.
    """

    def __init__(self, evaluator: EvalCallback) -> None:
        super().__init__()
        self.evaluator = evaluator

    def _on_training_start(self) -> None:
        ev = self.evaluator
        if ev.model.num_timesteps or ev.evaluations_timesteps:
            return
        try:
            _evaluate_now(ev)
        finally:
            ev.n_calls -= 1  # not a training step: the periodic evaluations keep their steps

    def _on_step(self) -> bool:
        return True


def save_atomically(model: Any, path: Path) -> Path:
    """``model.save`` to ``path`` through a temporary file renamed over it (fsynced first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    try:
        with temp.open("wb") as f:
            model.save(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


class Checkpoints(BaseCallback):
    """``model_<steps>_steps.zip`` in ``folder`` every ``every`` calls and every ``minutes``.

    Args:
        folder: where the checkpoints go.
        every: training-loop calls (vectorized steps) between two checkpoints.
        minutes: wall-time minutes between two checkpoints (0: by steps only).
    """

    def __init__(self, folder: Path, every: int, minutes: float) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.every = max(int(every), 1)
        self.minutes = float(minutes)
        self.last = time.monotonic()

    def _on_training_start(self) -> None:
        self.last = time.monotonic()

    def _on_step(self) -> bool:
        late = self.minutes > 0 and time.monotonic() - self.last >= 60.0 * self.minutes
        if late or self.n_calls % self.every == 0:
            self.save()
        return True

    def save(self) -> Path:
        """Save a checkpoint of the model now; return its path."""
        self.last = time.monotonic()
        path = self.folder / f"model_{self.model.num_timesteps}_steps.zip"
        return save_atomically(self.model, path)


class StopRequest(BaseCallback):
    """Stops training at the next step once a stop was requested (see :meth:`listening`)."""

    def __init__(self) -> None:
        super().__init__()
        self.requested = ""

    def _on_step(self) -> bool:
        return not self.requested

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:  # the second signal: do not wait for the step to end
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    @contextlib.contextmanager
    def listening(self) -> Iterator[None]:
        """Within the block, SIGINT and SIGTERM request a stop (a second one interrupts).

        Outside the main thread (where Python cannot install handlers) it changes nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.signal(s, self._handle) for s in signals}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def evaluation_line(callback: EvalCallback) -> str:
    """The last evaluation and the best so far, in one line."""
    means = [float(np.mean(r)) for r in callback.evaluations_results]
    best = int(np.argmax(means))
    steps = callback.evaluations_timesteps
    return (
        f"evaluation at {steps[-1]:,} steps: mean episode reward {means[-1]:.5g} over "
        f"{len(callback.evaluations_results[-1])} validation episodes "
        f"(best {means[best]:.5g} at {steps[best]:,} steps)"
    )


class Progress(BaseCallback):
    """A progress bar of the run's steps and a line per evaluation of ``evaluator``, on stderr.

    Args:
        total: the run's total steps (the bar starts at the model's step count).
        evaluator: the validation callback whose new results are reported.
    """

    def __init__(self, total: int, evaluator: EvalCallback) -> None:
        super().__init__()
        self.total = int(total)
        self.evaluator = evaluator
        self.seen = 0
        self.bar: Any = None

    def _on_training_start(self) -> None:
        self.seen = len(self.evaluator.evaluations_results)
        try:
            from tqdm import tqdm
        except ModuleNotFoundError:  # tqdm is optional: evaluation lines only
            return
        start = int(self.model.num_timesteps)
        self.bar = tqdm(
            total=self.total, initial=start, unit="step", desc="train", file=sys.stderr,
            dynamic_ncols=True, mininterval=1.0,
        )  # fmt: skip

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.update(max(int(self.model.num_timesteps) - self.bar.n, 0))
        self.report()
        return True

    def report(self) -> None:
        """Print a line for each evaluation not reported yet."""
        if len(self.evaluator.evaluations_results) > self.seen:
            self.seen = len(self.evaluator.evaluations_results)
            line = evaluation_line(self.evaluator)
            if self.bar is not None:
                self.bar.write(line, file=sys.stderr)
            else:
                print(line, file=sys.stderr)

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
