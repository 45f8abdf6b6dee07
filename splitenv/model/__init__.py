"""The analytical cost model: pure functions of (scenario, state, decision) -> costs.

No randomness and no gym types live here; see :mod:`splitenv.scenarios` for
sampling states and :mod:`splitenv.env` for the environment.
"""

from splitenv.errors import DecisionError, StateError
from splitenv.model.engine import (
    EpochPart,
    Evaluation,
    block_costs,
    card_bounds,
    compose_round,
    epoch_latency,
    evaluate,
    evaluate_batch,
    feasible_splits,
)
from splitenv.model.state import StateBatch
from splitenv.model.types import Decision, State, complete, enabled_fields

__all__ = [
    "Decision",
    "DecisionError",
    "EpochPart",
    "Evaluation",
    "State",
    "StateBatch",
    "StateError",
    "block_costs",
    "card_bounds",
    "complete",
    "compose_round",
    "enabled_fields",
    "epoch_latency",
    "evaluate",
    "evaluate_batch",
    "feasible_splits",
]
