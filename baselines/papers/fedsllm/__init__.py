"""FedsLLM (Zhao, Yang et al.): BCD (Alg. 3) over subchannels, power, split and rank; baselines a-d; exact.

The comm block (Alg. 2 + power control (25) by bisection) and the per-client tables are the
core's :mod:`splitenv.allocation` (the env's inner allocator); here: :mod:`.bcd` (Alg. 3 and
the baselines), :mod:`.exact` (enumeration) and :mod:`.power_cvxpy` (the paper's CVX route,
the optional extra cvxpy).
"""
