"""The bench journal: every finished job's row, appended and synced to disk as it completes.

``journal.jsonl`` in the output folder holds one JSON object per line,
``{"key": [...], "row": {...}}``: the job's key (:func:`job_key`) and its CSV row with values
as written (floats round-trip exactly, so the CSV rebuilt from the journal equals the one
written from memory). Each line is written with one ``write`` on a file opened in append
mode, then flushed and ``fsync``-ed, before the next job's result is taken: a crash or a
``SIGKILL`` loses at most the line being written. Reading skips a torn last line (no newline:
the write was cut) and :meth:`Journal.open` cuts it off before appending; any other line
that is not a journal record is a :class:`~splitenv.errors.FileFormatError` naming the line.

A job's key is what makes two runs of it the same run: the config hash of its scenario with
the overrides, the timescale and episode sizes, the method, the seed and splitenv's version.
``--resume`` skips the planned jobs whose key the journal holds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

import splitenv
from baselines.harness.jobs import Job
from splitenv.errors import FileFormatError

#: the journal's file name in a bench output folder
JOURNAL = "journal.jsonl"

Key = tuple[Any, ...]


def job_keys(jobs: Iterable[Job]) -> list[Key]:
    """The key of every job: (config sha256, timescale, rounds, epochs per round, method, seed, version).

    ``rounds`` and ``epochs_per_round`` are as given (``None``: the env's default).
    """
    from splitenv.scenarios import load_scenario

    hashes: dict[tuple[str, tuple[tuple[str, Any], ...]], str] = {}
    keys = []
    for job in jobs:
        config = (job.scenario, job.overrides)
        if config not in hashes:
            hashes[config] = load_scenario(job.scenario, dict(job.overrides)).sha256()
        keys.append((
            hashes[config], job.timescale, job.rounds, job.epochs_per_round, job.method,
            job.seed, splitenv.__version__,
        ))  # fmt: skip
    return keys


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value (the only non-JSON values a row holds)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"a journal row holds a {type(value).__name__}: {value!r}")


class Journal:
    """The append-only record of finished jobs in ``path`` (see module doc)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> dict[Key, dict[str, Any]]:
        """The rows by key (a later line of the same key wins); a torn last line is skipped.

        Raises:
            FileFormatError: a complete line that is not a journal record (names the line).
        """
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        rows: dict[Key, dict[str, Any]] = {}
        for number, line in enumerate(lines[:-1], start=1):  # the last piece has no newline
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode("utf-8"))
                key, row = tuple(record["key"]), record["row"]
            except (UnicodeDecodeError, ValueError, KeyError, TypeError):
                record = None
            if record is None or not isinstance(row, dict):
                raise FileFormatError(
                    f"{self.path}, line {number}: not a journal record "
                    '({"key": [...], "row": {...}}); the folder was not written by splitenv bench '
                    "or was edited: use --overwrite to start over"
                )
            rows[key] = row
        return rows

    def open(self) -> None:
        """Create the journal, or cut off its torn last line (a crash mid-write)."""
        if not self.path.exists():
            self.path.touch()
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with self.path.open("r+b") as f:
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())

    def append(self, key: Key, row: dict[str, Any]) -> None:
        """Append one record with a single write, flushed and fsync-ed before returning."""
        line = json.dumps({"key": list(key), "row": row}, default=_plain) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = line.encode("utf-8")
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
