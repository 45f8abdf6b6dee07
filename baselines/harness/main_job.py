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
