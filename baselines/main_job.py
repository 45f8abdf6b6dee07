"""The main job (``splitenv run``, ``make run``): a short benchmark of the SCCT methods.

SCCT preset (N = 10), the first seeds of the test instance set, timescale ``joint``
(the method decides the split at each round start and the subcarriers and compute
shares every epoch, as in SCCT's Fig. 9 comparison; at the ``round`` timescale the env's
inner allocator, SCCT's Alg. 1, would allocate for every method and ``equal`` would
equal ``scct_alg1``). Methods: ``equal`` (default split, equal shares), ``scct_alg1``
(default split, Alg. 1), ``sccts`` (fixed equal split + Alg. 1), ``scctl`` (ALNS split +
equal shares), ``scctt`` (ALNS split + Alg. 1).

PPO hook: if a trained policy exists at :data:`PPO_POLICIES` (``policies/scct_ppo.zip``
for ``ppo``, ``policies/scct_maskable_ppo.zip`` for ``maskable_ppo``, relative to the
working directory), it is added as the method ``KIND:PATH`` through the
``splitenv.methods`` plug-ins; it must have been trained on this env recipe
(``splitenv/SCCT-v0``, timescale ``joint``, default rounds and epochs).
"""

from __future__ import annotations

from pathlib import Path

from baselines.benchmark import plan
from baselines.report import BenchOutput, bench
from splitenv.instances import instance_set

SCENARIO = "scct"
METHODS = ("equal", "scct_alg1", "sccts", "scctl", "scctt")
TIMESCALE = "joint"
N_SEEDS = 5
DEFAULT_OUT = Path("results/run")
#: plug-in kind -> policy file; an existing file adds the method ``KIND:PATH``
PPO_POLICIES = {
    "ppo": Path("policies/scct_ppo.zip"),
    "maskable_ppo": Path("policies/scct_maskable_ppo.zip"),
}


def methods(include_ppo: bool = True) -> list[str]:
    """The main job's methods, with the trained policies that exist."""
    found = [f"{kind}:{path}" for kind, path in PPO_POLICIES.items() if path.is_file()]
    return [*METHODS, *(found if include_ppo else [])]


def run(
    out: str | Path = DEFAULT_OUT,
    n_seeds: int = N_SEEDS,
    workers: int = 1,
    progress: bool = True,
    include_ppo: bool = True,
) -> BenchOutput:
    """Run the main job and write its CSV, summary and figure under ``out``."""
    seeds = instance_set(SCENARIO, "test")[:n_seeds]
    jobs = plan([SCENARIO], methods(include_ppo), seeds, timescale=TIMESCALE)
    return bench(jobs, out, workers=workers, progress=progress)
