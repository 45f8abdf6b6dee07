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

PPO hook: a trained model found at :data:`PRETRAINED` (relative to the working
directory or the repository root; the ``agents`` package ships
``agents/pretrained/scct_round_ppo.zip``) joins the ``round`` block as the method
``KIND:PATH``, resolved through the ``splitenv.methods`` plug-ins. It must have been
trained on this env: ``scct`` preset, timescale ``round``, 4 rounds x 3 epochs, the
paper's inner allocator (the plug-in checks the timescale and the observation shape).
"""

from __future__ import annotations

from pathlib import Path

from baselines.harness.bench import BenchOutput, bench
from baselines.harness.jobs import plan
from splitenv.cli_util import find_file
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
#: plug-in kind -> model file; an existing file adds the method ``KIND:PATH``
PRETRAINED = {
    "ppo": Path("agents/pretrained/scct_round_ppo.zip"),
    "maskable_ppo": Path("agents/pretrained/scct_round_maskable_ppo.zip"),
}


def learned_methods() -> list[str]:
    """``KIND:PATH`` of every pretrained model that exists (cwd first, then the repository)."""
    return [
        f"{kind}:{path.as_posix()}"
        for kind, path in PRETRAINED.items()
        if find_file(path) is not None
    ]


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
) -> BenchOutput:
    """Run the main job and write its CSV, summary and figures under ``out``."""
    check(SCENARIO, "test")  # the stored instances are still the ones the set was made of
    seeds = instance_set(SCENARIO, "test")[:n_seeds]
    jobs = [
        job
        for timescale in BLOCKS
        for job in plan([SCENARIO], methods(timescale, include_learned), seeds, timescale=timescale)
    ]
    return bench(jobs, out, workers=workers, progress=progress)
