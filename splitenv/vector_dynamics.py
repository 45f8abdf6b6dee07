"""The Markov processes of K episodes (:meth:`StateSampler._dynamics`), advanced K at a time.

A :class:`~splitenv.scenarios.StateSampler` with dynamics keeps its episode's processes
(Gauss-Markov fading, positions, presence, availability) at the last epoch asked for and
moves them one global epoch at a time, each step from its own stream ``[seed, 3, g]``.
:class:`Trajectories` holds the same processes of K episodes as arrays with a leading K
axis: the streams of the rows that move are drawn at once (:mod:`splitenv.batch_draws`), and
the processes move by the sampler's own functions (:func:`~splitenv.draws.dynamics_start`,
:func:`~splitenv.draws.dynamics_step`, elementwise over the rows), so every row equals
its episode's sampler bit for bit (tests/env/test_vector_dynamics.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.draws import STREAM_DYNAMICS, batched_dynamics_draws, dynamics_start, dynamics_step

#: the statics the processes start from (positions) and read (shadowing, with mobility)
STATICS = ("distance", "fed_distance", "shadow_db", "fed_shadow_db")


class Trajectories:
    """The Markov processes of K episodes of ``scenario`` (see the module docstring).

    Args:
        scenario: a scenario with dynamics (:func:`~splitenv.draws.has_dynamics`).
        k: the number of episodes (rows).
    """

    def __init__(self, scenario: Scenario, k: int) -> None:
        self.scenario = scenario
        n = scenario.n_devices
        #: the global epoch each row's processes are at (-1: its episode has not started them)
        self.epoch = np.full(k, -1, dtype=np.int64)
        self.proc: dict[str, NDArray[Any]] = {
            "h": np.zeros((k, 2, n), dtype=np.complex128),
            "xy": np.zeros((k, n, 2)),
            "active": np.ones((k, n), dtype=bool),
        }
        if scenario.compute.varies_availability:
            self.proc["u"] = np.zeros((k, n))
        self.statics = {name: np.zeros((k, n)) for name in STATICS}

    def start(self, rows: NDArray[np.int64], statics: dict[str, NDArray[Any]]) -> None:
        """``rows`` start new episodes: their statics (stacked (K', N)), processes not started."""
        for name in STATICS:
            self.statics[name][rows] = statics[name]
        self.epoch[rows] = -1

    def at(
        self, rows: NDArray[np.int64], seeds: NDArray[np.int64], epochs: NDArray[np.int64]
    ) -> dict[str, NDArray[Any]]:
        """The processes of ``rows`` (episode seeds ``seeds``) at global epochs ``epochs``.

        As :meth:`StateSampler._dynamics` of each row: a row not started, or past its epoch,
        starts from its episode's first epoch; then every row behind moves one epoch at a
        time, the rows at the same step together (one batched draw of their streams per step:
        one in all when the rows go on epoch by epoch). Returns the rows' processes, (K', ...)
        each (copies: the caller may keep them).
        """
        scn = self.scenario
        fresh = (self.epoch[rows] < 0) | (self.epoch[rows] > epochs)
        if fresh.any():
            moved = rows[fresh]
            draws = batched_dynamics_draws(scn, True, seeds[fresh], (STREAM_DYNAMICS, 0))
            statics = {name: v[moved] for name, v in self.statics.items()}
            self._store(moved, dynamics_start(scn, statics, draws))
            self.epoch[moved] = 0
        while (behind := self.epoch[rows] < epochs).any():
            moved, step = rows[behind], self.epoch[rows[behind]] + 1
            draws = batched_dynamics_draws(scn, False, seeds[behind], (STREAM_DYNAMICS, step))
            proc = {name: v[moved] for name, v in self.proc.items()}
            self._store(moved, dynamics_step(scn, proc, draws))
            self.epoch[moved] = step
        return {name: v[rows] for name, v in self.proc.items()}

    def _store(self, rows: NDArray[np.int64], proc: dict[str, NDArray[Any]]) -> None:
        for name, value in proc.items():
            self.proc[name][rows] = value
