"""SCCT (Wang et al., cloud-edge-end split learning): ALNS splits + Alg. 1, baselines, exact.

Kernels shared with the env (Alg. 1, KKT shares, latency tables) are the core's
:mod:`splitenv.allocation`; here: :mod:`.opt` (exact per-state allocation), :mod:`.ops`
(ALNS operators), and the solvers ``scct_alg1`` (:mod:`.alg1`), ``scctt`` / ``scctl`` /
``sccts`` (:mod:`.alns`) and ``scct_exact`` (:mod:`.exact`).
"""
