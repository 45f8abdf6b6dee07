"""From a scenario's decision to the trained model's layers (torch-free, shared by the providers)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def map_layer(layer: int, scenario_layers: int, model_layers: int) -> int:
    """Scenario cut -> trained-model cut, proportionally, rounding half up, within 0..L.

    SFT's ViT-B cut 5 of 12 is MiniLM cut 3 of 6; equal depths map to themselves.
    """
    if scenario_layers == model_layers:
        return int(layer)
    return int(min(model_layers, max(0, math.floor(layer * model_layers / scenario_layers + 0.5))))


def first_value(value: Any, default: float) -> float:
    """First entry of a (batch of one) decision field, or ``default`` when unset."""
    if value is None:
        return float(default)
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])
