"""CARD's closed-form server frequency f* (16), the inner allocator of CARD scenarios.

Li, Wu, Li, Zhang, "Energy-Efficient Split Learning for Fine-Tuning LLMs" (CARD, IEEE Netw.
Lett. 2025). For device m the server minimizes

    U(f, c) = w (D - D_min)/(D_max - D_min) + (1 - w)(E - E_min)/(E_max - E_min)   (12)

with the extremes over the device's feasible (c, f) box (the engine's
:func:`splitenv.model.card_bounds`); the minimizing f (16) does not depend on the cut c
(the server cycles K(c) cancel). The solvers built on it (Alg. 1
and the paper's baselines) are in :mod:`baselines.papers.card`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.model import State, StateBatch, card_bounds

Array = NDArray[np.float64]


def require_card(scn: Scenario) -> None:
    """Raise ValueError unless ``scn`` has CARD's structure (cost U and a frequency range)."""
    if scn.objective.kind != "card_cost" or not scn.compute.has_frequency_control:
        raise ValueError(
            f"scenario {scn.name!r} is not a CARD scenario: needs objective.kind = 'card_cost' and "
            "a server frequency range (compute.server_freq_hz, compute.server_flops_per_cycle)"
        )


def card_frequency(scn: Scenario, state: State | StateBatch) -> Array:
    """Per-device server frequency f* of CARD (16).

    ``Q = cbrt(w (E_max - E_min) / (2 xi (1 - w)(D_max - D_min)))`` clipped to
    [F_min, F_max], with the extremes of the engine's :func:`card_bounds`. Degenerate
    cases, where (16) divides by zero, take the limit of the surviving term of (12):

    * w = 0, or D_max = D_min (only energy counts; E rises with f): F_min;
    * w = 1, or E_max = E_min (only delay counts; D falls with f): F_max;
    * both ranges zero (U constant): F_min.

    Args:
        scn: a CARD scenario.
        state: the round's state, or R states (a :class:`StateBatch`, one f* per row).

    Returns:
        f* in Hz, shape (N,) (or (R, N)).
    """
    require_card(scn)
    f_lo, f_hi = scn.compute.server_freq_hz
    w = scn.objective.delay_weight
    xi = scn.compute.server_power_coeff
    d_min, d_max, e_min, e_max = card_bounds(scn, state)
    d_rng = np.asarray(d_max - d_min, dtype=np.float64)
    e_rng = np.asarray(e_max - e_min, dtype=np.float64)
    regular = (w > 0) & (w < 1) & (d_rng > 0) & (e_rng > 0) & (xi > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.cbrt(w * e_rng / (2.0 * xi * (1.0 - w) * d_rng))
    delay_only = (w >= 1) | ((e_rng <= 0) & (d_rng > 0) & (w > 0))
    f = np.where(regular, q, np.where(delay_only, f_hi, f_lo))
    return np.clip(f, f_lo, f_hi)
