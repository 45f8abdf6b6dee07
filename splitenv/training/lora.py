"""LoRA adapters in named slots (one per device, or one shared) and their FedAvg.

A :class:`LoRALinear` wraps a frozen ``nn.Linear`` W and adds ``scale * B A x``
with ``A`` (r x in, Gaussian N(0, 1/in), as SFT Sec. IV-A draws it) and ``B``
(out x r, zeros), so a fresh adapter changes nothing (SFT (2): Theta + A B).

Why not PEFT: PEFT wraps a whole ``transformers`` model (it pulls transformers
in, and its adapters hang off that model's module names), while split training
needs adapters on explicit device / edge / server ``nn.Module`` parts that we
build ourselves (:mod:`splitenv.training.model`), and several copies of each
adapter at once (one per device on the server, SFT Sec. IV-A). The ~100 lines
below do exactly that and nothing else.

**Slots.** Every trainable piece (a LoRA pair, the classifier head) is a
:class:`Slotted` module holding named copies in ``slots``; ``set_active(root,
name)`` picks the copy that forward passes use. SFT keeps a device-side and a
server-side adapter per device (names ``dev0``, ``dev1``, ...); SFL-V2-style
training shares one server adapter (name ``shared``). The frozen base weights
exist once.

**FedAvg.** :func:`fedavg` averages slot states with weights D_n / D
(SFT (7)-(8), SplitLLM (12)-(13), FedsLLM (7)). For LoRA it averages the
factors A and B separately, as those papers and every FL-LoRA system do (the
factors are what devices send). This is *not* the average of the updates:
``mean(B) mean(A) = sum_ij w_i w_j B_i A_j`` contains the cross terms
``B_i A_j`` (i != j) that no device trained, and differs from
``sum_i w_i B_i A_i`` unless all devices agree (tests/training/test_lora.py).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from typing import cast

from splitenv.config import LORA_MATRICES
from splitenv.training._deps import missing

try:
    import torch
    from torch import Tensor, nn
    from torch.nn import functional as F
except ModuleNotFoundError as exc:
    missing(exc)

#: slot name of the adapter shared by all devices (SFL-V2 style server side)
SHARED = "shared"


def device_slot(n: int) -> str:
    """Slot name of device n's adapter."""
    return f"dev{n}"


class Slotted(nn.Module):
    """A module whose trainable state exists in named copies; forward uses ``active``."""

    def __init__(self) -> None:
        super().__init__()
        self.slots = nn.ModuleDict()
        self.active: str | None = None

    def make_slot(self, generator: torch.Generator) -> nn.Module:
        """A freshly initialized copy of the trainable state."""
        raise NotImplementedError

    def current(self) -> nn.Module | None:
        """The active slot, or None (base behaviour) when none is active."""
        if self.active is None:
            return None
        if self.active not in self.slots:
            raise KeyError(
                f"{type(self).__name__} has no slot {self.active!r}; has {list(self.slots)}"
            )
        return self.slots[self.active]


class LoRAFactors(nn.Module):
    """One adapter: ``A`` (r x in) and ``B`` (out x r)."""

    def __init__(self, a: Tensor, b: Tensor) -> None:
        super().__init__()
        self.A = nn.Parameter(a)
        self.B = nn.Parameter(b)


class LoRALinear(Slotted):
    """``y = W x + b + (alpha / r) B A x`` with W, b frozen (SFT (2))."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if rank < 0:
            raise ValueError(f"LoRA rank = {rank}; allowed: >= 0")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.rank = int(rank)
        self.alpha = float(alpha)

    @property
    def scale(self) -> float:
        """Alpha / r (0 without adapters)."""
        return self.alpha / self.rank if self.rank else 0.0

    def make_slot(self, generator: torch.Generator) -> nn.Module:
        w = self.base.weight
        a = torch.randn(self.rank, w.shape[1], generator=generator) / math.sqrt(w.shape[1])
        return LoRAFactors(a.to(w.dtype), torch.zeros(w.shape[0], self.rank, dtype=w.dtype))

    def forward(self, x: Tensor) -> Tensor:
        y = self.base(x)
        slot = cast(LoRAFactors | None, self.current())
        if slot is None or self.rank == 0:
            return y
        return y + self.scale * F.linear(F.linear(x, slot.A), slot.B)

    def delta_weight(self, name: str) -> Tensor:
        """The update ``scale * B A`` of slot ``name`` (out x in)."""
        slot = cast(LoRAFactors, self.slots[name])
        return self.scale * (slot.B @ slot.A)

    def set_rank(self, rank: int, generator: torch.Generator) -> None:
        """Change the rank of every slot, keeping each update B A as well as rank allows.

        Growing pads A with fresh Gaussian rows and B with zero columns (the
        update is unchanged); shrinking keeps the best rank-r approximation of
        the update (truncated SVD, Eckart-Young). Optimizers must be rebuilt.
        """
        if rank == self.rank:
            return
        old_scale = self.scale
        new_scale = self.alpha / rank if rank else 0.0
        for name, module in self.slots.items():
            slot = cast(LoRAFactors, module)
            delta = old_scale * (slot.B.detach() @ slot.A.detach())
            fresh = self._factors_for(delta, rank, new_scale, generator)
            self.slots[name] = fresh
        self.rank = int(rank)

    def _factors_for(
        self, delta: Tensor, rank: int, scale: float, gen: torch.Generator
    ) -> nn.Module:
        out_f, in_f = delta.shape
        if rank == 0:
            return LoRAFactors(torch.zeros(0, in_f), torch.zeros(out_f, 0))
        u, s, vh = torch.linalg.svd(delta / (scale or 1.0), full_matrices=False)
        k = min(rank, int((s > 0).sum()))
        root = s[:k].sqrt()
        a = torch.randn(rank, in_f, generator=gen) / math.sqrt(in_f)
        b = torch.zeros(out_f, rank)
        a[:k] = root[:, None] * vh[:k]
        b[:, :k] = u[:, :k] * root[None, :]
        return LoRAFactors(a, b)


def add_lora(root: nn.Module, targets: Sequence[str], rank: int, alpha: float) -> list[LoRALinear]:
    """Wrap every ``nn.Linear`` attribute named in ``targets`` (e.g. ``q``, ``ffn_in``)."""
    unknown = set(targets) - set(LORA_MATRICES)
    if unknown:
        raise ValueError(f"unknown LoRA targets {sorted(unknown)}; allowed: {LORA_MATRICES}")
    wrapped = []
    for module in list(root.modules()):
        for name in targets:
            child = getattr(module, name, None)
            if isinstance(child, nn.Linear):
                lora = LoRALinear(child, rank, alpha)
                setattr(module, name, lora)
                wrapped.append(lora)
    return wrapped


def slotted(root: nn.Module) -> list[Slotted]:
    """All slotted modules under ``root`` (in module order)."""
    return [m for m in root.modules() if isinstance(m, Slotted)]


def add_slots(root: nn.Module, names: Iterable[str], generator: torch.Generator) -> None:
    """Give every slotted module the slots ``names``, all starting from one common init.

    A common start is what the server's broadcast of the initial adapters gives
    (SFT Alg. 1, line 1).
    """
    names = list(names)
    for module in slotted(root):
        init = module.make_slot(generator)
        for name in names:
            module.slots[name] = copy.deepcopy(init)


def set_active(root: nn.Module, name: str | None) -> None:
    """Make slot ``name`` the one forward passes use, in every slotted module under ``root``."""
    for module in slotted(root):
        module.active = name


def slot_parameters(root: nn.Module, name: str) -> list[nn.Parameter]:
    """Trainable parameters of slot ``name`` under ``root`` (for an optimizer)."""
    return [p for m in slotted(root) if name in m.slots for p in m.slots[name].parameters()]


def slot_state(module: Slotted, name: str) -> dict[str, Tensor]:
    """Detached copy of one slot's tensors."""
    return {k: v.detach().clone() for k, v in module.slots[name].state_dict().items()}


def fedavg(states: Sequence[dict[str, Tensor]], weights: Sequence[float]) -> dict[str, Tensor]:
    """Weighted average ``sum_n (D_n / D) state_n`` key by key (SFT (7)-(8)).

    Args:
        states: one state dict per device, same keys and shapes.
        weights: D_n (any non-negative numbers; normalized here).

    Returns:
        The averaged state; LoRA factors are averaged separately (see module docs).
    """
    if len(states) != len(weights) or not states:
        raise ValueError(f"fedavg needs one weight per state, got {len(states)} and {len(weights)}")
    w = torch.tensor([float(x) for x in weights], dtype=torch.float64)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"fedavg weights must be >= 0 with a positive sum, got {list(weights)}")
    w = w / w.sum()
    out = {}
    for key, first in states[0].items():
        total = torch.zeros_like(first, dtype=torch.float64)
        for wi, s in zip(w.tolist(), states, strict=True):
            total += wi * s[key].double()
        out[key] = total.to(first.dtype)
    return out


def load_slot(module: Slotted, name: str, state: dict[str, Tensor]) -> None:
    """Overwrite slot ``name`` with ``state`` (creating it if needed)."""
    if name not in module.slots:
        module.slots[name] = copy.deepcopy(next(iter(module.slots.values())))
    with torch.no_grad():
        for key, value in module.slots[name].state_dict().items():
            value.copy_(state[key])
