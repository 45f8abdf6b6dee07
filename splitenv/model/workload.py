"""Transformer workload: parameters, FLOPs, activation sizes and memory per block.

Every block is identical (SCCT Sec. III, SFT Sec. V), so a tier holding ``n``
blocks costs ``n`` times a block plus its share of the embedding and head. The
functions here return per-block or per-tier numbers and broadcast over arrays
of layer counts, so the engine evaluates any batch of split decisions at once.

Conventions (cited where used):

* parameters of a block: its weight matrices, optional biases, and
  ``norm_params_per_dim * d`` norm parameters. With d_ffn = 4d and two FFN
  matrices this is SCCT (1): ``12 d^2 + 4 d``.
* forward FLOPs of a block for one sample: ``fpm * (n * W + 2 n^2 d) + c n d``,
  where W is the number of weights in the block's matrices, n the sequence
  length, fpm the FLOPs per multiply-add and c the norm FLOPs per token in units
  of d; with fpm = 2 and c = 0 this is SCCT (2): ``24 n d^2 + 4 n^2 d``.
* LoRA of rank r on a matrix with (d_in, d_out) adds ``r (d_in + d_out)``
  parameters and ``fpm * n * r (d_in + d_out)`` forward FLOPs per sample; on
  all six matrices with d_ffn = 4d this is SFT Sec. V-C's ``18 D r``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from splitenv.config import MemorySpec, Scenario, TransformerSpec, WorkloadSpec


@dataclass(frozen=True)
class BlockCosts:
    """Per-block and per-model constants of one (model, workload) pair.

    Built once per scenario; the engine multiplies them by layer counts.
    """

    model: TransformerSpec
    workload: WorkloadSpec

    @cached_property
    def matmul_params(self) -> int:
        """Weights of a block's matrices (no biases, no norms)."""
        return sum(a * b for a, b in map(self.model.matrix_shape, self.model.block_matrices))

    @cached_property
    def block_params(self) -> int:
        """Frozen parameters of one block (SCCT (1) without xi; SFT's 12 D^2)."""
        m = self.model
        biases = sum(b for _, b in map(m.matrix_shape, m.block_matrices)) if m.count_biases else 0
        return self.matmul_params + biases + m.norm_params_per_dim * m.hidden_dim

    @cached_property
    def lora_params_per_rank(self) -> int:
        """LoRA parameters of one block per unit of rank: sum of (d_in + d_out) over targets."""
        return sum(a + b for a, b in map(self.model.matrix_shape, self.workload.lora_targets))

    def lora_params(self, rank: ArrayLike) -> NDArray[np.float64]:
        """LoRA parameters of one block at rank r (SFT Sec. V-C: 18 D r on six matrices)."""
        return np.asarray(rank, dtype=np.float64) * self.lora_params_per_rank

    @cached_property
    def embedding_params(self) -> int:
        """Embedding parameters: (vocab + positions + extra rows) d (SFT Sec. V-C)."""
        m = self.model
        return (m.vocab_size + m.max_positions + m.embedding_extra_rows) * m.hidden_dim

    @cached_property
    def head_params(self) -> int:
        """Head parameters d K + K (SFT Sec. V-C)."""
        m = self.model
        return m.hidden_dim * m.head_outputs + m.head_outputs

    # --- FLOPs, per iteration (the whole batch) ---------------------------------------

    @cached_property
    def block_forward_flops(self) -> float:
        """Forward FLOPs of one block for the batch: b * fpm (n W + 2 n^2 d) (SCCT (2), SFT V-D)."""
        m = self.model
        n = m.seq_len
        per_sample = m.flops_per_mac * (n * self.matmul_params + 2 * n * n * m.hidden_dim)
        per_sample += m.norm_flops_per_dim * n * m.hidden_dim  # FedsLLM Table III LayerNorm rows
        return self.workload.batch_size * per_sample

    def lora_forward_flops(self, rank: ArrayLike) -> NDArray[np.float64]:
        """LoRA forward FLOPs of one block for the batch at rank r (FedsLLM (8): r phi)."""
        if not self.workload.count_lora_flops:
            return np.zeros(np.shape(rank))
        m = self.model
        per_rank = m.lora_flops_per_mac * m.seq_len * self.lora_params_per_rank
        return self.workload.batch_size * per_rank * np.asarray(rank, dtype=np.float64)

    @cached_property
    def head_forward_flops(self) -> float:
        """Head forward FLOPs for the batch, counted when the head is modelled.

        ``2 B N D K`` (SFT V-D), plus the final norm (FedsLLM Table III "Final LayerNorm").
        """
        if not self.workload.head_on_server:
            return 0.0
        m = self.model
        per_token = (
            m.head_flops_per_mac * m.hidden_dim * m.head_outputs
            + m.final_norm_flops_per_dim * m.hidden_dim
        )
        return self.workload.batch_size * m.seq_len * per_token

    def tier_flops(
        self, n_layers: ArrayLike, rank: ArrayLike, *, with_head: bool = False
    ) -> NDArray[np.float64]:
        """Forward and backward FLOPs of a tier of ``n_layers`` blocks for one iteration.

        Backward is ``backward_ratio`` times forward (SCCT (12) epsilon; 2 in SFT V-D).
        """
        fwd = np.asarray(n_layers, dtype=np.float64) * (
            self.block_forward_flops + self.lora_forward_flops(rank)
        )
        if with_head:
            fwd = fwd + self.head_forward_flops
        return fwd * (1.0 + self.workload.backward_ratio)

    def tier_forward_flops(self, n_layers: ArrayLike, rank: ArrayLike) -> NDArray[np.float64]:
        """Forward FLOPs only (FedsLLM (8) phases forward and backward separately)."""
        return np.asarray(n_layers, dtype=np.float64) * (
            self.block_forward_flops + self.lora_forward_flops(rank)
        )

    # --- sizes on the wire, in bits ---------------------------------------------------

    @cached_property
    def activation_values(self) -> int:
        """Values of the cut-layer activation for the batch: b n d (SCCT v_n, SFT Psi^A = BND)."""
        m = self.model
        return self.workload.batch_size * m.seq_len * m.hidden_dim

    @cached_property
    def label_values(self) -> int:
        """Values of the labels for the batch: b d_l d (SCCT y_n)."""
        return self.workload.batch_size * self.workload.label_len * self.model.hidden_dim

    def block_param_bits(self) -> float:
        """Bits of one block's frozen parameters: SCCT (1) z = xi (12 d^2 + 4 d)."""
        return float(self.block_params * self.workload.param_bits)

    def lora_bits(self, n_layers: ArrayLike, rank: ArrayLike) -> NDArray[np.float64]:
        """Bits of the LoRA adapters of ``n_layers`` blocks at rank r (SFT Psi^L, FedsLLM Delta_c)."""
        return (
            np.asarray(n_layers, dtype=np.float64)
            * self.lora_params(rank)
            * self.workload.param_bits
        )

    # --- memory, in bytes ------------------------------------------------------------

    def block_training_bytes(self, mem: MemorySpec, rank: ArrayLike) -> NDArray[np.float64]:
        """Training memory of one block, SFT (33).

        ``M_t = (2 alpha + alpha_hat)(12 D^2 + 18 D r) + alpha_1 B N D + alpha_2 B N^2 A`` when
        every parameter is charged weights, gradients and optimizer state (``trainable: all``,
        SFT (29)-(31) as printed); with ``trainable: lora`` frozen weights cost ``alpha`` once and
        only the LoRA parameters carry gradients and optimizer state.
        """
        m, w = self.model, self.workload
        a, a_hat = mem.bytes_per_value, mem.optimizer_bytes
        lora = self.lora_params(rank)
        if w.trainable == "all":
            params = (2 * a + a_hat) * (self.block_params + lora)
        else:
            params = a * self.block_params + (2 * a + a_hat) * lora
        b, n, d = w.batch_size, m.seq_len, m.hidden_dim
        acts = (
            mem.activation_coeff_bnd * b * n * d + mem.activation_coeff_bn2a * b * n * n * m.n_heads
        )
        return params + acts

    def device_fixed_bytes(self, mem: MemorySpec) -> float:
        """Device constant of SFT (34): ``16 D^2 + B N D`` (in bytes, as printed)."""
        m = self.model
        d = m.hidden_dim
        return (
            mem.device_fixed_d2 * d * d
            + mem.device_fixed_bnd * self.workload.batch_size * m.seq_len * d
        )


def block_costs(scn: Scenario) -> BlockCosts:
    """Per-block constants of a scenario (memoized on the frozen scenario)."""
    return scn.memo("block_costs", lambda: BlockCosts(scn.model, scn.workload))
