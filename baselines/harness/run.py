"""Running benchmark jobs: in this process, in worker processes, or as ray tasks.

Results come back in job order whatever the backend and the number of workers, so
a benchmark's CSV does not depend on how it was run. ``on_result(i, result)`` is called in
this process as each job finishes (the bench journals it there).

An interrupt (``KeyboardInterrupt``: Ctrl-C, or SIGTERM under
:func:`splitenv.lifecycle.interrupts`) or a failed job cancels the queued jobs and ends the
running ones without waiting for them (worker processes are terminated, ray tasks
cancelled), then propagates. Worker processes start with
:func:`splitenv.lifecycle.worker_init`: they ignore Ctrl-C (the parent decides) and exit
when the parent dies.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from baselines.harness.episode import run_job
from baselines.harness.jobs import Job
from splitenv.errors import ConfigError
from splitenv.lifecycle import worker_init

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
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Run ``job_fn`` on every job and return the results in job order.

    Args:
        jobs: the jobs.
        workers: worker processes (1: in this process).
        backend: ``local`` or ``ray``.
        progress: show a progress bar (tqdm, when installed).
        job_fn: what runs a job (picklable for workers).
        on_result: called with (job index, result) in this process as each job finishes.

    Raises:
        ConfigError: unknown backend, ``workers < 1``, or ray requested but not installed.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if workers < 1:
        raise ConfigError(f"--workers {workers}; allowed: an integer >= 1")
    bar = _progress(len(jobs), progress)
    results: list[Any] = [None] * len(jobs)

    def done(i: int, result: Any) -> None:
        results[i] = result
        if on_result is not None:
            on_result(i, result)
        if bar is not None:
            bar.update()

    try:
        if backend == "ray":
            _run_ray(jobs, workers, job_fn, done)
        elif workers == 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                done(i, job_fn(job))
        else:
            _run_pool(jobs, workers, job_fn, done)
    finally:
        if bar is not None:
            bar.close()
    return results


def _abandon(pool: Any) -> None:
    """Cancel a pool's queued jobs and terminate its workers, waiting for no running job."""
    # read the workers first: shutdown() forgets them (``pool._processes = None``)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()
    for proc in processes:  # reaped at once: a terminated worker exits immediately
        proc.join(timeout=5)


def _run_pool(jobs, workers, job_fn, done) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # one BLAS thread per worker process; spawn, so no parent thread state is forked
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init)
    try:
        futures = {pool.submit(job_fn, job): i for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            done(futures[fut], fut.result())
    except BaseException:  # an interrupt or a failed job: cancel the rest, wait for none
        _abandon(pool)
        raise
    pool.shutdown(wait=True)


def _run_ray(jobs, workers, job_fn, done) -> None:
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
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    done(index[ref], ray.get(ref))
        except BaseException:  # an interrupt or a failed job: cancel the rest, wait for none
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started:
            ray.shutdown()
