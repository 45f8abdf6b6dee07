"""splitenv: a testbed for scheduling split-learning LoRA fine-tuning over wireless edge networks.

The analytical cost engine (:mod:`splitenv.model`), scenario presets and seeded
state sampling (:mod:`splitenv.scenarios`) need only numpy, scipy and pyyaml.
"""

from splitenv.config import Scenario
from splitenv.errors import ConfigError, DecisionError, SplitenvError
from splitenv.model import Decision, Evaluation, State, evaluate, evaluate_batch
from splitenv.registration import ENV_IDS, env_id, register_envs
from splitenv.scenarios import StateSampler, list_scenarios, load_scenario, sample_state

register_envs()

__version__ = "0.1.0"

__all__ = [
    "ENV_IDS",
    "ConfigError",
    "Decision",
    "DecisionError",
    "Evaluation",
    "Scenario",
    "SplitenvError",
    "State",
    "StateSampler",
    "__version__",
    "env_id",
    "evaluate",
    "evaluate_batch",
    "list_scenarios",
    "load_scenario",
    "sample_state",
]
