"""Rendering of the environment: a text table (``ansi``) and a Gantt chart (``rgb_array``).

The Gantt chart draws the epochs of the last round played (the round so far, mid-round):
one row per device, and for each epoch one iteration's chain of phases laid end to end on
the time axis, in the engine's order (device compute, uplink, edge server, cloud,
downlink; device forward and backward are one bar, the engine reports their sum). Every
duration is the engine's per-device term of that epoch (``Evaluation.per_device``) and
epoch ``t`` starts at the sum of the earlier epochs' ``terms["iteration_s"]``: nothing is
recomputed here. Colours mark the tier that works: devices blue, edge server green, cloud
purple; links orange (up) and red (down). Epoch starts are grey vertical lines; an
infinite duration (an unserved device) runs to the right edge. Only numpy is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.model import Evaluation

#: the engine's per-device phase terms, in chain order (SCCT (12)-(17), SFT (20)-(24))
PHASES = ("device_compute_s", "uplink_s", "server_compute_s", "cloud_s", "downlink_s")
#: RGB colour of each phase: the tier that works (device, edge, cloud) or the link
COLOURS: dict[str, tuple[int, int, int]] = {
    "device_compute_s": (31, 119, 180),
    "uplink_s": (255, 127, 14),
    "server_compute_s": (44, 160, 44),
    "cloud_s": (148, 103, 189),
    "downlink_s": (214, 39, 40),
}
WIDTH = 640
MARGIN = 8
ROW = 14
GAP = 4
_BACKGROUND = 255
_GRID = (190, 190, 190)


@dataclass(frozen=True)
class Bar:
    """One phase of one device in one epoch, in seconds from the round's start."""

    device: int
    epoch: int
    phase: str
    start_s: float
    end_s: float


def gantt_bars(epochs: list[Evaluation], index: int = 0) -> list[Bar]:
    """The bars of one iteration per epoch of decision ``index`` (see the module docstring)."""
    bars: list[Bar] = []
    offset = 0.0
    for t, ev in enumerate(epochs):
        n_dev = ev.per_device["chain_s"].shape[1]
        for n in range(n_dev):
            start = offset
            for phase in PHASES:
                length = float(ev.per_device[phase][index, n])
                if length > 0:
                    bars.append(Bar(n, t, phase, start, start + length))
                start += length
        offset += float(ev.terms["iteration_s"][index])
    return bars


def image_shape(n_devices: int) -> tuple[int, int, int]:
    """(H, W, 3) of the chart of ``n_devices`` devices (fixed per env, as video needs)."""
    return (2 * MARGIN + n_devices * (ROW + GAP), WIDTH, 3)


def time_to_x(t: float | NDArray[np.float64], span_s: float) -> NDArray[np.int64]:
    """Pixel column of time ``t`` on an axis of ``span_s`` seconds (inf clipped to the edge)."""
    plot = WIDTH - 2 * MARGIN
    frac = np.clip(np.asarray(t, dtype=np.float64) / span_s, 0.0, 1.0)
    return (MARGIN + np.round(frac * plot)).astype(np.int64)


def gantt(n_devices: int, epochs: list[Evaluation], index: int = 0) -> NDArray[np.uint8]:
    """The Gantt chart of ``epochs`` as an ``np.uint8`` (H, W, 3) image.

    Args:
        n_devices: rows (the scenario's N).
        epochs: evaluations of the round's epochs, in order (empty: axes only).
        index: the decision of the batch to draw.
    """
    img = np.full(image_shape(n_devices), _BACKGROUND, dtype=np.uint8)
    bottom = img.shape[0] - MARGIN
    img[bottom, MARGIN : WIDTH - MARGIN] = 0  # the time axis
    bars = gantt_bars(epochs, index)
    ends = [b.end_s for b in bars if np.isfinite(b.end_s)]
    starts = np.cumsum([0.0] + [float(ev.terms["iteration_s"][index]) for ev in epochs])
    span = max([*ends, *(s for s in starts if np.isfinite(s)), 0.0])
    if span <= 0:
        return img
    for s in starts[:-1]:
        img[MARGIN:bottom, time_to_x(s, span)] = _GRID
    for b in bars:
        x0, x1 = time_to_x(b.start_s, span), time_to_x(b.end_s, span)
        y0 = MARGIN + b.device * (ROW + GAP)
        img[y0 : y0 + ROW, x0:x1] = COLOURS[b.phase]
    return img


def ansi(
    ev: Evaluation | None,
    *,
    round_index: int,
    epoch_index: int,
    cost: float,
    n_devices: int,
) -> str:
    """A text table of the last evaluated epoch: per-device phase times and split."""
    if ev is None:
        return "splitenv: no step yet\n"
    per: dict[str, Any] = ev.per_device
    cols = ["device_compute_s", "uplink_s", "server_compute_s", "downlink_s", "chain_s"]
    lines = [f"round {round_index} epoch {epoch_index}  cost {cost:.4g}"]
    lines.append("dev split " + " ".join(f"{c[:-2]:>16s}" for c in cols))
    for n in range(n_devices):
        vals = " ".join(f"{per[c][0, n]:16.4g}" for c in cols)
        lines.append(f"{n:3d} {int(ev.decision.split[0, n]):5d} {vals}")
    return "\n".join(lines) + "\n"
