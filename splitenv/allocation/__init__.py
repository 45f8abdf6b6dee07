"""Inner allocation: the policies the environment calls for the decisions the agent does not make.

* An **inner allocator** fills the small-timescale fields (subchannels, bandwidth,
  power, compute shares, server frequency) of each epoch when the agent acts per
  round (``timescale="round"``): ``allocate(scenario, state, large) -> Decision``.
* A **split policy** fixes the large-timescale fields (split, rank, compression)
  when the agent acts per epoch (``timescale="epoch"``): same signature, with an
  empty ``large``.

Both are named by strings and resolved through the ``splitenv.allocators``
entry-point group (:mod:`splitenv.plugins`), where splitenv declares ``equal``, ``default``
and the papers' allocators (:mod:`splitenv.allocation.papers`: ``paper``, ``scct_alg1``,
``sft_sqp``, ``card_frequency``, ``fedsllm_comm``), and any installed package may add more.
A callable is accepted as is.

The papers' kernels live here, one module each, because the env runs them; the solvers of
``baselines`` reuse them: :mod:`.scct_kkt`, :mod:`.scct_tables`, :mod:`.scct_alg1` (SCCT
Alg. 1), :mod:`.sft_bandwidth` (SFT Alg. 3), :mod:`.card` (CARD (16)), :mod:`.fedsllm_tables`,
:mod:`.fedsllm_power`, :mod:`.fedsllm_comm` (FedsLLM Alg. 2 + (25)). They import only numpy
and scipy.
"""

from __future__ import annotations

from collections.abc import Callable

from splitenv import plugins
from splitenv.config import Scenario
from splitenv.model.types import Decision, State

Allocator = Callable[[Scenario, State, Decision], Decision]


def equal(scenario: Scenario, state: State, large: Decision) -> Decision:
    """Keep the given fields; every other resource is shared equally (the preset default)."""
    return large


def available() -> list[str]:
    """Registered allocator names."""
    return plugins.names("allocators")


def resolve(spec: str | Allocator) -> Allocator:
    """The allocator named ``spec`` (or ``spec`` itself if callable).

    Raises:
        UnknownNameError: unknown name, listing the available ones.
    """
    if callable(spec):
        return spec
    fn: Allocator = plugins.load("allocators", spec)
    return fn
