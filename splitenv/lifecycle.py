"""Process lifecycle of long runs: workers that die with their parent, signals as interrupts.

A benchmark's worker processes and a training run's env workers must not outlive the
process that started them: after a ``SIGKILL`` of the parent nobody would collect their
results, and they would keep the machine busy. :func:`worker_init` runs first in every such
worker:

* on Linux it asks the kernel to send the worker ``SIGTERM`` when its parent dies
  (``prctl(PR_SET_PDEATHSIG)`` through ctypes);
* everywhere, a daemon thread checks ``os.getppid()`` every half second and ends the worker
  with ``os._exit`` once the parent is gone (the portable fallback, and a second guard where
  the kernel signal belongs to a parent thread that ended);
* it ignores ``SIGINT``: Ctrl-C in a terminal reaches the whole process group, and the parent
  alone decides what an interrupt cancels (the workers would otherwise print tracebacks).

:func:`interrupts` turns ``SIGTERM`` into ``KeyboardInterrupt`` in the main thread for the
duration of a block, so ``kill PID`` takes the same clean path as Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

#: prctl option: the signal the kernel sends when the parent dies (linux/prctl.h)
PR_SET_PDEATHSIG = 1
#: seconds between two checks of the parent by the watchdog thread
POLL_S = 0.5


def _parent_death_signal() -> bool:
    """Ask the Linux kernel for SIGTERM when the parent dies; False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    """End this process once its parent ``parent`` is gone (it is re-parented then)."""
    while True:
        time.sleep(POLL_S)
        if os.getppid() != parent:
            os._exit(1)


def worker_init() -> None:
    """Make this worker process exit when its parent dies, and ignore Ctrl-C (see module doc).

    Call it first in a worker (``ProcessPoolExecutor(initializer=worker_init)``, or at the start
    of an env factory that runs in a subprocess).
    """
    parent = os.getppid()
    _parent_death_signal()
    if parent == 1:  # the parent is already gone (it died before this line ran)
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True
    ).start()
    with contextlib.suppress(ValueError):  # not the main thread: leave the handler as it is
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """Within the block, ``SIGTERM`` raises ``KeyboardInterrupt`` as ``SIGINT`` does.

    Outside the main thread (where Python cannot install handlers) it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True
