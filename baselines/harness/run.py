"""Running benchmark jobs: in this process, in worker processes, or as ray tasks.

Results come back in job order whatever the backend and the number of workers, so
a benchmark's CSV does not depend on how it was run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from baselines.harness.episode import run_job
from baselines.harness.jobs import Job
from splitenv.errors import ConfigError

BACKENDS = ("local", "ray")


def _progress(total: int, enabled: bool):
    try:
        from tqdm import tqdm
    except ModuleNotFoundError:  # tqdm is optional: no bar then
        return None
    return tqdm(total=total, file=sys.stderr, disable=not enabled, desc="bench", unit="episode")


def run_jobs(
    jobs: Sequence[Job],
    workers: int = 1,
    backend: str = "local",
    progress: bool = True,
    job_fn: Callable[[Job], Any] = run_job,
) -> list[Any]:
    """Run ``job_fn`` on every job and return the results in job order.

    Raises:
        ConfigError: unknown backend, ``workers < 1``, or ray requested but not installed.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if workers < 1:
        raise ConfigError(f"--workers {workers}; allowed: an integer >= 1")
    bar = _progress(len(jobs), progress)
    results: list[Any] = [None] * len(jobs)
    try:
        if backend == "ray":
            _run_ray(jobs, workers, job_fn, results, bar)
        elif workers == 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                results[i] = job_fn(job)
                if bar is not None:
                    bar.update()
        else:
            _run_pool(jobs, workers, job_fn, results, bar)
    finally:
        if bar is not None:
            bar.close()
    return results


def _run_pool(jobs, workers, job_fn, results, bar) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # one BLAS thread per worker process; spawn, so no parent thread state is forked
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(job_fn, job): i for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            if bar is not None:
                bar.update()


def _run_ray(jobs, workers, job_fn, results, bar) -> None:
    try:
        import ray
    except ModuleNotFoundError:
        raise ConfigError("--backend ray needs ray: pip install ray") from None
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=max(2, workers), include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(job_fn)
        refs = [remote.remote(job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                results[index[ref]] = ray.get(ref)
                if bar is not None:
                    bar.update()
    finally:
        if started:
            ray.shutdown()
