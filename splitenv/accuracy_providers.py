"""Accuracy providers: what a round of training buys, behind one interface.

The environment asks its provider after every round; when the provider says the
target is reached, the episode terminates and its return is the (negative)
simulated time to accuracy. By name (:func:`make_provider`):

* ``surrogate``: the closed forms of the presets (below);
* ``train``: a real federated split round per env round
  (:class:`splitenv.training.providers.TrainAccuracy`, needs ``splitenv[train]``);
* ``table``: interpolation in measured runs
  (:class:`splitenv.training.providers.TableAccuracy`, numpy and scipy only).

Any object with ``reset`` and ``round`` plugs in too (pass the object, e.g. a
``TrainAccuracy`` with a smaller experiment).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from splitenv import plugins
from splitenv.config import Scenario
from splitenv.model import accuracy as closed_forms
from splitenv.model.types import Decision


@dataclass
class AccuracyReport:
    """What one round achieved."""

    accuracy: float
    target_reached: bool
    extras: dict[str, Any] = field(default_factory=dict)


class AccuracyProvider(Protocol):
    """Reports accuracy after each round of an episode."""

    def reset(self, scenario: Scenario, seed: int) -> None:
        """Start a new episode (a new model to train)."""
        ...

    def round(self, scenario: Scenario, decision: Decision) -> AccuracyReport:
        """Account one round trained with ``decision`` (batch of one)."""
        ...


class SurrogateAccuracy:
    """Progress towards the target from the preset's closed forms.

    With FedsLLM's rounds-to-target E(r) (17), each round at rank r adds 1 / E(r)
    of the way; without it, ``schedule.rounds`` rounds reach the target. The
    reported accuracy is the fraction of the way, times SFT's A(rho, q) (35)
    when the preset has its coefficients (compression lowers what is reachable),
    clipped to [0, 1] (a fitted cubic leaves it far outside its data).
    """

    def __init__(self) -> None:
        self.progress = 0.0

    def reset(self, scenario: Scenario, seed: int) -> None:
        self.progress = 0.0

    def round(self, scenario: Scenario, decision: Decision) -> AccuracyReport:
        acc = scenario.accuracy
        rank = float(np.asarray(decision.rank).reshape(-1)[0]) if decision.rank is not None else 0.0
        if acc.rounds_by_rank:
            needed = float(closed_forms.rounds_for_rank(acc.rounds_by_rank, rank))
        else:
            needed = float(scenario.schedule.rounds)
        self.progress = min(1.0, self.progress + 1.0 / needed)
        ceiling = 1.0
        if acc.cubic_coeffs and decision.keep_ratio is not None:
            rho = float(np.asarray(decision.keep_ratio).reshape(-1)[0])
            q = float(np.asarray(decision.quant_bits).reshape(-1)[0])
            # documented clip: a cubic fitted on q in 2..8 leaves [0, 1] far outside its data
            ceiling = min(max(float(closed_forms.sft_cubic(acc.cubic_coeffs, rho, q)), 0.0), 1.0)
        return AccuracyReport(
            accuracy=self.progress * ceiling,
            target_reached=self.progress >= 1.0 - 1e-12,
            extras={"rounds_needed": needed},
        )


def make_provider(spec: str | AccuracyProvider | None) -> AccuracyProvider | None:
    """A new provider by name, or ``spec`` itself when it is an object (or None).

    Names come from the ``splitenv.accuracy`` entry-point group (:mod:`splitenv.plugins`):
    ``surrogate``, ``train``, ``table`` and any installed plug-in's; only the named one is
    imported, so torch loads only for ``train``.

    Raises:
        UnknownNameError: unknown name, listing the registered ones.
    """
    if spec is None or not isinstance(spec, str):
        return spec
    provider: AccuracyProvider = plugins.load("accuracy", spec)()
    return provider
