"""The main job (``splitenv run``, ``make run``): a short benchmark of the SCCT methods.

SCCT preset (N = 10), the first seeds of the test instance set, two blocks of the
same instances:

* timescale ``joint`` (the papers' comparison, SCCT Fig. 9): the method decides the
  split at each round start and the subcarriers and compute shares every epoch.
  ``equal`` (default split, equal shares), ``scct_alg1`` (default split, Alg. 1),
  ``sccts`` (fixed equal split + Alg. 1), ``scctl`` (ALNS split + equal shares),
  ``scctt`` (ALNS split + Alg. 1).
* timescale ``round`` (where the learned schedulers act): the method chooses the
  split each round and the env's inner allocator, SCCT's Alg. 1, allocates every epoch
  for every method (so ``scct_alg1`` would equal ``equal`` and is left out).

* the **arena** (written to ``OUT/arena``): every scenario (:func:`splitenv.list_scenarios`)
  at the ``joint`` timescale, ``equal``, the general methods (:data:`ARENA_METHODS`) and
  the paper's own method where the scenario is a paper's preset, on the first seeds of each
  scenario's test set, one decision per episode (:data:`ARENA_ROUNDS` x
  :data:`ARENA_EPOCHS`); its summary ends with the methods x scenarios matrix, the
  README's main results table.

PPO hook: the agent the installed ``agents`` package ships for this block
(:data:`PRETRAINED`, ``ppo:@scct_round_ppo``) joins the ``round`` block, resolved through
the ``splitenv.methods`` plug-ins. Only the package's own agents are used (never a file of
the working directory), and they are checked against their recorded sha256 and loaded
without unpickling (``agents.safe_load``). It was trained on this env: ``scct`` preset,
timescale ``round``, 4 rounds x 3 epochs (the plug-in checks the timescale and the
observation shape).
"""

from __future__ import annotations

from pathlib import Path

from baselines.harness.bench import BenchOutput, bench
from baselines.harness.jobs import plan
from splitenv import plugins
from splitenv.errors import ConfigError, SplitenvError
from splitenv.instances import check, instance_set

SCENARIO = "scct"
#: timescale -> classical methods of that block
BLOCKS = {
    "joint": ("equal", "scct_alg1", "sccts", "scctl", "scctt"),
    "round": ("equal", "sccts", "scctl", "scctt"),
}
PPO_TIMESCALE = "round"
N_SEEDS = 5
DEFAULT_OUT = Path("results/run")
#: methods plug-in kind -> the shipped agent of the round block (``@NAME``: the package's own)
PRETRAINED = {"ppo": "@scct_round_ppo"}


#: the arena's methods on every scenario, and the paper's own method on its preset
ARENA_METHODS = ("equal", "alns", "sqp", "bcd", "de", "random_search")
PAPER_METHODS = {"scct": "scctt", "sft": "sft", "card": "card", "fedsllm": "fedsllm_bcd"}
#: one decision per arena episode: the general methods solve the whole instance at once
ARENA_ROUNDS, ARENA_EPOCHS = 1, 1
ARENA_DIR = "arena"


def learned_methods() -> list[str]:
    """``KIND:@NAME`` of the shipped agents whose methods plug-in is installed and importable."""
    out = []
    for kind, name in PRETRAINED.items():
        try:
            plugins.load("methods", kind)
        except SplitenvError:  # agents (or its extras) not installed: the block runs without it
            continue
        out.append(f"{kind}:{name}")
    return out


def methods(timescale: str, include_learned: bool = True) -> list[str]:
    """The main job's methods at a timescale, with the pretrained models that exist."""
    learned = learned_methods() if include_learned and timescale == PPO_TIMESCALE else []
    return [*BLOCKS[timescale], *learned]


def run(
    out: str | Path = DEFAULT_OUT,
    n_seeds: int = N_SEEDS,
    workers: int = 1,
    progress: bool = True,
    include_learned: bool = True,
    resume: bool = False,
    overwrite: bool = False,
    command: str = "",
) -> BenchOutput:
    """Run the main job and write its CSV, summary and figures under ``out``.

    ``resume``, ``overwrite`` and ``command`` are :func:`~baselines.harness.bench.bench`'s.
    """
    available = instance_set(SCENARIO, "test")
    if isinstance(n_seeds, bool) or not 1 <= n_seeds <= len(available):
        raise ConfigError(f"--seeds {n_seeds!r}; allowed: 1..{len(available)} (the test set)")
    check(SCENARIO, "test")  # the stored instances are still the ones the set was made of
    seeds = available[:n_seeds]
    jobs = [
        job
        for timescale in BLOCKS
        for job in plan([SCENARIO], methods(timescale, include_learned), seeds, timescale=timescale)
    ]
    return bench(
        jobs, out, workers=workers, progress=progress, resume=resume, overwrite=overwrite,
        command=command,
    )  # fmt: skip


def arena_jobs(n_seeds: int = N_SEEDS) -> list:
    """The arena's jobs: every scenario at ``joint``, the first ``n_seeds`` of its test set."""
    from splitenv.scenarios import list_scenarios

    jobs = []
    for name in list_scenarios():
        seeds = instance_set(name, "test")[:n_seeds]
        chosen = [*ARENA_METHODS, *([PAPER_METHODS[name]] if name in PAPER_METHODS else [])]
        jobs += plan([name], chosen, seeds, timescale="joint", rounds=ARENA_ROUNDS,
                     epochs_per_round=ARENA_EPOCHS)  # fmt: skip
    return jobs


def run_arena(
    out: str | Path = DEFAULT_OUT / ARENA_DIR,
    n_seeds: int = N_SEEDS,
    workers: int = 1,
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
    command: str = "",
) -> BenchOutput:
    """Run the arena (module doc) and write its CSV, summary (with the matrix) and figures."""
    if isinstance(n_seeds, bool) or not 1 <= n_seeds <= len(instance_set(SCENARIO, "test")):
        raise ConfigError(f"--seeds {n_seeds!r}; allowed: 1..{len(instance_set(SCENARIO))}")
    return bench(
        arena_jobs(n_seeds), out, workers=workers, progress=progress, resume=resume,
        overwrite=overwrite, command=command,
    )  # fmt: skip
