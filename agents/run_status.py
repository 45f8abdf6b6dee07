"""A run folder's life: ``run.json``'s status on every exit path, no empty folders, resume hints.

``status`` in ``run.json`` is ``running`` while the run trains (with the trainer's ``pid``: a
``running`` run whose pid is gone was killed, and resumes from its newest checkpoint), then
exactly one of

* ``finished``: training ended (all steps, or the ``max_minutes`` budget);
* ``interrupted``: Ctrl-C or SIGTERM; a checkpoint of the last step was saved;
* ``failed``: an exception (``error`` holds it). A failed run that saved no model at all is
  removed: an empty folder holds nothing to resume or inspect (the error is printed).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agents.envs import METADATA_NAME
from splitenv.errors import Interrupted


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON through a temporary file renamed over ``path``."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(temp, path)


def has_model(run_dir: Path) -> bool:
    """Whether a run folder holds any saved model (final, best or a checkpoint)."""
    return any(p.suffix == ".zip" for p in run_dir.rglob("*.zip"))


@contextlib.contextmanager
def run_status(run_dir: Path, meta: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``run.json`` says ``running`` in the block, then finished / interrupted / failed.

    The block may add fields to ``meta``; they are written with the final status.
    """
    path = run_dir / METADATA_NAME
    meta.update(status="running", pid=os.getpid())
    write_json(path, meta)
    try:
        yield meta
    except (KeyboardInterrupt, Interrupted):
        meta["status"] = "interrupted"
        write_json(path, meta)
        raise
    except BaseException as exc:
        meta.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        if has_model(run_dir):
            write_json(path, meta)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    meta["status"] = "finished"
    write_json(path, meta)


def resume_hint(command: str, run_dir: Path) -> str:
    """``command`` with ``--resume RUN_DIR`` in place of any ``--resume`` it had."""
    if not command:
        return f"train(make_args(..., resume={str(run_dir)!r}))"
    parts = shlex.split(command)
    kept: list[str] = []
    skip = False
    for part in parts:
        if skip:
            skip = False
        elif part == "--resume":
            skip = True
        elif not part.startswith("--resume="):
            kept.append(part)
    return shlex.join([*kept, "--resume", str(run_dir)])
