"""The registered SFT solvers: Alg. 2 + Alg. 3, each alone, the baselines, the exact optimum.

Zhang et al., "Split Fine-Tuning for Large Language Models in Wireless Networks" (SFT).
The algorithms live in :mod:`splitenv.allocation.sft_bandwidth` (P2: Alg. 3 and the exact
bisection) and :mod:`baselines.papers.sft.config` (P1: Alg. 2, and the exact joint optimum);
this module wires them to the registry. Every returned decision is scored by the engine
(:class:`baselines.base.BaseSolver`).

======================  =========================================  ========================
name                    configuration (l, rho, q)                  bandwidth
======================  =========================================  ========================
``sft``                 Alg. 2 (Lagrangian relaxation)              Alg. 3 (SQP)
``sft_lagrangian``      Alg. 2                                      equal, B / N
``sft_sqp``             preset default (Table II: 5, 0.2, 3)        Alg. 3 (SQP)
``sft_bisection``       preset default                              exact min-max (bisection)
``sft_equal_bw``        preset default                              equal (Fig. 10 baseline)
``sft_random_bw``       preset default                              Dirichlet(1) (Fig. 10)
``sft_nocompress``      preset l, rho = 1, q = 0 (Sec. VIII-A)      Alg. 3 (SQP)
``sft_exact``           enumeration + rho grid and zoom             exact min-max
======================  =========================================  ========================

Options: ``b_max_hz`` (per-device cap of (38b); default B, the paper gives none) for all;
``split`` / ``keep_ratio`` / ``quant_bits`` for the fixed-configuration solvers; the keyword
arguments of :func:`~baselines.papers.sft.config.lagrangian_config` for ``sft`` and
``sft_lagrangian``, and of :func:`~baselines.papers.sft.config.sft_exact` for ``sft_exact``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from baselines.base import BaseSolver, SolveStats
from baselines.papers.sft.config import lagrangian_config, sft_exact
from splitenv.allocation.sft_bandwidth import (
    SftConfig,
    bisection_bandwidth,
    device_coefficients,
    sqp_bandwidth,
)
from splitenv.config import Scenario
from splitenv.model import Decision, State

Array = NDArray[np.float64]


def b_max_of(scn: Scenario, b_max_hz: float | None) -> float:
    """Per-device cap b_max of (38b): ``b_max_hz``, default B (the paper gives no value)."""
    return float(b_max_hz or scn.network.bandwidth_hz)


def allocate(
    scn: Scenario,
    state: State,
    cfg: SftConfig,
    method: str,
    b_max: float,
    rng: np.random.Generator,
) -> tuple[Array, dict[str, Any]]:
    """Bandwidth for ``cfg``: ``sqp`` (Alg. 3), ``bisection`` (exact), ``equal`` or ``random``."""
    n, total = scn.n_devices, scn.network.bandwidth_hz
    if method == "equal":
        return np.full(n, total / n), {}
    if method == "random":  # Fig. 10 "randomly allocated": Dirichlet(1) shares (ours), capped
        return _cap(rng.dirichlet(np.ones(n)) * total, b_max, total), {}
    a, c = device_coefficients(scn, state, [cfg.split], [cfg.keep_ratio], [cfg.quant_bits])
    if method == "bisection":
        b, t = bisection_bandwidth(a[0], c[0], total, b_max)
        return b, {"t_model_s": t}
    if method == "sqp":
        b, t, res = sqp_bandwidth(a[0], c[0], total, b_max)
        return b, {
            "t_model_s": t,
            "slsqp_iterations": int(res.nit),
            "slsqp_status": int(res.status),
            "slsqp_message": str(res.message),
        }
    raise ValueError(f"unknown bandwidth method {method!r}; use sqp, bisection, equal or random")


def _cap(b: Array, b_max: float, total: float) -> Array:
    """Clip to b_max and hand the excess to the devices below the cap (keeps sum b = B)."""
    for _ in range(b.size):
        over = b > b_max
        if not over.any():
            break
        excess = (b[over] - b_max).sum()
        b = np.where(over, b_max, b)
        room = np.where(b < b_max, b_max - b, 0.0)
        b = b + excess * room / room.sum()
    return b * total / b.sum()


class _FixedConfigBandwidth(BaseSolver):
    """A fixed configuration (the preset default unless given) and one bandwidth method."""

    family = "sft"
    method: ClassVar[str] = "sqp"
    fixed: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        split: int | None = None,
        keep_ratio: float | None = None,
        quant_bits: int | None = None,
        b_max_hz: float | None = None,
    ) -> None:
        self.override = {"split": split, "keep_ratio": keep_ratio, "quant_bits": quant_bits}
        self.override.update(self.fixed)
        self.b_max_hz = b_max_hz

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Allocate bandwidth for the fixed configuration."""
        cfg = SftConfig.default(scenario, **self.override)
        cap = b_max_of(scenario, options.get("b_max_hz", self.b_max_hz))
        b, extra = allocate(scenario, state, cfg, self.method, cap, rng)
        stats.iterations = int(extra.get("slsqp_iterations", 1))
        stats.evaluations = 0 if self.method in ("equal", "random") else 6
        stats.extra = extra
        return cfg.decision(scenario.n_devices, b)


class SftSqp(_FixedConfigBandwidth):
    """SFT Alg. 3: SQP (SLSQP) bandwidth on the preset's configuration."""

    name = "sft_sqp"

    kind = "paper's method"

    reference = "SFT Alg. 3, P2 (38)"
    method = "sqp"


class SftBisection(_FixedConfigBandwidth):
    """The exact min-max bandwidth of P2 (38) by bisection on t (the reference for Alg. 3)."""

    name = "sft_bisection"

    kind = "exact"

    reference = "SFT P2 (38), bisection"
    method = "bisection"


class SftEqualBandwidth(_FixedConfigBandwidth):
    """Fig. 10 baseline: the preset's configuration, bandwidth evenly distributed (B / N)."""

    name = "sft_equal_bw"

    kind = "baseline"

    reference = "SFT Fig. 10"
    method = "equal"


class SftRandomBandwidth(_FixedConfigBandwidth):
    """Fig. 10 baseline: the preset's configuration, random Dirichlet(1) shares of B."""

    name = "sft_random_bw"

    kind = "baseline"

    reference = "SFT Fig. 10"
    method = "random"


class SftNoCompression(_FixedConfigBandwidth):
    """SFT w/o compression (Sec. VIII-A): rho = 1, q = 0 (dense FP32), Alg. 3 bandwidth."""

    name = "sft_nocompress"

    kind = "baseline"

    reference = "SFT Sec. VIII-A"
    method = "sqp"
    fixed: ClassVar[dict[str, Any]] = {"keep_ratio": 1.0, "quant_bits": 0}


class SftLagrangian(BaseSolver):
    """SFT Alg. 2 configuration with equal bandwidth (P1 alone)."""

    name = "sft_lagrangian"

    kind = "paper's method"

    reference = "SFT Alg. 2, P1 (37)"
    family = "sft"
    bandwidth: ClassVar[str] = "equal"

    def __init__(self, b_max_hz: float | None = None, **options: Any) -> None:
        self.b_max_hz = b_max_hz
        self.options = options

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Run Alg. 2, then allocate bandwidth (equal here, Alg. 3 in ``sft``)."""
        opts = {**self.options, **options}
        cap = b_max_of(scenario, opts.pop("b_max_hz", self.b_max_hz))
        cfg, info = lagrangian_config(scenario, state, **opts)
        b, extra = allocate(scenario, state, cfg, self.bandwidth, cap, rng)
        stats.iterations, stats.evaluations = info["iterations"], info["evaluations"]
        stats.trace, stats.extra = info["lagrangian_trace"], {**info, **extra}
        return cfg.decision(scenario.n_devices, b)


class Sft(SftLagrangian):
    """The paper's two-timescale scheme: Alg. 2 configuration, then Alg. 3 (SQP) bandwidth."""

    name = "sft"

    kind = "paper's method"

    reference = "SFT Alg. 2 + Alg. 3, P (36)"
    bandwidth: ClassVar[str] = "sqp"


class SftExact(BaseSolver):
    """Reference optimum of SFT P (36) on small instances (see :func:`sft_exact`)."""

    name = "sft_exact"

    kind = "exact"

    reference = "SFT P (36)"
    family = "sft"

    def __init__(self, **options: Any) -> None:
        self.options = options

    def search(
        self, scenario: Scenario, state: State, rng: np.random.Generator, stats: SolveStats,
        **options: Any,
    ) -> Decision:  # fmt: skip
        """Enumerate configurations, each with its exact bandwidth; return the best feasible."""
        cfg, b, info = sft_exact(scenario, state, **{**self.options, **options})
        stats.iterations, stats.evaluations, stats.extra = 1, info["evaluations"], info
        return cfg.decision(scenario.n_devices, b)
