"""`splitenv bench` under faults: interrupts at any job, kills, torn journals, locks, bad --out.

The in-process cases replace the job runner to interrupt at a chosen job (fast, exact); the
subprocess cases send real signals to a real bench with worker processes (the random-point
ones are slow).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pytest

import baselines.harness.bench as bench_module
from baselines.harness.episode import run_job
from baselines.harness.outdir import LOCK, Lock
from baselines.harness.results import deterministic_view, read_csv
from splitenv.cli import main
from tests.faults.conftest import alive, descendants, one_error_line, start, stop, wait_for

SMALL = ["--scenario", "scct", "--methods", "equal,scct_alg1", "--seeds", "0-2",
         "--set", "network.n_devices=4", "--rounds", "2", "--epochs-per-round", "2",
         "--timescale", "joint", "-q", "--no-figures"]  # fmt: skip
N_JOBS = 6


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted bench's CSV, without its timing columns."""
    out = tmp_path_factory.mktemp("reference") / "out"
    assert main(["bench", *SMALL, "--out", str(out)]) == 0
    return deterministic_view(out / "results.csv")


def interrupt_at(job_index: int):
    """A job runner that raises KeyboardInterrupt when job ``job_index`` starts."""
    started = []

    def job_fn(job):
        if len(started) == job_index:
            raise KeyboardInterrupt
        started.append(job)
        return run_job(job)

    return job_fn


def status(out) -> dict:
    return json.loads((out / "bench.json").read_text())


@pytest.mark.parametrize("at", [0, 1, 4])
def test_interrupt_at_any_job_leaves_a_partial_result_and_resume_completes(
    at, tmp_path, capsys, monkeypatch, reference
):
    out = tmp_path / "out"
    monkeypatch.setattr(bench_module, "run_job", interrupt_at(at))
    assert main(["bench", *SMALL, "--out", str(out)]) == 130
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("splitenv bench: interrupted:") and "--resume" in line, line
    assert f"{at} of {N_JOBS} jobs done" in line
    assert status(out)["status"] == "incomplete" and status(out)["done"] == at
    assert (out / "summary.md").read_text().startswith("**INCOMPLETE**")
    assert len(read_csv(out / "results.csv")) == at
    assert len((out / "journal.jsonl").read_text().splitlines()) == at
    assert not (out / LOCK).exists()  # released on the way out

    monkeypatch.undo()
    assert main(["bench", *SMALL, "--out", str(out)]) == 2  # a partial folder needs a choice
    assert "pass --resume" in capsys.readouterr().err
    assert main(["bench", *SMALL, "--out", str(out), "--resume"]) == 0
    assert f"resumed: {at} of {N_JOBS} jobs" in capsys.readouterr().out or at == 0
    assert status(out)["status"] == "complete"
    assert deterministic_view(out / "results.csv") == reference


def test_torn_journal_line_is_cut_and_a_corrupt_one_refused(tmp_path, capsys, reference):
    out = tmp_path / "out"
    assert main(["bench", *SMALL, "--out", str(out)]) == 0
    journal = out / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:2]) + lines[2][:30])  # a kill in the middle of a write
    assert main(["bench", *SMALL, "--out", str(out), "--resume"]) == 0
    assert "resumed: 2 of 6 jobs" in capsys.readouterr().out
    assert deterministic_view(out / "results.csv") == reference
    assert all(json.loads(x) for x in journal.read_text().splitlines())

    journal.write_bytes(lines[0] + b'{"key": 3}\n' + lines[1])
    assert main(["bench", *SMALL, "--out", str(out), "--resume"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "journal.jsonl, line 2: not a journal record" in line and "--overwrite" in line


def test_earlier_results_are_removed_before_the_first_job(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(["bench", *SMALL, "--out", str(out)]) == 0
    seen = []

    def job_fn(job):  # what a reader would find if the run were killed now
        seen.append((sorted(p.name for p in out.iterdir()), status(out)["status"]))
        return run_job(job)

    monkeypatch.setattr(bench_module, "run_job", job_fn)
    assert main(["bench", *SMALL, "--out", str(out), "--overwrite"]) == 0
    assert seen[0] == (["bench.json", "bench.lock", "journal.jsonl"], "running")
    assert all(files == seen[0][0] for files, _ in seen)  # no results.csv, summary.md


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        ("file", [], "is a file; give a folder"),
        ("nonempty", [], "is not empty (notes.txt): pass --resume"),
        ("nonempty", ["--resume"], "holds no journal.jsonl"),
        ("nonempty", ["--resume", "--overwrite"], "exclude each other"),
        ("under_file", [], "cannot create the folder"),
    ],
)
def test_out_is_checked_before_any_work(tmp_path, capsys, monkeypatch, setup, extra, message):
    out = tmp_path / "out"
    if setup == "file":
        out.write_text("x")
    elif setup == "nonempty":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    else:
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "out"
    monkeypatch.setattr(bench_module, "run_job", lambda job: pytest.fail("a job ran"))
    assert main(["bench", *SMALL, "--out", str(out), *extra]) == 2
    assert message in one_error_line(capsys.readouterr().err)
    if setup == "nonempty":
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # nothing touched


def test_overwrite_keeps_files_that_are_not_the_bench_s(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["bench", *SMALL, "--out", str(out), "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"


def test_a_second_writer_is_refused_naming_the_pid_and_a_dead_holder_s_lock_taken_over(
    tmp_path, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    held = Lock(out / LOCK)
    held.acquire()
    try:
        assert main(["bench", *SMALL, "--out", str(out)]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert f"being written by another bench (pid {os.getpid()}" in line
    finally:
        held.release()
    dead = subprocess.Popen(["true"])  # its pid is dead once it is waited for
    dead.wait()
    (out / LOCK).write_text(f"{dead.pid}\n")  # a lock file left by a killed bench
    assert main(["bench", *SMALL, "--out", str(out)]) == 0
    assert not (out / LOCK).exists()


def _journal_lines(out) -> int:
    try:
        return (out / "journal.jsonl").read_text().count("\n")
    except FileNotFoundError:
        return 0


#: a bench long enough to interrupt: 2 workers, 24 jobs of about 0.1-0.5 s
LONG = ["bench", "--scenario", "scct", "--methods", "equal,scct_alg1", "--seeds", "0-11",
        "--timescale", "joint", "-q", "--no-figures", "--workers", "2"]  # fmt: skip


def test_sigint_to_a_bench_with_workers(tmp_path):
    out = tmp_path / "out"
    proc = start(*LONG, "--out", out)
    wait_for(lambda: _journal_lines(out) >= 2, 120, "two journaled jobs")
    workers = descendants(proc.pid)
    code, _, err = stop(proc, signal.SIGINT, timeout_s=20)
    assert code == 130, err
    line = one_error_line(err)
    assert line.startswith("splitenv bench: interrupted:") and line.endswith("--resume"), line
    assert alive(workers) == [], "worker processes outlived the interrupted bench"
    record = json.loads((out / "bench.json").read_text())
    assert record["status"] == "incomplete" and record["done"] == _journal_lines(out) < 24
    assert len(read_csv(out / "results.csv")) == record["done"]


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path):
    rng = random.Random(14)
    out = tmp_path / "out"
    for attempt in range(3):
        proc = start(*LONG, "--out", out, *(["--resume"] if attempt else []))
        first = attempt == 0
        wait_for(lambda: _journal_lines(out) > 0 or not first, 120, "a journaled job")  # noqa: B023
        time.sleep(rng.uniform(0.0, 3.0))  # a random point: start-up, mid-job or mid-write
        workers = descendants(proc.pid)
        code, _, _ = stop(proc, signal.SIGKILL)
        assert code == -signal.SIGKILL
        assert alive(workers) == [], f"workers orphaned after SIGKILL {attempt}"
        assert not (out / "results.csv").exists()  # never a complete-looking result
        assert json.loads((out / "bench.json").read_text())["status"] == "running"
    proc = start(*LONG, "--out", out, "--resume")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    ref = start(*LONG, "--out", tmp_path / "ref")
    _, err = ref.communicate(timeout=600)
    assert ref.returncode == 0, err
    assert deterministic_view(out / "results.csv") == deterministic_view(
        tmp_path / "ref" / "results.csv"
    )


@pytest.mark.slow
def test_two_benches_on_one_out_one_runs_one_is_refused(tmp_path):
    out = tmp_path / "out"
    first = start(*LONG, "--out", out)
    wait_for(lambda: (out / LOCK).exists(), 60, "the first bench's lock")
    second = start(*LONG, "--out", out, "--overwrite")
    _, err2 = second.communicate(timeout=120)
    assert second.returncode == 2
    assert f"being written by another bench (pid {first.pid}" in one_error_line(err2)
    _, err1 = first.communicate(timeout=600)
    assert first.returncode == 0, err1
    assert len(read_csv(out / "results.csv")) == 24


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_abandon_terminates_running_workers_without_waiting_for_their_jobs():
    """Ctrl-C waits for no running job: the workers are terminated, not joined after their job.

    (``ProcessPoolExecutor.shutdown`` forgets its workers, so they must be read before it; a
    regression once let an interrupted bench wait for every running job.)
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from baselines.harness.run import _abandon

    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    futures = [pool.submit(_sleep, 60.0) for _ in range(8)]
    wait_for(lambda: any(f.running() for f in futures), 60, "a running job")
    workers = list(pool._processes.values())
    started = time.monotonic()
    _abandon(pool)
    # the executor's own thread may reap a worker at the same time (is_alive can lag by a
    # moment), so allow a few seconds: far less than the 60 s a job would take
    wait_for(lambda: not any(w.is_alive() for w in workers), 10, "the workers to end")
    assert time.monotonic() - started < 30, "the workers ran on with their jobs"
    wait_for(lambda: all(f.done() for f in futures), 30, "every future settled")
    assert all(f.cancelled() or f.exception() is not None for f in futures), "a job ran to its end"
    assert sum(f.cancelled() for f in futures) >= 4, "queued jobs were not cancelled"
