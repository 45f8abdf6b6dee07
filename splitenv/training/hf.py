"""Hugging Face models and datasets by name or local path (needs ``transformers`` / ``datasets``).

For users with internet (or a local Hugging Face cache): any BERT-family
encoder (BERT, MiniLM, all-MiniLM-*, bge-small, e5-small, ...) loads into the
explicit split :class:`~splitenv.training.model.Encoder`, with its tokenizer,
and any text-classification dataset into a :class:`~splitenv.training.data.TextTask`.
Neither package is a dependency of splitenv: both are imported here, on use,
and a missing one raises an ImportError naming the ``pip install`` to run.
The offline default needs neither (:mod:`splitenv.training.pretrained`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from splitenv.training._deps import require
from splitenv.training.data import TextTask
from splitenv.training.model import Encoder, EncoderConfig, init_weights
from splitenv.training.pretrained import load_hf_state

TRANSFORMERS_HINT = 'pip install transformers (and "splitenv[train]")'
DATASETS_HINT = "pip install datasets"
BERT_LIKE = ("bert",)


class HFTokenizer:
    """A ``transformers`` tokenizer behind the ``encode(texts) -> ids`` interface, no padding."""

    def __init__(self, tokenizer: Any, max_len: int) -> None:
        self._tok, self.max_len = tokenizer, max_len
        self.pad_id = int(tokenizer.pad_token_id or 0)

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids with the model's special tokens, truncated to ``max_len``."""
        out = self._tok(texts, truncation=True, max_length=self.max_len, padding=False)
        return [list(ids) for ids in out["input_ids"]]


def load_hf_encoder(
    name_or_path: str | Path, n_classes: int, *, max_len: int = 64, seed: int = 0, **kwargs: Any
) -> tuple[Encoder, HFTokenizer]:
    """An :class:`Encoder` with the weights of a BERT-family model, and its tokenizer.

    Args:
        name_or_path: hub name (``"sentence-transformers/all-MiniLM-L6-v2"``) or a
            local directory saved with ``save_pretrained``.
        n_classes: outputs of the fresh classifier head.
        max_len: tokenizer truncation.
        seed: seeds the head.
        **kwargs: passed to ``from_pretrained`` (``revision``, ``cache_dir``,
            ``local_files_only``, ...).
    """
    transformers = require("transformers", TRANSFORMERS_HINT)
    cfg = transformers.AutoConfig.from_pretrained(name_or_path, **kwargs)
    if cfg.model_type not in BERT_LIKE:
        raise ValueError(
            f"{name_or_path}: model_type {cfg.model_type!r}; the explicit split encoder implements "
            f"{', '.join(BERT_LIKE)} (add a weight map in splitenv.training.pretrained for others)"
        )
    hf_model = transformers.AutoModel.from_pretrained(name_or_path, **kwargs)
    model = Encoder(EncoderConfig.from_hf(cfg.to_dict(), n_classes))
    from splitenv.training._deps import require_torch

    init_weights(model, require_torch().Generator().manual_seed(seed))
    load_hf_state(model, hf_model.state_dict())
    tokenizer = transformers.AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    return model, HFTokenizer(tokenizer, max_len)


def load_hf_task(
    name_or_path: str,
    *,
    split: str = "train",
    text_column: str = "text",
    label_column: str = "label",
    config_name: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> TextTask:
    """A text-classification dataset (hub name, local folder, or ``"json"`` / ``"csv"`` + data_files).

    Labels are mapped to 0..C-1 in sorted order of their values; ``limit``
    keeps a seeded random subset.
    """
    datasets = require("datasets", DATASETS_HINT)
    ds = datasets.load_dataset(name_or_path, config_name, split=split, **kwargs)
    if limit is not None and limit < len(ds):
        ds = ds.shuffle(seed=seed).select(range(limit))
    texts = tuple(str(t) for t in ds[text_column])
    raw = list(ds[label_column])
    try:
        values = sorted(set(raw))
    except TypeError:  # mixed label types
        values = sorted(set(raw), key=str)
    index = {v: i for i, v in enumerate(values)}
    names = ds.features[label_column].names if hasattr(ds.features[label_column], "names") else None
    classes = tuple(names[v] for v in values) if names else tuple(str(v) for v in values)
    return TextTask(texts, np.array([index[v] for v in raw], dtype=np.int64), classes)
