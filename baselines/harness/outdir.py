"""A bench output folder: checked before any work, locked against a second writer, files renamed into place.

:func:`open_out` runs before the first job:

* ``--out`` naming an existing file is refused; a missing folder is created;
* a lock (``bench.lock``, holding the writer's pid) refuses a second bench writing to the same
  folder, naming the pid that holds it. The lock is an ``flock`` on that file, which the kernel
  releases when its holder dies however it dies: a lock file left by a dead process is taken
  over (where ``fcntl`` is missing, the file's pid is checked for a live process instead);
* a folder that holds anything else needs ``resume`` (continue the run journaled there) or
  ``overwrite`` (delete the bench's own files first). Either way the previous final files are
  removed before the first job, so a killed run never leaves earlier results looking current.

Final files are written to a temporary name in the folder and renamed over the target
(:func:`replace_atomically`): a reader sees the old file or the new one, never half of one.
``bench.json`` records the run's status: ``running``, ``incomplete`` (interrupted), ``failed``
or ``complete``, with the number of jobs done and the command that resumes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baselines.harness.journal import JOURNAL
from splitenv.errors import ConfigError
from splitenv.lifecycle import pid_alive

LOCK = "bench.lock"
STATUS = "bench.json"
#: the files a bench writes and --overwrite deletes (figures: bench_*.png)
FINAL = ("results.csv", "summary.md")
TEMP_PREFIX = ".tmp-"


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _locked(out: Path) -> str:
    return (
        f"--out {out} is being written by another bench (pid {{pid}}, lock file {out / LOCK}); "
        "wait for it to finish or choose another --out"
    )


@dataclass
class Lock:
    """An exclusive lock of a folder held by this process (see module doc)."""

    path: Path
    fd: int = -1

    def acquire(self) -> None:
        """Take the lock or raise ConfigError naming the holder's pid."""
        try:
            import fcntl
        except ModuleNotFoundError:  # no flock (Windows): a pid file, stale if its pid is dead
            self._acquire_pidfile()
            return
        for _ in range(10):  # retried when the file was replaced between open and flock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ConfigError(
                    _locked(self.path.parent).format(pid=_holder(self.path))
                ) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                return
            os.close(fd)
        raise ConfigError(_locked(self.path.parent).format(pid=_holder(self.path)))

    def _acquire_pidfile(self) -> None:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = _holder(self.path)
                if holder.isdigit() and pid_alive(int(holder)):
                    raise ConfigError(_locked(self.path.parent).format(pid=holder)) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            return
        raise ConfigError(_locked(self.path.parent).format(pid=_holder(self.path)))

    def release(self) -> None:
        """Remove the lock file and drop the lock (unlink first: no one locks a removed file)."""
        if self.fd < 0:
            return
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = -1


def _own(name: str) -> bool:
    """Whether a file name is one a bench writes."""
    return (
        name in (*FINAL, JOURNAL, STATUS)
        or (name.startswith("bench_") and name.endswith(".png"))
        or name.startswith(TEMP_PREFIX)
    )


@dataclass
class OutDir:
    """A locked bench output folder."""

    path: Path
    lock: Lock
    created: bool
    status: dict[str, Any] = field(default_factory=dict)

    def clear(self, journal: bool) -> None:
        """Delete the bench's own files (and the journal when ``journal``)."""
        for entry in self.path.iterdir():
            if _own(entry.name) and (journal or entry.name != JOURNAL) and entry.is_file():
                entry.unlink()

    def write_status(self, **fields: Any) -> None:
        """Update ``bench.json`` (renamed into place)."""
        self.status.update(fields, pid=os.getpid())
        text = json.dumps(self.status, indent=2) + "\n"
        replace_atomically(self.path / STATUS, lambda p: p.write_text(text))


def _check(path: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a non-empty folder without resume / overwrite, and resume without a journal."""
    names = sorted(e.name for e in path.iterdir() if e.name != LOCK)
    if not names:
        return
    if not (resume or overwrite):
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise ConfigError(
            f"--out {path} is not empty ({shown}): pass --resume to continue the bench "
            "journaled there, or --overwrite to replace its results"
        )
    if resume and JOURNAL not in names:
        raise ConfigError(
            f"--resume: {path} holds no {JOURNAL} (not a bench output folder, or one written "
            "by an older splitenv); use --overwrite to start over there"
        )


@contextlib.contextmanager
def open_out(out: str | Path, resume: bool = False, overwrite: bool = False) -> Iterator[OutDir]:
    """The checked, locked output folder (see module doc); unlocked when the block ends.

    Raises:
        ConfigError: ``out`` is a file or cannot be created, another bench holds the lock,
            or a non-empty folder without ``resume`` / ``overwrite`` (or both given).
    """
    path = Path(out)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other: choose one")
    try:
        exists = path.exists()
        is_dir = path.is_dir()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ConfigError(f"--out {str(path)[:80]!r}: not a usable path ({exc.strerror})") from None
    if exists and not is_dir:
        raise ConfigError(f"--out {path} is a file; give a folder (created if missing)")
    created = not exists
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot create the folder ({exc.strerror})") from None
    lock = Lock(path / LOCK)
    try:
        lock.acquire()
        folder = OutDir(path, lock, created)
        _check(path, resume, overwrite)
        folder.clear(journal=overwrite)
    except BaseException:
        lock.release()
        if created:
            shutil.rmtree(path, ignore_errors=True)
        raise
    try:
        yield folder
    finally:
        lock.release()


def replace_atomically(target: Path, write: Callable[[Path], Any]) -> Path:
    """Write ``target`` through ``write(temp_path)`` and rename the temporary file over it.

    The temporary name keeps the suffix (matplotlib picks the format from it).
    """
    temp = target.with_name(f"{TEMP_PREFIX}{os.getpid()}-{target.name}")
    try:
        write(temp)
        with temp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target
