"""What foresight is worth on the dynamic flagship ``splitlora_dynamic`` (issue 13).

Run: ``python benchmarks/dynamic_foresight.py [--seeds test] [--inner bcd]``. Every policy plays
the same stored instances through the env (round timescale, the env id's 10 rounds of 5
epochs, its inner allocator), and the table gives each one's mean absolute cost (s: the
episode's T + lambda E) with the paired 95 % interval of its difference to ``lookahead``
(absolute costs: the normalized reward's reference row is being fixed separately).

Policies:

* ``snapshot``: the inner solver re-solving every round on the round's first state (what
  ``splitenv bench --methods bcd`` plays);
* ``hold``: the inner solver's round-0 decision (split, rank, compression) kept for the episode;
* ``myopic``: ``lookahead`` with one round left at every round (``rounds_left=1``): the same
  candidates and costs, no foresight (a snapshot method that also considers staying);
* ``lookahead``: the rounds left as :class:`baselines.harness.policy.SolverPolicy` passes them;
* ``oracle``: a clairvoyant planner. It knows every state of the episode (the states do not
  depend on the decisions, only ``prev_split`` does) and picks, by dynamic programming over
  the rounds, the sequence of split vectors with the least total cost, migrations included,
  among the candidates: the best split of each round's first state (coordinate descent of the
  steady round cost, as ``lookahead`` step 2), the inner solver's round-0 split and split 1
  everywhere; rank and compression are the inner solver's round-0 ones. Its costs are the
  env's (every epoch of every round, computed with the engine as the env does) and the chosen
  sequence is replayed in the env: the table shows the replay.
* ``free bound``: the same candidates, each round's best with migration free (not playable:
  the env charges migration; what re-splitting could gain if moving cost nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from scipy import stats

import splitenv
from baselines.base import make_solver
from baselines.harness.jobs import parse_seeds
from baselines.harness.policy import SolverPolicy, run_episode
from baselines.methods.lookahead import _Plan
from splitenv import allocation
from splitenv.instances import InstanceReset
from splitenv.model import Decision, StateBatch, epoch_latency, evaluate_batch
from splitenv.registration import ENV_KWARGS, make

NAME = "splitlora_dynamic"
LARGE = ("rank", "keep_ratio", "quant_bits")


class Hold:
    """The inner solver's round-0 decision, kept for the episode."""

    def __init__(self, inner: str, seed: int) -> None:
        self.policy = SolverPolicy(inner, seed=seed)
        self.first: dict | None = None

    def __call__(self, env, obs=None):
        if env.unwrapped.current_state.round_index == 0:
            self.first = self.policy(env, obs)
        return self.first


class Scripted:
    """A fixed sequence of large decisions, one per round."""

    def __init__(self, fields: list[dict]) -> None:
        self.fields = fields

    def __call__(self, env, obs=None):
        return self.fields[int(env.unwrapped.current_state.round_index)]


def round_costs(scn, states, splits, prev, large, energy_weight):
    """The env's cost of one round (its epochs' states) for each split row from ``prev`` rows.

    As ``SplitLoRAEnv._play_epochs`` at the round timescale with the ``paper`` allocator
    (equal shares for the flagship): each epoch's latency with the round's start and end
    where they fall, plus the energy weight times 1/T of the round's energy.
    """
    k = splits.shape[0]
    total = np.zeros(k)
    for t, state in enumerate(states):
        batch = StateBatch.stack([state]).take(np.zeros(k, dtype=np.int64))
        batch = dataclasses.replace(batch, prev_split=(prev if t == 0 else splits).astype(np.int64))
        fields = {f: np.broadcast_to(v, (k, *np.shape(v))).copy() for f, v in large.items()}
        ev = evaluate_batch(scn, batch, Decision(split=splits, **fields))
        latency = epoch_latency(scn, ev, t == 0, t == len(states) - 1)
        total += latency + energy_weight * ev.energy_j / scn.schedule.epochs_per_round
    return total


def oracle(scn, seed, inner, rounds, epochs):
    """(clairvoyant sequence of large fields, free bound) of one instance (module docstring)."""
    sampler = splitenv.StateSampler(scn, seed, epochs)
    states = [[sampler.state(r, t) for t in range(epochs)] for r in range(rounds)]
    snap = make_solver(inner).solve(scn, states[0][0], np.random.default_rng(seed))
    large = {f: np.asarray(getattr(snap.decision, f)[0]) for f in LARGE}
    cands = {tuple(snap.decision.split[0]), (1,) * scn.n_devices}
    for r in range(rounds):
        plan = _Plan(scn, states[r][0], snap.decision, allocation.resolve("paper"), 0)
        cands.add(tuple(plan.descend(plan.snapshot, steady=True)))
    c = np.array(sorted(cands))
    k = len(c)
    weight = scn.objective.energy_weight
    # cost[r, i, j]: round r with split c[j] after c[i]
    cost = np.stack(
        [
            round_costs(scn, states[r], np.repeat(c, k, 0), np.tile(c, (k, 1)), large, weight)
            .reshape(k, k)
            .T
            for r in range(rounds)
        ]
    )
    first = round_costs(scn, states[0], c, np.full_like(c, -1), large, weight)
    value, policy = np.zeros(k), []
    for r in range(rounds - 1, 0, -1):
        total = cost[r] + value[None, :]
        policy.append(np.argmin(total, axis=1))
        value = total.min(axis=1)
    seq = [int(np.argmin(first + value))]
    for choice in reversed(policy):
        seq.append(int(choice[seq[-1]]))
    free = first.min() + sum(np.diag(cost[r]).min() for r in range(1, rounds))
    fields = [{"split": c[j], **large} for j in seq]
    planned = first[seq[0]] + sum(cost[r][seq[r - 1], seq[r]] for r in range(1, rounds))
    return fields, float(free), float(planned)


def play(policy, seed, rounds, epochs):
    env = InstanceReset(make(NAME, rounds=rounds, epochs_per_round=epochs))
    return run_episode(env, policy, seed).total_cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="test")
    parser.add_argument("--inner", default="bcd")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds, NAME)
    rounds, epochs = ENV_KWARGS[NAME]["rounds"], ENV_KWARGS[NAME]["epochs_per_round"]
    scn = splitenv.load_scenario(NAME)
    costs: dict[str, list[float]] = {}
    times: dict[str, float] = {}
    makers = {
        "snapshot": lambda s: SolverPolicy(args.inner, seed=s),
        "hold": lambda s: Hold(args.inner, s),
        "myopic": lambda s: SolverPolicy("lookahead", seed=s, rounds_left=1),
        "lookahead": lambda s: SolverPolicy("lookahead", seed=s),
    }
    for name, build in makers.items():
        start = time.perf_counter()
        costs[name] = [play(build(s), s, rounds, epochs) for s in seeds]
        times[name] = time.perf_counter() - start
    start = time.perf_counter()
    costs["oracle"], costs["free bound"] = [], []
    for s in seeds:
        fields, free, planned = oracle(scn, s, args.inner, rounds, epochs)
        replay = play(Scripted(fields), s, rounds, epochs)
        if not np.isclose(replay, planned, rtol=1e-9):
            raise RuntimeError(f"seed {s}: oracle plan {planned} != its replay {replay}")
        costs["oracle"].append(replay)
        costs["free bound"].append(free)
    times["oracle"] = time.perf_counter() - start
    print(f"{NAME}, seeds {args.seeds} ({len(seeds)}), inner {args.inner}, round timescale")
    print(
        f"{'policy':12s} {'mean cost s':>12s} {'minus lookahead [95 % CI]':>32s} "
        f"{'minus snapshot [95 % CI]':>32s} {'time s':>8s}"
    )
    for name, values in costs.items():
        v = np.asarray(values)
        cis = [_paired(v - np.asarray(costs[ref])) for ref in ("lookahead", "snapshot")]
        print(
            f"{name:12s} {v.mean():12.1f} {cis[0]:>32s} {cis[1]:>32s} {times.get(name, 0.0):8.0f}"
        )


def _paired(d: np.ndarray) -> str:
    """Mean of paired differences with its 95 % t interval."""
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    return f"{d.mean():+9.1f} [{d.mean() - half:+8.1f}, {d.mean() + half:+8.1f}]"


if __name__ == "__main__":
    main()
