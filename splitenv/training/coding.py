"""A real lossless coder for compressed activations: positions, level indices, signs (numpy only).

What SFT Sec. IV-C names ("Golomb encoding" of the sparse positions, "entropy
coding" of the values) as bitstreams whose length is measured, not modelled.
One message is one cut tensor (all samples of a batch, flattened sample by
sample over real tokens, ``n_elements`` entries); its layout:

| field | bits | present when |
| --- | --- | --- |
| header: kept count, Rice k, q, value coder | 32 + 4 + 6 + 1 | always |
| s_min, s_max per sample (float32) | 64 per sample | q > 0 |
| Rice remainders of the gaps | k per kept entry | rho < 1, lossless |
| Rice quotients of the gaps, unary (u ones, one zero) | sum(u) + kept | rho < 1, lossless |
| bitmap of kept positions | n_elements | rho < 1, not lossless |
| signs | 1 per kept entry | q > 0 |
| level indices, fixed width | q per kept entry | q > 0, fixed coder |
| canonical Huffman code lengths, then codes | 5 per level + code bits | q > 0, Huffman coder |
| float32 values | 32 per kept entry | q = 0 |

The quantizer's range (s_min, s_max) is per sample, as SFT (17) defines it on
each sample's s_l; the engine's size model charges 64 bits per message, so the
two differ by at most 64 / (tokens x d) bits per element (0.01 for MiniLM at
16 tokens). A gap is the number of dropped entries before a kept one; the Rice parameter k
is the one that gives the shortest stream for this message. The value coder is
fixed-width or canonical Huffman over the 2^q levels, whichever is shorter
("auto", the default) or as forced. Remainders and quotients are written as two
separate runs so that both encode and decode are vectorized.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

_K_BITS, _COUNT_BITS, _Q_BITS, _LEN_BITS = 4, 32, 6, 5
HEADER_BITS = _COUNT_BITS + _K_BITS + _Q_BITS + 1


@dataclass
class Payload:
    """What one message carries, before coding (all numpy)."""

    kept: NDArray[np.bool_]  # (n_elements,) which entries are sent
    sample_sizes: NDArray[np.int64]  # elements per sample (known to the receiver from the shapes)
    quant_bits: int  # q; 0 = float32 values
    levels: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))  # (kept,)
    # True = negative, one per kept entry
    signs: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))
    # (samples, 2): s_min, s_max per sample
    side: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    values: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))  # q = 0


@dataclass
class Encoded:
    """A coded message: the bytes and where the bits went."""

    data: bytes
    bits: dict[str, int]

    @property
    def n_bits(self) -> int:
        """Total bits (the byte string pads the last byte)."""
        return sum(self.bits.values())


def _uint_bits(values: NDArray[np.int64], width: int) -> NDArray[np.uint8]:
    """Big-endian fixed-width binary of each value, concatenated."""
    if width == 0 or values.size == 0:
        return np.zeros(0, np.uint8)
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values.astype(np.int64)[:, None] >> shifts) & 1).astype(np.uint8).ravel()


def _read_uint(bits: NDArray[np.uint8], width: int, count: int) -> NDArray[np.int64]:
    if width == 0:
        return np.zeros(count, np.int64)
    chunk = bits[: width * count].reshape(count, width).astype(np.int64)
    return chunk @ (1 << np.arange(width - 1, -1, -1, dtype=np.int64))


def gaps_of(kept: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Dropped entries before each kept entry."""
    idx = np.flatnonzero(kept)
    return np.diff(np.concatenate([[-1], idx])) - 1


def best_rice_k(gaps: NDArray[np.int64]) -> int:
    """Rice parameter with the shortest total code (k = 0..15)."""
    costs = [int((gaps >> k).sum()) + gaps.size * (k + 1) for k in range(16)]
    return int(np.argmin(costs))


def rice_encode(gaps: NDArray[np.int64], k: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(remainder bits, unary quotient bits) of the gaps."""
    quotients = gaps >> k
    unary = np.ones(int(quotients.sum()) + gaps.size, np.uint8)
    unary[np.cumsum(quotients + 1) - 1] = 0
    return _uint_bits(gaps & ((1 << k) - 1), k), unary


def huffman_lengths(counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """Huffman code length per symbol (0 for unused symbols; 1 if only one is used)."""
    lengths = np.zeros(counts.size, np.int64)
    used = [int(i) for i in np.flatnonzero(counts)]
    if len(used) == 1:
        lengths[used[0]] = 1
        return lengths
    heap: list[tuple[int, int, tuple[int, ...]]] = [(int(counts[i]), i, (i,)) for i in used]
    heapq.heapify(heap)
    tie = counts.size
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            lengths[s] += 1
        heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
        tie += 1
    return lengths


def canonical_codes(lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """Canonical Huffman codes for the given lengths (symbols in order within a length)."""
    codes = np.zeros(lengths.size, np.int64)
    code, prev = 0, 0
    for sym in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[sym]) - prev
        codes[sym], prev = code, int(lengths[sym])
        code += 1
    return codes


def _var_bits(codes: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.uint8]:
    """Concatenate codes of varying lengths (big-endian), vectorized."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.uint8)
    starts = np.cumsum(lengths) - lengths
    owner = np.repeat(np.arange(lengths.size), lengths)
    within = np.arange(total) - starts[owner]
    return ((codes[owner] >> (lengths[owner] - 1 - within)) & 1).astype(np.uint8)


def encode(payload: Payload, *, lossless: bool = True, value_coder: str = "auto") -> Encoded:
    """Code ``payload`` into bytes; ``value_coder`` is ``"fixed"``, ``"huffman"`` or ``"auto"``."""
    if value_coder not in ("fixed", "huffman", "auto"):
        raise ValueError(f"value_coder = {value_coder!r}; allowed: fixed, huffman, auto")
    kept, q = payload.kept, payload.quant_bits
    n_kept, sparse = int(kept.sum()), not bool(kept.all())
    parts: dict[str, NDArray[np.uint8]] = {}
    k = 0
    if sparse and lossless:
        gaps = gaps_of(kept)
        k = best_rice_k(gaps)
        parts["positions_remainder"], parts["positions_unary"] = rice_encode(gaps, k)
    elif sparse:
        parts["positions_bitmap"] = kept.astype(np.uint8)
    use_huffman = False
    if q > 0:
        parts["side"] = np.unpackbits(payload.side.astype(">f4").view(np.uint8))
        parts["signs"] = payload.signs.astype(np.uint8)
        fixed = _uint_bits(payload.levels, q)
        if value_coder != "fixed" and n_kept:
            lengths = huffman_lengths(np.bincount(payload.levels, minlength=1 << q))
            if int(lengths.max()) < 1 << _LEN_BITS:
                coded = np.concatenate(
                    [
                        _uint_bits(lengths, _LEN_BITS),
                        _var_bits(
                            canonical_codes(lengths)[payload.levels], lengths[payload.levels]
                        ),
                    ]
                )
                use_huffman = value_coder == "huffman" or coded.size < fixed.size
        parts["levels"] = coded if use_huffman else fixed
    else:
        parts["values"] = np.unpackbits(payload.values.astype(">f4").view(np.uint8))
    header = np.concatenate(
        [
            _uint_bits(np.array([n_kept]), _COUNT_BITS),
            _uint_bits(np.array([k]), _K_BITS),
            _uint_bits(np.array([q]), _Q_BITS),
            np.array([int(use_huffman)], np.uint8),
        ]
    )
    stream = np.concatenate([header, *parts.values()])
    bits = {"header": int(header.size), **{name: int(b.size) for name, b in parts.items()}}
    return Encoded(np.packbits(stream).tobytes(), bits)


def decode(
    data: bytes,
    sample_sizes: NDArray[np.int64],
    *,
    lossless: bool = True,
    n_elements: int | None = None,
) -> Payload:
    """Inverse of :func:`encode` (the receiver knows the sample sizes and the coding mode).

    ``n_elements`` overrides ``sum(sample_sizes)`` for messages whose positions
    the receiver already knows (a gradient sent on the sender's own mask).
    """
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    n_samples = len(sample_sizes)
    n_elements = int(np.sum(sample_sizes)) if n_elements is None else int(n_elements)
    n_kept = int(_read_uint(bits, _COUNT_BITS, 1)[0])
    pos = _COUNT_BITS
    k = int(_read_uint(bits[pos:], _K_BITS, 1)[0])
    q = int(_read_uint(bits[pos + _K_BITS :], _Q_BITS, 1)[0])
    pos += _K_BITS + _Q_BITS
    use_huffman = bool(bits[pos])
    pos += 1
    kept = np.ones(n_elements, np.bool_)
    if n_kept < n_elements and lossless:
        remainders = _read_uint(bits[pos:], k, n_kept)
        pos += k * n_kept
        zeros = np.flatnonzero(bits[pos:] == 0)[:n_kept]
        quotients = np.diff(np.concatenate([[-1], zeros])) - 1
        pos += int(zeros[-1]) + 1 if n_kept else 0
        idx = np.cumsum((quotients << k) + remainders + 1) - 1
        kept = np.zeros(n_elements, np.bool_)
        kept[idx] = True
    elif n_kept < n_elements:
        kept = bits[pos : pos + n_elements].astype(np.bool_)
        pos += n_elements
    out = Payload(kept=kept, sample_sizes=np.asarray(sample_sizes, np.int64), quant_bits=q)
    if q > 0:
        side_bits = 64 * n_samples
        out.side = (
            np.packbits(bits[pos : pos + side_bits])
            .view(">f4")
            .astype(np.float32)
            .reshape(n_samples, 2)
        )
        pos += side_bits
        out.signs = bits[pos : pos + n_kept].astype(np.bool_)
        pos += n_kept
        if use_huffman:
            lengths = _read_uint(bits[pos:], _LEN_BITS, 1 << q)
            pos += _LEN_BITS * (1 << q)
            out.levels = _huffman_decode(bits[pos:], lengths, n_kept)
        else:
            out.levels = _read_uint(bits[pos:], q, n_kept)
    else:
        out.values = np.packbits(bits[pos : pos + 32 * n_kept]).view(">f4").astype(np.float32)
    return out


def _huffman_decode(
    bits: NDArray[np.uint8], lengths: NDArray[np.int64], count: int
) -> NDArray[np.int64]:
    codes = canonical_codes(lengths)
    table = {(int(lengths[s]), int(codes[s])): int(s) for s in np.flatnonzero(lengths)}
    out = np.empty(count, np.int64)
    code = length = j = 0
    for bit in bits:
        if j == count:
            break
        code, length = (code << 1) | int(bit), length + 1
        sym = table.get((length, code))
        if sym is not None:
            out[j], code, length, j = sym, 0, 0, j + 1
    return out
