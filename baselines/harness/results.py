"""The benchmark's tidy CSV: its columns, writing and reading, and the run-independent view.

Columns (:data:`COLUMNS`): ``objective`` is the episode's total cost (the env's
``info["cost"]`` summed: latency in s, or CARD's cost U), ``reference_cost`` the same for
equal allocation on the same states, ``normalized_cost`` their ratio; ``latency_s`` and
``energy_j`` sum the steps; ``round_latencies_s`` lists every round's exact latency
(space-separated) with its mean, min and max; ``feasible`` means no infeasible step;
``config_sha256`` is :meth:`splitenv.config.Scenario.sha256`; ``wall_time_s`` is the
episode's wall time and ``decision_time_s`` the mean time of one policy call (at the
``round`` timescale the env's inner allocator runs outside it). Only the timing columns
(:data:`TIMING`) differ between two runs of the same command: :func:`deterministic_view`
drops them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: columns of the tidy CSV, in order; the last two are wall-clock times
COLUMNS = (
    "scenario", "config_sha256", "timescale", "rounds", "epochs_per_round", "seed", "method",
    "objective", "reference_cost", "normalized_cost", "latency_s", "energy_j",
    "round_latency_mean_s", "round_latency_min_s", "round_latency_max_s", "round_latencies_s",
    "steps", "infeasible_steps", "feasible",
    "splitenv_version", "numpy_version", "gymnasium_version",
    "wall_time_s", "decision_time_s",
)  # fmt: skip
#: the columns that differ between two runs of the same benchmark
TIMING = ("wall_time_s", "decision_time_s")


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path, columns: Sequence[str] = COLUMNS):
    """Write rows as CSV with ``columns`` in order (floats in full precision)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row[c]) for c in columns])


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a CSV as dicts of strings."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def deterministic_view(csv_path: str | Path) -> str:
    """The CSV's text without the timing columns: equal for two runs of the same benchmark."""
    with Path(csv_path).open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        keep = [i for i, name in enumerate(header) if name not in TIMING]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([header[i] for i in keep])
        for row in reader:
            writer.writerow([row[i] for i in keep])
    return out.getvalue()
