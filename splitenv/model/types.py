"""The engine's inputs besides the scenario: the per-epoch state and a (batch of) decision(s).

One import path for the input types and their helpers, defined by responsibility in
:mod:`splitenv.model.state` (``State``), :mod:`splitenv.model.decision` (``Decision``,
its fields and the preset default) and :mod:`splitenv.model.validation` (``complete``:
defaults, batching and the checks that raise ``DecisionError``).
"""

from splitenv.model.decision import (
    DECISION_FIELDS,
    Decision,
    default_values,
    enabled_fields,
    equal_counts,
)
from splitenv.model.state import State
from splitenv.model.validation import allowed_text, complete

__all__ = [
    "DECISION_FIELDS",
    "Decision",
    "State",
    "allowed_text",
    "complete",
    "default_values",
    "enabled_fields",
    "equal_counts",
]
