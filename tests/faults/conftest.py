"""Helpers of the fault-injection suite: the CLI in a subprocess, its process tree, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: the installed ``splitenv`` command of this interpreter's environment
SPLITENV = str(Path(sys.executable).with_name("splitenv"))


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``; empty where it is missing)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            kids = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except FileNotFoundError:
            continue
        for kid in map(int, kids):
            found += [kid, *descendants(kid)]
    return found


def alive(pids: list[int], wait_s: float = 5.0) -> list[int]:
    """The pids still running (not zombies) after waiting up to ``wait_s`` for them to end."""

    def running(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    deadline = time.monotonic() + wait_s
    while (left := [p for p in pids if running(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def start(*argv: object, cwd: Path | None = None) -> subprocess.Popen[str]:
    """``splitenv ARGV`` in a subprocess (default signal handlers, pipes for its output)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [SPLITENV, *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=cwd,
    )  # fmt: skip


def wait_for(predicate, timeout_s: float, what: str) -> None:
    """Poll ``predicate()`` every 50 ms; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def stop(
    proc: subprocess.Popen[str], sig: int = signal.SIGINT, timeout_s: float = 60
) -> tuple[int, str, str]:
    """Send ``sig`` to ``proc``, wait for it; return (exit status, stdout, stderr)."""
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, out, err


def one_error_line(err: str) -> str:
    """The last line of stderr after a progress bar's carriage returns; no traceback before it."""
    assert "Traceback" not in err, err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else ""
