"""Accuracy providers backed by real training (``train``) and by measured runs (``table``).

Both implement :class:`splitenv.accuracy_providers.AccuracyProvider` and are
registered there by name (imported lazily: torch loads only when ``train`` is
asked for; ``table`` needs numpy and scipy only).

* :class:`TrainAccuracy`: every environment round runs one real federated split
  round (:class:`~splitenv.training.federated.FederatedSplitTrainer`) with that
  round's cuts, LoRA rank and compression read from the decision, and reports
  the measured accuracy; ``extras`` carry the loss, the bytes measured on the
  wire next to the engine's modelled bytes, the adapter upload and the wall
  time. The episode terminates when the target accuracy is reached, so its
  return is minus the simulated time to accuracy. What it trains is its own
  experiment (default: all-MiniLM-L6-v2 on the generated task, Dirichlet(0.5)
  over the scenario's devices): the scenario's transformer sizes the costs,
  its cuts are mapped onto the trained model's layers
  (:func:`~splitenv.training.mapping.map_layer`), LoRA adapters and the head
  are trained whatever ``workload.trainable`` says (rank 0: the head only).
  FedAvg weighs device n by the episode's ``data_size`` D_n (the same
  per-seed draw the env's states carry, SFT (7)-(8)) unless
  ``fedavg_weights="partition"`` (the sizes of the Dirichlet partition). The
  samples a device trains on still come from its partition: the local steps per
  round are fixed (``TrainSettings.local_steps``), as the cost model charges
  them, so D_n changes the weight of an update, not its cost.
* :class:`TableAccuracy`: the accuracy after t rounds, interpolated from the
  per-round curves of a calibration run (``splitenv calibrate``): runs with
  the nearest rank, then the nearest cut, then linear in (rho, q) (nearest
  outside the measured hull). A decision that changes between rounds reads the
  current decision's curve at the current round (a Markov approximation).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from splitenv.accuracy_providers import AccuracyReport
from splitenv.config import Scenario
from splitenv.model.types import Decision
from splitenv.training.mapping import first_value, map_layer

DEFAULT_TARGET = 0.8


def calibration_file(scenario_name: str) -> Path:
    """``calibration/<scenario>.json`` in the first config folder that has it (shipped tables)."""
    from splitenv.scenarios import config_dirs

    for folder in config_dirs():
        path = folder / "calibration" / f"{scenario_name}.json"
        if path.is_file():
            return path
    return Path("configs") / "calibration" / f"{scenario_name}.json"


def _target(explicit: float | None, scenario: Scenario) -> float:
    if explicit is not None:
        return float(explicit)
    return scenario.accuracy.threshold if scenario.accuracy.threshold > 0 else DEFAULT_TARGET


class TrainAccuracy:
    """Real training behind the environment's accuracy protocol.

    Args:
        experiment: model, data and hyperparameters (default: MiniLM, generated
            task, the scenario's number of devices).
        target_accuracy: accuracy that ends the episode (default: the
            scenario's ``accuracy.threshold``, else 0.8).
        devices: devices to train with; default the scenario's ``n_devices``.
        fedavg_weights: ``"state"`` (the episode's ``data_size``, default) or
            ``"partition"`` (the Dirichlet partition's sizes).
    """

    WEIGHTS = ("state", "partition")

    def __init__(
        self,
        experiment: Any = None,
        target_accuracy: float | None = None,
        devices: int | None = None,
        fedavg_weights: str = "state",
    ) -> None:
        from splitenv.training.experiment import ExperimentConfig

        if fedavg_weights not in self.WEIGHTS:
            raise ValueError(
                f"fedavg_weights = {fedavg_weights!r}; allowed: {', '.join(self.WEIGHTS)}"
            )
        self.fedavg_weights = fedavg_weights

        self.experiment = experiment if experiment is not None else ExperimentConfig()
        self.target_accuracy = target_accuracy
        self.devices = devices
        self.trainer: Any = None
        self.history: list[dict[str, Any]] = []

    def reset(self, scenario: Scenario, seed: int) -> None:
        from splitenv.training.experiment import build_trainer

        n = self.devices or scenario.n_devices
        cfg = replace(self.experiment, n_devices=n).with_seed(seed)
        rank = int(scenario.decision.default_rank)
        self.trainer = build_trainer(cfg, rank)
        if self.fedavg_weights == "state":
            from splitenv.scenarios import StateSampler

            # the statics of the env's own sampler for this episode seed (same draw, same D_n)
            data = StateSampler(scenario, seed).statics["data"]
            if len(data) != n:
                raise ValueError(
                    f"TrainAccuracy: {n} training devices but the scenario has {len(data)}; "
                    "pass fedavg_weights='partition' to train a different number of devices"
                )
            self.trainer.weights = np.asarray(data, dtype=np.float64).copy()
        self.history = []

    def round(self, scenario: Scenario, decision: Decision) -> AccuracyReport:
        from splitenv.training.experiment import plan_from_decision

        if self.trainer is None:
            raise RuntimeError("TrainAccuracy.round before reset")
        tr = self.trainer
        plan = plan_from_decision(scenario, decision, tr.model.cfg.n_layers, tr.n_devices)
        res = tr.run_round(plan)
        target = _target(self.target_accuracy, scenario)
        extras = {
            "round": res.round_index,
            "loss": res.loss,
            "train_loss": res.train_loss,
            "cuts": [list(c) for c in plan.cuts],
            "rank": plan.rank,
            "keep_ratio": plan.wire.keep_ratio,
            "quant_bits": plan.wire.quant_bits,
            **{f"wire_{k}": v for k, v in res.wire.items()},
            "adapter_bytes_up": res.adapter_bytes_up,
            "wall_s": res.wall_s,
            "target": target,
        }
        self.history.append({"accuracy": res.accuracy, **extras})
        return AccuracyReport(res.accuracy, res.accuracy >= target, extras)


class TableAccuracy:
    """Accuracy interpolated from measured per-round curves (a ``splitenv calibrate`` JSON).

    Args:
        path: calibration JSON; default ``configs/calibration/<scenario>.json``.
        target_accuracy: as for :class:`TrainAccuracy`.
    """

    def __init__(
        self, path: str | Path | None = None, target_accuracy: float | None = None
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.target_accuracy = target_accuracy
        self.runs: list[dict[str, Any]] = []
        self.model_layers = 0
        self.t = 0

    def reset(self, scenario: Scenario, seed: int) -> None:
        path = self.path or calibration_file(scenario.name)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no calibration table; run `splitenv calibrate --scenario "
                f"{scenario.name} --out DIR` and pass TableAccuracy(DIR/'calibration.json')"
            )
        data = json.loads(path.read_text())
        self.runs = [r for r in data["runs"] if r.get("curve")]
        if not self.runs:
            raise ValueError(f"{path}: no runs with accuracy curves")
        self.model_layers = int(data["model_layers"])
        self.t = 0

    def round(self, scenario: Scenario, decision: Decision) -> AccuracyReport:
        self.t += 1
        d = scenario.decision
        rank = first_value(decision.rank, d.default_rank)
        split = first_value(decision.split, d.default_split)
        cut = map_layer(int(split), scenario.model.n_layers, self.model_layers)
        on = scenario.compression.enabled
        rho = first_value(decision.keep_ratio, d.default_keep_ratio) if on else 1.0
        q = first_value(decision.quant_bits, d.default_quant_bits) if on else 0.0
        acc = self.lookup(self.t, rank, cut, rho, q)
        target = _target(self.target_accuracy, scenario)
        return AccuracyReport(acc, acc >= target, {"round": self.t, "target": target})

    def lookup(self, t: int, rank: float, cut: int, rho: float, q: float) -> float:
        """Accuracy after ``t`` rounds (1-based) at (rank, cut, rho, q)."""
        runs = _nearest(self.runs, "rank", rank)
        runs = _nearest(runs, "cut", cut)
        pts = np.array([[r["keep_ratio"], r["quant_bits"]] for r in runs], dtype=np.float64)
        vals = np.array([r["curve"][min(t, len(r["curve"])) - 1] for r in runs], dtype=np.float64)
        # average repeated points (seeds) first
        keys, inv = np.unique(pts, axis=0, return_inverse=True)
        means = np.bincount(inv.reshape(-1), weights=vals) / np.bincount(inv.reshape(-1))
        x = np.array([[rho, q]])
        if len(keys) >= 3 and np.linalg.matrix_rank(keys - keys[0]) == 2:
            from scipy.interpolate import LinearNDInterpolator

            value = float(LinearNDInterpolator(keys, means)(x)[0])
            if np.isfinite(value):
                return value
        span = np.maximum(keys.max(0) - keys.min(0), 1e-12)
        return float(means[np.argmin((((keys - x) / span) ** 2).sum(1))])


def _nearest(runs: list[dict[str, Any]], key: str, value: float) -> list[dict[str, Any]]:
    best = min(abs(float(r[key]) - value) for r in runs)
    return [r for r in runs if abs(float(r[key]) - value) == best]
