"""An inner allocator: subcarriers in proportion to each device's channel gain."""

from __future__ import annotations

import numpy as np

from splitenv import Decision, Scenario, State
from splitenv.spaces import largest_remainder


def by_gain(scenario: Scenario, state: State, large: Decision) -> Decision:
    """Keep the round's split; subcarriers proportional to the channel gain (at least one each).

    Scenarios that do not allocate subcarriers get ``large`` back (equal shares).
    """
    if scenario.network.allocation != "subchannels":
        return large
    gain = np.asarray(state.channel_gain, dtype=float).reshape(-1)
    counts = largest_remainder(gain / gain.sum(), scenario.network.n_subchannels, 1)
    return large.replace(subchannels=counts)
