"""The wire between two parts of a split model: compress, code, count bytes, deliver.

The sender's activation ``h`` leaves its part's graph through Top-K (a
multiplicative mask) and the :class:`~splitenv.training.compression.StochasticQuantizer`;
the receiver gets a *detached* copy with ``requires_grad`` (what the bytes
decode to), runs its part, and its input gradient comes back through
:meth:`Wire.send_back`: masked by the sender's Top-K mask, quantized the same
way, coded and counted, then handed to ``h_sent.backward(grad)``. So the
compression and the byte counts sit exactly where the radio is.

Bytes are those of :func:`splitenv.training.coding.encode` (a real bitstream);
``verify=True`` also decodes every message and checks it against what was
delivered (slow; for tests). Uncompressed traffic (rho = 1, q = 0) is counted
as float32 without coding. Next to each measured size the wire records the
engine's modelled size, :func:`splitenv.model.compression.bits_per_element`
times the elements sent, so runs show how well the size model holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from splitenv.model.compression import bits_per_element
from splitenv.training import coding
from splitenv.training._deps import missing
from splitenv.training.compression import (
    Quantized,
    StochasticQuantizer,
    entry_mask,
    quantize,
    topk_mask,
)

try:
    import torch
    from torch import Tensor
except ModuleNotFoundError as exc:
    missing(exc)


@dataclass(frozen=True)
class WireSpec:
    """Compression on one link (SFT Sec. IV-C); the defaults send float32 as is."""

    keep_ratio: float = 1.0  # rho, fraction of entries kept (SFT 16)
    quant_bits: int = 0  # q; 0 = float32 values
    lossless: bool = True  # Golomb-Rice positions (else a bitmap)
    value_coder: str = "auto"  # fixed, huffman or auto (the shorter)
    compress_gradient: bool = True  # the gradient goes back masked and quantized alike
    gradient_positions: bool = True  # resend positions with the gradient (engine: Psi^G = Psi^A)
    verify: bool = False  # decode every message and compare (tests)

    def __post_init__(self) -> None:
        if not 0.0 < self.keep_ratio <= 1.0:
            raise ValueError(f"WireSpec.keep_ratio = {self.keep_ratio}; allowed: (0, 1]")
        if not 0 <= self.quant_bits <= 16:
            raise ValueError(f"WireSpec.quant_bits = {self.quant_bits}; allowed: 0..16")

    @property
    def identity(self) -> bool:
        """True when nothing is compressed."""
        return self.keep_ratio >= 1.0 and self.quant_bits == 0


@dataclass
class WireStats:
    """Traffic on a link, accumulated over messages."""

    up_bits: int = 0
    down_bits: int = 0
    up_elements: int = 0
    down_elements: int = 0
    messages: int = 0
    modelled_up_bits: float = 0.0
    modelled_down_bits: float = 0.0
    breakdown: dict[str, int] = field(default_factory=dict)

    def add(self, other: WireStats) -> None:
        """Accumulate ``other`` into this."""
        for name in ("up_bits", "down_bits", "up_elements", "down_elements", "messages"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.modelled_up_bits += other.modelled_up_bits
        self.modelled_down_bits += other.modelled_down_bits
        for k, v in other.breakdown.items():
            self.breakdown[k] = self.breakdown.get(k, 0) + v

    def as_dict(self) -> dict[str, float]:
        """Bytes and bits per element, measured and modelled."""

        def per(bits: float, n: int) -> float:
            return bits / n if n else 0.0

        return {
            "bytes_up": self.up_bits / 8,
            "bytes_down": self.down_bits / 8,
            "bits_per_element_up": per(self.up_bits, self.up_elements),
            "bits_per_element_down": per(self.down_bits, self.down_elements),
            "modelled_bytes_up": self.modelled_up_bits / 8,
            "modelled_bytes_down": self.modelled_down_bits / 8,
            "messages": self.messages,
        }


@dataclass
class Sent:
    """What one uplink message left behind for its gradient's return trip."""

    kept: Tensor  # (batch, tokens, d) bool
    token_mask: Tensor
    sample_sizes: np.ndarray


class Wire:
    """One compressed link; keeps its own seeded generator for the stochastic rounding."""

    def __init__(self, spec: WireSpec, generator: torch.Generator) -> None:
        self.spec = spec
        self.generator = generator
        self.stats = WireStats()

    def _model_bits(self, n: int) -> float:
        s = self.spec
        per = bits_per_element(
            s.keep_ratio, s.quant_bits, dense_bits=32, lossless=s.lossless, n_elements=float(n)
        )
        return float(per) * n

    def send(self, h: Tensor, token_mask: Tensor) -> tuple[Tensor, Tensor, Sent]:
        """Compress ``h``; returns (the sender's end of the graph, the receiver's leaf, record)."""
        s = self.spec
        sizes = (token_mask.bool().sum(1) * h.shape[-1]).numpy().astype(np.int64)
        n = int(sizes.sum())
        kept = topk_mask(h, token_mask, s.keep_ratio)
        sent = h * kept.to(h.dtype)  # multiplicative: autograd masks the gradient too
        if s.identity:
            bits, parts = 32 * n, {"dense": 32 * n}
        elif s.quant_bits > 0:
            sink: list[Quantized] = []
            sent = StochasticQuantizer.apply(sent, kept, s.quant_bits, self.generator, sink)
            bits, parts = self._code(sink[0], sent, kept, token_mask, sizes, positions=True)
        else:
            bits, parts = self._code(None, sent, kept, token_mask, sizes, positions=True)
        self._count(up=True, bits=bits, n=n, parts=parts)
        received = sent.detach().clone().requires_grad_(True)
        return sent, received, Sent(kept, token_mask, sizes)

    def send_back(self, grad: Tensor, record: Sent) -> Tensor:
        """Compress the receiver's input gradient for the return trip; returns what arrives."""
        s = self.spec
        n = int(record.sample_sizes.sum())
        if s.identity or not s.compress_gradient:
            out = grad * record.kept.to(grad.dtype)
            self._count(up=False, bits=32 * n, n=n, parts={"dense_grad": 32 * n})
            return out
        masked = grad * record.kept.to(grad.dtype)
        if s.quant_bits > 0:
            q = quantize(masked, record.kept, s.quant_bits, self.generator)
            out = q.values.to(grad.dtype)
        else:
            q, out = None, masked
        bits, parts = self._code(
            q,
            out,
            record.kept,
            record.token_mask,
            record.sample_sizes,
            positions=s.gradient_positions,
        )
        self._count(up=False, bits=bits, n=n, parts={f"grad_{k}": v for k, v in parts.items()})
        return out

    def _code(
        self,
        q: Quantized | None,
        delivered: Tensor,
        kept: Tensor,
        token_mask: Tensor,
        sizes: np.ndarray,
        *,
        positions: bool,
    ) -> tuple[int, dict[str, int]]:
        s = self.spec
        valid = entry_mask(delivered, token_mask)
        kept_stream = kept[valid].numpy()
        if not positions:  # the receiver knows the mask: send the kept entries only
            kept_stream = np.ones(int(kept_stream.sum()), np.bool_)
        payload = coding.Payload(kept=kept_stream, sample_sizes=sizes, quant_bits=s.quant_bits)
        if q is not None:
            payload.levels = q.levels.numpy()
            payload.signs = q.negative.numpy()
            payload.side = q.side.numpy()
        else:
            payload.values = delivered.detach()[kept].to(torch.float32).numpy()
        enc = coding.encode(payload, lossless=s.lossless, value_coder=s.value_coder)
        if s.verify:
            self._check(enc, payload, q)
        return enc.n_bits, enc.bits

    def _check(self, enc: coding.Encoded, payload: coding.Payload, q: Quantized | None) -> None:
        got = coding.decode(
            enc.data,
            payload.sample_sizes,
            lossless=self.spec.lossless,
            n_elements=payload.kept.size,
        )
        same = np.array_equal(got.kept, payload.kept)
        if q is not None:
            same &= np.array_equal(got.levels, payload.levels)
            same &= np.array_equal(got.signs, payload.signs)
            same &= np.array_equal(got.side, payload.side)
        else:
            same &= np.array_equal(got.values, payload.values)
        if not same:
            raise AssertionError("wire: the decoded message differs from the one delivered")

    def _count(self, *, up: bool, bits: int, n: int, parts: dict[str, int]) -> None:
        st = self.stats
        if up:
            st.up_bits += bits
            st.up_elements += n
            st.modelled_up_bits += self._model_bits(n)
            st.messages += 1
        else:
            st.down_bits += bits
            st.down_elements += n
            st.modelled_down_bits += self._model_bits(n)
        for k, v in parts.items():
            st.breakdown[k] = st.breakdown.get(k, 0) + v
