"""``bcd``: block coordinate descent over the scenario's enabled blocks, to a fixed point.

Blocks, in this order, each solved given the others (:mod:`baselines.methods.blocks`), a
block's answer kept only when the engine scores it better (monotone descent):

1. every global choice (rank, quantization bits, a shared split): enumeration;
2. per-device discrete choices (split, edge split): every device at one split value,
   re-allocated (a global move); each device's best response by enumeration, the
   improving ones combined best-first; the 8 single-device moves that shorten their
   device most, re-allocated (at a min-max allocation no single move helps until the
   resources it frees are handed on);
3. the allocation block (when the space allows the allocator, see
   :class:`~baselines.methods.general.GeneralMethod`): the scenario's own allocator for all
   small-timescale fields given the large ones;
4. every pooled resource (subchannels, federated subchannels, bandwidth, compute shares,
   powers with a total budget): min-max water-filling of the devices' round times;
   counts then by single-subchannel transfers;
5. every box (server clock per device, keep ratio, powers): grid search per coordinate
   with a zoom.

Sweeps repeat until one changes nothing (the fixed point: no block improves the score by
more than 1e-9 relative) or the budget is spent.

More devices than subchannels: the engine gives every device an integer count of a pool
for a whole epoch (no time sharing), so a device without a subchannel has an infinite
latency; ``bcd`` then returns its best decision, reported infeasible with the reason
(``stats.extra["reason"]``, the number of unserved devices) and the violations.

Default budget: 3000 evaluations, or 120 per device for N from 25 to 100 (12000 beyond).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from baselines.methods import blocks
from baselines.methods.evaluator import Evaluator
from baselines.methods.general import PER_DEVICE, GeneralMethod
from baselines.methods.search_space import BOXES, COUNTS, POWERS, SHARES, Point, Space

#: relative improvement below which a sweep counts as no change
TOL = 1e-9
#: single-device moves scored re-allocated per discrete block (blocks.device_choice)
REALLOC = 8


def sweep(space: Space, ev: Evaluator, point: Point, value: float) -> tuple[Point, float]:
    """One pass over every enabled block (module docstring)."""
    for name in space.fields:
        if name in ("rank", "quant_bits") or (name == "split" and space.shared_split):
            point, value = blocks.global_choice(space, ev, point, value, name)
    if "split" in space.fields and not space.shared_split:
        point, value = blocks.uniform_splits(space, ev, point, value)
    for name in space.has("split", "edge_split"):
        if not (name == "split" and space.shared_split):
            point, value = blocks.device_choice(space, ev, point, value, name, realloc=REALLOC)
    point, value = blocks.allocate(space, ev, point, value)
    for name in space.has(*COUNTS, *SHARES, *POWERS):
        point, value = blocks.waterfill(space, ev, point, value, name)
        if name in COUNTS:
            point, value = blocks.transfer(space, ev, point, value, name)
    for name in space.has(*BOXES, *POWERS):
        point, value = blocks.box_grid(space, ev, point, value, name)
    return point, value


def descend(
    space: Space,
    ev: Evaluator,
    point: Point,
    value: float,
    max_sweeps: int = 50,
) -> tuple[Point, float]:
    """Sweeps until the fixed point (or ``max_sweeps``)."""
    for _ in range(max_sweeps):
        new_point, new_value = sweep(space, ev, point, value)
        done = not new_value < value - TOL * abs(value)
        point, value = new_point, new_value
        if done:
            break
    return point, value


class BlockCoordinateDescent(GeneralMethod):
    """Block coordinate descent over the enabled blocks (module docstring)."""

    name = "bcd"
    default_budget: ClassVar[int] = 3000
    budget_per_device: ClassVar[int] = PER_DEVICE

    def run(self, space: Space, ev: Evaluator, rng: np.random.Generator) -> None:
        point = space.start
        value = float(ev.scores([point])[0])
        descend(space, ev, point, value)
