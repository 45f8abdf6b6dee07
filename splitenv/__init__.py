"""splitenv: a testbed for scheduling split-learning LoRA fine-tuning over wireless edge networks.

The analytical cost engine (:mod:`splitenv.model`), scenario presets and seeded
state sampling (:mod:`splitenv.scenarios`) need only numpy, scipy and pyyaml. The
environment class is ``splitenv.SplitLoRAEnv`` (:mod:`splitenv.env`, imported on first
use); ``gymnasium.make("splitenv/SCCT-v0")`` or :func:`splitenv.make` builds it by id.
"""

from typing import TYPE_CHECKING, Any

from splitenv.config import Scenario
from splitenv.errors import ConfigError, DecisionError, SplitenvError
from splitenv.model import Decision, Evaluation, State, evaluate, evaluate_batch
from splitenv.registration import ENV_IDS, env_id, make, register_envs
from splitenv.scenarios import StateSampler, list_scenarios, load_scenario, sample_state

if TYPE_CHECKING:
    from splitenv.env import SplitLoRAEnv

register_envs()

__version__ = "0.1.0"

__all__ = [
    "ENV_IDS",
    "ConfigError",
    "Decision",
    "DecisionError",
    "Evaluation",
    "Scenario",
    "SplitLoRAEnv",
    "SplitenvError",
    "State",
    "StateSampler",
    "__version__",
    "env_id",
    "evaluate",
    "evaluate_batch",
    "list_scenarios",
    "load_scenario",
    "make",
    "sample_state",
]


def __getattr__(name: str) -> Any:
    """``splitenv.SplitLoRAEnv``, imported on first use (the engine alone does not need it)."""
    if name == "SplitLoRAEnv":
        from splitenv.env import SplitLoRAEnv

        return SplitLoRAEnv
    raise AttributeError(f"module 'splitenv' has no attribute {name!r}")
