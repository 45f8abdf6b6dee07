"""Size limits: estimate a request's memory from its sizes and refuse it before allocating.

The engine is vectorized over devices and a batch of decisions, so its memory grows as
``n_devices x batch``: a typo like ``--set network.n_devices=10000000`` would otherwise climb
to many GB before the machine gives up. Every place that allocates per-device arrays (state
sampling, the batched engine) asks :func:`check` first; it costs a few multiplications.

Estimates (measured with ``tracemalloc`` on every preset, rounded up about 2x):

| what | bytes |
| --- | --- |
| a sampled state, per device | 512 |
| one engine evaluation, per device and decision | 1,024 |
| CARD's normalizers (every cut x the frequency grid), per device and decision | 32,768 |

Hard caps on the sizes themselves are part of the config's validation (``network.n_devices``
<= 100,000; subchannel counts <= 1,000,000; rounds and epochs per round <= 1,000,000), so a
typo fails at once with the allowed range; within them, the cap below bounds ``n_devices x
batch``.

The cap is 80 % of the memory available when the check runs (``MemAvailable`` of
``/proc/meminfo``, else the physical memory), or ``$SPLITENV_MEMORY_LIMIT`` (bytes, e.g.
``2e9``) when set. A request above it raises :class:`~splitenv.errors.ConfigError` naming
the field, the size, the estimate and the cap.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splitenv.errors import ConfigError

if TYPE_CHECKING:
    from splitenv.config import Scenario

STATE_BYTES_PER_DEVICE = 512
EVAL_BYTES_PER_DEVICE_DECISION = 1024
CARD_BYTES_PER_DEVICE_DECISION = 32 * 1024
#: fraction of the available memory one request may take
FRACTION = 0.8
ENV_VAR = "SPLITENV_MEMORY_LIMIT"


def available_bytes() -> int:
    """Memory available now: ``MemAvailable`` (Linux), else physical memory, else 8 GiB.

    Read at most once per :data:`REFRESH_S` (every engine call checks its request: a file read
    per call would cost more than a small evaluation).
    """
    now = time.monotonic()
    if now - _available[0] < REFRESH_S:
        return _available[1]
    _available[:] = [now, _read_available()]
    return _available[1]


#: seconds for which a reading of the available memory is reused
REFRESH_S = 1.0
_available: list[Any] = [-REFRESH_S, 0]


def _read_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def limit_bytes() -> int:
    """The cap for one request: ``$SPLITENV_MEMORY_LIMIT`` or 80 % of the available memory.

    Raises:
        ConfigError: the variable is set but not a positive number.
    """
    text = os.environ.get(ENV_VAR)
    if text:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0:
            raise ConfigError(f"${ENV_VAR} = {text!r} must be a positive number of bytes")
        return int(value)
    return int(FRACTION * available_bytes())


def estimate_bytes(scenario: Scenario, batch: int = 1) -> int:
    """Estimated peak bytes of sampling a state and evaluating ``batch`` decisions on it."""
    n = scenario.network.n_devices
    per = EVAL_BYTES_PER_DEVICE_DECISION
    if scenario.objective.kind == "card_cost":
        per += CARD_BYTES_PER_DEVICE_DECISION
    return n * STATE_BYTES_PER_DEVICE + n * max(int(batch), 1) * per


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"  # pragma: no cover


def check(scenario: Scenario, batch: int = 1) -> None:
    """Refuse a request whose estimated memory exceeds the cap, before anything is allocated.

    Raises:
        ConfigError: naming ``network.n_devices`` (and the batch), the estimate and the cap.
    """
    need = estimate_bytes(scenario, batch)
    cap = limit_bytes()
    if need > cap:
        n = scenario.network.n_devices
        what = f"network.n_devices = {n}" + (
            f" x a batch of {batch} decisions" if batch > 1 else ""
        )
        raise ConfigError(
            f"{what} needs an estimated {_human(need)} of memory, above the cap of {_human(cap)} "
            f"(80 % of the available memory, or ${ENV_VAR}); allowed: n_devices x batch up to "
            f"about {cap // max(need // max(n * max(batch, 1), 1), 1):,}"
        )
