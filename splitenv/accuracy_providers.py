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
from numpy.typing import NDArray

from splitenv import plugins
from splitenv.config import Scenario
from splitenv.model import accuracy as closed_forms
from splitenv.model.types import Decision

Array = NDArray[np.float64]


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
    clipped to [0, 1] (a fitted cubic leaves it far outside its data). The
    arithmetic is :func:`surrogate_rounds` on one row (the vector env runs it on its K
    envs at once).
    """

    def __init__(self) -> None:
        self.progress = 0.0

    def reset(self, scenario: Scenario, seed: int) -> None:
        self.progress = 0.0

    def round(self, scenario: Scenario, decision: Decision) -> AccuracyReport:
        rank, rho, q = (
            None if v is None else np.asarray(v, dtype=np.float64).reshape(-1)[:1]
            for v in (decision.rank, decision.keep_ratio, decision.quant_bits)
        )
        progress, accuracy, reached, needed = surrogate_rounds(
            scenario, np.array([self.progress]), rank, rho, q
        )
        self.progress = float(progress[0])
        return AccuracyReport(
            accuracy=float(accuracy[0]),
            target_reached=bool(reached[0]),
            extras={"rounds_needed": float(needed[0])},
        )


def surrogate_inputs(
    decision: Decision, rows: NDArray[np.int64]
) -> tuple[Array | None, Array | None, Array | None]:
    """(rank, keep ratio, quant bits) of decision rows ``rows``, each (P,) or None if unset.

    A row's value is its field's first entry (the round's rank, the first device's keep
    ratio and bits), as :class:`SurrogateAccuracy` reads a batch of one.
    """

    def first(value: Any) -> Array | None:
        if value is None:
            return None
        arr = np.asarray(value)
        return arr[rows].reshape(rows.size, -1)[:, 0].astype(np.float64)

    return first(decision.rank), first(decision.keep_ratio), first(decision.quant_bits)


def surrogate_rounds(
    scenario: Scenario,
    progress: Array,
    rank: Array | None,
    keep_ratio: Array | None,
    quant_bits: Array | None,
) -> tuple[Array, Array, NDArray[np.bool_], Array]:
    """One round of :class:`SurrogateAccuracy` for P episodes at once (elementwise).

    Args:
        scenario: the scenario (its ``accuracy`` closed forms, ``schedule.rounds``).
        progress: (P,) the episodes' fractions of the way before the round.
        rank: (P,) the round's LoRA rank (None: unset, E(r) at rank 0).
        keep_ratio: (P,) SFT's rho of the round (None: no ceiling).
        quant_bits: (P,) SFT's q of the round (set with ``keep_ratio``).

    Returns:
        (progress, accuracy, target reached, rounds needed), each (P,): progress
        ``min(1, progress + 1 / E(r))`` (FedsLLM (17)), accuracy ``progress * clip(A(rho, q),
        0, 1)`` (SFT (35)), reached at ``progress >= 1 - 1e-12``.
    """
    acc = scenario.accuracy
    if acc.rounds_by_rank:
        r = np.zeros(progress.shape) if rank is None else rank
        needed = np.asarray(closed_forms.rounds_for_rank(acc.rounds_by_rank, r), dtype=np.float64)
    else:
        needed = np.full(progress.shape, float(scenario.schedule.rounds))
    progress = np.minimum(1.0, progress + 1.0 / needed)
    ceiling = np.ones(progress.shape)
    if acc.cubic_coeffs and keep_ratio is not None:
        assert quant_bits is not None
        # documented clip: a cubic fitted on q in 2..8 leaves [0, 1] far outside its data
        cubic = closed_forms.sft_cubic(acc.cubic_coeffs, keep_ratio, quant_bits)
        ceiling = np.minimum(np.maximum(cubic, 0.0), 1.0)
    return progress, progress * ceiling, progress >= 1.0 - 1e-12, needed


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
