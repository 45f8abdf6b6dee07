"""Top-K sparsification and unbiased stochastic quantization of cut tensors (SFT Sec. IV-C), in torch.

Shapes: a cut tensor is (batch, tokens, d) with a (batch, tokens) mask of real
tokens; padding never travels. Per sample (SFT's ``s_l``, one N x D matrix):

* Top-K (SFT 15-16): keep the ``K = max(1, round(rho * n))`` entries of largest
  magnitude among the sample's ``n`` real entries, exactly K (ties at the
  K-th magnitude broken arbitrarily). The mask is applied multiplicatively, ``s * m``, so autograd
  sparsifies the gradient by the same mask.
* Stochastic quantization (SFT 17-18) of the kept magnitudes to ``E = 2^q``
  levels ``Q_e = s_min + e (s_max - s_min) / (E - 1)``, e = 0..E-1, with
  ``s_min, s_max`` the smallest and largest kept magnitude of the sample, and
  the sign sent apart. ``|s|`` between ``Q_e`` and ``Q_{e+1}`` becomes ``Q_{e+1}``
  with probability ``(|s| - Q_e) / (Q_{e+1} - Q_e)`` and ``Q_e`` otherwise, so
  ``E[quant(s)] = s`` (unbiased). SFT's (17) lists E levels ``Q_1..Q_E`` that
  leave ``[s_min, Q_1)`` without a lower neighbour; the grid above includes both
  ends, so q bits index it exactly (the engine's ``q = log2 E``).

:class:`StochasticQuantizer` is the autograd op: its forward quantizes, its
backward passes the gradient straight through on the kept entries (the
quantizer is unbiased, so the identity is its expected Jacobian).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from splitenv.training._deps import missing

try:
    import torch
    from torch import Tensor
except ModuleNotFoundError as exc:
    missing(exc)


def entry_mask(x: Tensor, token_mask: Tensor) -> Tensor:
    """Boolean (batch, tokens, d): entries of real tokens."""
    return token_mask.bool()[..., None].expand_as(x)


def kept_counts(token_mask: Tensor, d: int, keep_ratio: float) -> Tensor:
    """K per sample: ``max(1, round(rho * n))`` of its ``n = tokens x d`` real entries."""
    n = token_mask.bool().sum(1).to(torch.int64) * d
    if keep_ratio >= 1.0:
        return n
    return torch.clamp(torch.round(keep_ratio * n.double()).to(torch.int64), min=1)


def topk_mask(x: Tensor, token_mask: Tensor, keep_ratio: float) -> Tensor:
    """Exactly K largest-magnitude real entries per sample (SFT 15-16), as a boolean mask."""
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"keep_ratio = {keep_ratio}; allowed: (0, 1]")
    valid = entry_mask(x, token_mask)
    if keep_ratio >= 1.0:
        return valid.clone()
    b = x.shape[0]
    scores = torch.where(valid, x.detach().abs(), torch.full_like(x, -1.0)).reshape(b, -1)
    k = kept_counts(token_mask, x.shape[-1], keep_ratio)
    k_max = int(k.max())
    # topk sorts only the k_max largest; the count is exact whatever the ties
    _, order = torch.topk(scores, k_max, dim=1, sorted=True)
    take = torch.arange(k_max, device=x.device)[None, :] < k[:, None]
    kept = torch.zeros(scores.shape, dtype=torch.bool, device=x.device)
    kept.scatter_(1, order, take)
    return kept.reshape(x.shape)


@dataclass
class Quantized:
    """The quantized kept entries of a cut tensor, ready for the coder."""

    values: Tensor  # dequantized tensor, zeros outside the kept entries
    levels: Tensor  # (n_kept,) int64 level index e, in row-major order of the kept entries
    negative: Tensor  # (n_kept,) bool sign
    side: Tensor  # (batch, 2) float32 s_min, s_max per sample


def quantize(x: Tensor, kept: Tensor, bits: int, generator: torch.Generator) -> Quantized:
    """SFT (17)-(18) per sample on the kept entries, with ``2^bits`` levels."""
    if bits < 1:
        raise ValueError(f"quant_bits = {bits}; allowed: >= 1 (0 means no quantization)")
    n_levels = 2**bits
    mag = x.detach().abs()
    inf = torch.tensor(float("inf"), dtype=mag.dtype)
    flat_mag, flat_kept = mag.reshape(x.shape[0], -1), kept.reshape(x.shape[0], -1)
    s_min = torch.where(flat_kept, flat_mag, inf).amin(1)
    s_max = torch.where(flat_kept, flat_mag, -inf).amax(1)
    none_kept = ~flat_kept.any(1)
    s_min, s_max = torch.where(none_kept, 0.0, s_min), torch.where(none_kept, 0.0, s_max)
    shape = (-1,) + (1,) * (x.dim() - 1)
    lo_v, step = s_min.view(shape), ((s_max - s_min) / (n_levels - 1)).view(shape)
    t = torch.where(step > 0, (mag - lo_v) / torch.where(step > 0, step, 1.0), 0.0)
    t = t.clamp(0.0, n_levels - 1.0)
    lower = t.floor().clamp(max=n_levels - 2)
    up = torch.rand(x.shape, generator=generator, dtype=x.dtype) < (t - lower)
    level = torch.where(step > 0, lower + up.to(x.dtype), 0.0)
    values = torch.where(kept, torch.sign(x.detach()) * (lo_v + level * step), 0.0)
    return Quantized(
        values=values,
        levels=level[kept].to(torch.int64),
        negative=(x.detach() < 0)[kept],
        side=torch.stack([s_min, s_max], 1).to(torch.float32),
    )


class StochasticQuantizer(torch.autograd.Function):
    """Autograd op: forward returns the quantized tensor, backward the gradient on the kept entries."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, kept: Tensor, bits: int, generator: torch.Generator, sink: list
    ) -> Tensor:
        q = quantize(x, kept, bits, generator)
        sink.append(q)
        ctx.save_for_backward(kept)
        return q.values.to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        (kept,) = ctx.saved_tensors
        return grad * kept.to(grad.dtype), None, None, None, None
