"""An explicit BERT-style encoder classifier that can be cut into device / edge / server parts.

The encoder is written out here (embeddings, post-LayerNorm blocks, mean
pooling and a linear classifier) instead of borrowed from ``transformers``, so
that every cut is a plain ``nn.Module`` boundary: :meth:`Encoder.segments`
returns the parts for any cut layers, and what crosses a cut is one tensor of
shape (batch, tokens, d), the activation ("smashed data") that the wire
compresses and counts (:mod:`splitenv.training.wire`). Block matrices carry
the names of :data:`splitenv.config.LORA_MATRICES` (``q``, ``k``, ``v``,
``o``, ``ffn_in``, ``ffn_out``) so LoRA targets read as in the presets.

The parts share the frozen base modules with the encoder (devices and server
hold identical frozen copies in reality, so sharing changes no number and saves
memory); what differs per device lives in slots (:mod:`splitenv.training.lora`).
Weights of BERT-family checkpoints (all-MiniLM-L6-v2 and the like) load with
:func:`splitenv.training.pretrained.load_encoder`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from splitenv.training._deps import missing
from splitenv.training.lora import Slotted

try:
    import torch
    from torch import Tensor, nn
    from torch.nn import functional as F
except ModuleNotFoundError as exc:
    missing(exc)


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of a BERT-style encoder classifier (names of Hugging Face's BertConfig in comments)."""

    vocab_size: int = 30522  # vocab_size
    hidden_dim: int = 384  # hidden_size
    n_layers: int = 6  # num_hidden_layers
    n_heads: int = 12  # num_attention_heads
    ffn_dim: int = 1536  # intermediate_size
    max_positions: int = 512  # max_position_embeddings
    type_vocab_size: int = 2  # type_vocab_size
    layer_norm_eps: float = 1e-12  # layer_norm_eps
    n_classes: int = 2  # outputs of our classifier head (not in BertConfig)

    def __post_init__(self) -> None:
        if self.hidden_dim % self.n_heads:
            raise ValueError(
                f"hidden_dim = {self.hidden_dim} must be a multiple of n_heads = {self.n_heads}"
            )
        for name in ("vocab_size", "hidden_dim", "n_layers", "n_heads", "ffn_dim", "n_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"EncoderConfig.{name} = {getattr(self, name)}; allowed: >= 1")

    @classmethod
    def from_hf(cls, cfg: dict[str, Any], n_classes: int) -> EncoderConfig:
        """From a Hugging Face BERT ``config.json`` dict."""
        act = cfg.get("hidden_act", "gelu")
        if act != "gelu":
            raise ValueError(f"hidden_act = {act!r}: this encoder implements BERT's exact 'gelu'")
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are implemented")
        return cls(
            vocab_size=cfg["vocab_size"],
            hidden_dim=cfg["hidden_size"],
            n_layers=cfg["num_hidden_layers"],
            n_heads=cfg["num_attention_heads"],
            ffn_dim=cfg["intermediate_size"],
            max_positions=cfg.get("max_position_embeddings", 512),
            type_vocab_size=cfg.get("type_vocab_size", 2),
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
            n_classes=n_classes,
        )


class Embeddings(nn.Module):
    """Word + position + token-type embeddings, then LayerNorm (BERT)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_dim)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden_dim)
        self.token_type = nn.Embedding(cfg.type_vocab_size, cfg.hidden_dim)
        self.norm = nn.LayerNorm(cfg.hidden_dim, eps=cfg.layer_norm_eps)

    def forward(self, ids: Tensor) -> Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(pos)[None] + self.token_type.weight[0]
        return self.norm(x)


class Block(nn.Module):
    """One post-LayerNorm transformer block: self-attention, then the FFN (GELU)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        d = cfg.hidden_dim
        self.n_heads = cfg.n_heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.norm_attn = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.ffn_in = nn.Linear(d, cfg.ffn_dim)
        self.ffn_out = nn.Linear(cfg.ffn_dim, d)
        self.norm_ffn = nn.LayerNorm(d, eps=cfg.layer_norm_eps)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b, t, d = x.shape
        h = self.n_heads

        def heads(y: Tensor) -> Tensor:
            return y.view(b, t, h, d // h).transpose(1, 2)

        keep = mask[:, None, None, :].bool()  # attend to real tokens only
        ctx = F.scaled_dot_product_attention(
            heads(self.q(x)), heads(self.k(x)), heads(self.v(x)), keep
        )
        x = self.norm_attn(x + self.o(ctx.transpose(1, 2).reshape(b, t, d)))
        return self.norm_ffn(x + self.ffn_out(F.gelu(self.ffn_in(x))))


class ClassifierHead(Slotted):
    """Mean pooling over real tokens (as all-MiniLM-L6-v2 pools), then a linear layer per slot."""

    def __init__(self, hidden_dim: int, n_classes: int) -> None:
        super().__init__()
        self.hidden_dim, self.n_classes = hidden_dim, n_classes

    def make_slot(self, generator: torch.Generator) -> nn.Module:
        layer = nn.Linear(self.hidden_dim, self.n_classes)
        with torch.no_grad():
            layer.weight.copy_(0.02 * torch.randn(layer.weight.shape, generator=generator))
            layer.bias.zero_()
        return layer

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        m = mask.to(x.dtype)[..., None]
        pooled = (x * m).sum(1) / m.sum(1).clamp_min(1.0)
        slot = self.current()
        if slot is None:
            raise RuntimeError("ClassifierHead: no active slot (call lora.set_active first)")
        return slot(pooled)


class Segment(nn.Module):
    """A contiguous part of the encoder: [embeddings] + blocks[lo:hi] + [head].

    ``forward(inputs, mask)`` takes token ids when the segment starts with the
    embeddings, the cut activation (batch, tokens, d) otherwise, and returns
    logits when it ends with the head, the activation to send otherwise.
    """

    def __init__(
        self,
        embeddings: Embeddings | None,
        blocks: Sequence[nn.Module],
        head: ClassifierHead | None,
        span: tuple[int, int],
    ) -> None:
        super().__init__()
        self.embeddings = embeddings
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.span = span

    def forward(self, inputs: Tensor, mask: Tensor) -> Tensor:
        x = self.embeddings(inputs) if self.embeddings is not None else inputs
        for block in self.blocks:
            x = block(x, mask)
        return self.head(x, mask) if self.head is not None else x


class Encoder(nn.Module):
    """The whole encoder classifier; :meth:`segments` cuts it."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = Embeddings(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.head = ClassifierHead(cfg.hidden_dim, cfg.n_classes)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        x = self.embeddings(ids)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(x, mask)

    def freeze_base(self) -> None:
        """Freeze everything that is not in a slot (LoRA factors and head stay trainable)."""
        for name, p in self.named_parameters():
            p.requires_grad_(".slots." in name or name.startswith("head.slots"))

    def segments(self, cuts: Sequence[int]) -> list[Segment]:
        """Parts for cut layers ``cuts`` (increasing, each in 0..L): len(cuts) + 1 segments.

        ``segments([l])`` is SFT's device part (embeddings + blocks 1..l) and
        server part (blocks l+1..L + head); ``segments([l_u, l_e])`` SplitLLM's
        user / edge / cloud parts. A cut of 0 leaves only the embeddings on the
        device; a cut of L only the head on the server.
        """
        L = self.cfg.n_layers
        bounds = [0, *(int(c) for c in cuts), L]
        if any(not 0 <= c <= L for c in bounds) or bounds != sorted(bounds):
            raise ValueError(f"cut layers {list(cuts)} must be non-decreasing within 0..{L}")
        last = len(bounds) - 2
        return [
            Segment(
                self.embeddings if i == 0 else None,
                list(self.blocks[lo:hi]),
                self.head if i == last else None,
                (lo, hi),
            )
            for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
        ]


def init_weights(model: Encoder, generator: torch.Generator) -> None:
    """BERT's initialization (normal std 0.02, zero biases, unit LayerNorm), seeded."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.copy_(0.02 * torch.randn(module.weight.shape, generator=generator))
                if isinstance(module, nn.Linear) and module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
