"""Federated split fine-tuning rounds (SFT Alg. 1) on an explicit split model.

One round, for a :class:`RoundPlan` (the cut(s), LoRA rank and compression the
scheduler chose): every device runs ``local_steps`` mini-batch iterations; in
each, the device part runs forward, the activation crosses the
:class:`~splitenv.training.wire.Wire` (Top-K, quantization, coding, bytes
counted), the server part (or edge then cloud) runs forward and backward and
steps its adapter, the input gradient crosses back, and the device part runs
backward and steps its adapter. Iterations interleave over devices (k outer,
n inner), which is SFT's parallel schedule when every device has its own
server adapter, and SFL-V2's sequential one when the server adapter is shared.
At the end of the round all adapter copies, and the classifier heads, are
averaged with weights D_n / D (SFT (7)-(8), SplitLLM (12)-(13), FedsLLM (7);
:func:`~splitenv.training.lora.fedavg`) and the averages become every device's
start for the next round, so the next round may use other cuts.

Choices that are ours (no paper fixes them): a fresh optimizer per device and
round (Adam by default), no dropout, the classifier head trained on the last
part and averaged like an adapter, evaluation of the averaged model through
the same compressed wire (the deployed split model sees it too).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from splitenv.config import LORA_MATRICES
from splitenv.training import lora
from splitenv.training._deps import missing
from splitenv.training.data import Tokenized, collate
from splitenv.training.model import Encoder, Segment
from splitenv.training.wire import Wire, WireSpec

try:
    import torch
    from torch import Tensor
    from torch.nn import functional as F
except ModuleNotFoundError as exc:
    missing(exc)


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of federated split fine-tuning (fixed for a run)."""

    local_steps: int = 4  # K local iterations per device per round (SFT), I (FedsLLM)
    batch_size: int = 16
    lr: float = 5e-3  # Adam; SFT's SGD at 1e-4 barely moves in a few rounds
    optimizer: str = "adam"  # adam | sgd (SFT Table II: SGD, momentum 0.9)
    momentum: float = 0.9
    lora_targets: tuple[str, ...] = ("q", "k", "v", "o", "ffn_in", "ffn_out")
    lora_alpha: float = 16.0  # scale = alpha / r
    server_adapters: str = "per_device"  # per_device (SFT) | shared (SFL-V2)
    eval_samples: int = 300  # test samples evaluated after each round (0 = all)
    eval_compressed: bool = True  # evaluate through the round's wire
    seed: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer = {self.optimizer!r}; allowed: adam, sgd")
        if self.server_adapters not in ("per_device", "shared"):
            raise ValueError(
                f"server_adapters = {self.server_adapters!r}; allowed: per_device, shared"
            )
        if set(self.lora_targets) - set(LORA_MATRICES):
            raise ValueError(f"lora_targets = {self.lora_targets}; allowed: {LORA_MATRICES}")
        if self.local_steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("local_steps >= 1, batch_size >= 1 and lr > 0 are required")


@dataclass(frozen=True)
class RoundPlan:
    """What the scheduler decided for one round."""

    cuts: tuple[tuple[int, ...], ...]  # per device: (l,) two tiers, (l_u, l_e) three tiers
    rank: int
    wire: WireSpec = WireSpec()  # device <-> server (or edge)
    upper_wire: WireSpec = WireSpec()  # edge <-> cloud (three tiers)


@dataclass
class RoundResult:
    """What one round measured."""

    round_index: int
    accuracy: float
    loss: float
    train_loss: float
    wire: dict[str, float]
    upper_wire: dict[str, float]
    adapter_bytes_up: float
    wall_s: float
    extras: dict[str, Any] = field(default_factory=dict)


class FederatedSplitTrainer:
    """Owns the model, the devices' data and adapters; :meth:`run_round` trains one round."""

    def __init__(
        self,
        model: Encoder,
        train_parts: Sequence[Tokenized],
        test: Tokenized,
        settings: TrainSettings,
        rank: int,
    ) -> None:
        self.model, self.settings, self.test = model, settings, test
        self.parts = list(train_parts)
        self.n_devices = len(self.parts)
        self.weights = np.array([len(p) for p in self.parts], dtype=np.float64)  # D_n
        self._gen = torch.Generator().manual_seed(settings.seed)
        lora.add_lora(model, settings.lora_targets, rank, settings.lora_alpha)
        self.names = [lora.device_slot(n) for n in range(self.n_devices)]
        lora.add_slots(model, [*self.names, lora.SHARED], self._gen)
        model.freeze_base()
        self.rank = rank
        self.round_index = 0
        self._rngs = [np.random.default_rng([settings.seed, n]) for n in range(self.n_devices)]
        self._queues: list[list[int]] = [[] for _ in range(self.n_devices)]
        eval_rng = np.random.default_rng([settings.seed, 10**6])
        n_eval = len(test) if not settings.eval_samples else min(settings.eval_samples, len(test))
        self._eval_idx = np.sort(eval_rng.permutation(len(test))[:n_eval])

    # --- one round ---------------------------------------------------------------------------

    def run_round(self, plan: RoundPlan) -> RoundResult:
        """Train one round with ``plan``, aggregate, evaluate."""
        start = time.perf_counter()
        if len(plan.cuts) != self.n_devices:
            raise ValueError(f"plan has {len(plan.cuts)} cuts for {self.n_devices} devices")
        if plan.rank != self.rank:
            for module in lora.slotted(self.model):
                if isinstance(module, lora.LoRALinear):
                    module.set_rank(plan.rank, self._gen)
            self.model.freeze_base()
            self.rank = plan.rank
        segs = [self.model.segments(c) for c in plan.cuts]
        wire = Wire(plan.wire, self._link_gen(0))
        upper = Wire(plan.upper_wire, self._link_gen(1))
        opts = self._optimizers(segs)
        losses = []
        self.model.train()
        for _ in range(self.settings.local_steps):
            for n in range(self.n_devices):
                losses.append(self._iteration(n, segs[n], opts[n], [wire, upper]))
        adapter_bytes = self._aggregate(segs)
        accuracy, loss = self.evaluate(plan)
        result = RoundResult(
            round_index=self.round_index,
            accuracy=accuracy,
            loss=loss,
            train_loss=float(np.mean(losses)),
            wire=wire.stats.as_dict(),
            upper_wire=upper.stats.as_dict(),
            adapter_bytes_up=adapter_bytes,
            wall_s=time.perf_counter() - start,
        )
        self.round_index += 1
        return result

    def _link_gen(self, link: int) -> torch.Generator:
        seed = int(
            np.random.default_rng([self.settings.seed, self.round_index, link]).integers(2**62)
        )
        return torch.Generator().manual_seed(seed)

    def _slot(self, n: int, part: int) -> str:
        if part == 0 or self.settings.server_adapters == "per_device":
            return self.names[n]
        return lora.SHARED

    def _optimizer(self, params: list) -> torch.optim.Optimizer | None:
        s = self.settings
        if not params:
            return None
        if s.optimizer == "adam":
            return torch.optim.Adam(params, lr=s.lr)
        return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum)

    def _optimizers(self, segs: list[list[Segment]]) -> list[list[torch.optim.Optimizer | None]]:
        """Per device, one optimizer per part; fresh every round (ours).

        With a shared server adapter, every device's server-side parts step one
        optimizer over the shared slot (an optimizer skips parameters without a
        gradient, so stepping it after each part's backward is per part).
        """
        shared = None
        if self.settings.server_adapters == "shared":
            shared = self._optimizer(lora.slot_parameters(self.model, lora.SHARED))
        out = []
        for n, dev_segs in enumerate(segs):
            row = [self._optimizer(lora.slot_parameters(dev_segs[0], self.names[n]))]
            for seg in dev_segs[1:]:
                row.append(
                    shared
                    if shared is not None
                    else self._optimizer(lora.slot_parameters(seg, self.names[n]))
                )
            out.append(row)
        return out

    def _next_batch(self, n: int) -> np.ndarray:
        q, b = self._queues[n], self.settings.batch_size
        while len(q) < b:
            q.extend(self._rngs[n].permutation(len(self.parts[n])).tolist())
        batch, self._queues[n] = np.asarray(q[:b]), q[b:]
        return batch

    def _iteration(self, n: int, segs: list[Segment], opts: list, wires: list[Wire]) -> float:
        ids, mask, y = collate(self.parts[n], self._next_batch(n))
        for i, seg in enumerate(segs):
            lora.set_active(seg, self._slot(n, i))

        def step(i: int) -> None:
            if opts[i] is not None:
                opts[i].step()
                opts[i].zero_grad(set_to_none=True)

        loss, _ = split_step(segs, wires, ids, mask, y, after_backward=step)
        return float(loss)

    def _aggregate(self, segs: list[list[Segment]]) -> float:
        """FedAvg of every adapter copy (weights D_n / D); returns the bytes devices upload."""
        part_of = {}  # (device, module id) -> part index
        for n, dev_segs in enumerate(segs):
            for i, seg in enumerate(dev_segs):
                for m in lora.slotted(seg):
                    part_of[(n, id(m))] = i
        upload_bits = 0
        for m in lora.slotted(self.model):
            names = [self._slot(n, part_of.get((n, id(m)), 1)) for n in range(self.n_devices)]
            avg = lora.fedavg([lora.slot_state(m, name) for name in names], self.weights.tolist())
            for name in [*self.names, lora.SHARED]:
                lora.load_slot(m, name, avg)
            on_device = sum(part_of.get((n, id(m))) == 0 for n in range(self.n_devices))
            upload_bits += on_device * 32 * sum(v.numel() for v in avg.values())
        return upload_bits / 8

    # --- evaluation --------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, plan: RoundPlan, batch_size: int = 100) -> tuple[float, float]:
        """Accuracy and mean cross-entropy of the averaged model on the evaluation samples."""
        s = self.settings
        segs = self.model.segments(plan.cuts[0])
        lora.set_active(self.model, self.names[0])  # all copies are equal after FedAvg
        self.model.eval()
        specs = [plan.wire, plan.upper_wire] if s.eval_compressed else [WireSpec(), WireSpec()]
        gen = torch.Generator().manual_seed(s.seed + 7919 * (self.round_index + 1))
        wires = [Wire(spec, gen) for spec in specs]
        correct, total_loss = 0, 0.0
        for start in range(0, len(self._eval_idx), batch_size):
            ids, mask, y = collate(self.test, self._eval_idx[start : start + batch_size])
            x = ids
            for i, seg in enumerate(segs[:-1]):
                _, x, _ = wires[min(i, 1)].send(seg(x, mask), mask)
            logits = segs[-1](x, mask)
            total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(-1) == y).sum())
        count = len(self._eval_idx)
        return correct / count, total_loss / count


def split_step(
    segs: Sequence[Segment],
    wires: Sequence[Wire],
    ids: Tensor,
    mask: Tensor,
    labels: Tensor,
    after_backward: Callable[[int], None] | None = None,
) -> tuple[Tensor, Tensor]:
    """Forward and backward of one mini-batch through the parts, over the wires.

    Part i's output crosses ``wires[min(i, len(wires) - 1)]``: the receiver gets a
    detached leaf; after the last part's backward, each leaf's gradient goes
    back over its wire and into ``sent.backward(grad)`` of the part before.
    ``after_backward(i)`` runs once part i's gradients are complete (the
    place to step that part's optimizer: the server steps before the device).

    Returns:
        (loss, logits), detached.
    """
    x, ends, leaves, records = ids, [], [], []
    for i, seg in enumerate(segs[:-1]):
        sent, x, rec = wires[min(i, len(wires) - 1)].send(seg(x, mask), mask)
        ends.append(sent)
        leaves.append(x)
        records.append(rec)
    logits = segs[-1](x, mask)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    for i in range(len(segs) - 1, 0, -1):
        if after_backward is not None:
            after_backward(i)
        received = leaves[i - 1].grad
        if ends[i - 1].requires_grad and received is not None:  # else nothing below trains
            grad = wires[min(i - 1, len(wires) - 1)].send_back(received, records[i - 1])
            ends[i - 1].backward(grad)
    if after_backward is not None:
        after_backward(0)
    return loss.detach(), logits.detach()
