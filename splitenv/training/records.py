"""Calibration records from elsewhere (``splitenv calibrate --merge``): data, checked for shape.

A record is the JSON that :func:`splitenv.training.calibrate.calibrate` writes. Before merging
reads one, :func:`read_record` checks every key it reads, so a malformed or foreign file is
one :class:`~splitenv.errors.FileFormatError` naming the file and the key, not a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from splitenv.cli_util import read_json
from splitenv.errors import FileFormatError

#: keys of a calibration record's run that merging reads, and their types
RUN_KEYS: dict[str, type | tuple[type, ...]] = {
    "cut": int, "rank": int, "keep_ratio": (int, float), "quant_bits": int, "seed": int,
    "curve": list,
}  # fmt: skip


def read_record(path: str | Path) -> dict[str, Any]:
    """A calibration record from a file, checked for the shape :func:`~splitenv.training.calibrate.merge` reads.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not a JSON object, or a key missing or of the wrong type (named).
    """
    from splitenv.training.calibrate import MERGE_KEYS, SETUPS, Grid

    rec = read_json(str(path), "calibration record")
    bad = f"calibration record {path}:"
    missing = [k for k in (*MERGE_KEYS, "runs", "grid_spec") if k not in rec]
    if missing:
        raise FileFormatError(f"{bad} missing {', '.join(missing)}")
    if rec["scenario"] not in SETUPS:
        raise FileFormatError(f"{bad} scenario {rec['scenario']!r}; allowed: {', '.join(SETUPS)}")
    spec = rec["grid_spec"]
    fields = set(Grid.__dataclass_fields__)
    if not isinstance(spec, dict) or not set(spec) <= fields:
        raise FileFormatError(f"{bad} grid_spec must be an object with keys among {sorted(fields)}")
    for key, value in spec.items():
        default = getattr(Grid(), key)
        items = value if isinstance(default, tuple) and isinstance(value, list) else [value]
        if isinstance(default, tuple) != isinstance(value, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in items
        ):
            kind = "a list of numbers" if isinstance(default, tuple) else "a number"
            raise FileFormatError(f"{bad} grid_spec.{key} = {value!r}; expected {kind}")
    if not isinstance(rec["runs"], list) or not rec["runs"]:
        raise FileFormatError(f"{bad} runs must be a non-empty list")
    for i, run in enumerate(rec["runs"]):
        ok = isinstance(run, dict) and all(
            isinstance(run.get(k), t) and not isinstance(run.get(k), bool)
            for k, t in RUN_KEYS.items()
        )
        if not ok:
            raise FileFormatError(
                f"{bad} runs[{i}] must be an object with {', '.join(RUN_KEYS)} "
                "(integers; keep_ratio a number; curve a list)"
            )
    return rec
